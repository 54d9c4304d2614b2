"""What the kernel tells about the watched source: its folder's identity, and how many folders inotify
watches against how many there are (watchdog skips, without a word, the folders past the watch limit)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def folder_identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of ``folder``; None when it is not there (or not a folder)."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def count_folders(root: Path) -> int:
    """The folders a recursive watch of ``root`` needs (the root included; ``.syncline`` left out)."""
    count = 0
    for dirpath, dirnames, _ in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != ".syncline"]
        count += 1
    return count


def inotify_watches() -> int | None:
    """How many inotify watches this process holds (from ``/proc/self/fdinfo``); None when unknown."""
    try:
        names = os.listdir("/proc/self/fdinfo")
    except OSError:
        return None
    total = 0
    for name in names:
        try:
            with open(f"/proc/self/fdinfo/{name}", encoding="ascii", errors="replace") as fh:
                total += sum(1 for line in fh if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


def read_int(path: str) -> int | None:
    """The integer in a one-number file such as ``/proc/sys/fs/inotify/max_user_watches``; None if none."""
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
