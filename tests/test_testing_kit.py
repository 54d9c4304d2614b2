"""syncline.testing at work: one-way sync through a MemoryReplica (as target, as source), targets that keep
less than a POSIX disk (2 s mtimes, case-insensitive names, no symlinks), and FlakyReplica's faults met by
the executor the way real failures are."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from syncline.core.entry import Compare
from syncline.core.ignore import Rules
from syncline.engine.oneway import SyncOptions, sync_replicas
from syncline.engine.replicas import abilities
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import Mover
from syncline.testing import FlakyReplica, MemoryReplica, changed_under_us, no_space, unreachable

from .conftest import write

T0 = 1_700_000_000  # seconds: an mtime with an odd second
ODD = 1_700_000_001_234_567_891  # ns: truncation to 1 s and to 2 s both show


def local_tree(src: Path) -> None:
    write(src, "a.txt", b"alpha", mtime=T0, mode=0o640)
    write(src, "docs/b.md", b"beta" * 100, mtime=T0 + 1)
    write(src, "docs/deep/c.bin", os.urandom(3000), mtime=T0 + 2)
    os.symlink("a.txt", src / "link")


def same_as_local(src: Path, m: MemoryReplica) -> None:
    """``m`` holds every file of ``src`` with the same bytes, and nothing else."""
    want = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
    assert m.paths() == want
    for p in src.rglob("*"):
        rel = str(p.relative_to(src))
        if p.is_file() and not p.is_symlink():
            assert m.read(rel) == p.read_bytes(), rel


def test_a_memory_target_takes_a_local_tree_and_a_second_run_does_nothing(src: Path) -> None:
    local_tree(src)
    target = MemoryReplica("t")
    report = sync_replicas(LocalReplica(src), target, SyncOptions(delete=True))
    assert (report.copied, report.symlinks, report.errors) == (3, 1, [])
    same_as_local(src, target)
    a = target.stat("a.txt")
    assert a is not None and (a.mode, a.mtime_ns) == (0o640, T0 * 10**9)
    again = sync_replicas(LocalReplica(src), target, SyncOptions(delete=True))
    assert again.plan is not None and not again.plan.actions
    # A delete and an edit at the source: the target's old versions go to its trash.
    (src / "docs/b.md").unlink()
    write(src, "a.txt", b"ALPHA!", mtime=T0 + 9)
    report = sync_replicas(LocalReplica(src), target, SyncOptions(delete=True))
    assert (report.copied, report.deleted, report.trashed) == (1, 1, 2)
    assert sorted((t.path, t.data) for t in target.trash) == [("a.txt", b"alpha"), ("docs/b.md", b"beta" * 100)]
    same_as_local(src, target)
    assert not target.staged and not target.locked


def test_a_two_second_target_keeps_truncated_times_and_compares_within_its_window(src: Path) -> None:
    write(src, "f.txt", b"x")
    os.utime(src / "f.txt", ns=(ODD, ODD))
    fat = MemoryReplica("fat", mtime_precision_ns=2 * 10**9)
    assert sync_replicas(LocalReplica(src), fat).copied == 1
    f = fat.stat("f.txt")
    assert f is not None and f.mtime_ns == 1_700_000_000 * 10**9  # 2 s steps, truncated
    # rsync's --modify-window for such a target: nothing to copy the next time.
    window = SyncOptions(compare=Compare(modify_window_ns=2 * 10**9))
    again = sync_replicas(LocalReplica(src), fat, window)
    assert again.plan is not None and not again.plan.actions
    smb = MemoryReplica("smb", mtime_precision_ns=10**9)
    sync_replicas(LocalReplica(src), smb)
    s = smb.stat("f.txt")
    assert s is not None and s.mtime_ns == 1_700_000_001 * 10**9


def test_a_case_insensitive_target_reports_a_case_clash_and_loses_nothing(src: Path) -> None:
    write(src, "A.txt", b"upper")
    write(src, "a.txt", b"lower")
    target = MemoryReplica("nocase", case_sensitive=False)
    report = sync_replicas(LocalReplica(src), target, SyncOptions(delete=True))
    clash = [p for p in report.problems if p.path.casefold() == "a.txt"]
    assert clash, report.problems  # reported
    # The first name in byte order is synced; the other is left out (it is the source's, never lost).
    assert report.copied == 1 and not target.trash and target.read("a.txt") == b"upper"
    assert (src / "A.txt").read_bytes() == b"upper" and (src / "a.txt").read_bytes() == b"lower"


def test_a_target_without_symlinks_reports_each_link_and_takes_everything_else(src: Path) -> None:
    local_tree(src)
    os.symlink("docs", src / "docs-link")
    target = MemoryReplica("nolinks", symlinks=False, permissions=False)
    report = sync_replicas(LocalReplica(src), target, SyncOptions(delete=True))
    # Planned as the target can keep it: each link is a notice (nothing written), not an error of the run.
    assert sorted(p.path for p in report.problems if not p.error) == ["docs-link", "link"]
    assert not report.errors and target.stat("link") is None and target.stat("docs-link") is None
    assert report.copied == 3 and target.read("docs/deep/c.bin") == (src / "docs/deep/c.bin").read_bytes()
    a = target.stat("a.txt")
    assert a is not None and a.mode == 0o644  # no permissions: the fixed mode


def test_a_memory_source_syncs_into_a_local_folder(tmp_path: Path) -> None:
    source = MemoryReplica("s", mtime_precision_ns=10**9)
    source.put_file("a.txt", b"alpha", ODD)
    source.put_file("docs/b.md", b"beta")
    source.put_symlink("link", "a.txt")
    dst = tmp_path / "dst"
    report = sync_replicas(source, LocalReplica(dst), SyncOptions(delete=True))
    assert report.errors == [], report.errors
    assert (dst / "a.txt").read_bytes() == b"alpha" and (dst / "docs/b.md").read_bytes() == b"beta"
    assert os.readlink(dst / "link") == "a.txt"
    assert os.stat(dst / "a.txt").st_mtime_ns == 1_700_000_001 * 10**9


def test_a_memory_source_syncs_into_another_memory_tree() -> None:
    source = MemoryReplica("s")
    source.put_file("a.txt", b"alpha", ODD)
    source.put_file("docs/b.md", b"beta")
    source.put_symlink("link", "a.txt")
    target = MemoryReplica("t", case_sensitive=False, mtime_precision_ns=2 * 10**9)
    report = sync_replicas(source, target, SyncOptions(delete=True))
    assert report.errors == [] and target.paths() == ["a.txt", "docs", "docs/b.md", "link"]
    assert target.read("a.txt") == b"alpha"


# -- FlakyReplica ------------------------------------------------------------------------------------------
def big_source() -> MemoryReplica:
    source = MemoryReplica("s")
    source.put_file("big.bin", os.urandom(3 << 20))  # copied by the executor's threads
    source.put_file("small.txt", b"small")
    return source


def test_a_source_unreachable_in_the_middle_of_a_transfer_costs_that_file_only() -> None:
    source, target = big_source(), MemoryReplica("t")
    flaky = FlakyReplica(source)
    fault = flaky.fail_read(1 << 20, unreachable, when=lambda path: path == "big.bin", times=1)
    report = sync_replicas(flaky, target)
    # (Read inside the target's stage_file, the executor names the destination for now.)
    assert [(p.path, p.errno) for p in report.errors] == [("big.bin", errno.ECONNRESET)]
    assert fault.hits == 1
    assert target.paths() == ["small.txt"] and not target.staged  # the partial copy was discarded
    again = sync_replicas(flaky, target)  # the fault is spent: the next run completes
    assert again.copied == 1 and target.read("big.bin") == source.read("big.bin")


def test_a_full_target_refuses_one_file_and_takes_the_others() -> None:
    source = MemoryReplica("s")
    for name in ("a", "b", "c"):
        source.put_file(name, name.encode())
    flaky = FlakyReplica(MemoryReplica("t"))
    flaky.fail("stage_file", no_space, when=lambda path, _source: path == "b")
    report = sync_replicas(source, flaky)
    assert [(p.path, p.errno) for p in report.errors] == [("b", errno.ENOSPC)]
    assert report.copied == 2 and flaky.calls["stage_file"] == 3


def test_a_destination_changed_under_us_right_before_the_commit_is_kept() -> None:
    source, target = MemoryReplica("s"), MemoryReplica("t")
    source.put_file("f.txt", b"new")
    target.put_file("f.txt", b"old")
    flaky = FlakyReplica(target)
    flaky.before("commit", lambda staged, expect: target.put_file(staged.path, b"edited meanwhile"))
    report = sync_replicas(source, flaky)
    assert (report.copied, report.kept, report.trashed) == (1, 1, 1)
    assert target.read("f.txt") == b"new" and [t.data for t in target.trash] == [b"edited meanwhile"]


def test_calls_chosen_by_number_fail_and_a_torn_source_is_copied_again() -> None:
    source = MemoryReplica("s")
    for name in ("a", "b", "c"):
        source.put_file(name, name.encode())
    target = FlakyReplica(MemoryReplica("t"))
    target.fail("commit", changed_under_us, on_call=2)
    report = sync_replicas(source, target)
    assert [(p.path, p.errno) for p in report.errors] == [("b", errno.ESTALE)] and report.copied == 2
    flaky_source = FlakyReplica(source)
    flaky_source.torn(when=lambda path: path == "b", times=2)  # torn twice, whole the third time
    assert sync_replicas(flaky_source, target).copied == 1
    assert flaky_source.calls["open_file"] == 3
    flaky_source.torn(when=lambda path: path == "c")  # always torn: never committed
    source.put_file("c", b"C!")
    report = sync_replicas(flaky_source, target)
    assert report.copied == 0 and "kept changing" in report.errors[0].message


def test_a_slow_call_waits_and_an_offline_replica_fails_every_call() -> None:
    flaky = FlakyReplica(MemoryReplica("m"))
    flaky.slow("stat", 0.05, on_call=[1])
    started = time.monotonic()
    assert flaky.stat("x") is None
    assert time.monotonic() - started >= 0.05
    flaky.offline = True
    with pytest.raises(ConnectionResetError):
        sync_replicas(MemoryReplica("s"), flaky)
    flaky.clear()
    assert flaky.exists()


# -- MemoryReplica alone --------------------------------------------------------------------------------------
def test_memory_hard_links_and_case_only_renames() -> None:
    m = MemoryReplica(case_sensitive=False)
    m.put_file("a.txt", b"one")
    seen = m.stat("a.txt")
    assert seen is not None
    assert m.make_link("b.txt", seen, "a.txt", None).done
    m.put_file("a.txt", b"two")  # written in place: both names see it
    assert m.read("b.txt") == b"two"
    now = m.stat("a.txt")
    assert now is not None and m.move("a.txt", "A.TXT", now).done
    assert m.paths() == ["A.TXT", "b.txt"] and m.read("a.txt") == b"two"
    assert isinstance(m, Mover) and isinstance(FlakyReplica(m), Mover)
    fat = MemoryReplica(mover=False)
    assert not isinstance(fat, Mover) and not isinstance(FlakyReplica(fat), Mover)
    fat.put_file("d/x", b"x")
    d = fat.stat("d")
    assert d is not None and abilities.move(fat, "d", "e", d).done  # copied, then deleted
    assert fat.paths() == ["e", "e/x"] and fat.read("e/x") == b"x"


def test_a_case_insensitive_memory_tree_spells_new_names_as_their_folder_is_spelled() -> None:
    # As on a real case-insensitive disk: a name made in ``docs`` lands in the folder there, ``Docs``.
    m = MemoryReplica(case_sensitive=False)
    m.put_dir("Docs/Sub")
    m.put_file("docs/a.txt", b"a")
    m.put_dir("DOCS/sub/deep")
    folder = m.stat("Docs")
    assert folder is not None and m.make_dir("docs/new", folder, None).done
    moved = m.stat("Docs/a.txt")
    assert moved is not None and m.move("Docs/a.txt", "docs/SUB/b.txt", moved).done
    assert m.paths() == ["Docs", "Docs/Sub", "Docs/Sub/b.txt", "Docs/Sub/deep", "Docs/new"]
    assert list(m.scan(Rules(), False, "a").entries) == m.paths()
    sub = m.stat("docs/sub")
    assert sub is not None and m.move("docs/sub", "docs/Moved", sub).done  # what is below follows
    assert m.paths() == ["Docs", "Docs/Moved", "Docs/Moved/b.txt", "Docs/Moved/deep", "Docs/new"]


def test_the_injected_errors_are_the_replica_error_family() -> None:
    from syncline.engine.replicas.errors import Changed, Denied, NoSpace, Unreachable
    from syncline.testing import denied

    made = {maker.__name__: maker("p") for maker in (unreachable, no_space, changed_under_us, denied)}
    assert isinstance(made["unreachable"], Unreachable) and made["unreachable"].retryable
    assert isinstance(made["no_space"], NoSpace) and made["no_space"].retryable
    assert isinstance(made["changed_under_us"], Changed) and made["changed_under_us"].retryable
    assert isinstance(made["denied"], Denied) and not made["denied"].retryable
    assert all(e.filename == "p" for e in made.values())


def test_a_memory_target_without_a_root_gets_one_and_a_gone_root_stops_the_run(src: Path) -> None:
    write(src, "a", b"a")
    target = MemoryReplica("t", exists=False)
    assert not target.exists()
    assert sync_replicas(LocalReplica(src), target).copied == 1 and target.read("a") == b"a"
    target.remove_root()  # unmounted
    assert not target.exists()
    with pytest.raises(FileNotFoundError):
        target.stat("a")


def test_a_two_way_item_that_failed_for_a_passing_reason_says_so() -> None:
    # The daemon runs an item again (after a back-off) only when its problem is retryable: the two-way
    # report, which names each problem by its side, must keep that (and the errno), not drop it.
    from syncline.engine.replicas.replica import WritePolicy
    from syncline.engine.twoway.run import sync_two_way_replicas

    a = MemoryReplica("a", policy=WritePolicy.two_way())
    b = MemoryReplica("b", policy=WritePolicy.two_way())
    a.put_file("cut.bin", b"sent when the connection was cut")
    a.put_file("full.bin", b"sent when the disk was full")
    a.put_file("fine.txt", b"fine")
    flaky = FlakyReplica(b)
    flaky.fail("stage_file", unreachable, when=lambda path, _source: path == "cut.bin")
    flaky.fail("stage_file", no_space, when=lambda path, _source: path == "full.bin")
    report = sync_two_way_replicas(a, flaky)
    got = sorted((p.path, p.side, p.errno, p.retryable) for p in report.problems if p.error)
    assert got == [("cut.bin", "b", errno.ECONNRESET, True), ("full.bin", "b", errno.ENOSPC, True)]
    assert b.read("fine.txt") == b"fine"
