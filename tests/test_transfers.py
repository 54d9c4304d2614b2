"""Transfers that suit a network (issue 12 point 5): small files staged concurrently, never more calls at
once than ``Features.max_connections`` allows on either side, and the batch calls used when offered.

The replicas here wrap a LocalReplica, declare round trips, and sleep a little in every call (a round
trip); the tests assert on the concurrency they observe, never on a duration."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from syncline.core.entry import Entry
from syncline.core.oneway import mirror
from syncline.core.scan import scan
from syncline.engine.execute import execute
from syncline.engine.replicas.abilities import commit_each
from syncline.engine.replicas.errors import ReplicaError
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import BatchCommit, BatchStat, Features, Outcome, SourceFile, Staged

from .conftest import write

T0 = 1_600_000_000
ROUND_TRIP = 0.005
FILES = 200


class Far:
    """A LocalReplica seen as if over a network: ``max_connections``, a round trip per call, and a count of
    the calls (and of those in flight at once). Without ``batches`` it has no batch calls at all."""

    def __init__(self, root: Path, max_connections: int) -> None:
        self.inner = LocalReplica(root)
        self.policy = self.inner.policy
        self.max_connections = max_connections
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    @contextmanager
    def call(self, name: str) -> Iterator[None]:
        with self.lock:
            self.calls[name] += 1
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(ROUND_TRIP)
            yield
        finally:
            with self.lock:
                self.now -= 1

    def features(self) -> Features:
        return replace(self.inner.features(), max_connections=self.max_connections, round_trips=True)

    def describe(self) -> str:
        return f"far:{self.inner.describe()}"

    def stat(self, path: str) -> Entry | None:
        with self.call("stat"):
            return self.inner.stat(path)

    @contextmanager
    def open_file(self, path: str) -> Iterator[SourceFile]:
        with self.call("open_file"), self.inner.open_file(path) as f:
            yield f

    def stage_file(self, path: str, source: SourceFile) -> Staged:
        with self.call("stage_file"):
            return self.inner.stage_file(path, source)

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        with self.call("commit"):
            return self.inner.commit(staged, expect)

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        with self.call("make_dir"):
            return self.inner.make_dir(path, entry, expect)

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        with self.call("set_meta"):
            return self.inner.set_meta(path, entry, expect)

    def delete(self, path: str, expect: Entry) -> Outcome:
        with self.call("delete"):
            return self.inner.delete(path, expect)

    def barrier(self) -> None:
        with self.call("barrier"):
            self.inner.barrier()


class FarWithBatches(Far):
    """:class:`Far` with the batch calls: one round trip for many stats or commits."""

    def stat_many(self, paths: Sequence[str]) -> list[Entry | None]:
        with self.call("stat_many"):
            return self.inner.stat_many(paths)

    def commit_many(self, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
        with self.call("commit_many"):
            return commit_each(self.inner, items)


def small_tree(root: Path) -> None:
    for i in range(FILES):
        write(root, f"d{i % 4}/f{i:03}.txt", f"file {i}\n" * (i % 7), mtime=T0 + i)


def same(a: Path, b: Path) -> bool:
    def tree(root: Path) -> dict[str, Any]:
        return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else "dir"
                for p in root.rglob("*") if ".syncline" not in p.parts}
    return tree(a) == tree(b)


@pytest.mark.parametrize("connections", [1, 3, 8])
def test_small_files_go_concurrently_up_to_the_targets_connections(tmp_path: Path, connections: int) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_tree(src)
    dst.mkdir()
    target = Far(dst, connections)
    report = execute(mirror(scan(src), scan(dst)), LocalReplica(src), target)  # type: ignore[arg-type]
    assert report.copied == FILES and not report.errors
    assert same(src, dst)
    assert target.calls["stage_file"] == FILES
    assert target.most <= connections
    if connections > 1:
        assert target.most > 1  # overlapped, not one round trip after another


def test_the_source_bounds_the_connections_too(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_tree(src)
    dst.mkdir()
    source, target = Far(src, 2), Far(dst, 8)
    report = execute(mirror(scan(src), scan(dst)), source, target)  # type: ignore[arg-type]
    assert report.copied == FILES and not report.errors and same(src, dst)
    assert source.calls["open_file"] == FILES
    assert 1 < source.most <= 2 and target.most <= 2


def test_a_local_pair_copies_small_files_in_the_calling_thread(tmp_path: Path) -> None:
    """Measured fastest on a local disk: no thread hand-off per small file."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_tree(src)
    dst.mkdir()
    threads: set[str] = set()

    class Watched(LocalReplica):
        def stage_file(self, path: str, source: SourceFile) -> Staged:
            threads.add(threading.current_thread().name)
            return super().stage_file(path, source)

    assert not LocalReplica(src).features().round_trips
    report = execute(mirror(scan(src), scan(dst)), LocalReplica(src), Watched(dst))
    assert report.copied == FILES and same(src, dst)
    assert threads == {threading.current_thread().name}


def test_commits_go_in_one_batch_call_when_offered(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_tree(src)
    write(dst, "d0/f000.txt", "changed at the destination", mtime=T0)  # expect: the plan's, re-checked
    target = FarWithBatches(dst, 4)
    assert isinstance(target, BatchCommit) and isinstance(target, BatchStat)
    assert not isinstance(Far(dst, 4), BatchCommit)
    report = execute(mirror(scan(src), scan(dst)), LocalReplica(src), target)  # type: ignore[arg-type]
    assert report.copied == FILES and not report.errors and same(src, dst)
    assert target.calls["commit_many"] == 1 and target.calls["commit"] == 0
    assert target.most <= 4


def test_without_batch_commit_each_file_is_committed_on_its_own(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_tree(src)
    dst.mkdir()
    target = Far(dst, 4)
    report = execute(mirror(scan(src), scan(dst)), LocalReplica(src), target)  # type: ignore[arg-type]
    assert report.copied == FILES and same(src, dst)
    assert target.calls["commit"] == FILES


def test_a_failed_commit_in_a_batch_is_reported_and_the_others_go_on(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_tree(src)
    dst.mkdir()

    class Refusing(FarWithBatches):
        def commit_many(self, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
            outcomes = super().commit_many(items)
            # The server refused the first one (its copy is gone, not committed).
            return [ReplicaError(13, "Permission denied", items[0][0].path), *outcomes[1:]]

    target = Refusing(dst, 4)
    report = execute(mirror(scan(src), scan(dst)), LocalReplica(src), target)  # type: ignore[arg-type]
    assert report.copied == FILES - 1
    assert [p.path for p in report.problems if p.error] == ["d0/f000.txt"]


def test_a_move_without_mover_stats_both_names_in_one_batch_call(tmp_path: Path) -> None:
    from syncline.engine.replicas.abilities import move

    write(tmp_path, "old.txt", "content", mtime=T0)
    target = FarWithBatches(tmp_path, 4)
    expect = target.inner.stat("old.txt")
    assert expect is not None
    outcome = move(target, "old.txt", "new.txt", expect)  # type: ignore[arg-type]
    assert outcome.done, outcome.note
    assert (tmp_path / "new.txt").read_text() == "content" and not (tmp_path / "old.txt").exists()
    assert target.calls["stat_many"] == 1 and target.calls["stat"] == 0
