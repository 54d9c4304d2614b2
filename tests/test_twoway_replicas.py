"""Two-way sync over any replica (``sync_two_way_replicas``): a local folder against a replica that has
only the core and markers (files read as streams, no ``fileno``, no Hasher, Mover, Locker or scan in a
child), and a case-insensitive ``MemoryReplica`` with 2 s mtimes; the base kept under the replicas'
addresses, case sensitivity from ``features()``, and a replica without markers refused."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import blake3
import pytest

from syncline.core.conflicts import is_conflict_name
from syncline.core.entry import Compare
from syncline.core.errors import SafetyStop, UsageError
from syncline.core.ignore import Rules
from syncline.core.paths import META_DIR
from syncline.engine.replicas.abilities import hasher
from syncline.engine.replicas.address import open_replica
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import Features, Hasher, Locker, Markers, Mover, WritePolicy
from syncline.engine.twoway.pairstate import PairState
from syncline.engine.twoway.run import TwoWaySyncOptions, sync_two_way, sync_two_way_replicas
from syncline.testing import MemoryReplica

from .conftest import write
from .test_replica_abilities import NoFd
from .test_twoway import T0, tree

CORE = ("describe", "address", "scan", "scan_dirs", "is_empty", "exists", "create_root", "session", "close",
        "stat", "stage_file", "commit", "make_dir", "make_symlink", "delete", "set_meta", "barrier")


class CoreOnly:
    """A local folder seen through the required core only, as a network replica would offer it: files open
    as streams without ``fileno`` (each counted in ``streams``), no scan in a forked child, and none of the
    abilities (no Hasher, Mover, Linker, Locker, BatchStat, Markers)."""

    def __init__(self, root: Path, *, case_sensitive: bool = True) -> None:
        self.inner = LocalReplica(root, policy=WritePolicy.two_way())
        self.policy = self.inner.policy
        self.case_sensitive = case_sensitive
        self.streams: list[NoFd] = []

    for _name in CORE:
        locals()[_name] = (lambda name: lambda self, *a, **k: getattr(self.inner, name)(*a, **k))(_name)
    del _name

    def features(self) -> Features:
        return replace(self.inner.features(), hash_kinds=(), scan_in_child=False,
                       case_sensitive=self.case_sensitive)

    @contextmanager
    def open_file(self, path: str) -> Iterator[NoFd]:
        with self.inner.open_file(path) as inner:
            stream = NoFd(inner)
            self.streams.append(stream)
            yield stream


class WithMarkers(CoreOnly):
    """:class:`CoreOnly` plus the markers two-way sync needs."""

    def read_meta(self, name: str) -> str | None:
        return self.inner.read_meta(name)

    def write_meta(self, name: str, text: str) -> None:
        self.inner.write_meta(name, text)





@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[LocalReplica, WithMarkers]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = LocalReplica(tmp_path / "a", policy=WritePolicy.two_way())
    b = WithMarkers(tmp_path / "b")
    yield a, b
    a.close()
    b.inner.close()


def test_the_stream_only_replica_has_markers_and_nothing_else(sides: tuple[LocalReplica, WithMarkers]) -> None:
    _, b = sides
    assert isinstance(b, Markers)
    assert not any(isinstance(b, ability) for ability in (Hasher, Mover, Locker))


def test_two_way_between_a_local_folder_and_a_stream_only_replica(sides: tuple[LocalReplica, WithMarkers]) -> None:
    a, b = sides
    ra, rb = a.root, b.inner.root
    write(ra, "docs/report.txt", "same words", mtime=T0)
    write(rb, "docs/report.txt", "same words", mtime=T0 + 50)  # equal content: only its hash tells
    write(ra, "docs/notes.txt", "notes", mtime=T0)
    write(ra, "only-a.txt", "A", mtime=T0)
    write(rb, "only-b/x.txt", "B", mtime=T0)
    first = sync_two_way_replicas(a, b)
    assert first.first_run and first.exit_code == 0, first.problems
    # Both sides' report.txt were hashed (B's read as a stream) and found equal: no conflict copy.
    assert not first.conflicts and not [p for p in rb.rglob("*") if is_conflict_name(p.name)]
    assert b.streams and all(s.reads for s in b.streams)
    assert (ra / "docs/report.txt").stat().st_mtime == T0 + 50  # the newer metadata
    assert tree(ra) == tree(rb)

    # Renames on each side: B has no Mover (copy and delete there), A renames in place.
    inode = (ra / "only-b/x.txt").stat().st_ino
    os.rename(ra / "docs", ra / "papers")
    os.rename(rb / "only-b/x.txt", rb / "only-b/y.txt")
    write(rb, "only-a.txt", "B's edit", mtime=T0 + 100)
    second = sync_two_way_replicas(a, b)
    assert not second.first_run and second.exit_code == 0 and second.moved == 2, second.problems
    assert (ra / "only-b/y.txt").stat().st_ino == inode
    assert (ra / "only-a.txt").read_text() == "B's edit"
    assert not (rb / "docs").exists() and (rb / "papers/report.txt").read_text() == "same words"
    assert tree(ra) == tree(rb)


def test_both_changed_differently_keeps_both_through_the_stream_replica(
        sides: tuple[LocalReplica, WithMarkers]) -> None:
    a, b = sides
    ra, rb = a.root, b.inner.root
    write(ra, "f.txt", "v1", mtime=T0)
    sync_two_way_replicas(a, b)
    write(ra, "f.txt", "vA", mtime=T0 + 10)  # same size on both sides: compared by their hashes
    write(rb, "f.txt", "vB", mtime=T0 + 10)
    report = sync_two_way_replicas(a, b)
    assert [c.path for c in report.conflicts] == ["f.txt"]
    assert sorted(p.read_text() for p in ra.iterdir() if p.name != META_DIR) == ["vA", "vB"]
    assert tree(ra) == tree(rb)


def test_the_base_is_kept_under_the_replicas_addresses(tmp_path: Path,
                                                       sides: tuple[LocalReplica, WithMarkers]) -> None:
    a, b = sides
    write(a.root, "x.txt", "x", mtime=T0)
    sync_two_way_replicas(a, b)
    link = tmp_path / "link-to-b"
    link.symlink_to(b.inner.root)
    assert LocalReplica(link).address() == b.address() == os.path.realpath(b.inner.root)
    reopened = open_replica(b.address())
    assert reopened.address() == b.address()
    reopened.close()
    # The path form, through another name of B, finds the same base: no first run again.
    again = sync_two_way(link, a.root)
    assert not again.first_run and again.exit_code == 0
    assert len(list((Path(os.environ["SYNCLINE_STATE_DIR"]) / "pairs").glob("*.sqlite"))) == 1
    state = PairState(b.address(), a.address())
    try:
        assert set(state.load()) == {"x.txt"}
    finally:
        state.close()


def test_a_replica_without_markers_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    write(tmp_path / "b", "f.txt", "f")
    a, b = LocalReplica(tmp_path / "a"), CoreOnly(tmp_path / "b")
    try:
        with pytest.raises(UsageError, match="needs syncline's markers") as err:
            sync_two_way_replicas(a, b)  # type: ignore[arg-type]
    finally:
        a.close()
        b.inner.close()
    assert "\n" not in str(err.value) and str(tmp_path / "b") in str(err.value)
    assert os.listdir(tmp_path / "a") == [] and os.listdir(tmp_path / "b") == ["f.txt"]


def test_case_sensitivity_comes_from_the_replicas_features(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write(tmp_path / "a", "Report.txt", "upper", mtime=T0)
    write(tmp_path / "a", "report.txt", "lower", mtime=T0)
    a, b = LocalReplica(tmp_path / "a", policy=WritePolicy.two_way()), WithMarkers(tmp_path / "b",
                                                                                   case_sensitive=False)
    try:
        report = sync_two_way_replicas(a, b)
    finally:
        a.close()
        b.inner.close()
    assert report.exit_code == 1 and any("case clash" in p.message for p in report.errors)
    assert sorted(p.name for p in (tmp_path / "b").iterdir() if p.name != META_DIR) == ["Report.txt"]


def test_a_missing_side_is_made_on_a_first_run_only(tmp_path: Path) -> None:
    write(tmp_path / "a", "f.txt", "f", mtime=T0)
    a = LocalReplica(tmp_path / "a", policy=WritePolicy.two_way())
    b = WithMarkers(tmp_path / "b")
    try:
        assert sync_two_way_replicas(a, b).exit_code == 0
    finally:
        b.inner.close()
    assert (tmp_path / "b/f.txt").read_text() == "f"
    shutil.rmtree(tmp_path / "b")  # an unmounted disk, say
    b = WithMarkers(tmp_path / "b")
    try:
        with pytest.raises(SafetyStop, match="does not exist, and this pair was synced before"):
            sync_two_way_replicas(a, b)
    finally:
        a.close()
    assert not (tmp_path / "b").exists() and (tmp_path / "a/f.txt").exists()


def test_a_file_is_hashed_by_the_replica_or_read_as_a_stream_alike(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    write(tmp_path, "f", data, mtime=T0)
    local = LocalReplica(tmp_path)
    stream = CoreOnly(tmp_path)
    try:
        entry = local.scan(Rules(), False, "a")["f"]
        assert entry.digest is None
        by_replica, by_stream = hasher(local)("f", entry), hasher(stream)("f", entry)  # type: ignore[arg-type]
        assert by_replica == by_stream == entry._replace(digest=blake3.blake3(data).digest())
        assert stream.streams and stream.streams[0].reads >= 3  # read in blocks, not through a descriptor
        write(tmp_path, "f", b"changed since the scan", mtime=T0)
        assert hasher(local)("f", entry) is None and hasher(stream)("f", entry) is None  # type: ignore[arg-type]
    finally:
        local.close()
        stream.inner.close()


def test_two_way_between_a_local_folder_and_a_case_insensitive_two_second_memory_tree(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    ra = tmp_path / "a"
    write(ra, "docs/report.txt", "report", mtime=T0 + 0.5)  # odd: the memory tree keeps T0
    write(ra, "Readme.txt", "upper", mtime=T0)
    write(ra, "readme.txt", "lower", mtime=T0)  # a case clash on the memory side
    a = LocalReplica(ra, policy=WritePolicy.two_way())
    fat = MemoryReplica("fat", policy=WritePolicy.two_way(), case_sensitive=False, mtime_precision_ns=2 * 10**9)
    fat.put_file("from-fat.txt", b"fat", T0 * 10**9)
    window = dict(compare=Compare(modify_window_ns=2 * 10**9))
    try:
        first = sync_two_way_replicas(a, fat, TwoWaySyncOptions(**window))  # type: ignore[arg-type]
        assert any("case clash" in p.message for p in first.errors)
        assert fat.read("docs/report.txt") == b"report" and (ra / "from-fat.txt").read_text() == "fat"
        assert fat.stat("docs/report.txt").mtime_ns == T0 * 10**9  # type: ignore[union-attr]
        # Nothing changed since: the truncated times are no change, within the 2 s window.
        again = sync_two_way_replicas(a, fat, TwoWaySyncOptions(**window))  # type: ignore[arg-type]
        assert not again.first_run and again.plan is not None
        assert not again.plan.to_a.actions and not again.plan.to_b.actions
        # An edit on the memory side comes back; a rename on the local side is replayed there.
        fat.put_file("from-fat.txt", b"fat, edited", (T0 + 10) * 10**9)
        os.rename(ra / "docs", ra / "papers")
        third = sync_two_way_replicas(a, fat, TwoWaySyncOptions(**window))  # type: ignore[arg-type]
        assert third.moved == 1 and (ra / "from-fat.txt").read_text() == "fat, edited"
        assert fat.read("papers/report.txt") == b"report" and fat.stat("docs") is None
    finally:
        a.close()
