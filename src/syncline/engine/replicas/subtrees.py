"""``scan_dirs`` for a replica that lists its whole tree at once (a tree in memory, a server folder): the
part of a full scan that a scan of chosen folders records."""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence

from ...core.entry import DIR
from ...core.errors import Problem
from ...core.index import Index
from ...core.paths import is_under, parent


def subtrees(whole: Index, dirs: Sequence[tuple[str, bool]], side: str, blocked: Callable[[str], bool]) -> Index:
    """Of ``whole`` (a full scan), what ``scan_dirs(dirs)`` records: each folder's entry and its children
    (all below with ``deep``). A folder that is not there contributes nothing; one below a file or symlink
    (``blocked(folder)``) contributes nothing and is, on the destination, a problem and unreadable, so
    nothing below it is deleted for it (as for a local tree)."""
    wanted: list[tuple[str, bool]] = []
    problems: list[Problem] = []
    unreadable: set[str] = set()
    for folder, deep in dirs:
        if blocked(folder):
            if side == "destination":
                problems.append(Problem(folder, "a parent folder is a symlink or a file here (not followed)", side,
                                        errno=errno.ENOTDIR))
                unreadable.add(folder)
            continue
        if not folder or (folder in whole and whole[folder].kind == DIR):
            wanted.append((folder, deep))
    entries = {p: e for p, e in whole.items() if any(
        p == d or parent(p) == d or (deep and is_under(p, d)) for d, deep in wanted)}
    return Index(entries, whole.header, problems=tuple(problems), unreadable=frozenset(unreadable), root=whole.root)
