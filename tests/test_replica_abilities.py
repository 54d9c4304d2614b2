"""The optional abilities: LocalReplica has them all; a replica without one gets the engine's fallback; a
source file without ``fileno`` is copied as a stream; the write policy is one value."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import blake3
import pytest

from syncline.core.entry import FILE
from syncline.core.ignore import Rules
from syncline.core.oneway import mirror
from syncline.core.plan import Action, Plan
from syncline.core.scan import scan
from syncline.engine.execute import execute
from syncline.engine.oneway import sync_replicas
from syncline.engine.replicas import local
from syncline.engine.replicas.abilities import move, scan_children, stat_many, writing
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import (
    BatchCommit,
    BatchStat,
    CheckedMarkers,
    ChildScanner,
    FdSourceFile,
    FileIdFinder,
    Hasher,
    Linker,
    Locker,
    Markers,
    Mover,
    Outcome,
    SourceFile,
    WritePolicy,
)

from .conftest import write

T0 = 1_600_000_000
ABILITIES = (Mover, Linker, Hasher, BatchStat, BatchCommit, FileIdFinder, ChildScanner, Locker, Markers,
             CheckedMarkers)
CORE = ("features", "describe", "scan", "scan_dirs", "is_empty", "exists", "create_root", "session", "close",
        "stat", "open_file", "stage_file", "commit", "make_dir", "make_symlink", "delete", "set_meta", "barrier")


class CoreOnly:
    """A LocalReplica seen through the required core only: no ability at all."""

    def __init__(self, inner: LocalReplica) -> None:
        self.inner = inner
        self.policy = inner.policy

    for _name in CORE:
        locals()[_name] = (lambda name: lambda self, *a, **k: getattr(self.inner, name)(*a, **k))(_name)
    del _name


class NoFd:
    """A source file that is only a stream: no descriptor to copy from."""

    def __init__(self, inner: SourceFile) -> None:
        self.inner = inner
        self.entry = inner.entry
        self.reads = 0

    def readinto(self, buffer: memoryview) -> int:
        self.reads += 1
        return self.inner.readinto(buffer)

    def changed(self) -> bool:
        return self.inner.changed()


class StreamSource(LocalReplica):
    """A LocalReplica whose files open as streams without ``fileno`` (as a network replica's would)."""

    opened: ClassVar[list[NoFd]] = []

    @contextmanager
    def open_file(self, path: str) -> Iterator[NoFd]:  # type: ignore[override]
        with super().open_file(path) as inner:
            stream = NoFd(inner)
            self.opened.append(stream)
            yield stream


def tree(root: Path) -> dict[str, Any]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(root.rglob("*"))
            if ".syncline" not in p.parts}


def test_the_local_replica_has_every_ability_and_the_core_only_view_none(tmp_path: Path) -> None:
    replica = LocalReplica(tmp_path)
    assert all(isinstance(replica, a) for a in ABILITIES)
    assert not any(isinstance(CoreOnly(replica), a) for a in ABILITIES)
    features = replica.features()
    assert features.hash_kinds == ("blake3",) and features.scan_in_child and features.max_connections >= 1


def test_a_stream_source_without_fileno_copies_correctly(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    big = os.urandom(local.COPY_BUFFER * 2 + 12345)  # several blocks, the last one short
    write(src, "big.bin", big, mtime=T0)
    write(src, "small.txt", "small", mtime=T0 + 1, mode=0o640)
    write(src, "empty", b"", mtime=T0 + 2)
    write(src, "dir/inner.bin", os.urandom(70_000), mtime=T0 + 3)
    dst.mkdir()
    source = StreamSource(src)
    StreamSource.opened = []
    report = execute(mirror(scan(src), scan(dst)), source, LocalReplica(dst))
    assert report.copied == 4 and not report.errors
    assert tree(dst) == tree(src)
    for name in ("big.bin", "small.txt", "empty"):
        assert os.stat(dst / name).st_mtime_ns == os.stat(src / name).st_mtime_ns
    assert os.stat(dst / "small.txt").st_mode & 0o777 == 0o640
    assert StreamSource.opened and not any(isinstance(s, FdSourceFile) for s in StreamSource.opened)
    assert max(s.reads for s in StreamSource.opened) >= 3  # the big file came in blocks


def test_a_local_source_file_takes_the_descriptor_fast_path(tmp_path: Path) -> None:
    write(tmp_path, "f", "x")
    with LocalReplica(tmp_path).open_file("f") as source:
        assert isinstance(source, FdSourceFile)


def test_without_mover_a_file_is_moved_by_copy_and_delete(tmp_path: Path) -> None:
    write(tmp_path, "old.txt", "content", mtime=T0)
    inner = LocalReplica(tmp_path, policy=WritePolicy(trash=False))
    replica = CoreOnly(inner)
    expect = replica.stat("old.txt")
    assert expect is not None
    with writing(replica):  # no Locker either: a session
        outcome = move(replica, "old.txt", "new.txt", expect)
    assert outcome.done, outcome.note
    assert not (tmp_path / "old.txt").exists() and (tmp_path / "new.txt").read_text() == "content"
    assert os.stat(tmp_path / "new.txt").st_mtime_ns == T0 * 10**9


def test_without_mover_a_folder_is_moved_whole(tmp_path: Path) -> None:
    write(tmp_path, "a/x.txt", "x", mtime=T0)
    write(tmp_path, "a/sub/y.txt", "y", mtime=T0)
    os.symlink("x.txt", tmp_path / "a/link")
    os.utime(tmp_path / "a/sub", (T0, T0))
    replica = CoreOnly(LocalReplica(tmp_path, policy=WritePolicy(trash=False)))
    expect = replica.stat("a")
    assert expect is not None
    outcome = move(replica, "a", "b", expect)
    assert outcome.done, outcome.note
    assert not (tmp_path / "a").exists()
    assert (tmp_path / "b/x.txt").read_text() == "x" and (tmp_path / "b/sub/y.txt").read_text() == "y"
    assert os.readlink(tmp_path / "b/link") == "x.txt"
    assert os.stat(tmp_path / "b/sub").st_mtime_ns == T0 * 10**9


def test_the_move_fallback_leaves_both_alone_when_the_plan_is_stale(tmp_path: Path) -> None:
    write(tmp_path, "old.txt", "content", mtime=T0)
    write(tmp_path, "taken.txt", "someone else's", mtime=T0)
    replica = CoreOnly(LocalReplica(tmp_path))
    expect = replica.stat("old.txt")
    assert expect is not None
    assert not move(replica, "old.txt", "taken.txt", expect).done
    write(tmp_path, "old.txt", "edited meanwhile", mtime=T0 + 5)
    assert not move(replica, "old.txt", "new.txt", expect).done
    assert (tmp_path / "old.txt").read_text() == "edited meanwhile" and not (tmp_path / "new.txt").exists()


def test_with_mover_the_replica_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "old.txt", "content")
    replica = LocalReplica(tmp_path)
    expect = replica.stat("old.txt")
    assert expect is not None
    monkeypatch.setattr(replica, "stage_file", None)  # a rename copies nothing
    assert move(replica, "old.txt", "new.txt", expect).done
    assert (tmp_path / "new.txt").read_text() == "content"


def test_without_linker_a_hard_link_is_copied(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a", "shared", mtime=T0)
    os.link(src / "a", src / "b")
    dst.mkdir()
    e = scan(src).entries["a"]
    plan = Plan((Action("copy", "a", e, None), Action("link", "b", e, None, link_to="a")))
    report = execute(plan, LocalReplica(src), CoreOnly(LocalReplica(dst)))
    assert not report.errors and report.copied == 2 and report.hard_links == 0
    assert (dst / "b").read_text() == "shared" and os.stat(dst / "a").st_ino != os.stat(dst / "b").st_ino
    report = execute(Plan((Action("link", "c", e, None, link_to="a"),)), LocalReplica(src), LocalReplica(dst))
    assert report.hard_links == 1 and os.stat(dst / "a").st_ino == os.stat(dst / "c").st_ino


def test_a_sync_into_a_replica_with_only_the_core(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", "alpha", mtime=T0)
    write(src, "d/b.txt", "beta", mtime=T0)
    report = sync_replicas(LocalReplica(src), CoreOnly(LocalReplica(dst)))
    assert not report.errors and tree(dst) == tree(src)


def test_batch_stat_and_its_fallback_agree(tmp_path: Path) -> None:
    write(tmp_path, "a", "x")
    replica = LocalReplica(tmp_path)
    paths = ["a", "missing", ""]
    assert stat_many(replica, paths) == stat_many(CoreOnly(replica), paths) == [replica.stat(p) for p in paths]
    assert stat_many(replica, paths)[1] is None


def test_scan_children_and_its_fallback_agree(tmp_path: Path) -> None:
    for rel in ("d/a.txt", "d/b.txt", "d/sub/c.txt", "top.txt", "d/skip.log"):
        write(tmp_path, rel, rel)
    replica = LocalReplica(tmp_path)
    children = {"d": ["a.txt", "sub", "gone.txt", "skip.log"], "": ["top.txt"]}
    rules = Rules(excludes=("*.log",))
    fast = scan_children(replica, children, rules, "a")
    assert fast.entries == scan_children(CoreOnly(replica), children, rules, "a").entries
    assert set(fast.entries) == {"d", "d/a.txt", "d/sub", "top.txt"}


def test_the_replica_hashes_its_own_files(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    write(tmp_path, "f", data)
    replica = LocalReplica(tmp_path)
    assert replica.digest("f") == blake3.blake3(data).digest()
    with pytest.raises(ValueError):
        replica.digest("f", "md5")


def test_the_write_policy_is_one_value(tmp_path: Path) -> None:
    assert WritePolicy() == WritePolicy(trash=True, keep_changed=False, report_ids=False)
    assert WritePolicy.two_way(trash=False) == WritePolicy(trash=False, keep_changed=True, report_ids=True)
    replica = LocalReplica(tmp_path, policy=WritePolicy.two_way())
    assert replica.policy.report_ids
    entry = scan(tmp_path).root
    assert entry is not None
    outcome = replica.make_dir("new", entry, None)
    assert outcome.done and outcome.file_id == os.lstat(tmp_path / "new").st_ino
    assert LocalReplica(tmp_path).make_dir("other", entry, None).file_id == 0  # not asked to report ids


def test_without_trash_in_the_policy_a_replaced_file_is_gone(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "f", "new", mtime=T0 + 10)
    write(dst, "f", "old", mtime=T0)
    for policy, kept in ((WritePolicy(trash=False), False), (WritePolicy(), True)):
        write(dst, "f", "old", mtime=T0)
        report = execute(mirror(scan(src), scan(dst)), LocalReplica(src), LocalReplica(dst, policy=policy))
        assert report.copied == 1 and (dst / "f").read_text() == "new"
        assert (dst / ".syncline" / "trash").exists() is kept
    assert scan(dst).entries["f"].kind == FILE


def test_a_case_only_move_without_mover_goes_through_a_free_name_and_touches_nothing_else() -> None:
    from syncline.testing import MemoryReplica

    replica = MemoryReplica("fat", case_sensitive=False, mover=False)
    replica.put_file("docs/a.txt", b"words", T0 * 10**9)
    replica.put_file("Docs.syncline-rename-1", b"someone's file", T0 * 10**9)  # taken: the next name is used
    expect = replica.stat("docs")
    assert expect is not None
    outcome = move(replica, "docs", "Docs", expect)
    assert outcome.done and not outcome.note, outcome.note
    assert replica.paths() == ["Docs", "Docs.syncline-rename-1", "Docs/a.txt"]
    assert replica.read("Docs/a.txt") == b"words" and replica.read("Docs.syncline-rename-1") == b"someone's file"


def test_a_case_only_move_that_fails_half_way_leaves_everything_under_the_free_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The second step (free name -> new spelling) fails, as a kill between the two would leave it: nothing
    # is lost, and what was moved waits whole under the visible free name for the next run.
    from syncline.engine.replicas import abilities
    from syncline.testing import MemoryReplica

    replica = MemoryReplica("fat", case_sensitive=False, mover=False)
    replica.put_file("docs/a.txt", b"words", T0 * 10**9)
    real = abilities.copy_and_delete
    calls: list[tuple[str, str]] = []

    def second_fails(r: Any, src: str, dst: str, expect: Any) -> Outcome:
        calls.append((src, dst))
        return real(r, src, dst, expect) if len(calls) == 1 else Outcome(False, "the disk went away")

    monkeypatch.setattr(abilities, "copy_and_delete", second_fails)
    expect = replica.stat("docs")
    assert expect is not None
    outcome = move(replica, "docs", "Docs", expect)
    assert calls == [("docs", "Docs.syncline-rename-1"), ("Docs.syncline-rename-1", "Docs")]
    assert "left there" in outcome.note
    assert replica.paths() == ["Docs.syncline-rename-1", "Docs.syncline-rename-1/a.txt"]
    assert replica.read("Docs.syncline-rename-1/a.txt") == b"words"
