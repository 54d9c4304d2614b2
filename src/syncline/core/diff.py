"""``diff(old, new)``: what changed between two indexes of the same tree, as a list of :class:`Change`.

Kinds of change, as a user reads them:

- ``added`` / ``deleted``: the path exists only in new / only in old;
- ``moved``: a file deleted at one path and added at another with the same content digest (pairs are
  matched one to one, in path order); needs digests on both sides;
- ``type``: the path changed kind (file, dir, symlink);
- ``modified``: same kind, different content (digest when both sides have one, else size and mtime under
  the compare options; a symlink's target);
- ``meta``: same content, different permission bits or mtime.

Directories whose mtime changed only because their listing changed are not reported as ``meta``: the
listing change is already visible below them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .entry import DIR, FILE, Compare, CompareMode, Entry
from .index import Index
from .paths import sort_key

ChangeKind = Literal["added", "deleted", "moved", "type", "modified", "meta"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "deleted", "moved", "type", "modified", "meta")


@dataclass(frozen=True, slots=True)
class Change:
    """One change. For ``moved``, ``path`` is the new path and ``from_path`` the old one."""

    kind: ChangeKind
    path: str
    old: Entry | None
    new: Entry | None
    from_path: str | None = None


@dataclass(frozen=True)
class DiffResult:
    """The changes in path order, and counts per kind."""

    changes: tuple[Change, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not self.changes

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)


def diff(old: Index, new: Index, compare: Compare | None = None) -> DiffResult:
    """Compare two indexes of one tree. Pure; ``compare`` defaults to digests when both sides have them."""
    if compare is None:
        both = old.header.digests and new.header.digests
        compare = Compare(CompareMode.CHECKSUM if both else CompareMode.MTIME)
    changes: list[Change] = []
    added: list[str] = []
    deleted: list[str] = []
    a, b = old.entries, new.entries
    for path, ne in b.items():
        oe = a.get(path)
        if oe is None:
            added.append(path)
        elif oe.kind != ne.kind:
            changes.append(Change("type", path, oe, ne))
        elif not ne.same_content(oe, compare):
            changes.append(Change("modified", path, oe, ne))
        elif (ne.kind != DIR and not ne.same_meta(oe, compare)) or (ne.kind == DIR and ne.mode != oe.mode):
            changes.append(Change("meta", path, oe, ne))
    deleted = [p for p in a if p not in b]
    moves = _pair_moves(old, new, deleted, added)
    moved_from = {src for src, _ in moves}
    moved_to = dict((dst, src) for src, dst in moves)
    for path in added:
        if path in moved_to:
            src = moved_to[path]
            changes.append(Change("moved", path, a[src], b[path], from_path=src))
        else:
            changes.append(Change("added", path, None, b[path]))
    changes.extend(Change("deleted", p, a[p], None) for p in deleted if p not in moved_from)
    changes.sort(key=lambda c: sort_key(c.path))
    counts: dict[str, int] = dict.fromkeys(CHANGE_KINDS, 0)
    for c in changes:
        counts[c.kind] += 1
    return DiffResult(tuple(changes), counts)


def _pair_moves(old: Index, new: Index, deleted: Iterable[str], added: Iterable[str]) -> list[tuple[str, str]]:
    by_digest: dict[bytes, list[str]] = defaultdict(list)
    for p in deleted:
        e = old.entries[p]
        if e.kind == FILE and e.digest is not None:
            by_digest[e.digest].append(p)
    pairs: list[tuple[str, str]] = []
    for p in added:
        e = new.entries[p]
        if e.kind == FILE and e.digest is not None:
            sources = by_digest.get(e.digest)
            if sources:
                pairs.append((sources.pop(0), p))
    return pairs
