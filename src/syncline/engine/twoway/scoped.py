"""The scoped two-way run: reconcile some folders of a pair, not the whole trees (``dirs=`` of
:func:`~syncline.engine.twoway.run.sync_two_way_replicas`).

What the daemon runs for each batch of changed folders, so that an edit costs a scan of its folder, not
of 100,000 files. The scope is a set of ``(folder, deep)``: a folder's own entry and its children, and with
``deep`` everything below it (``""`` is the root). Both sides are read with ``Replica.scan_dirs`` and the
base with ``PairState.load_dirs``, over the same scope, and the planner runs on that: a path outside the
scope is never planned (never copied, never deleted), and its base row stays as it is.

The scope grows (:func:`widen`) until the planner can decide everything in it as a full run would:

- a named folder that is not a folder on both sides is listed from its parent too (a folder gone on one
  side, or replaced by a file, is then seen as such and not taken for "its children were deleted");
- a folder narrowed to named children that is not a folder on both sides and in the base is listed
  whole (made, gone or replaced, all its children changed with it);
- a child of a shallow folder that is a folder somewhere (side A, side B, the base) but not everywhere is
  taken whole: a folder created, deleted, moved or replaced is planned with everything below it, so a
  folder is never deleted with something outside the scope below it.

A folder narrowed to named children (``names``: what a watcher's events and a change feed's rows name)
is read child by child: its own entry and the named children's, each looked at by itself, and the base's
rows of those paths. What was not named did not change, so it is no more planned than a folder outside
the scope.

A move with one end outside the scope cannot be propagated as a move, and must not become a delete of
the far end; such paths are left for a full run, as the planner leaves unreadable parts
(:func:`moved_in`, :func:`moved_out`). A delete found in a scoped run costs a look for the lost entry's
file id on the side that lost it (a full scan, unless the side can find file ids without one), to tell a
move out of the scope from a delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ...core.entry import DIR, FILE, Entry, FileId
from ...core.errors import UsageError
from ...core.guard import files_of
from ...core.ignore import IGNORE_FILE, Rules
from ...core.index import Index
from ...core.paths import is_name, is_under, join, parent
from ...core.reconcile import BaseEntry, Reconciled
from ..replicas.abilities import find_file_ids, scan_children
from ..replicas.replica import Replica
from .pairstate import PairState


@dataclass(frozen=True)
class Scope:
    """The folders of a scoped run: folder -> deep, none below a deep one (``""`` is the root); ``names``
    narrows a shallow folder to the children named (folder -> names): its own entry and those are read,
    each by itself, not its whole listing."""

    dirs: Mapping[str, bool]
    names: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, dirs: Iterable[tuple[str, bool]], names: Mapping[str, Iterable[str]] | None = None) -> Scope:
        """The scope of ``dirs`` as given by a caller (relative paths with ``/``, ``""`` for the root); a
        folder asked for both ways is deep. ``names``: for a shallow folder, the only children that
        changed (a folder not in it: any of them). Raises :class:`UsageError` for a path that is not
        relative or a name that is not one."""
        told = names or {}
        return cls._of((d, deep, None if d not in told else frozenset(told[d])) for d, deep in dirs)

    @classmethod
    def _of(cls, dirs: Iterable[tuple[str, bool, frozenset[str] | None]]) -> Scope:
        wanted: dict[str, bool] = {}
        named: dict[str, frozenset[str] | None] = {}
        for d, deep, some in dirs:
            folder = "" if d == "." else d
            if folder and (folder.startswith("/") or any(part in ("", ".", "..") for part in folder.split("/"))):
                raise UsageError(f"a scoped run takes folders relative to the root, not {d!r}",
                                 "give paths such as 'docs/2024', or '' for the root")
            if some is not None and any(not is_name(n) for n in some - {""}):
                raise UsageError(f"a scoped run takes the names of {d!r}'s children, not paths",
                                 "give each child's name alone")
            wanted[folder] = wanted.get(folder, False) or deep
            had = named.get(folder, frozenset())
            # "" named in a folder is the folder itself, always read; an ignore file named changes which of
            # its siblings are ignored: the folder is listed whole.
            named[folder] = None if some is None or had is None or IGNORE_FILE in some else had | (some - {""})
        deep_dirs = [d for d, deep in wanted.items() if deep]
        kept = {d: deep for d, deep in wanted.items()
                if not any(d != top and is_under(d, top) for top in deep_dirs)}
        return cls(kept, {d: some for d, some in named.items()
                          if d in kept and not kept[d] and some is not None})

    def items(self) -> list[tuple[str, bool]]:
        return list(self.dirs.items())

    def listed_dirs(self) -> list[tuple[str, bool]]:
        """The folders read whole (deep, or all their children): those not narrowed by ``names``."""
        return [(d, deep) for d, deep in self.dirs.items() if d not in self.names]

    def named_paths(self) -> list[str]:
        """The paths read one by one: each narrowed folder's own and its named children's."""
        out = []
        for d, some in self.names.items():
            if d:
                out.append(d)
            out += [join(d, n) for n in some]
        return out

    def holds(self, path: str) -> bool:
        """Whether ``path`` is in the scope: a named folder, a child of one (named, if it is narrowed), or
        below a deep one."""
        return path in self.dirs or self._child_read(path) or self._deep_above(path)

    def listed(self, path: str) -> bool:
        """Whether ``path``'s own entry is known from a look at it as a child of its parent (so its
        absence on a side, or its kind there, is known), not only from a look at the named folder
        itself."""
        return path != "" and (self._child_read(path) or self._deep_above(path))

    def _child_read(self, path: str) -> bool:
        """Whether ``path`` is read as a child of a scoped folder (a named one, if it is narrowed)."""
        up, _, name = path.rpartition("/")
        if up not in self.dirs or path == "":
            return False
        some = self.names.get(up)
        return some is None or name in some

    def _deep_above(self, path: str) -> bool:
        p = path
        while p:
            p = parent(p)
            if self.dirs.get(p):
                return True
        return False

    def with_dirs(self, more: Iterable[tuple[str, bool, frozenset[str] | None]]) -> Scope:
        """This scope and ``more`` (``(folder, deep, names)``; names None: all its children)."""
        return Scope._of([*((d, deep, self.names.get(d)) for d, deep in self.dirs.items()), *more])


def _is_dir(entries: Mapping[str, Entry], path: str) -> bool:
    e = entries.get(path)
    return e is not None and e.kind == DIR


def widen(scope: Scope, a: Index, b: Index, base: Mapping[str, BaseEntry]) -> Scope | None:
    """The scope this one must grow to before it can be planned (see the module), or None when it need not.

    ``a``, ``b`` and ``base`` are the two sides and the base read over ``scope``."""
    more: list[tuple[str, bool, frozenset[str] | None]] = []
    for d in scope.dirs:
        if d and not (_is_dir(a.entries, d) and _is_dir(b.entries, d)) and not scope.listed(d):
            up, _, name = d.rpartition("/")
            more.append((up, False, frozenset((name,))))
    for d in scope.names:
        be = base.get(d)
        if d and not (_is_dir(a.entries, d) and _is_dir(b.entries, d) and be is not None and be.entry.kind == DIR):
            more.append((d, False, None))  # made, gone or replaced somewhere: all its children change with it
    shallow = {d for d, deep in scope.dirs.items() if not deep}
    if shallow:
        for p in {*a.entries, *b.entries, *base}:
            if p in scope.dirs or parent(p) not in shallow:
                continue
            be = base.get(p)
            dirs = (_is_dir(a.entries, p), _is_dir(b.entries, p), be is not None and be.entry.kind == DIR)
            if any(dirs) and not all(dirs):
                more.append((p, True, None))
    if not more:
        return None
    return scope.with_dirs(more)


@dataclass(frozen=True)
class ScopedRead:
    """Both sides and the base read over ``scope`` (grown as :func:`widen` says)."""

    scope: Scope
    a: Index
    b: Index
    base: dict[str, BaseEntry]


def read(scope: Scope, state: PairState, side_a: Replica, side_b: Replica, rules: Rules,
         digests: bool) -> ScopedRead:
    """Scan both sides and load the base over ``scope``, growing it until :func:`widen` is satisfied (each
    step reads the grown scope again: a few listings, as deep as the tree at most).

    A scope narrowed to named children is read whole when a side ignores case: there a name may stand
    for an entry under another case, which only the folder's listing shows (and the planner must see
    both names to report a clash)."""
    if scope.names and not (side_a.features().case_sensitive and side_b.features().case_sensitive):
        scope = Scope(scope.dirs)
    while True:
        ia = _scan(side_a, scope, rules, "a", digests)
        ib = _scan(side_b, scope, rules, "b", digests)
        listed = scope.listed_dirs()
        base = state.load_dirs(listed) if listed else {}
        if scope.names:
            base.update(state.load_paths(scope.named_paths()))
        wider = widen(scope, ia, ib, base)
        if wider is None or wider == scope:
            return ScopedRead(scope, ia, ib, base)
        scope = wider


def _scan(side: Replica, scope: Scope, rules: Rules, name: str, digests: bool) -> Index:
    """``side`` read over ``scope``: its listed folders (``scan_dirs``) and its narrowed ones
    (:func:`~..replicas.abilities.scan_children`), in one index."""
    listed = scope.listed_dirs()
    whole = side.scan_dirs(listed, rules, name, digests) if listed or not scope.names else None
    if not scope.names:
        assert whole is not None
        return whole
    some = scan_children(side, scope.names, rules, name, digests)
    if whole is None:
        return some
    return Index({**whole.entries, **some.entries}, whole.header,
                 problems=whole.problems + tuple(p for p in some.problems if p not in whole.problems),
                 unreadable=whole.unreadable | some.unreadable,
                 temp_files=tuple(dict.fromkeys((*whole.temp_files, *some.temp_files))),
                 root=whole.root or some.root, hard_links={**some.hard_links, **whole.hard_links})


def moved_in(view: ScopedRead, state: PairState) -> frozenset[str]:
    """Paths new on a side in the scope whose file id the base knows on that side at a path outside the
    scope: the far end of a move into the scope (or a reused file id). Left for a full run, which sees
    both ends; copying them now would make the full run delete the old path instead of moving it."""
    out: set[str] = set()
    for name, index in (("a", view.a), ("b", view.b)):
        new = {e.file_id: p for p, e in index.entries.items() if p not in view.base and e.file_id}
        if not new:
            continue
        for fid, paths in state.paths_of_file_ids(name, new).items():
            if any(not view.scope.holds(p) for p in paths):
                out.add(new[fid])
    return frozenset(out)


def moved_out(plan: Reconciled, view: ScopedRead, side_a: Replica, side_b: Replica, rules: Rules) -> frozenset[str]:
    """Paths the scoped ``plan`` settles as lost on one side, where that side holds the entry (its file id;
    without file ids, a file of that size and mtime) at a path outside the scope: a move out of the scope.
    Left for a full run, which propagates it as a move.

    "Settles as lost" is either of: the plan deletes the path on the other side, or it writes the path back
    onto the side that lost it (a change beats a delete: the other side added or changed something below a
    folder this side moved away). The second would recreate the folder at its old place, so the full run
    that follows would see the moved folder as new and the recreated one as kept: the move becomes a copy
    plus a delete, and what the other side added stays at the old place instead of travelling with it.

    Costs a full scan of each side that lost something (only when the plan deletes or restores anything):
    a scoped read cannot see where an entry went. A side that can say where it holds given file ids
    (:class:`~..replicas.replica.FileIdFinder`) is scanned only when one of them is outside the scope."""
    out: set[str] = set()
    holds = view.scope.holds
    for lost_on, side, deleting, restoring, had in (("a", side_a, plan.to_b, plan.to_a, view.a.entries),
                                                    ("b", side_b, plan.to_a, plan.to_b, view.b.entries)):
        gone = {a.path: view.base[a.path] for a in deleting.actions
                if a.op == "delete" and a.path in view.base}
        gone.update((a.path, view.base[a.path]) for a in restoring.actions
                    if a.op != "delete" and a.path in view.base and a.path not in had)
        if not gone:
            continue
        by_id: dict[FileId, list[str]] = {}
        by_stat: dict[tuple[int, int], list[str]] = {}  # no file ids to tell: a file like it may be this one
        for p, row in gone.items():
            fid = row.file_id_a if lost_on == "a" else row.file_id_b
            if fid:
                by_id.setdefault(fid, []).append(p)
            elif row.entry.kind == FILE:
                by_stat.setdefault((row.entry.size, row.entry.mtime_ns), []).append(p)
        if not by_stat:
            # Where the side holds these ids, when it can tell without a scan (a tree's listings; a
            # server's listing in memory): if nowhere outside the scope, nothing moved out. A scoped run
            # deletes in most folders it touches, and the scan cost it 0.7 s per 100,000 files.
            found = find_file_ids(side, by_id)
            if found is not None and all(holds(p) for paths in found.values() for p in paths):
                continue
        # Only the entries that match are asked whether they are outside the scope: the side's whole
        # listing is the cost here, and asking that of each of its entries added a third to it.
        for p, e in side.scan(rules, False, lost_on).entries.items():
            paths = by_id.get(e.file_id) if e.file_id else None
            if paths is None and by_stat and e.kind == FILE:
                paths = by_stat.get((e.size, e.mtime_ns))
            if paths and not holds(p):
                out.update(_lost_with(q, had, view.base) for q in paths)
    return _tops(out)


def _lost_with(path: str, had: Mapping[str, Entry], base: Mapping[str, BaseEntry]) -> str:
    """``path``, or its highest folder that the side lost along with it (in the base, not on the side). Left
    alone with it: a folder whose child is left alone cannot be deleted, and would be made again on the
    side that deleted it, empty, where the full run would move the child out and then delete the folder."""
    top, p = path, parent(path)
    while p and p in base and p not in had:
        top, p = p, parent(p)
    return top


def _tops(paths: Iterable[str]) -> frozenset[str]:
    """``paths`` without those below another of them."""
    out: list[str] = []
    for p in sorted(paths):
        if not any(is_under(p, top) for top in out):
            out.append(p)
    return frozenset(out)


def leave_alone(ia: Index, ib: Index, paths: frozenset[str]) -> tuple[Index, Index]:
    """The two trees with ``paths`` (and what is below them) left alone by the planner, as it leaves
    unreadable parts: nothing there is planned, and the base keeps its rows."""
    if not paths:
        return ia, ib
    return replace(ia, unreadable=ia.unreadable | paths), replace(ib, unreadable=ib.unreadable | paths)


def side_files(state: PairState, view: ScopedRead, index: Index) -> int:
    """The files a side holds, for the delete guard's share, without scanning it whole: the base's files,
    with those in the scope counted as they are now (``index``: the side's scoped scan)."""
    _, base_files = state.counts()
    scoped_base = sum(1 for row in view.base.values() if row.entry.kind != DIR)
    return base_files - scoped_base + files_of(index.entries)


__all__: Sequence[str] = ("Scope", "ScopedRead", "leave_alone", "moved_in", "moved_out", "read", "side_files",
                          "widen")
