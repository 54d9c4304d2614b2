"""What the kernel tells about the watched source: its folder's identity, how many folders a recursive
watch needs, and which folders below a moved one have no inotify watch (from ``/proc/self/fdinfo``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...core.paths import META_DIR


def folder_identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of ``folder``; None when it is not there (or not a folder)."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def count_folders(root: Path) -> int:
    """The folders a recursive watch of ``root`` needs (the root included; ``.syncline`` folders left out)."""
    count = 0
    for _, dirnames, _ in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != META_DIR]
        count += 1
    return count


def _inotify_lines() -> Iterator[str] | None:
    """The ``inotify wd:...`` lines of every descriptor of this process (one per watch, from
    ``/proc/self/fdinfo``); None when unknown."""
    try:
        names = os.listdir("/proc/self/fdinfo")
    except OSError:
        return None

    def lines() -> Iterator[str]:
        for name in names:
            try:
                with open(f"/proc/self/fdinfo/{name}", encoding="ascii", errors="replace") as fh:
                    yield from (line for line in fh if line.startswith("inotify wd:"))
            except OSError:
                continue

    return lines()


def watched_inodes() -> set[tuple[int, int]] | None:
    """(device, inode) of everything this process's inotify watches; None when unknown. The kernel gives
    ``ino:`` and ``sdev:`` in hex, the device in its own encoding (major above bit 20)."""
    lines = _inotify_lines()
    if lines is None:
        return None
    found = set()
    for line in lines:
        fields = dict(f.split(":", 1) for f in line.split() if ":" in f)
        try:
            sdev, ino = int(fields["sdev"], 16), int(fields["ino"], 16)
        except (KeyError, ValueError):
            continue
        found.add((os.makedev(sdev >> 20, sdev & 0xFFFFF), ino))
    return found


def unwatched_folders(root: Path, folders: Iterable[str], watched: set[tuple[int, int]]) -> list[str]:
    """The folders at or below each of ``folders`` (relative to ``root``; a name that is not a folder is
    skipped) whose (device, inode) is not in ``watched``. ``.syncline`` folders are left out."""
    missing = []
    for top in folders:
        try:
            if not stat.S_ISDIR(os.lstat(root / top).st_mode):
                continue  # a file, or a symlink (never followed out of the tree)
        except OSError:
            continue
        for dirpath, dirnames, _ in os.walk(root / top):
            dirnames[:] = [d for d in dirnames if d != META_DIR]
            try:
                st = os.lstat(dirpath)
            except OSError:
                continue  # gone meanwhile: nothing there to watch
            if stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in watched:
                missing.append(os.path.relpath(dirpath, root))
    return missing


def read_int(path: str) -> int | None:
    """The integer in a one-number file such as ``/proc/sys/fs/inotify/max_user_watches``; None if none."""
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
