"""Two-way sync plans on each side only what that side can keep (``core/project.py``, ``project_pair``):
real runs between a local folder and each kind of ``MemoryReplica`` (2 s mtimes, no permissions, no
symlinks, case-insensitive, and all of these at once, as a FAT stick is), over several runs: a first run,
an edit on each side, deletes on each side, and runs with no change between them, which plan nothing."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncline.core.entry import Compare
from syncline.core.paths import META_DIR
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.trash import TRASH
from syncline.engine.twoway.pairstate import PairState
from syncline.engine.twoway.run import TwoWayReport, TwoWaySyncOptions, sync_two_way, sync_two_way_replicas
from syncline.testing import MemoryReplica

from .conftest import write

S = 10**9
T0 = 1_700_000_000
KINDS: dict[str, dict[str, Any]] = {
    "2 s mtimes": dict(mtime_precision_ns=2 * S),
    "no permissions": dict(permissions=False),
    "no symlinks": dict(symlinks=False),
    "case-insensitive": dict(case_sensitive=False),
    "all of them (a FAT stick)": dict(mtime_precision_ns=2 * S, permissions=False, symlinks=False,
                                      case_sensitive=False),
}


@pytest.fixture(params=list(KINDS), ids=list(KINDS))
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LocalReplica, MemoryReplica]]:
    (tmp_path / "a").mkdir()
    a = LocalReplica(tmp_path / "a", policy=WritePolicy.two_way())
    b = MemoryReplica("b", policy=WritePolicy.two_way(), **KINDS[request.param])
    yield a, b
    a.close()


def run(a: LocalReplica, b: MemoryReplica) -> TwoWayReport:
    """A two-way run with the default options (no --modify-window: the projection must find it)."""
    return sync_two_way_replicas(a, b, TwoWaySyncOptions())  # type: ignore[arg-type]


def planned_nothing(report: TwoWayReport) -> bool:
    plan = report.plan
    return (plan is not None and plan.empty and not report.conflicts
            and report.to_a.copied == report.to_b.copied == 0
            and report.to_a.meta_updated == report.to_b.meta_updated == 0
            and report.to_a.deleted == report.to_b.deleted == 0)


def local_files(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != META_DIR]
        for name in filenames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


def memory_files(b: MemoryReplica) -> dict[str, bytes]:
    return {p: b.read(p) for p in b.paths() if b.stat(p).kind == "file"}  # type: ignore[union-attr]


def local_trash(root: Path) -> set[bytes]:
    return {p.read_bytes() for p in (root / TRASH).rglob("*") if p.is_file()}


def test_runs_between_a_local_folder_and_a_memory_tree_plan_only_what_each_side_keeps(
        pair: tuple[LocalReplica, MemoryReplica]) -> None:
    a, b = pair
    ra = a.root
    # Odd mtimes (a 2 s side cannot hold them), private modes (a side without permissions shows others).
    write(ra, "a.txt", "alpha", mtime=T0 + 0.5, mode=0o600)
    write(ra, "docs/n.txt", "notes", mtime=T0 + 3.25, mode=0o640)
    os.chmod(ra / "docs", 0o750)
    os.utime(ra / "docs", (T0 + 7.75, T0 + 7.75))
    os.symlink("a.txt", ra / "link")
    b.put_file("from-b.txt", b"beta", (T0 + 1) * S + 1)
    b.put_file("b-dir/x.txt", b"x in b", (T0 + 5) * S)
    symlinks = b.symlinks

    first = run(a, b)
    assert first.first_run and not first.errors, first.errors
    assert memory_files(b) == {"a.txt": b"alpha", "docs/n.txt": b"notes", "from-b.txt": b"beta",
                               "b-dir/x.txt": b"x in b"}
    assert local_files(ra) == memory_files(b)
    assert os.readlink(ra / "link") == "a.txt"  # kept on its side whatever the other can hold
    if symlinks:
        assert b.stat("link").target == "a.txt"  # type: ignore[union-attr]
    else:
        assert b.stat("link") is None
        assert [(p.path, p.side, p.error) for p in first.problems if "symlink" in p.message] == [
            ("link", "a", False)]
    assert stat.S_IMODE((ra / "a.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((ra / "b-dir").stat().st_mode) != 0  # a folder made with a real mode

    again = run(a, b)
    assert planned_nothing(again) and not again.errors, again.plan

    # An edit on each side comes across.
    write(ra, "a.txt", "alpha, edited", mtime=T0 + 100.5)
    b.put_file("from-b.txt", b"beta, edited", (T0 + 101) * S + 1)
    edits = run(a, b)
    assert not edits.errors and edits.to_a.copied == 1 and edits.to_b.copied == 1, edits.plan
    assert b.read("a.txt") == b"alpha, edited" and (ra / "from-b.txt").read_bytes() == b"beta, edited"
    assert stat.S_IMODE((ra / "a.txt").stat().st_mode) == 0o600
    assert planned_nothing(run(a, b))

    # A delete on each side goes across, into the other side's trash.
    (ra / "docs/n.txt").unlink()
    b.remove("b-dir/x.txt")
    deletes = run(a, b)
    assert not deletes.errors and deletes.to_a.deleted == 1 and deletes.to_b.deleted == 1, deletes.plan
    assert b.stat("docs/n.txt") is None and not (ra / "b-dir/x.txt").exists()
    assert b"notes" in {t.data for t in b.trash} and b"x in b" in local_trash(ra)
    assert local_files(ra) == memory_files(b) == {"a.txt": b"alpha, edited", "from-b.txt": b"beta, edited"}
    assert os.readlink(ra / "link") == "a.txt"
    last = run(a, b)
    assert planned_nothing(last) and not last.errors


def _two(kind: str, tmp_path: Path) -> tuple[LocalReplica, MemoryReplica]:
    (tmp_path / "a").mkdir(exist_ok=True)
    return (LocalReplica(tmp_path / "a", policy=WritePolicy.two_way()),
            MemoryReplica("b", policy=WritePolicy.two_way(), **KINDS[kind]))


def test_without_permissions_the_local_side_keeps_its_own_modes(tmp_path: Path) -> None:
    a, b = _two("no permissions", tmp_path)
    ra = a.root
    try:
        write(ra, "secret.txt", "s", mtime=T0, mode=0o600)
        b.put_file("new/in-b.txt", b"b", T0 * S)
        run(a, b)
        assert stat.S_IMODE((ra / "new").stat().st_mode) == 0o755  # the mode the memory side shows
        assert stat.S_IMODE((ra / "new/in-b.txt").stat().st_mode) == 0o644
        # An edit on the memory side replaces the local file, which keeps its mode (as rsync --no-perms).
        b.put_file("secret.txt", b"S", (T0 + 50) * S)
        edited = run(a, b)
        assert edited.to_a.copied == 1 and not edited.errors, edited.plan
        assert (ra / "secret.txt").read_text() == "S"
        assert stat.S_IMODE((ra / "secret.txt").stat().st_mode) == 0o600
        # Both sides made it the same: the newer mtime comes across as metadata, the mode stays.
        write(ra, "secret.txt", "Z", mtime=T0 + 70)
        b.put_file("secret.txt", b"Z", (T0 + 80) * S)
        same = run(a, b)
        assert same.to_a.meta_updated == 1 and not same.errors and not same.conflicts, same.plan
        assert (ra / "secret.txt").stat().st_mtime == T0 + 80
        assert stat.S_IMODE((ra / "secret.txt").stat().st_mode) == 0o600
        # A chmod on the local side is nothing the other side could keep: nothing to do.
        os.chmod(ra / "secret.txt", 0o640)
        os.chmod(ra / "new", 0o700)
        assert planned_nothing(run(a, b))
        assert stat.S_IMODE((ra / "secret.txt").stat().st_mode) == 0o640
        assert stat.S_IMODE((ra / "new").stat().st_mode) == 0o700
    finally:
        a.close()


def test_a_two_second_side_needs_no_modify_window_but_one_given_stays(tmp_path: Path) -> None:
    a, b = _two("2 s mtimes", tmp_path)
    try:
        write(a.root, "f.txt", "f", mtime=T0 + 1.5)
        sync_two_way_replicas(a, b)  # type: ignore[arg-type]
        wide = sync_two_way_replicas(a, b, TwoWaySyncOptions(compare=Compare(modify_window_ns=5 * S)))  # type: ignore[arg-type]
        assert planned_nothing(wide) and wide.plan is not None
        assert wide.plan.to_a.compare.modify_window_ns == 5 * S
        plain = run(a, b)
        assert planned_nothing(plain) and plain.plan is not None
        assert plain.plan.to_a.compare.modify_window_ns == 2 * S
    finally:
        a.close()


def test_a_symlink_the_other_side_cannot_hold_stays_and_never_enters_the_base(tmp_path: Path) -> None:
    a, b = _two("no symlinks", tmp_path)
    ra = a.root
    try:
        write(ra, "target.txt", "t", mtime=T0)
        os.symlink("target.txt", ra / "l")
        os.symlink("target.txt", ra / "both")
        b.put_file("both", b"a file the stick had", T0 * S)  # the same name as a local symlink
        for _ in range(3):
            report = run(a, b)
            assert not report.errors and report.exit_code == 0, report.errors
            assert sorted(p.path for p in report.problems if "symlink" in p.message) == ["both", "l"]
            assert os.readlink(ra / "l") == "target.txt" and os.readlink(ra / "both") == "target.txt"
            assert b.read("both") == b"a file the stick had" and b.stat("l") is None
            assert not report.to_a.deleted and not report.to_b.deleted
        state = PairState(a.address(), b.address())
        try:
            assert set(state.load()) == {"target.txt"}
        finally:
            state.close()
        # Deleting the local symlink deletes nothing on the other side: it never was synced.
        (ra / "both").unlink()
        after = run(a, b)
        assert not after.errors and b.read("both") == b"a file the stick had"
        assert (ra / "both").read_bytes() == b"a file the stick had"  # now a file only B had: copied
    finally:
        a.close()


def test_a_case_clash_of_folders_loses_nothing_over_runs(tmp_path: Path) -> None:
    a, b = _two("case-insensitive", tmp_path)
    ra = a.root
    try:
        write(ra, "Docs/x.txt", "upper x", mtime=T0)
        write(ra, "docs/y.txt", "lower y", mtime=T0)
        for n in range(3):
            report = run(a, b)
            assert any("case clash" in p.message for p in report.errors)
            assert sorted(memory_files(b)) == ["Docs/x.txt"]
            assert local_files(ra) == {"Docs/x.txt": b"upper x", "docs/y.txt": b"lower y"}
            if n:
                assert report.plan is not None and report.plan.empty
    finally:
        a.close()


def test_the_path_form_probes_case_by_a_file_only_when_it_may_write(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import syncline.engine.twoway.run as tw

    asked: list[tuple[Path, bool]] = []

    def probe(root: Path, probe: bool = True) -> bool:
        asked.append((root, probe))
        return False

    monkeypatch.setattr(tw, "case_insensitive", probe)
    write(tmp_path / "a", "f.txt", "f", mtime=T0)
    (tmp_path / "b").mkdir()
    sync_two_way(tmp_path / "a", tmp_path / "b", TwoWaySyncOptions(dry_run=True))
    assert sorted(asked) == [(tmp_path / "a", False), (tmp_path / "b", False)]
    asked.clear()
    sync_two_way(tmp_path / "a", tmp_path / "b")
    assert sorted(asked) == [(tmp_path / "a", True), (tmp_path / "b", True)]
    assert (tmp_path / "b/f.txt").read_text() == "f"
