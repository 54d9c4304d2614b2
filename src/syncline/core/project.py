"""Project indexes onto what a target can keep, so that no planner plans what the target cannot store.

A target declares (as plain values: ``core`` knows no replica) the mtime precision it stores, whether it
keeps symlinks, POSIX permission bits, and owners. :func:`project` turns a source index into the index
the target would hold after a perfect sync, normalises the target's own index the same way where the
target reports something it cannot set, and returns the compare and keep rules that fit the target.
Table-tested in ``tests/test_project.py``.

- **mtimes**: the source's mtimes are truncated to the precision, and the modify window becomes at least
  the precision, since a target may round up (FAT on Windows) as well as down (Linux vfat). The
  target's mtimes are never touched: they are what its writes re-check (``expect``), exactly as seen.
- **permissions**: without them, both sides' mode bits are 0 ("none"), so no ``meta`` is planned for a
  mode, and a directory or file is made with whatever mode the target gives it.
- **owner**: without it, the owner is not kept, and a group only where ``Keep.groups`` bounds it to the
  running user's own groups (what any local file system lets a user give); an unbounded group (root's
  "any group") is not kept either.
- **symlinks**: without them, each source symlink leaves the source index and becomes a notice (not an
  error of the run: nothing is written for it). Its path is marked unreadable, so whatever the target
  holds there is kept, never deleted for a symlink it could not take.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .entry import SYMLINK, Compare, Entry, Keep
from .errors import Problem
from .index import Index

NO_SYMLINKS = "not copied: the destination cannot hold symlinks"


@dataclass(frozen=True, slots=True)
class Projection:
    """The indexes and rules a planner takes for one target."""

    source: Index
    target: Index
    compare: Compare
    keep: Keep


def project(source: Index, target: Index, compare: Compare, keep: Keep, *, mtime_ns_precision: int = 1,
            symlinks: bool = True, permissions: bool = True, owner: bool = True) -> Projection:
    """``source`` as a target with these abilities can store it, ``target`` with what it reports but cannot
    set normalised the same way, and the effective compare and keep rules. A target that keeps everything
    gets its arguments back unchanged (the same objects: no copy of a large index)."""
    return Projection(project_index(source, mtime_ns_precision=mtime_ns_precision, symlinks=symlinks,
                                    permissions=permissions),
                      project_index(target, permissions=permissions),
                      effective_compare(compare, mtime_ns_precision), effective_keep(keep, owner))


def project_index(index: Index, *, mtime_ns_precision: int = 1, symlinks: bool = True,
                  permissions: bool = True, side: str = "source") -> Index:
    """``index`` with mtimes truncated to ``mtime_ns_precision``, without mode bits (0) when
    ``permissions`` is off, and without its symlinks when ``symlinks`` is off (each a notice, its path
    marked unreadable; ``side`` names the tree in those notices). Only files have several names
    (``hard_links``), so that map stays as it is. Returns ``index`` itself when nothing changes."""
    if mtime_ns_precision < 1:
        raise ValueError(f"mtime precision must be at least 1 ns, not {mtime_ns_precision}")
    if mtime_ns_precision == 1 and symlinks and permissions:
        return index

    def fit(e: Entry) -> Entry:
        mtime = e.mtime_ns - e.mtime_ns % mtime_ns_precision
        mode = e.mode if permissions else 0
        return e if mtime == e.mtime_ns and mode == e.mode else e._replace(mtime_ns=mtime, mode=mode)

    entries: dict[str, Entry] = {}
    dropped: list[str] = []
    for path, e in index.entries.items():
        if e.kind == SYMLINK and not symlinks:
            dropped.append(path)
        else:
            entries[path] = fit(e)
    return replace(index, entries=entries, root=None if index.root is None else fit(index.root),
                   problems=(*index.problems, *(Problem(p, NO_SYMLINKS, side, error=False) for p in dropped)),
                   unreadable=index.unreadable | frozenset(dropped))


def effective_compare(compare: Compare, mtime_ns_precision: int) -> Compare:
    """``compare`` with a modify window of at least the target's mtime precision (none at 1 ns)."""
    if mtime_ns_precision <= 1 or compare.modify_window_ns >= mtime_ns_precision:
        return compare
    return replace(compare, modify_window_ns=mtime_ns_precision)


def effective_keep(keep: Keep, owner: bool) -> Keep:
    """``keep`` without owners when the target cannot give them, and without groups unless bounded to the
    running user's own (``Keep.groups``)."""
    if owner or not (keep.owner or (keep.group and keep.groups is None)):
        return keep
    return replace(keep, owner=False, group=keep.group and keep.groups is not None)
