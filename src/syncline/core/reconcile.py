"""``reconcile(base, a, b)``: the two-way planner. Pure: three trees in, two plans out, no I/O.

``base`` is the state both sides held after the last run (see ``docs/reconcile.md`` for the table of
decisions, each tested in ``tests/test_reconcile.py``). For each path, a side *changed* when its entry
differs from the base: created, deleted, another kind, other content, other permission bits (a
directory's mtime is not a change: every write inside moves it); an mtime within that side's own modify
window (``ReconcilePolicy.compare_a``/``compare_b``) is no change. Then:

- one side changed: the change propagates to the other side;
- both changed to the same content: nothing to copy (metadata from the newer one), the base advances;
- one deleted, the other changed: the change wins and is copied back;
- both changed differently: a conflict, settled by ``ReconcilePolicy.conflict``. ``keep-both`` (the default)
  keeps the newer version under the name and renames the other to a conflict copy
  (``name.sync-conflict-<mtime>-<device>.ext``), which then propagates like any file. A directory always
  keeps the name against a file or symlink, and is never replaced by a conflict decision;
- a directory is deleted only when everything below it goes too; anything kept below it keeps it;
- moves: a path that vanished on one side and reappeared elsewhere on that side with the same inode (or
  digest) is propagated as a rename on the other side, when the other side still holds the old path
  unchanged. A renamed directory is one rename, whatever it holds;
- in ``merge`` mode (a first run, a lost base, or a forced run) the base is ignored: nothing is deleted,
  equal files are adopted, different ones are kept both ways.

Paths under a part of either side that could not be read are left alone (and the base with them).

Entries without digests are compared by size and mtime. Where that cannot settle a decision (both sides
changed a file to one size; a conflict copy's name held by a file of the losing version's size), the
paths are listed in ``Reconciled.unsure_a``/``unsure_b``, for a caller that scanned without digests to
hash them and plan again. With ``--checksum``, a base row without a digest (written by a quick-check
run) cannot vouch for content: two sides that hash differently over it are both taken as changed.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

from .conflicts import conflict_name
from .entry import DIR, FILE, SYMLINK, Compare, Entry, FileId
from .errors import Problem
from .index import Index
from .moves import folder_moves
from .paths import is_under, parent, sort_key
from .plan import Action, Op, Plan
from .project import case_clash

Side = Literal["a", "b"]
ConflictPolicy = Literal["keep-both", "newer", "older", "a", "b"]
_SIDES: tuple[Side, Side] = ("a", "b")
CONFLICT_POLICIES: tuple[ConflictPolicy, ...] = ("keep-both", "newer", "older", "a", "b")
_CREATE_OP: dict[str, Op] = {FILE: "copy", DIR: "mkdir", SYMLINK: "symlink"}
_NEW_DIR = Entry(DIR, 0, 0, 0o755)



class BaseEntry(NamedTuple):
    """One path of the base: the state both sides held, plus each side's file id then (0: unknown), which
    is how a later run recognises a moved file or directory."""

    entry: Entry
    file_id_a: FileId = 0
    file_id_b: FileId = 0


Base = Mapping[str, BaseEntry]


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    """How to compare and how to settle conflicts. ``compare`` judges whether the two sides hold the same
    content; ``compare_a``/``compare_b`` (None: ``compare``) whether side A, side B changed since the base
    and whether a side already holds what it is to hold, each with that side's own modify window (a side of
    finer mtimes than the other has a narrower one, never wider than ``compare``'s). ``device_a``/``device_b``
    name the sides in conflict copies. ``merge``: ignore the base and delete nothing."""

    compare: Compare = field(default_factory=Compare)
    compare_a: Compare | None = None
    compare_b: Compare | None = None
    conflict: ConflictPolicy = "keep-both"
    device_a: str = "a"
    device_b: str = "b"
    merge: bool = False
    case_insensitive_a: bool = False
    case_insensitive_b: bool = False
    # The side that takes no change (a read-only share): nothing is planned into it. The other side's
    # changes are held there instead (see ``_hold_for_read_only``): kept, never lost, and that side's copy
    # otherwise brought back to the read-only side's state.
    read_only: Side | None = None
    # Paths of a side locked by someone else (a server's file locks), each with why (who holds it, until
    # when): nothing is planned into them. This side's change of one waits (reported, retryable); a change
    # of both keeps the holder's version at the path (see ``_wait_for_locks``).
    locked_a: Mapping[str, str] = field(default_factory=dict)
    locked_b: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Move:
    """A rename on one side, done before the plans: a propagated move, or a conflict copy made.

    ``expect`` is what ``src`` must still be. ``base_rows`` are the base's rows under their new paths,
    written once the rename is done (the old rows under ``src`` are dropped then)."""

    side: Side
    src: str
    dst: str
    expect: Entry
    reason: Literal["move", "conflict"]
    base_rows: tuple[tuple[str, BaseEntry], ...] = ()


@dataclass(frozen=True, slots=True)
class Conflict:
    """A path both sides changed differently: which side kept the name, and where the other version went
    (``copy``: the conflict copy's path; None when it was replaced and went to that side's trash)."""

    path: str
    winner: Side
    copy: str | None
    why: str


@dataclass(frozen=True)
class Reconciled:
    """What a two-way run will do.

    ``moves`` run first; then ``to_b`` (content from A) and ``to_a`` (content from B). ``final`` is the base
    row of each path once its actions are done (None: the path leaves the base); ``adopt`` the base rows
    that are already true on both sides and need no action.

    ``unsure_a``/``unsure_b``: files of A and of B whose content a decision compared by size and mtime
    alone, for want of digests, where only the content can tell: a path both sides changed to one size
    (one version, or two with equal mtimes?), and a conflict copy's name already held by a file of the
    losing version's size. A caller that scanned without digests hashes them and plans again.
    """

    moves: tuple[Move, ...] = ()
    to_a: Plan = field(default_factory=Plan)
    to_b: Plan = field(default_factory=Plan)
    final: Mapping[str, BaseEntry | None] = field(default_factory=dict)
    adopt: Mapping[str, BaseEntry | None] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    problems: tuple[Problem, ...] = ()
    unsure_a: frozenset[str] = frozenset()
    unsure_b: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.moves or self.to_a.actions or self.to_b.actions)


# ------------------------------------------------------------------------------------------- comparing


def changed(base: Entry | None, cur: Entry | None, compare: Compare) -> bool:
    """Whether ``cur`` differs from the base state: presence, kind, content, or permission bits (a
    directory's mtime never counts; a symlink's mode does not exist on Linux)."""
    if base is None or cur is None:
        return base is not cur
    if base.kind != cur.kind:
        return True
    if cur.kind == DIR:
        return base.mode != cur.mode
    if cur.kind == SYMLINK:
        return base.target != cur.target
    return not cur.same_content(base, compare) or cur.mode != base.mode


def _newer(x: Entry, y: Entry) -> bool:
    """Whether ``x`` is strictly newer than ``y`` (ties go to side A, documented)."""
    return x.mtime_ns > y.mtime_ns


def _meta_equal(x: Entry, y: Entry, compare: Compare) -> bool:
    if x.kind == DIR:
        return x.mode == y.mode
    return x.same_meta(y, compare)


# ------------------------------------------------------------------------------------------- the planner


class _Work:
    """The state of one reconcile run. The trees and the base are the caller's until a move or a conflict
    copy needs to change them (copied then: a run without either copies nothing)."""

    def __init__(self, base: Base, a: Index, b: Index, opts: ReconcilePolicy) -> None:
        self.opts = opts
        self.cmp_a = opts.compare if opts.compare_a is None else opts.compare_a
        self.cmp_b = opts.compare if opts.compare_b is None else opts.compare_b
        self.base: Mapping[str, BaseEntry] = {} if opts.merge else base
        self.a: Mapping[str, Entry] = a.entries
        self.b: Mapping[str, Entry] = b.entries
        self._owned: set[str] = set()
        self._folded: dict[str, set[str]] = {}
        self.unreadable_a = a.unreadable
        self.unreadable_b = b.unreadable
        self.any_unreadable = bool(a.unreadable or b.unreadable)
        self.moves: list[Move] = []
        self.want: dict[str, Entry | None] = {}
        self.conflicts: list[Conflict] = []
        self.problems: list[Problem] = []
        self.unsure: dict[Side, set[str]] = {"a": set(), "b": set()}
        self.settled: set[str] = set()  # conflict copies: their wanted state is fixed, not decided

    def side(self, s: Side) -> Mapping[str, Entry]:
        return self.a if s == "a" else self.b

    def writable(self, s: Side) -> dict[str, Entry]:
        """Side ``s``'s tree, as this run's own copy (made on first use)."""
        if s not in self._owned:
            self._owned.add(s)
            if s == "a":
                self.a = dict(self.a)
            else:
                self.b = dict(self.b)
        tree = self.side(s)
        assert isinstance(tree, dict)
        return tree

    def writable_base(self) -> dict[str, BaseEntry]:
        if "base" not in self._owned:
            self._owned.add("base")
            self.base = dict(self.base)
        assert isinstance(self.base, dict)
        return self.base

    def folded(self, s: Side) -> set[str]:
        """The case-folded names on side ``s`` when it is case-insensitive (empty otherwise), kept up to date
        with moves (names a move frees stay in: at worst a later move is not propagated as a move)."""
        if s not in self._folded:
            insensitive = self.opts.case_insensitive_a if s == "a" else self.opts.case_insensitive_b
            self._folded[s] = {k.casefold() for k in self.side(s)} if insensitive else set()
        return self._folded[s]

    def skipped(self, path: str) -> bool:
        return self.any_unreadable and (_under_any(path, self.unreadable_a) or _under_any(path, self.unreadable_b))


def _candidates(w: _Work) -> tuple[list[str], dict[str, BaseEntry]]:
    """The paths a decision may concern, and base rows to refresh with the inodes seen now.

    A path present in the base and on both sides with the same kind, size, mtime, mode and target, and
    no digests that disagree, is unchanged on both sides whatever the compare mode: it needs no decision.
    In a run where little changed that is nearly every path, so they are passed over here with a few
    tuple lookups each instead of a full decision.
    """
    base, a, b = w.base, w.a, w.b
    out: list[str] = []
    learn: dict[str, BaseEntry] = {}
    for p, ae in a.items():
        xe = b.get(p)
        be = base.get(p)
        if xe is None or be is None:
            out.append(p)
            continue
        bs = be[0]
        # Entry fields by position: 0-3 kind, size, mtime_ns, mode; 4 digest, 5 target, 6 file_id. Slices
        # compare in C: the fastest test in Python.
        if (ae[:4] == xe[:4] == bs[:4] and ae[5] == xe[5] == bs[5]
                and ((ae[4] is None and xe[4] is None) or _digests_agree(ae[4], xe[4], bs[4]))):
            if bs[4] is None and ae[4] is not None and xe[4] is not None:
                # Both sides hash to one digest the base lacks (its row came from a quick-check run): learn
                # it, so that a later change hidden behind a restored mtime is seen as that side's change.
                learn[p] = BaseEntry(bs._replace(digest=ae[4]), ae[6], xe[6])
            elif be[1] != ae[6] or be[2] != xe[6]:
                learn[p] = BaseEntry(bs, ae[6], xe[6])
            continue
        out.append(p)
    out.extend(p for p in b if p not in a)
    out.extend(p for p in base if p not in a and p not in b)
    out.sort(key=sort_key)  # decisions in byte order: deterministic conflict names
    return out, learn


def _digests_agree(*digests: bytes | None) -> bool:
    known = {d for d in digests if d is not None}
    return len(known) <= 1


def reconcile(base: Base, a: Index, b: Index, options: ReconcilePolicy | None = None) -> Reconciled:
    """Plan the changes that bring A and B to one state, keeping every change either side made."""
    opts = options or ReconcilePolicy()
    w = _Work(base, a, b, opts)
    if not opts.merge:
        for side in _SIDES:
            if opts.read_only is None or side == opts.read_only:  # a rename is never planned into a read-only side
                _propagate_moves(w, side)
    candidates, learn = _candidates(w)
    skipped = 0
    for p in candidates:
        if w.skipped(p):
            skipped += 1
            continue
        if p not in w.settled:
            _decide(w, p)
    if skipped:
        w.problems.append(Problem("", f"{skipped} paths under unreadable parts, or that the other side cannot "
                                      "keep, left as they are (no deletes there)", "", error=False))
    _keep_parents(w)
    _name_clashes(w)
    if opts.read_only is not None:
        _hold_for_read_only(w, opts.read_only)
    if opts.locked_a or opts.locked_b:
        _wait_for_locks(w)
    to_a, to_b, final, adopt = _plans(w, candidates)
    for p, row in learn.items():
        adopt.setdefault(p, row)
    moves = _defer_rows_under_moves(w.moves, adopt)
    return Reconciled(moves, to_a, to_b, final, adopt, tuple(w.conflicts), tuple(w.problems),
                      frozenset(w.unsure["a"]), frozenset(w.unsure["b"]))


def _defer_rows_under_moves(moves: list[Move], adopt: dict[str, BaseEntry | None]) -> tuple[Move, ...]:
    """Base rows at or below a propagated move's destination are true only once the move is done: they go
    with the move (written after it), not into ``adopt`` (written before anything runs)."""
    out = []
    for m in moves:
        if m.reason == "move" and adopt:
            prefix = m.dst + "/"
            later = {p: adopt.pop(p) for p in [p for p in adopt if p == m.dst or p.startswith(prefix)]}
            if later:
                rows: dict[str, BaseEntry] = dict(m.base_rows)
                for p, r in later.items():
                    if r is None:
                        rows.pop(p, None)
                    else:
                        rows[p] = r
                m = replace(m, base_rows=tuple(rows.items()))
        out.append(m)
    return tuple(out)


def _under_any(path: str, tops: Iterable[str]) -> bool:
    return any(top == "" or path == top or is_under(path, top) for top in tops)


def _decide(w: _Work, p: str) -> None:
    """Set ``w.want[p]`` (the state both sides end in) for a path whose sides differ from the base."""
    cmp = w.opts.compare
    be = w.base.get(p)
    bs = be.entry if be is not None else None
    ae, xe = w.a.get(p), w.b.get(p)
    # Each side against the base in its own window: a side with finer mtimes holds the base's exactly (it
    # was the source, or got the coarser side's, which it can hold), so a touch there within the coarser
    # window is still a change; the coarser side may hold the base's truncated, within its window.
    ca, cb = changed(bs, ae, w.cmp_a), changed(bs, xe, w.cmp_b)
    if not ca and not cb:
        if not _base_blind(bs, ae, xe):
            return
        ca = cb = True
    if ca and not cb:
        w.want[p] = ae
        return
    if cb and not ca:
        w.want[p] = xe
        return
    # Both changed.
    if ae is None or xe is None:
        w.want[p] = ae if xe is None else xe  # a change beats a delete; both deleted: None
        return
    _note_unsure(w, ("a", p, ae), ("b", p, xe))
    if ae.kind == xe.kind and ae.same_content(xe, cmp):
        if _meta_equal(ae, xe, cmp):
            # The finer side's (A on a tie): the coarser side holds it within its window, so neither is
            # written, and the base is exact on the finer side.
            w.want[p] = xe if w.cmp_b.modify_window_ns < w.cmp_a.modify_window_ns else ae
        else:  # same content, other mode or mtime: the newer one's metadata
            w.want[p] = xe if _newer(xe, ae) else ae
        return
    _conflict(w, p, ae, xe)


def _note_unsure(w: _Work, x: tuple[Side, str, Entry], y: tuple[Side, str, Entry]) -> None:
    """Record two files whose content is about to be compared by size and mtime only, for want of digests
    (see ``Reconciled.unsure_a``). Files of other sizes need no digests: they differ whatever the bytes."""
    (sx, px, ex), (sy, py, ey) = x, y
    if ex.kind != FILE or ey.kind != FILE or ex.size != ey.size or (ex.digest is not None and ey.digest is not None):
        return
    w.unsure[sx].add(px)
    w.unsure[sy].add(py)


def _base_blind(bs: Entry | None, ae: Entry | None, xe: Entry | None) -> bool:
    """Whether the sides hold other content although neither changed from the base row by what it records:
    a base row without a digest (written by a quick-check run) against two files whose digests differ.
    It cannot tell which side changed, so both count as changed: keep both rather than guess."""
    return (bs is not None and bs.kind == FILE and bs.digest is None and ae is not None and xe is not None
            and ae.kind == FILE and xe.kind == FILE and ae.digest is not None and xe.digest is not None
            and ae.digest != xe.digest)


def _pinned(w: _Work, p: str) -> tuple[Side, Problem] | None:
    """The side whose version must keep ``p`` whatever changed (the read-only side, or the side where ``p``
    is locked by someone else), with the problem to report for what cannot be settled."""
    if w.opts.read_only is not None:
        return w.opts.read_only, Problem(p, HELD, "", error=True, retryable=False)
    for s in _SIDES:
        why = _locks(w, s).get(p)
        if why is not None:
            return s, _waiting(p, why)
    return None


def _locks(w: _Work, s: Side) -> Mapping[str, str]:
    return w.opts.locked_a if s == "a" else w.opts.locked_b


def _waiting(p: str, why: str) -> Problem:
    return Problem(p, f"waiting for its lock to end: {why}", "", error=True, retryable=True)


def _conflict(w: _Work, p: str, ae: Entry, xe: Entry) -> None:
    opts = w.opts
    pinned = _pinned(w, p)
    if pinned is not None:
        # The pinned side's version keeps the name; the other's is renamed on its own side (a conflict copy:
        # held there beside a read-only side, uploaded beside a locked file). A directory of the other side
        # against the pinned side's file is left as it is: renaming a directory takes what is below along.
        keeper, problem = pinned
        kept = ae if keeper == "a" else xe
        other = xe if keeper == "a" else ae
        if other.kind == DIR and kept.kind != DIR:
            w.problems.append(problem)
            return
        copy = _rename_loser(w, p, "b" if keeper == "a" else "a")
        w.want[p] = kept
        why = "changed here in a folder you may only read" if opts.read_only else "changed here while locked"
        w.conflicts.append(Conflict(p, keeper, copy, why))
        return
    if ae.kind == DIR or xe.kind == DIR:
        winner: Side = "a" if ae.kind == DIR else "b"
        why = "a directory against a file or symlink"
        keep_both = True
    else:
        why = "both sides changed"
        policy = "keep-both" if opts.merge else opts.conflict
        keep_both = policy == "keep-both"
        if policy in ("keep-both", "newer"):
            winner = "b" if _newer(xe, ae) else "a"
        elif policy == "older":
            winner = "a" if _newer(xe, ae) else "b"
        else:
            winner = "a" if policy == "a" else "b"
    win = ae if winner == "a" else xe
    if not keep_both:
        w.want[p] = win
        w.conflicts.append(Conflict(p, winner, None, why))
        return
    loser: Side = "b" if winner == "a" else "a"
    copy = _rename_loser(w, p, loser)
    w.want[p] = win
    w.conflicts.append(Conflict(p, winner, copy, why))


def _rename_loser(w: _Work, p: str, loser: Side) -> str:
    """Keep the losing version at ``p`` on side ``loser`` under its conflict name; returns that name.

    The name is the first of the version's conflict names that is free or holds that same version
    everywhere it is taken. When the loser's side already holds it there (an earlier run made that copy
    and the version came back to ``p``), nothing is renamed: the copy stays, and ``p`` is replaced like
    any losing version (into the trash). Either way the copy is settled here, kept on both sides, whatever
    a decision on its own path would say (a side that deleted it gets it back).
    """
    lost = w.side(loser)[p]
    device = w.opts.device_a if loser == "a" else w.opts.device_b
    n = 0
    while True:
        copy = conflict_name(p, lost.mtime_ns, device, n)
        held = [(s, e) for s in _SIDES if (e := w.side(s).get(copy)) is not None]
        for s, e in held:
            _note_unsure(w, (loser, p, lost), (s, copy, e))
        taken = [e for _, e in held] + ([w.base[copy].entry] if copy in w.base else [])
        if all(e.kind == lost.kind and e.same_content(lost, w.opts.compare) for e in taken):
            break
        n += 1
    kept = w.side(loser).get(copy)
    if kept is None:
        w.moves.append(Move(loser, p, copy, lost, "conflict"))
        side = w.writable(loser)
        del side[p]
        side[copy] = lost
        kept = lost
    wanted = w.want.get(copy)
    if wanted is None or wanted.kind != kept.kind or not wanted.same_content(kept, w.opts.compare):
        other = w.side("a" if loser == "b" else "b").get(copy)
        w.want[copy] = kept if other is None or not other.same_content(kept, w.opts.compare) else other
    w.settled.add(copy)
    return copy


HELD = "not taken: you may only read this folder (kept here, not uploaded)"


def _hold_for_read_only(w: _Work, ro: Side) -> None:
    """Plan nothing into the read-only side ``ro``: every decision that would write it becomes one that
    brings the other side back to ``ro``'s state, and what that would lose is kept on the other side.

    - a path ``ro`` does not hold (the other side's new file or folder, a change of a file ``ro`` deleted,
      a conflict copy) is *held*: left where it is, out of the plan and the base, reported;
    - a delete (the other side deleted it) becomes ``ro``'s entry copied back;
    - other metadata only (a chmod, a touch) becomes ``ro``'s metadata;
    - other content: the other side's version is renamed to a conflict copy (held) and ``ro``'s comes to
      the path. A folder of the other side over ``ro``'s file is held as it is.
    """
    mine: Side = "b" if ro == "a" else "a"
    held: list[str] = []
    for p in sorted(w.want, key=sort_key):
        if p not in w.want:
            continue
        want, cur = w.want[p], w.side(ro).get(p)
        if not _writes(w, ro, cur, want):
            continue
        if cur is None:
            del w.want[p]
            if w.side(mine).get(p) is not None:
                held.append(p)
            continue
        if want is None or (want.kind == cur.kind and (cur.kind == DIR or cur.same_content(want, w.opts.compare))):
            w.want[p] = cur  # back to ro's entry, or to its metadata
            continue
        here = w.side(mine).get(p)
        if here is not None and here.kind == DIR:
            del w.want[p]
            held.append(p)
            continue
        if here is not None and not (here.kind == cur.kind and here.same_content(cur, w.opts.compare)):
            copy = _rename_loser(w, p, mine)  # this side's version, kept under a conflict name
            w.want.pop(copy, None)
            held.append(copy)
        w.want[p] = cur
    for p in held:
        w.problems.append(Problem(p, HELD, "", error=True, retryable=False))


def _wait_for_locks(w: _Work) -> None:
    """Plan nothing into a path locked by someone else: a decision that would write it is dropped (the
    other side keeps its change, the base its row: the next run decides again) and reported as waiting,
    retryable, until the lock ends. A change the lock holder made too was settled by ``_conflict``."""
    for s in _SIDES:
        locks = _locks(w, s)
        if not locks:
            continue
        for p in sorted(w.want, key=sort_key):
            why = locks.get(p)
            if why is not None and p in w.want and _writes(w, s, w.side(s).get(p), w.want[p]):
                del w.want[p]
                w.problems.append(_waiting(p, why))
                up = parent(p)
                while up:  # a folder deleted or replaced around the waiting file waits with it
                    above = w.want.get(up, _NEW_DIR)
                    if above is not None and above.kind == DIR:
                        break
                    del w.want[up]
                    up = parent(up)


def _writes(w: _Work, s: Side, cur: Entry | None, want: Entry | None) -> bool:
    """Whether bringing side ``s`` from ``cur`` to ``want`` writes it (as ``_plans`` decides)."""
    if want is None or cur is None:
        return want is not cur
    if cur.kind != want.kind:
        return True
    if want.kind == DIR:
        return cur.mode != want.mode
    own = w.cmp_a if s == "a" else w.cmp_b
    return not cur.same_content(want, w.opts.compare) or not _meta_equal(cur, want, own)


def _keep_parents(w: _Work) -> None:
    """A directory stays wherever something below it stays: a deleted or replaced directory with a
    survivor below it is kept (a file or symlink that replaced it becomes a conflict copy).

    Looks at all paths of the run in byte order (conflict copies made meanwhile sit beside paths that
    survive, so they never change the answer).
    """
    doomed = [d for d, e in w.want.items() if (e is None or e.kind != DIR) and _was_dir(w, d)]
    if not doomed:
        return
    paths = sorted(set(w.base) | set(w.a) | set(w.b), key=sort_key)
    keys = [sort_key(p) for p in paths]
    for d in sorted(doomed, key=sort_key):
        k = sort_key(d)
        lo, hi = bisect_left(keys, k + b"/"), bisect_left(keys, k + b"0")  # everything below d
        # Untouched paths (not in want) stay; so do paths whose wanted state is not "absent".
        if not any(w.want.get(q, q) is not None for q in paths[lo:hi]):
            continue
        want = w.want[d]
        if want is not None:  # a file or symlink replaced the directory on one side: keep it as a copy
            holder: Side = "a" if w.a.get(d) is want else "b"
            if holder == w.opts.read_only:  # never renamed there: the other side's folder is held as it is
                del w.want[d]
                w.problems.append(Problem(d, HELD, "", error=True, retryable=False))
                continue
            copy = _rename_loser(w, d, holder)
            w.conflicts.append(Conflict(d, "b" if holder == "a" else "a", copy,
                                        "replaced by a file or symlink on one side, changed below on the other"))
        ae, xe = w.a.get(d), w.b.get(d)
        keep = ae if ae is not None and ae.kind == DIR else xe if xe is not None and xe.kind == DIR else None
        if keep is None:
            be = w.base.get(d)
            keep = be.entry if be is not None and be.entry.kind == DIR else _NEW_DIR
        w.want[d] = keep


def _was_dir(w: _Work, d: str) -> bool:
    return any(e is not None and e.kind == DIR
               for e in (w.a.get(d), w.b.get(d), w.base[d].entry if d in w.base else None))


def _name_clashes(w: _Work) -> None:
    """Names that cannot both exist on a side, and names a user should know about.

    On a case-insensitive side, two paths that differ only in case are one name. The one that side already
    holds stays (else the first in byte order); the others are not created there and are left out of this
    run (and of the base), with an error that says to rename one, so nothing is lost and nothing is taken
    for a delete next time. Folders are settled before what is below them: a name below a folder left out
    is out already, so it neither stands for its group nor is reported again, and its twins are free to
    go (``Docs/sub`` below a skipped ``Docs/`` does not keep ``docs/Sub`` out). A name the run removes there
    while it makes a case twin of it is renamed to the twin first (:func:`_case_swaps`). NFC and NFD spellings of
    one name are two names here (both are kept) but one on a Mac: a notice says so.
    """
    for s in _SIDES:
        if not (w.opts.case_insensitive_a if s == "a" else w.opts.case_insensitive_b):
            continue
        _case_swaps(w, s)
        side = w.side(s)
        groups: dict[str, list[str]] = {}
        for p in set(side) | {p for p, e in w.want.items() if e is not None}:
            if p in w.want and w.want[p] is None:
                continue
            groups.setdefault(p.casefold(), []).append(p)
        # Parents first (fewer slashes), then byte order: the outcome and the messages do not depend on
        # the order of a set.
        for _, names in sorted(groups.items(), key=lambda g: (g[0].count("/"), sort_key(g[0]))):
            # A name a group above left out is gone from ``want`` (and is not on this side): not a candidate.
            names = sorted((p for p in names if p in side or p in w.want), key=sort_key)
            if len(names) < 2:
                continue
            keep = next((p for p in names if p in side), names[0])
            skipped = [p for p in names if p != keep]
            for p in skipped:
                for q in [q for q in w.want if q == p or is_under(q, p)]:
                    del w.want[q]
            w.problems.append(Problem(keep, case_clash(skipped, f"side {s.upper()}"), s))
    seen: dict[str, str] = {}
    for p in set(w.a) | set(w.b):
        if p.isascii():
            continue
        nfc = unicodedata.normalize("NFC", p)
        other = seen.setdefault(nfc, p)
        if other != p:
            w.problems.append(Problem(p, f"has the same name as {other!r} in another Unicode normalization "
                                         "(NFC/NFD); both are kept, but a Mac shows them as one", "", error=False))


def _case_swaps(w: _Work, s: Side) -> None:
    """On case-insensitive side ``s``, rename a name the run deletes there to a case twin it creates there.

    The other side removed ``docs/`` and made ``Docs/`` (or ``a.txt`` and ``A.txt``), which is no rename
    there (a new folder, a new file) and so is not propagated as one; but on ``s`` the two are one name,
    where a create, a delete and the create's metadata would undo each other (the delete takes the name
    just made). The name that goes is renamed to its twin instead: a case-only ``Move``, run before the
    plans, in the folder it is in, parents first. What is below it comes along (kept, not deleted and
    copied again): each entry renamed under the twin is planned against what the run wants there, and
    one wanted nowhere is deleted, as it would have been under the old name. A name that stays on ``s``
    is not swapped (two names that stay are a case clash, for the caller).
    """
    side = w.side(s)
    held = {p.casefold(): p for p in side}
    made = [q for q, e in w.want.items() if e is not None and q not in side and q.casefold() in held]
    for q in sorted(made, key=lambda q: (q.count("/"), sort_key(q))):
        p = held.get(q.casefold())
        if p is None or p == q or parent(p) != parent(q) or p not in w.want or w.want[p] is not None:
            continue
        prefix = p + "/"
        below = [k for k in side if k.startswith(prefix)]
        # Only a name that goes with all it holds (as _keep_parents makes sure): nothing kept is renamed.
        if any(w.want.get(k, side[k]) is not None for k in below):
            continue
        y = w.writable(s)
        expect = y[p]
        for k in [p, *below]:
            nk = q + k[len(p):]
            y[nk] = y.pop(k)
            held[nk.casefold()] = nk
            if k != p and nk not in w.want:
                w.want[nk] = None
        # The rename gives the name a new ctime: the plan's re-checks of it before a write go by the rest.
        y[q] = expect._replace(ctime_ns=0)
        side = y
        w.moves.append(Move(s, p, q, expect, "move"))


def _plans(w: _Work, candidates: list[str]) -> tuple[Plan, Plan, dict[str, BaseEntry | None],
                                                     dict[str, BaseEntry | None]]:
    cmp = w.opts.compare
    own = {"a": w.cmp_a, "b": w.cmp_b}  # a side holds the wanted mtime when within its own window of it
    actions: dict[Side, list[Action]] = {"a": [], "b": []}
    deletes: dict[Side, list[Action]] = {"a": [], "b": []}
    dir_meta: dict[Side, list[Action]] = {"a": [], "b": []}
    final: dict[str, BaseEntry | None] = {}
    adopt: dict[str, BaseEntry | None] = {}
    emitted_deletes: dict[Side, set[str]] = {"a": set(), "b": set()}
    for p in sorted(w.want, key=sort_key):
        want = w.want[p]
        touched = {"a": False, "b": False}
        for s in _SIDES:
            side = w.side(s)
            cur = side.get(p)
            if want is None:
                if cur is not None:
                    if p not in emitted_deletes[s]:
                        deletes[s].append(Action("delete", p, None, cur))
                    touched[s] = True  # deleted here or with the directory replaced above it
                continue
            if cur is not None and cur.kind == want.kind:
                if want.kind == DIR:
                    if cur.mode != want.mode:
                        dir_meta[s].append(Action("meta", p, want, cur))
                        touched[s] = True
                    continue
                if not cur.same_content(want, cmp):
                    actions[s].append(Action(_CREATE_OP[want.kind], p, want, cur))
                    touched[s] = True
                elif not _meta_equal(cur, want, own[s]):
                    actions[s].append(Action("meta", p, want, cur))
                    touched[s] = True
                continue
            if cur is not None and cur.kind == DIR:
                # A file or symlink takes a directory's place: what is below goes first (all of it, or
                # _keep_parents would have kept the directory).
                prefix = p + "/"
                for q in sorted((q for q in side if q.startswith(prefix)), key=sort_key, reverse=True):
                    if q not in emitted_deletes[s]:
                        actions[s].append(Action("delete", q, None, side[q]))
                        emitted_deletes[s].add(q)
            actions[s].append(Action(_CREATE_OP[want.kind], p, want, cur))
            touched[s] = True
            if want.kind == DIR:
                dir_meta[s].append(Action("meta", p, want, None))
        row = None if want is None else BaseEntry(
            want,
            _file_id(w.a.get(p)) if not touched["a"] else 0,
            _file_id(w.b.get(p)) if not touched["b"] else 0,
        )
        if touched["a"] or touched["b"]:
            final[p] = row
        else:
            adopt[p] = row
    # Unchanged paths whose inodes moved on (a copy made by an earlier run): learn them now.
    for p in candidates:
        be = w.base.get(p)
        if be is None or p in w.want or p not in w.a or p not in w.b:
            continue
        ia, ib = _file_id(w.a[p]), _file_id(w.b[p])
        if (be.file_id_a, be.file_id_b) != (ia, ib):
            adopt[p] = BaseEntry(be.entry, ia, ib)
    plans: dict[Side, Plan] = {}
    for s in _SIDES:
        dels = sorted(deletes[s], key=lambda x: sort_key(x.path), reverse=True)
        metas = sorted(dir_meta[s], key=lambda x: sort_key(x.path), reverse=True)
        plans[s] = Plan(tuple(actions[s] + dels + metas), (), cmp)
    return plans["a"], plans["b"], final, adopt


def _file_id(e: Entry | None) -> FileId:
    return e.file_id if e is not None else 0


# ------------------------------------------------------------------------------------------- moves


def _propagate_moves(w: _Work, side: Side) -> None:
    """Find what ``side`` renamed since the base and plan the same renames on the other side, rewriting
    the other side's tree and the base to the new paths (so the rest of the planner sees no change)."""
    x = w.side(side)
    other: Side = "b" if side == "a" else "a"
    y = w.side(other)

    def file_id_of(be: BaseEntry) -> FileId:
        return be.file_id_a if side == "a" else be.file_id_b

    # The pair's window, not the other side's own: a touch there within it moves along with the rename,
    # and is then that side's change at the new path (decided in its own window).
    cmp = w.opts.compare

    # Paths new on this side, and base paths gone from it (membership first: it is nearly always false).
    base = w.base
    new = [q for q in x if q not in base]
    if not new:
        return
    # Directories first: one rename carries everything below.
    new_dirs: dict[FileId, str] = {e.file_id: q for q in new if (e := x[q]).kind == DIR and e.file_id}
    if new_dirs:
        def take(p: str, q: str) -> bool:
            if not _can_move(w, y, p, q) or y[p].kind != DIR:
                return False
            _rewrite(w, other, p, q)
            return True

        gone = sorted((p for p, be in w.base.items() if be.entry.kind == DIR and p not in x), key=sort_key)
        folder_moves(gone, new_dirs, lambda p: file_id_of(w.base[p]), take)

    # Then files: same size and mtime, confirmed by inode (or digest when inodes are unknown).
    new_files: dict[tuple[int, int], list[str]] = {}
    for q in new:
        f = x[q]
        if f.kind == FILE and q not in w.base:  # a directory move above may have put q in the base
            new_files.setdefault((f.size, f.mtime_ns), []).append(q)
    if not new_files:
        return
    for p in sorted((p for p, be in w.base.items() if be.entry.kind == FILE and p not in x), key=sort_key):
        be = w.base[p]
        cands = new_files.get((be.entry.size, be.entry.mtime_ns))
        if not cands:
            continue
        fid = file_id_of(be)
        if fid:
            match = [q for q in cands if x[q].file_id == fid]
        else:
            match = [q for q in cands if be.entry.digest is not None and x[q].digest == be.entry.digest]
        if len(match) != 1:
            continue
        q = match[0]
        ye = y.get(p)
        if ye is None or ye.kind != FILE or changed(be.entry, ye, cmp) or not _can_move(w, y, p, q):
            continue
        cands.remove(q)
        _rewrite(w, other, p, q)


def _can_move(w: _Work, y: Mapping[str, Entry], p: str, q: str) -> bool:
    """Whether ``y`` can rename ``p`` to ``q`` now: it holds ``p``, not ``q`` (nor, on a case-insensitive
    side, another spelling of ``q``, unless that is ``p`` itself), and ``q``'s parent exists."""
    if p not in y or q in y or is_under(q, p):
        return False
    if w.skipped(p) or w.skipped(q):
        return False
    side: Side = "a" if y is w.a else "b"
    locks = _locks(w, side)
    if locks and (p in locks or q in locks or any(k.startswith(p + "/") for k in locks)):
        return False  # a rename of a locked file (or of a folder holding one) waits: delete and new, each decided
    if q.casefold() != p.casefold() and q.casefold() in w.folded(side):
        return False
    qp = parent(q)
    return qp == "" or (qp in y and y[qp].kind == DIR)


def _rewrite(w: _Work, side: Side, p: str, q: str) -> None:
    """Record the rename ``p`` -> ``q`` on ``side`` and move ``side``'s entries and the base's rows."""
    y = w.writable(side)
    base = w.writable_base()
    prefix = p + "/"
    expect = y[p]
    folded = w.folded(side) if (w.opts.case_insensitive_a if side == "a" else w.opts.case_insensitive_b) else None
    for k in [k for k in y if k == p or k.startswith(prefix)]:
        nk = q + k[len(p):]
        y[nk] = y.pop(k)
        if folded is not None:
            folded.add(nk.casefold())
    rows: list[tuple[str, BaseEntry]] = []
    for k in [k for k in base if k == p or k.startswith(prefix)]:
        nk = q + k[len(p):]
        be = base.pop(k)
        base[nk] = be
        rows.append((nk, be))
    w.moves.append(Move(side, p, q, expect, "move", tuple(rows)))
