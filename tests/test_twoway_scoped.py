"""The scoped two-way run (``sync_two_way_replicas(..., dirs=...)``): syncing only the folders that changed
ends where a full run ends, and never copies or deletes anything outside them."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.core.errors import SafetyStop
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.twoway.run import TwoWayReport, TwoWaySyncOptions, sync_two_way, sync_two_way_replicas

from .conftest import write
from .test_archive import snapshot
from .test_sync_dirs import _mutate, _tree


def _scoped(a: Path, b: Path, dirs: list[tuple[str, bool]] | set[tuple[str, bool]],
            opts: TwoWaySyncOptions | None = None) -> TwoWayReport:
    policy = WritePolicy.two_way(trash=True)
    side_a, side_b = LocalReplica(a, policy=policy), LocalReplica(b, policy=policy)
    try:
        return sync_two_way_replicas(side_a, side_b, opts, dirs=sorted(dirs))
    finally:
        side_a.close()
        side_b.close()


def _pair(root: Path, seed: int) -> tuple[Path, Path]:
    a, b = root / "a", root / "b"
    _tree(a, random.Random(seed))
    b.mkdir()
    sync_two_way(a, b)
    return a, b


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), steps_a=st.integers(0, 8), steps_b=st.integers(0, 8))
def test_a_scoped_run_over_the_changed_folders_ends_where_a_full_run_ends(
        tmp_path_factory: pytest.TempPathFactory, seed: int, steps_a: int, steps_b: int) -> None:
    top = tmp_path_factory.mktemp("scoped")
    scoped_a, scoped_b = _pair(top / "x", seed)
    full_a, full_b = _pair(top / "y", seed)
    opts = TwoWaySyncOptions(force=True)  # a random run may delete most of the tree
    dirty = _mutate(scoped_a, random.Random(seed + 1), steps_a) | _mutate(scoped_b, random.Random(seed + 2), steps_b)
    assert _mutate(full_a, random.Random(seed + 1), steps_a) | _mutate(full_b, random.Random(seed + 2), steps_b) \
        == dirty

    _scoped(scoped_a, scoped_b, dirty, opts)
    after = sync_two_way(scoped_a, scoped_b, opts)
    alone = sync_two_way(full_a, full_b, opts)

    assert after.plan is not None and after.plan.empty, "the full run found work the scoped run should have done"
    assert not alone.problems and not after.problems
    assert snapshot(scoped_a) == snapshot(scoped_b) == snapshot(full_a) == snapshot(full_b)


def test_a_move_out_of_the_scope_is_not_a_delete(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "in/f.txt", b"f" * 100, mtime=1_700_000_000)
    write(a, "in/sub/g.txt", b"g", mtime=1_700_000_000)
    write(a, "out/keep.txt", b"k", mtime=1_700_000_000)
    b.mkdir()
    sync_two_way(a, b)
    (a / "in/f.txt").rename(a / "out/f.txt")
    (a / "in/sub").rename(a / "out/sub")

    report = _scoped(a, b, [("in", False)])

    assert report.plan is not None and report.plan.empty
    assert (b / "in/f.txt").read_bytes() == b"f" * 100 and (b / "in/sub/g.txt").exists()
    assert not (b / "out/f.txt").exists() and not (b / "out/sub").exists()
    full = sync_two_way(a, b)
    assert full.moved == 2
    assert snapshot(a) == snapshot(b)
    assert (b / "out/f.txt").read_bytes() == b"f" * 100 and (b / "out/sub/g.txt").exists()


def test_a_move_into_the_scope_is_left_for_a_full_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "out/f.txt", b"f" * 100, mtime=1_700_000_000)
    write(a, "in/x.txt", b"x", mtime=1_700_000_000)
    b.mkdir()
    sync_two_way(a, b)
    (a / "out/f.txt").rename(a / "in/f.txt")
    write(a, "in/new.txt", b"new", mtime=1_700_000_100)

    report = _scoped(a, b, [("in", False)])

    assert (b / "in/new.txt").read_bytes() == b"new"  # the rest of the scope is synced
    assert not (b / "in/f.txt").exists() and (b / "out/f.txt").exists()
    assert report.to_b.copied == 1
    full = sync_two_way(a, b)
    assert full.moved == 1 and full.to_b.copied == 0
    assert snapshot(a) == snapshot(b)


def test_a_delete_outside_the_scope_waits_for_a_full_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "d1/f.txt", b"f", mtime=1_700_000_000)
    write(a, "d2/g.txt", b"g", mtime=1_700_000_000)
    write(a, "d2/h.txt", b"h", mtime=1_700_000_000)
    b.mkdir()
    sync_two_way(a, b)
    (a / "d2/g.txt").unlink()
    write(b, "d1/f.txt", b"edited on b", mtime=1_700_000_100)

    report = _scoped(a, b, [("d1", False)])

    assert report.to_a.copied == 1 and report.to_b.deleted == 0
    assert (a / "d1/f.txt").read_bytes() == b"edited on b"
    assert (b / "d2/g.txt").exists()
    full = sync_two_way(a, b)
    assert full.to_b.deleted == 1 and not (b / "d2/g.txt").exists()
    assert snapshot(a) == snapshot(b)


def test_a_delete_inside_the_scope_is_propagated(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "d1/f.txt", b"f", mtime=1_700_000_000)
    write(a, "d1/gone/x.txt", b"x", mtime=1_700_000_000)
    write(a, "d2/g.txt", b"g", mtime=1_700_000_000)
    b.mkdir()
    sync_two_way(a, b)
    (a / "d1/f.txt").unlink()
    shutil.rmtree(b / "d1/gone")

    report = _scoped(a, b, [("d1", False)])

    assert report.to_b.deleted == 1 and report.to_a.deleted == 2
    assert snapshot(a) == snapshot(b)
    assert sync_two_way(a, b).plan.empty  # type: ignore[union-attr]


def test_the_delete_guards_stop_a_scoped_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(10):
        write(a, f"big/f{i}.txt", b"f", mtime=1_700_000_000)
    write(a, "small/one.txt", b"1", mtime=1_700_000_000)
    write(a, "small/two.txt", b"2", mtime=1_700_000_000)
    b.mkdir()
    sync_two_way(a, b)

    # The share counts the whole side's files (12), not the scope's: 1 of 2 in "small" goes ahead.
    (a / "small/one.txt").unlink()
    _scoped(a, b, [("small", False)])
    assert not (b / "small/one.txt").exists()

    # 10 of 11 files: more than half of side B.
    shutil.rmtree(a / "big")
    with pytest.raises(SafetyStop, match="would delete 10 of 11 files"):
        _scoped(a, b, [("", False)])
    assert len(list((b / "big").iterdir())) == 10

    # An emptied root stops a scoped run that looks at one folder only.
    (a / "small/two.txt").unlink()
    (a / "small").rmdir()
    with pytest.raises(SafetyStop, match="is empty"):
        _scoped(a, b, [("small", False)])
    assert (b / "small/two.txt").exists()


def test_a_scoped_first_run_merges_in_full(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "d1/f.txt", b"f", mtime=1_700_000_000)
    write(b, "d2/g.txt", b"g", mtime=1_700_000_000)
    report = _scoped(a, b, [("d1", False)])
    assert report.first_run
    assert (b / "d1/f.txt").exists() and (a / "d2/g.txt").exists()
