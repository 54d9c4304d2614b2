"""Folder moves: which folders gone from one state of a tree are the folders new in another, renamed.

One rule, used by two-way sync (``reconcile``, to replay a rename on the other side) and by ``diff`` (to
report a folder move as one change): a renamed folder keeps its inode. The outermost folder is paired
first; the folders below one that moved moved with it and are not paired again.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TypeVar

from .paths import is_under

Id = TypeVar("Id", bound=Hashable)  # an inode, or any replica's file id


def folder_moves(gone: Iterable[str], new_by_inode: Mapping[Id, str], inode_of: Callable[[str], Id],
                 take: Callable[[str, str], bool]) -> list[tuple[str, str]]:
    """The pairs ``(old path, new path)`` of folders that were renamed.

    ``gone`` are the folders missing from the new state, parents before children (``sort_key`` order);
    ``new_by_inode`` maps the inode of each folder new in it to its path; ``inode_of`` gives a gone
    folder's inode (0 when unknown: never paired). ``take(old, new)`` is asked for each candidate pair in
    that order and says whether it is one; it may act on it before the next is asked (two-way sync
    rewrites its trees there), so a later answer can depend on an earlier pair.
    """
    pairs: list[tuple[str, str]] = []
    for p in gone:
        if any(is_under(p, m) for m, _ in pairs):
            continue
        inode = inode_of(p)
        q = new_by_inode.get(inode) if inode else None
        if q is None or not take(p, q):
            continue
        pairs.append((p, q))
    return pairs
