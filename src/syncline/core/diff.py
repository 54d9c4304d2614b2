"""``diff(old, new)``: what changed between two indexes of the same tree, as a list of :class:`Change`.

Kinds of change, as a user reads them:

- ``added`` / ``deleted``: the path exists only in new / only in old;
- ``moved``: a folder renamed (reported once, as two-way sync replays it: ``R old -> new`` for the
  folder, and what changed inside it under its new path), or a file deleted at one path and added at
  another with the same content digest (pairs are matched one to one, in path order; needs digests on
  both sides). A folder is taken as renamed when it kept its inode (both indexes taken of the same tree
  on the same host: :func:`~syncline.core.moves.folder_moves`, the rule two-way sync uses), or, between
  indexes of different trees, when a folder holds exactly what a gone one held (same names, kinds and
  contents) and no other gone or new folder does;
- ``type``: the path changed kind (file, dir, symlink);
- ``modified``: same kind, different content (digest when both sides have one, else size and mtime under
  the compare options; a symlink's target);
- ``meta``: same content, different permission bits or mtime.

Directories whose mtime changed only because their listing changed are not reported as ``meta``: the
listing change is already visible below them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .entry import DIR, FILE, Compare, CompareMode, Entry
from .index import Index
from .moves import folder_moves
from .paths import is_under, parent, sort_key

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
    folders = _folder_moves(old, new, compare)
    if folders:
        a = _renamed(a, folders)
        changes.extend(Change("moved", q, old.entries[p], b[q], from_path=p) for p, q in folders)
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
    moves = _pair_moves(a, b, deleted, added)
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


def _folder_moves(old: Index, new: Index, compare: Compare) -> list[tuple[str, str]]:
    """The folders renamed from ``old`` to ``new``, outermost only, as ``(old path, new path)``."""
    a, b = old.entries, new.entries
    gone = [p for p, e in a.items() if e.kind == DIR and p not in b]
    if not gone:
        return []
    fresh = [q for q, e in b.items() if e.kind == DIR and q not in a]
    if not fresh:
        return []
    pairs: list[tuple[str, str]] = []
    if _same_tree(old, new):
        new_by_inode = {b[q].file_id: q for q in fresh if b[q].file_id}
        taken: set[str] = set()

        def take(p: str, q: str) -> bool:
            if q in taken or any(is_under(q, t) for t in taken):
                return False
            taken.add(q)
            return True

        pairs = folder_moves(sorted(gone, key=sort_key), new_by_inode, lambda p: a[p].file_id, take)
    return pairs + _folder_moves_by_content(a, b, gone, fresh, pairs, compare)


def _same_tree(old: Index, new: Index) -> bool:
    """Whether inodes of ``old`` and ``new`` name the same files: both indexes of one root folder (same
    host, same root inode)."""
    return (old.root is not None and new.root is not None and old.root.file_id != 0
            and old.root.file_id == new.root.file_id and old.header.host == new.header.host)


def _folder_moves_by_content(a: Mapping[str, Entry], b: Mapping[str, Entry], gone: list[str], fresh: list[str],
                             paired: list[tuple[str, str]], compare: Compare) -> list[tuple[str, str]]:
    """Folder renames seen by content alone: a gone folder and a new one whose subtrees hold the same names,
    kinds and contents, when no other gone or new folder holds the same (empty folders never match)."""
    old_sigs, new_sigs = _signatures(a, set(gone), compare), _signatures(b, set(fresh), compare)
    olds: dict[bytes, list[str]] = defaultdict(list)
    news: dict[bytes, list[str]] = defaultdict(list)
    for p, sig in old_sigs.items():
        olds[sig].append(p)
    for q, sig in new_sigs.items():
        news[sig].append(q)
    pairs: list[tuple[str, str]] = []
    for p in sorted(old_sigs, key=sort_key):
        if any(is_under(p, m) or is_under(q, m) for m, q in (*paired, *pairs)):
            continue
        sig = old_sigs[p]
        if len(olds[sig]) == 1 and len(news[sig]) == 1:
            q = news[sig][0]
            if not any(is_under(q, t) for _, t in (*paired, *pairs)):
                pairs.append((p, q))
    return pairs


def _signatures(tree: Mapping[str, Entry], folders: set[str], compare: Compare) -> dict[str, bytes]:
    """A digest of each non-empty folder of ``folders`` (closed under sub-folders), over the names, kinds
    and contents of what it holds, sub-folders by their own digest (a Merkle tree)."""
    rows: dict[str, list[tuple[str, str, object]]] = {d: [] for d in folders}
    sigs: dict[str, bytes] = {}
    inside = [p for p in tree if parent(p) in rows]
    for path in sorted(inside, key=lambda p: p.count("/"), reverse=True):  # sub-folders first
        e = tree[path]
        content: object
        if e.kind == FILE:
            use_digest = compare.mode is CompareMode.CHECKSUM and e.digest is not None
            content = e.digest if use_digest else e.size if compare.mode is CompareMode.SIZE else (e.size, e.mtime_ns)
        elif e.kind == DIR:
            content = _folder_signature(rows[path]) if path in rows else None
        else:
            content = e.target
        rows[parent(path)].append((path.rsplit("/", 1)[-1], e.kind, content))
    for d, r in rows.items():
        if r:
            sigs[d] = _folder_signature(r)
    return sigs


def _folder_signature(rows: list[tuple[str, str, object]]) -> bytes:
    return hashlib.blake2b(repr(sorted(rows, key=lambda row: row[0])).encode("utf-8", "surrogateescape"),
                           digest_size=16).digest()


def _renamed(entries: Mapping[str, Entry], moves: list[tuple[str, str]]) -> dict[str, Entry]:
    """``entries`` with each moved folder's subtree under its new path (as two-way sync rewrites its base)."""
    out: dict[str, Entry] = {}
    for path, e in entries.items():
        for p, q in moves:
            if is_under(path, p):
                path = q + path[len(p):]
                break
        out[path] = e
    return out


def _pair_moves(old: Mapping[str, Entry], new: Mapping[str, Entry], deleted: Iterable[str],
                added: Iterable[str]) -> list[tuple[str, str]]:
    by_digest: dict[bytes, list[str]] = defaultdict(list)
    for p in deleted:
        e = old[p]
        if e.kind == FILE and e.digest is not None:
            by_digest[e.digest].append(p)
    pairs: list[tuple[str, str]] = []
    for p in added:
        e = new[p]
        if e.kind == FILE and e.digest is not None:
            sources = by_digest.get(e.digest)
            if sources:
                pairs.append((sources.pop(0), p))
    return pairs
