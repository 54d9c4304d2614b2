"""The daemon's own writes are no local changes (``services/daemon/echoes.py``), and nothing else is taken for
one: a folder is dropped from the next run only when every child its events named is still exactly what
the last run wrote there."""

from __future__ import annotations

import os
import time
from pathlib import Path

from syncline.core.entry import DIR, FILE, Entry
from syncline.services.daemon.echoes import OwnWrites
from syncline.services.watch.changes import ChangeCollector

from .conftest import write
from .test_watch_inotify import watching

T0 = 1_700_000_000 * 10**9


def _written(root: Path) -> OwnWrites:
    """As after a run that downloaded d/a.txt and d/b.txt, set d's mtime and deleted d/gone.txt."""
    write(root, "d/a.txt", b"aaa", mtime=T0 / 1e9)
    write(root, "d/b.txt", b"bb", mtime=T0 / 1e9)
    os.utime(root / "d", ns=(T0 + 5, T0 + 5))
    return OwnWrites(root, {"d/a.txt": Entry(FILE, 3, T0, 0o644), "d/b.txt": Entry(FILE, 2, T0, 0o644),
                            "d": Entry(DIR, 0, T0 + 5, 0o755), "d/gone.txt": None})


def test_a_folder_whose_named_children_are_all_the_runs_own_writes_is_dropped(tmp_path: Path) -> None:
    own = _written(tmp_path)
    names: dict[str, set[str] | None] = {"d": {"a.txt", "b.txt", "gone.txt", ".syncline-tmp-0a1b2c3d4e5f6071-1f"},
                                         "": {"d"}}
    assert own.keep([("", False), ("d", False)], names) == []


def test_anything_else_keeps_its_folder(tmp_path: Path) -> None:
    own = _written(tmp_path)
    assert own.keep([("d", False)], {"d": {"a.txt", "new.txt"}}) == [("d", False)]  # a name not written
    assert own.keep([("d", False)], {"d": None}) == [("d", False)]  # children not named (the feed, polling)
    assert own.keep([("d", True)], {"d": {"a.txt"}}) == [("d", True)]  # a folder taken whole
    write(tmp_path, "d/.syncline-tmp-0a1b2c3d4e5f6071-2", b"left")  # a temp name still there
    assert own.keep([("d", False)], {"d": {".syncline-tmp-0a1b2c3d4e5f6071-2"}}) == [("d", False)]

    write(tmp_path, "d/a.txt", b"AAA", mtime=T0 / 1e9 + 1)  # edited after the run: another mtime
    assert own.keep([("d", False)], {"d": {"a.txt"}}) == [("d", False)]
    write(tmp_path, "d/b.txt", b"bbb", mtime=T0 / 1e9)  # another size, the same mtime
    assert own.keep([("d", False)], {"d": {"b.txt"}}) == [("d", False)]
    write(tmp_path, "d/gone.txt", b"made again")  # deleted by the run, then made again
    assert own.keep([("d", False)], {"d": {"gone.txt"}}) == [("d", False)]
    os.unlink(tmp_path / "d/a.txt")
    os.symlink("/etc/passwd", tmp_path / "d/a.txt")  # a symlink swapped in where the run wrote a file
    assert own.keep([("d", False)], {"d": {"a.txt"}}) == [("d", False)]
    os.utime(tmp_path / "d", ns=(T0 + 9, T0 + 9))  # the folder's mtime set by someone else
    assert own.keep([("", False)], {"": {"d"}}) == [("", False)]


def test_the_root_is_its_own_write_only_as_the_run_left_it(tmp_path: Path) -> None:
    own = OwnWrites.of(tmp_path, None)
    assert own.keep([("", False)], {"": {""}}) == []
    os.chmod(tmp_path, 0o751)
    assert own.keep([("", False)], {"": {""}}) == [("", False)]


def test_the_writes_of_the_run_before_are_kept_one_run_more(tmp_path: Path) -> None:
    first = _written(tmp_path)
    second = OwnWrites(tmp_path, {}, before=first)
    third = OwnWrites(tmp_path, {}, before=second)
    assert second.keep([("d", False)], {"d": {"a.txt"}}) == []
    assert third.keep([("d", False)], {"d": {"a.txt"}}) == [("d", False)]


def test_the_collector_keeps_the_names_until_a_change_without_names_comes() -> None:
    c = ChangeCollector()
    c.add_batch([("d", False), ("e", False)], [], names={"d": {"a"}, "e": {"x"}})
    c.add_batch([("d", False)], [], names={"d": {"b"}})
    c.add([("e", False)])  # the feed: any change in e
    c.add_batch([("f", True)], [], names={"f": {"y"}})  # whole: no names
    folders, names, _, _ = c.take_named()
    assert folders == [("d", False), ("e", False), ("f", True)]
    assert names == {"d": {"a", "b"}, "e": None, "f": None}
    assert c.take_named()[1] == {}


def test_the_inotify_source_names_the_children_that_changed(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with watching(tmp_path) as (_, collector, _):
        write(tmp_path, "d/new.txt", b"x")
        os.utime(tmp_path / "d", ns=(T0, T0))
        deadline = time.monotonic() + 30
        seen: dict[str, set[str]] = {}
        while time.monotonic() < deadline and not ("new.txt" in seen.get("d", ()) and "d" in seen.get("", ())):
            time.sleep(0.05)
            for f, got in collector.take_named()[1].items():
                assert got is not None, f"{f}: a change without the names of its children"
                seen[f] = seen.get(f, set()) | got
    assert seen == {"d": {"new.txt"}, "": {"d"}}
