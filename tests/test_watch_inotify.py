"""The inotify change source on its own: what the kernel's events become in the collector, and the watches
it keeps as folders are made, renamed, moved out and the queue overflows."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inotify_simple import flags

from syncline.services.watch.changes import ChangeCollector
from syncline.services.watch.events import Event
from syncline.services.watch.inotify import InotifySource

from .conftest import write
from .test_watch import wait_until


@contextmanager
def watching(root: Path) -> Iterator[tuple[InotifySource, ChangeCollector, list[Event]]]:
    collector = ChangeCollector()
    told: list[Event] = []
    source = InotifySource(root, collector, told.append, poll_every=10.0)
    source.start()
    try:
        yield source, collector, told
    finally:
        source.close()


def taken(collector: ChangeCollector) -> tuple[dict[str, bool], list[tuple[str, str]], bool]:
    folders, moves, overflowed = collector.take()
    return dict(folders), moves, overflowed


def seen(collector: ChangeCollector, folder: str, deep: bool = False) -> bool:
    """Wait until ``folder`` (deep, if asked) is among the collected changes; what was taken is kept."""
    got: dict[str, bool] = {}

    def look() -> bool:
        folders, _, _ = collector.take()
        for f, d in folders:
            got[f] = got.get(f, False) or d
        return folder in got and (got[folder] or not deep)

    return wait_until(look, timeout=10)


def test_a_burst_of_writes_in_one_folder_is_one_folder(tmp_path: Path) -> None:
    write(tmp_path, "d/keep.txt", b"k")
    with watching(tmp_path) as (_, collector, _):
        for i in range(200):  # as a download writes: a temp name, then renamed into place
            temp = tmp_path / "d" / f".syncline-tmp-x-{i}"
            temp.write_bytes(b"x")
            os.utime(temp, (1, 1))
            os.rename(temp, tmp_path / "d" / f"f{i}")
        assert wait_until(lambda: collector.pending_folders() > 0)
        time.sleep(0.3)
        folders, moves, overflowed = taken(collector)
    assert folders == {"d": False} and not overflowed
    assert len(moves) == 200 and moves[0] == ("d/.syncline-tmp-x-0", "d/f0")


def test_a_folder_made_with_folders_inside_is_watched_all_the_way_down(tmp_path: Path) -> None:
    with watching(tmp_path) as (_, collector, _):
        (tmp_path / "a/b/c/d").mkdir(parents=True)
        assert seen(collector, "a", deep=True)
        time.sleep(0.3)
        collector.take()
        write(tmp_path, "a/b/c/d/late.txt", b"late")  # seen only through a watch on d
        assert seen(collector, "a/b/c/d")


def test_a_renamed_folder_is_told_by_its_new_name_and_stays_watched(tmp_path: Path) -> None:
    write(tmp_path, "old/sub/f.txt", b"f")
    with watching(tmp_path) as (_, collector, _):
        os.rename(tmp_path / "old", tmp_path / "new")
        assert seen(collector, "new", deep=True)
        time.sleep(0.3)
        _, moves, _ = taken(collector)
        write(tmp_path, "new/sub/g.txt", b"g")
        assert seen(collector, "new/sub")
        folders, _, _ = taken(collector)
    assert "old/sub" not in folders and moves in ([], [("old", "new")])


def test_a_folder_made_just_before_its_parent_is_renamed_gets_a_watch(tmp_path: Path) -> None:
    write(tmp_path, "A/a.txt", b"a")
    write(tmp_path, "B/b.txt", b"b")
    with watching(tmp_path) as (source, collector, _):
        (tmp_path / "A/S").mkdir()
        os.rename(tmp_path / "A", tmp_path / "B/C")  # likely before the reader adds S's watch by its path
        assert seen(collector, "B/C", deep=True)
        time.sleep(0.3)
        collector.take()
        write(tmp_path, "B/C/S/late.txt", b"late")
        assert seen(collector, "B/C/S")
        assert source._watcher is not None and source._watcher.count() == 4  # the root, B, B/C (was A), B/C/S


def test_a_folder_moved_out_is_no_longer_watched(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(root, "gone/deep/f.txt", b"f")
    outside.mkdir()
    with watching(root) as (source, collector, _):
        assert source._watcher is not None and source._watcher.count() == 3
        os.rename(root / "gone", outside / "gone")
        assert seen(collector, "")
        assert wait_until(lambda: source._watcher is not None and source._watcher.count() == 1)
        write(outside, "gone/deep/later.txt", b"not ours")
        time.sleep(0.5)
        folders, _, _ = taken(collector)
    assert not any(f.startswith("gone") for f in folders), folders


def test_the_meta_folder_is_never_watched(tmp_path: Path) -> None:
    write(tmp_path, ".syncline/state", b"s")
    write(tmp_path, "d/.syncline/x", b"x")
    with watching(tmp_path) as (source, collector, _):
        assert source._watcher is not None and source._watcher.count() == 2  # the root and d
        (tmp_path / ".syncline/state").write_bytes(b"t")
        (tmp_path / "d/.syncline/y").write_bytes(b"y")
        time.sleep(0.5)
        assert collector.pending_folders() == 0
        source.check()
        assert source.complete


def test_an_overflow_tells_the_collector_and_watches_anew(tmp_path: Path) -> None:
    write(tmp_path, "d/f.txt", b"f")
    with watching(tmp_path) as (source, collector, _):
        first = source._watcher
        assert first is not None
        first.handle([(-1, flags.Q_OVERFLOW, 0, "")], time.monotonic())
        assert wait_until(lambda: taken(collector)[2])
        assert source._watcher is not first and source._watcher is not None
        assert source._watcher.count() == 2
        write(tmp_path, "d/g.txt", b"g")  # the new watches see what comes after
        assert seen(collector, "d")
