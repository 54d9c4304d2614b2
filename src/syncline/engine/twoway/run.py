"""Two-way sync, start to end: markers and base, scans, reconcile, guards, moves, both plans, the base.

This is what ``syncline sync --two-way A B`` and ``syncline.sync(a, b, two_way=True)`` run
(:func:`sync_two_way`, two folders), over any two replicas (:func:`sync_two_way_replicas`: a local folder
and a server folder, say). The safety rules (``docs/reconcile.md``):

- a missing root, a root that lost its marker or holds another folder's, or a root that became empty
  since the last run halts the pair before anything is touched (``--force`` merges instead: nothing is
  deleted);
- a first run, and a run whose base was lost, merges: nothing is deleted;
- more deletions on a side than ``--max-delete`` stops the run;
- every write re-checks its destination; one found changed is left as it is for the next round, which
  then sees both changes (up to ``ROUNDS`` rounds follow at once; the errors reported are the last
  round's);
- the base advances per item, only after the item is durable.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.entry import Compare, CompareMode, Entry, FileId
from ...core.errors import BusyError, Problem, SafetyStop, UsageError
from ...core.guard import DEFAULT_MAX_DELETE as DEFAULT_MAX_DELETE  # re-exported: the CLI imports it here
from ...core.guard import DeleteWording, check_deletes, files_of
from ...core.index import Index
from ...core.plan import Action
from ...core.project import give_modes, project_pair
from ...core.reconcile import (
    BaseEntry,
    Conflict,
    ConflictPolicy,
    Move,
    Reconciled,
    ReconcilePolicy,
    Side,
    reconcile,
)
from ...core.scan import gc_paused, resolve_root
from ..crashpoints import crash_point
from ..execute import Progress, execute
from ..forkscan import scan_in_child
from ..marker import (
    FOLDER_ID_FILE,
    GENERATION,
    case_insensitive,
    folder_id_of,
    generation_of,
    is_folder_id,
    new_folder_id,
)
from ..options import Comparison, Filters, Guards, Options, Writes
from ..replicas.abilities import hasher, keeps, locked_by_others, write_meta_if, writing
from ..replicas.abilities import move as move_in
from ..replicas.address import open_replica
from ..replicas.replica import FileSource, Markers, Replica, WritePolicy
from ..report import HasProblems, Report, failure
from .modes import KeepingModes
from .pairstate import PairState, has_base

if TYPE_CHECKING:  # imported by the scoped run only: a full run (the CLI's) does not pay for it
    from .scoped import Scope, ScopedRead

ROUNDS = 3


@dataclass(frozen=True, kw_only=True)
class TwoWaySyncOptions(Writes, Guards, Comparison, Filters, Options):
    """Options of a two-way run: the shared parts (:mod:`...engine.options`) and its own; see
    ``syncline sync --help``."""

    conflict: ConflictPolicy = "keep-both"
    workers: int = 4


@dataclass
class TwoWayReport(HasProblems):
    """What a two-way run did: per direction (``to_a``: written into A, ``to_b``: into B), the moves, the
    conflicts and every problem."""

    a: str
    b: str
    dry_run: bool = False
    first_run: bool = False
    plan: Reconciled | None = None
    to_a: Report = field(default_factory=Report)
    to_b: Report = field(default_factory=Report)
    moved: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    rounds: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        def side(r: Report) -> dict[str, Any]:
            return {"copied": r.copied, "copied_bytes": r.copied_bytes, "deleted": r.deleted,
                    "dirs_created": r.dirs_created, "symlinks": r.symlinks, "meta_updated": r.meta_updated,
                    "trashed": r.trashed, "kept": r.kept}

        return {
            "a": self.a, "b": self.b, "dry_run": self.dry_run, "first_run": self.first_run,
            "to_a": side(self.to_a), "to_b": side(self.to_b), "moved": self.moved,
            "conflicts": [{"path": c.path, "winner": c.winner, "copy": c.copy, "why": c.why}
                          for c in self.conflicts],
            "problems": [{"path": p.path, "message": p.message, "side": p.side, "error": p.error}
                         for p in self.problems],
            "notices": self.notices, "rounds": self.rounds, "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
        }


def _roots(a: str | os.PathLike[str], b: str | os.PathLike[str], dry_run: bool) -> tuple[Path, Path]:
    ra, rb = (Path(os.path.abspath(os.fspath(r))) for r in (a, b))
    for r, other in ((ra, rb), (rb, ra)):
        if not r.exists():
            _create_missing_side(r, other, has_base(ra, rb), dry_run)
    ra, rb = resolve_root(ra), resolve_root(rb)
    for r in (ra, rb):
        if not os.access(r, os.R_OK | os.X_OK | os.W_OK):
            raise UsageError(f"cannot read and write {r}: permission denied", "check its permissions")
    real_a, real_b = Path(os.path.realpath(ra)), Path(os.path.realpath(rb))
    if real_a == real_b:
        raise UsageError("the two sides are the same directory", "give two directories")
    if real_a.is_relative_to(real_b) or real_b.is_relative_to(real_a):
        raise UsageError(f"{real_a} and {real_b} are nested in each other", "give two directories side by side")
    return ra, rb


_GONE_HINT = ("check that it is mounted; if the folder was removed on purpose, create it empty and run with "
              "--force")
_DRY_MISSING_HINT = "a run without -n makes it (first run of this pair) and copies everything into it"


def _create_missing_side(root: Path, other: Path, based: bool, dry_run: bool) -> None:
    """A side that does not exist is made (empty) only on a pair's first run, when its parent is there and
    the other side exists, as one-way sync makes its destination. Once the pair has a base, a missing side
    is an unmounted disk or a deleted folder: taking it for "everything deleted" would empty the other."""
    if based:
        raise SafetyStop(f"{root} does not exist, and this pair was synced before", _GONE_HINT)
    if not other.is_dir() or not root.parent.is_dir():
        raise SafetyStop(f"{root} does not exist" + ("" if root.parent.is_dir() else
                                                     f" and neither does its parent {root.parent}"),
                         "check that it is mounted, or create it")
    if dry_run:
        raise UsageError(f"{root} does not exist", _DRY_MISSING_HINT)
    try:
        root.mkdir()
    except FileExistsError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot make {root}: {exc.strerror}", "check the path and its permissions") from None


def sync_two_way(a: str | os.PathLike[str], b: str | os.PathLike[str], options: TwoWaySyncOptions | None = None,
                 progress: Progress | None = None) -> TwoWayReport:
    """Bring ``a`` and ``b`` to one state, keeping every change either side made since the last run.

    Raises :class:`UsageError` or :class:`SafetyStop` (nothing changed) when the run cannot or must not go
    ahead; per-item problems are in the report. The two folders as :func:`sync_two_way_replicas` of two
    :class:`LocalReplica` sides, once checked (and a missing side made, on a pair's first run).
    """
    opts = options or TwoWaySyncOptions()
    root_a, root_b = _roots(a, b, opts.dry_run)
    policy = WritePolicy.two_way(trash=opts.trash)
    # Whether a side ignores case is asked of its disk: by a probe file only when the run may write.
    probe = not opts.dry_run
    side_a = open_replica(root_a, policy=policy, case_probe=lambda root: case_insensitive(root, probe=probe))
    side_b = open_replica(root_b, policy=policy, case_probe=lambda root: case_insensitive(root, probe=probe))
    try:
        return sync_two_way_replicas(side_a, side_b, opts, progress)
    finally:
        side_a.close()
        side_b.close()


def sync_two_way_replicas(a: Replica, b: Replica, options: TwoWaySyncOptions | None = None,
                          progress: Progress | None = None, *,
                          dirs: Sequence[tuple[str, bool]] | None = None,
                          names: Mapping[str, Collection[str]] | None = None) -> TwoWayReport:
    """:func:`sync_two_way` between two replicas (checked by the caller to be two trees, neither inside
    the other), written with the policy they were made with (``WritePolicy.two_way``).

    The pair's base is kept under the two replicas' addresses (``Replica.address()``); both must keep
    syncline's markers (:class:`~syncline.engine.replicas.replica.Markers`: a one-line
    :class:`UsageError` otherwise), since a replaced root is told by them. A side whose root does not
    exist is made on the pair's first run (not with ``dry_run``); once the pair has a base it halts the
    run. Each side is held by its lock (:func:`~syncline.engine.replicas.abilities.writing`) while the run
    writes; each side's case sensitivity is its ``features().case_sensitive``.

    Neither side is planned what it cannot keep (``core/project.py``, from both sides' features): mtimes
    compare within at least the coarser side's precision, mode bits count only when both sides keep
    them (a side that keeps them keeps its own), and a symlink is not made on a side without symlinks: a
    notice; the symlink stays where it is and does not enter the base. Owners are never kept. Whether a
    side changed since the base is judged within its own precision (a touch on the finer side reaches the
    coarser one as far as it can hold it).

    With ``dirs`` (``(folder, deep)`` pairs, as ``Replica.scan_dirs`` takes them) the run is scoped
    (``scoped.py``): both sides and the base are read over those folders only (grown where a folder was
    created, deleted, moved or replaced, to take it whole), and only paths there are planned; nothing
    outside them is copied or deleted, and their base rows stay. The markers and generations are checked
    as in a full run; the empty-root check looks at the whole roots, and the delete guard's share counts
    the whole side's files (the base's, with the scope's as scanned). A move with one end outside the
    scope is left for a full run. ``names`` narrows a shallow folder of ``dirs`` to the children that
    changed (folder -> names; a folder not in it: any child): its own entry and theirs are read, each by
    itself, instead of its whole listing. A pair that would merge (a first run, a lost base, ``--force`` over
    lost markers), or whose last run did not finish its writes (killed, or stopped by an error), is run in
    full, with a notice.
    """
    opts = options or TwoWaySyncOptions()
    scope = None
    if dirs is not None:
        from .scoped import Scope
        scope = Scope.of(dirs, names)
    started = time.monotonic()
    for side in (a, b):
        if not isinstance(side, Markers):
            raise UsageError(f"two-way sync needs syncline's markers, which {side.describe()} cannot keep",
                             "sync one way into it instead")
    _need_roots(a, b, opts.dry_run)
    report = TwoWayReport(a=a.describe(), b=b.describe(), dry_run=opts.dry_run)
    report.to_a = Report(source=b.describe(), target=a.describe(), dry_run=opts.dry_run)
    report.to_b = Report(source=a.describe(), target=b.describe(), dry_run=opts.dry_run)
    state = PairState(a.address(), b.address())
    try:
        if opts.dry_run:
            _run(state, a, b, opts, report, progress, scope)
        else:
            with writing(a), writing(b):
                _run(state, a, b, opts, report, progress, scope)
    finally:
        state.close()
    report.problems = list(dict.fromkeys(report.problems))  # a later round meets the scan's notices again
    report.seconds = time.monotonic() - started
    return report


def _need_roots(a: Replica, b: Replica, dry_run: bool) -> None:
    """Make a side whose root does not exist, on a pair's first run only (see :func:`_create_missing_side`,
    the same rule for folders named by path)."""
    for side, other in ((a, b), (b, a)):
        if side.exists():
            continue
        where = side.describe()
        if has_base(a.address(), b.address()):
            raise SafetyStop(f"{where} does not exist, and this pair was synced before", _GONE_HINT)
        if not other.exists():
            raise SafetyStop(f"{where} does not exist", "check that it is mounted, or create it")
        if dry_run:
            raise UsageError(f"{where} does not exist", _DRY_MISSING_HINT)
        try:
            side.create_root()
        except FileNotFoundError as exc:
            raise SafetyStop(f"{where} does not exist and cannot be made: {exc.strerror}",
                             "check that it is mounted, or create it") from None


# How often a run writes a marker again after another run wrote it first (each time it reads it anew).
MARKER_ATTEMPTS = 8


class _Markers:
    """A side's markers (``engine/marker.py``) through its :class:`Markers` ability. Each is written only
    over the text this run last read there (:func:`~..replicas.abilities.write_meta_if`), so a run never
    overwrites a marker another run wrote meanwhile (another device, against a shared server folder)."""

    def __init__(self, side: Replica) -> None:
        assert isinstance(side, Markers)  # sync_two_way_replicas refused a side without
        self.side, self.markers = side, side
        self._seen: dict[str, str | None] = {}  # marker -> its text as this run last read or wrote it

    def _read(self, name: str) -> str | None:
        text = self._seen[name] = self.markers.read_meta(name)
        return text

    def _swap(self, name: str, text: str) -> bool:
        """Write ``name`` only if it holds what this run last saw there; False when another run wrote it."""
        seen = self._seen[name] if name in self._seen else self._read(name)
        if not write_meta_if(self.side, name, text, seen):
            return False
        self._seen[name] = text
        return True

    def folder_id(self) -> str | None:
        return folder_id_of(self._read(FOLDER_ID_FILE))

    def seen_folder_id(self) -> str | None:
        """The folder id as this run last read (or wrote) it, without asking the side again."""
        name = FOLDER_ID_FILE
        return folder_id_of(self._seen[name]) if name in self._seen else self.folder_id()

    @property
    def read_only(self) -> bool:
        """The side takes no change from this user (a read-only share): its markers are its owner's to
        write, and this run only reads them."""
        return not self.side.features().writable

    def claim_folder_id(self, folder_id: str) -> bool:
        """Write ``folder_id`` unless another run wrote the marker since this one read it (False). A
        read-only side is left as it is (True)."""
        return self.read_only or self._swap(FOLDER_ID_FILE, folder_id + "\n")

    def generation(self) -> int:
        return generation_of(self._read(GENERATION))

    def raise_generation(self, above: int) -> int:
        """Raise the generation past both what the side holds and ``above``; the generation written. A run
        of another pair that raises it meanwhile is not undone: this one reads it again and goes past it.
        A read-only side's generation is only read (its owner's runs raise it; this run writes nothing there)."""
        if self.read_only:
            return self.generation()
        for _ in range(MARKER_ATTEMPTS):
            generation = max(self.generation(), above) + 1
            if self._swap(GENERATION, f"{generation}\n"):
                return generation
        raise BusyError(f"the generation of {self} kept changing while this run raised it",
                        "other runs are writing into it; run again")

    def __str__(self) -> str:
        return self.side.describe()


@contextmanager
def _scanning(side: Replica, opts: TwoWaySyncOptions, name: str) -> Iterator[Callable[[], Index]]:
    """Start scanning ``side``; the block gets the function that returns the scan. A replica that may be
    scanned in a forked child is scanned there meanwhile (see ``forkscan.py``); another when asked."""
    digests = opts.compare.mode is CompareMode.CHECKSUM

    def run() -> Index:
        return side.scan(opts.rules, digests, name)

    if not side.features().scan_in_child:
        yield run
        return
    with scan_in_child(run) as pending:
        yield pending.result


def _run(state: PairState, side_a: Replica, side_b: Replica, opts: TwoWaySyncOptions,
         report: TwoWayReport, progress: Progress | None, scope: Scope | None = None) -> None:
    marks = (_Markers(side_a), _Markers(side_b))
    digests = opts.compare.mode is CompareMode.CHECKSUM
    view: ScopedRead | None = None
    checked: tuple[bool, str] | None = None
    if scope is not None and state.interrupted():
        # The killed run may have made a folder on one side and not filled it: a scoped run sees a folder on
        # both sides and in the base, and would not look inside.
        report.notices.append("the last run of this pair did not finish: synced in full, not only the folders "
                              "asked for")
        scope = None
    if scope is not None:
        from . import scoped
        with gc_paused():
            view = scoped.read(scope, state, side_a, side_b, opts.rules, digests)
        if state.notice:
            report.notices.append(state.notice)
        checked = _check_markers(state, view.base, marks, opts, report)
        if checked[0]:  # merging some folders would mark the pair synced with the rest never merged
            report.notices.append("a pair that merges is synced in full, not only the folders asked for")
            view = None
    if view is not None:
        base, ia, ib = view.base, view.a, view.b
        assert checked is not None
        merge, folder_id = checked
    else:
        # B is scanned in a child from the start, while this process loads the base and checks the markers
        # before it scans A: the base's rows cost about as much as a scan (see docs/performance.md).
        with gc_paused(), _scanning(side_b, opts, "b") as scanned_b:
            base = state.load()
            if state.notice and state.notice not in report.notices:
                report.notices.append(state.notice)
            merge, folder_id = checked or _check_markers(state, base, marks, opts, report)
            ia, ib = side_a.scan(opts.rules, digests, "a"), scanned_b()
    report.first_run = merge
    # An id no root and not the pair held: this run made it up, so nothing else knows it yet.
    made_id = merge and state.folder_id() is None and not any(m.seen_folder_id() for m in marks)
    host = socket.gethostname()
    # Quick-check mode compares size and mtime; digests are only computed where a decision turns on
    # content (the plan's unsure files, then planned again), and an entry without a digest falls back
    # to size and mtime.
    cmp = opts.compare
    internal = Compare(CompareMode.CHECKSUM, cmp.modify_window_ns) if cmp.mode is CompareMode.MTIME else cmp
    # Each side is planned only what it can keep (core/project.py): the sides compared with each other
    # in a window widened to the coarser side's mtimes, each with the base in its own, modes only where
    # both keep them, symlinks only onto a side that holds them.
    keeps_a, keeps_b = keeps(side_a), keeps(side_b)
    # A side that takes no change from this user (a read-only share) is planned nothing: the other side's
    # changes are held where they are (reported) and it comes back to the read-only side's state.
    read_only: Side | None = "b" if not side_b.features().writable else "a" if not side_a.features().writable else None
    tw = ReconcilePolicy(compare=internal, conflict=opts.conflict, device_a=host, device_b=host, merge=merge,
                         case_insensitive_a=not keeps_a.case_sensitive,
                         case_insensitive_b=not keeps_b.case_sensitive, read_only=read_only)
    wrote_markers = False
    for round_no in range(1, ROUNDS + 1):
        report.rounds = round_no
        if round_no > 1 and view is not None:
            view = scoped.read(view.scope, state, side_a, side_b, opts.rules, digests)
            base, ia, ib = view.base, view.a, view.b
        elif round_no > 1:
            ia, ib = _scan_both(side_a, side_b, opts)
            # This round plans again whatever the earlier ones left undone, so its errors are the run's: an
            # item refused because it changed meanwhile is no error once this round has settled it. Their
            # notices stay (what was kept, and where).
            report.problems = [p for p in report.problems if not p.error]
        if round_no == 1 and view is not None:
            _guard_empty_roots(state, side_a, side_b, merge, opts)
        elif round_no == 1:
            _guard_empty(base, ia, ib, side_a, side_b, merge, opts)
        if view is not None:
            # A move with one end outside the scope is left for a full run (scoped.py).
            ia, ib = scoped.leave_alone(ia, ib, scoped.moved_in(view, state))
        fit = project_pair(ia, ib, internal, keeps_a, keeps_b)
        # Files locked by someone else are planned nothing this round (asked each round: a lock may end).
        tw = replace(tw, compare=fit.compare, compare_a=fit.compare_a, compare_b=fit.compare_b,
                     locked_a=locked_by_others(side_a), locked_b=locked_by_others(side_b))
        plan, pa, pb = _plan(base, fit.a, fit.b, tw, side_a, side_b, hash_unsure=cmp.mode is CompareMode.MTIME)
        if view is not None and (out := scoped.moved_out(plan, view, side_a, side_b, opts.rules)):
            ia, ib = scoped.leave_alone(ia, ib, out)
            fit = project_pair(ia, ib, internal, keeps_a, keeps_b)
            plan, pa, pb = _plan(base, fit.a, fit.b, tw, side_a, side_b, hash_unsure=cmp.mode is CompareMode.MTIME)
        if not fit.modes:
            plan = replace(plan, to_a=give_modes(plan.to_a, ia.entries, ib.entries),
                           to_b=give_modes(plan.to_b, ib.entries, ia.entries))
        report.problems.extend((*pa.problems, *pb.problems, *plan.problems))
        report.conflicts.extend(c for c in plan.conflicts if c not in report.conflicts)  # once per round
        if round_no == 1:
            report.plan = plan
            if not opts.force:
                if view is None:
                    _guard_deletes(plan, ia, ib, side_a, side_b, opts.max_delete)
                else:
                    _guard_deletes(plan, ia, ib, side_a, side_b, opts.max_delete,
                                   partial(scoped.side_files, state, view))
        if opts.dry_run:
            return
        if not wrote_markers:
            folder_id = _claim_markers(marks, folder_id, made_id, report)
            wrote_markers = True
        state.start_writing(folder_id)
        if any(m.read_only for m in marks):
            state.set_unmarked(*(m.read_only and m.seen_folder_id() != folder_id for m in marks))
        kept_before = report.to_a.kept + report.to_b.kept
        # A side that keeps modes keeps its own where the other side has none to give (see modes.py).
        own = None if fit.modes else (ia.entries, ib.entries)
        _apply(plan, state, side_a, side_b, marks, opts, report, progress, own)
        state.mark_finished()
        if report.to_a.kept + report.to_b.kept == kept_before:
            return
        if view is None:  # a scoped run reads its part again at the top of the round
            base = state.load()
        tw = replace(tw, merge=False)


def _check_markers(state: PairState, base: dict[str, BaseEntry], marks: tuple[_Markers, _Markers],
                   opts: TwoWaySyncOptions, report: TwoWayReport) -> tuple[bool, str]:
    """(merge, folder id): whether this run must merge (delete nothing), and the pair's folder id."""
    ma, mb = (mark.folder_id() for mark in marks)
    known = state.folder_id()
    if known is None or not state.synced_before() or (not base and state.notice):
        ids = {m for m in (ma, mb) if m is not None}
        if len(ids) > 1 and not opts.force:
            raise SafetyStop(f"{marks[0]} and {marks[1]} belong to different synced folders",
                             "check the paths; add --force to merge them (nothing is deleted)")
        # A side the user may only read keeps its owner's id: the pair takes it (nothing can be written there).
        ro = next((m for root, m in zip(marks, (ma, mb), strict=True) if root.read_only and m is not None), None)
        folder = ro or known or ma or mb or new_folder_id()
        report.notices.append("first run of this pair: merging (nothing is deleted)")
        return True, folder
    trouble = []
    adopted = None
    for root, m, unmarked in zip(marks, (ma, mb), state.unmarked(), strict=True):
        if root.read_only and (m is None or (m != known and unmarked)):
            # No id there yet (its owner's runs write it), or one its owner wrote since this pair's last
            # run found none: taken, in a merge run (nothing is deleted).
            adopted = m if m is not None and m != known else adopted
        elif m is None:
            trouble.append(f"{root} has lost its syncline marker (.syncline/{'folder-id'})")
        elif m != known:
            trouble.append(f"{root} belongs to another synced folder")
    if adopted is not None and not trouble:
        report.notices.append("the folder you may only read was given its folder id by its owner: merging "
                              "(nothing is deleted)")
        return True, adopted
    if trouble:
        if not opts.force:
            raise SafetyStop("; ".join(trouble) + " since the last run",
                             "check that the right disk is mounted; add --force to merge (nothing is deleted)")
        report.notices.append("; ".join(trouble) + ": merging because of --force (nothing is deleted)")
        return True, known
    _check_generations(state, marks, opts, report)
    return False, known


def _claim_markers(marks: tuple[_Markers, _Markers], folder_id: str, made_id: bool, report: TwoWayReport) -> str:
    """Write ``folder_id`` into the markers that lack it, each only over what the check read; the pair's
    folder id. When another run wrote a marker meanwhile (two devices making their first run against one
    new server folder), a run whose id was its own (``made_id``: a first run that found no marker and no
    id in the pair) adopts the other's id in both roots: nothing else knows its own. Any other run stops
    (a root's id known elsewhere is never replaced), as it would have had it started a moment later."""
    for _ in range(MARKER_ATTEMPTS):
        lost = [mark for mark in marks if mark.seen_folder_id() != folder_id and not mark.claim_folder_id(folder_id)]
        if not lost:
            return folder_id
        theirs = {fid for fid in (mark.folder_id() for mark in marks) if fid is not None and fid != folder_id}
        if not made_id or len(theirs) != 1 or not is_folder_id(next(iter(theirs))):
            raise SafetyStop(f"{lost[0]} was given another synced folder's id while this run started",
                             "another run (another device?) made it one of its folders; check the paths and "
                             "run again")
        folder_id = theirs.pop()
        report.notices.append(f"{lost[0]} was given its folder id by another run at the same time: adopted it")
    raise BusyError("the folder-id markers kept changing while this run wrote them", "run again")


def _check_generations(state: PairState, marks: tuple[_Markers, _Markers], opts: TwoWaySyncOptions,
                       report: TwoWayReport) -> None:
    """Halt when a root's generation is lower than this pair's last run saw: the root was copied back from
    an older backup, and its old versions would be taken for new edits and roll the other side back."""
    for root, seen in zip(marks, state.generations(), strict=True):
        now = root.generation()
        if seen is None or now >= seen:
            continue
        what = (f"{root} looks restored from an older backup: it is at syncline generation {now}, "
                f"but was at {seen} when this pair last changed")
        if not opts.force:
            raise SafetyStop(what, "syncing now would roll the other side back to its older files; add --force "
                                   "to take the restored side as the truth (replaced files go to the trash)")
        report.notices.append(what + ": taken as the truth because of --force")


def _advance_generations(state: PairState, marks: tuple[_Markers, _Markers]) -> None:
    """Before a run changes anything: raise both roots' generations above what they hold and what this pair
    saw, then remember them in the base. Roots first: a crash in between leaves a root ahead of the base,
    which is no restore."""
    seen = state.generations()
    new = [mark.raise_generation(prev or 0) for mark, prev in zip(marks, seen, strict=True)]
    state.set_generations(new[0], new[1])


def _scan_both(side_a: Replica, side_b: Replica, opts: TwoWaySyncOptions) -> tuple[Index, Index]:
    digests = opts.compare.mode is CompareMode.CHECKSUM
    with gc_paused(), _scanning(side_b, opts, "b") as scanned_b:
        ia = side_a.scan(opts.rules, digests, "a")
        ib = scanned_b()
    return ia, ib


def _plan(base: dict[str, BaseEntry], ia: Index, ib: Index, tw: ReconcilePolicy, side_a: Replica,
          side_b: Replica, hash_unsure: bool) -> tuple[Reconciled, Index, Index]:
    """Reconcile; with ``hash_unsure`` (trees scanned without digests), hash the files the plan could only
    compare by size and mtime and plan again, until it asks for no file it has not had hashed (a hashed
    file can lead to another decision, such as the next conflict-copy name). Returns the plan and the
    trees it was made from."""
    plan = reconcile(base, ia, ib, tw)
    hashed_a: set[str] = set()
    hashed_b: set[str] = set()
    while hash_unsure:
        more_a, more_b = plan.unsure_a - hashed_a, plan.unsure_b - hashed_b
        if not (more_a or more_b):
            break
        ia, ib = _with_digests(side_a, ia, more_a), _with_digests(side_b, ib, more_b)
        hashed_a |= more_a
        hashed_b |= more_b
        plan = reconcile(base, ia, ib, tw)
    return plan, ia, ib


def _with_digests(side: Replica, index: Index, paths: frozenset[str]) -> Index:
    """``index`` with its files at ``paths`` hashed: the ones the planner could compare only by size and
    mtime (``Reconciled.unsure_a``). A file that cannot be hashed (changing, unreadable, changed since the
    scan) keeps no digest: it is then compared by size and mtime, which keeps both versions if they differ."""
    entries = dict(index.entries)
    hashed = hasher(side)
    with side.session():
        for p in sorted(paths):  # folder by folder: a local tree's folder descriptors stay cached
            if p not in entries:  # a name the plan gave a moved or renamed entry: not on the disk yet
                continue
            if entries[p].digest is not None:  # the scan brought it (a server's listing does, for free)
                continue
            try:
                entries[p] = hashed(p, entries[p]) or entries[p]
            except OSError:
                pass
    return replace(index, entries=entries)


def _guard_empty(base: dict[str, BaseEntry], ia: Index, ib: Index, side_a: Replica, side_b: Replica,
                 merge: bool, opts: TwoWaySyncOptions) -> None:
    if merge or opts.force or not base:
        return
    for root, index in ((side_a.describe(), ia), (side_b.describe(), ib)):
        if not len(index):
            raise SafetyStop(f"{root} is empty, but held {len(base)} entries at the last run",
                             "check that it is mounted; add --force if emptying both sides is what you want")


def _guard_empty_roots(state: PairState, side_a: Replica, side_b: Replica, merge: bool,
                       opts: TwoWaySyncOptions) -> None:
    """The empty-root check of a scoped run: as :func:`_guard_empty`, on the whole roots (a scoped read
    of an emptied root finds nothing, which looks like a folder emptied on purpose)."""
    if merge or opts.force or state.empty:
        return
    for side in (side_a, side_b):
        if side.is_empty():
            raise SafetyStop(f"{side.describe()} is empty, but held {state.counts()[0]} entries at the last run",
                             "check that it is mounted; add --force if emptying both sides is what you want")


_TWO_WAY = DeleteWording(
    stop="would delete {deletes} of {files} files in {where}, more than --max-delete ({limit})",
    share="{share:.0%} of its files",
    hint="check the other side; raise --max-delete or add --force to go ahead",
)


def _guard_deletes(plan: Reconciled, ia: Index, ib: Index, side_a: Replica, side_b: Replica,
                   max_delete: int | float, files: Callable[[Index], int] | None = None) -> None:
    """Stop a run that would delete more files on a side than ``max_delete`` allows of the files there:
    those of its index, or as ``files`` counts them from it (a scoped run's index is not the whole side)."""
    for side, side_plan, index in ((side_a, plan.to_a, ia), (side_b, plan.to_b, ib)):
        deletes = side_plan.summary().file_deletes
        if not deletes:
            continue
        total = files(index) if files is not None else files_of(index.entries)
        stop = check_deletes(max_delete, deletes, total, _TWO_WAY, where=side.describe())
        if stop is not None:
            raise stop


def _apply(plan: Reconciled, state: PairState, side_a: Replica, side_b: Replica, marks: tuple[_Markers, _Markers],
           opts: TwoWaySyncOptions, report: TwoWayReport, progress: Progress | None,
           own: tuple[Mapping[str, Entry], Mapping[str, Entry]] | None = None) -> None:
    """Run the plan: moves, then the writes into B and into A, each item's base row once it is durable.
    With ``own`` (each side's entries as scanned, for a pair whose modes do not count), a copy that
    replaces a file keeps the mode the file had."""
    if report.rounds == 1 and (plan.adopt or plan.moves or plan.to_a.actions or plan.to_b.actions):
        _advance_generations(state, marks)
    with state.transaction():
        state.put(plan.adopt.items())
    for move in plan.moves:
        _move(move, state, side_a if move.side == "a" else side_b, report)
    # A path's base row is written once every action on it (on either side) is durably done.
    pending = Counter(act.path for act in (*plan.to_a.actions, *plan.to_b.actions) if act.path in plan.final)
    ids: dict[str, dict[str, FileId]] = {}
    from_a: FileSource = side_a if own is None else KeepingModes(side_a, own[1])
    from_b: FileSource = side_b if own is None else KeepingModes(side_b, own[0])
    execute(plan.to_b, from_a, side_b, report=report.to_b, progress=progress, workers=opts.workers,
            on_done=_base_writer(plan, state, pending, ids, "b"))
    execute(plan.to_a, from_b, side_a, report=report.to_a, progress=progress, workers=opts.workers,
            on_done=_base_writer(plan, state, pending, ids, "a"))
    for rep, name in ((report.to_a, "a"), (report.to_b, "b")):
        for p in rep.problems:  # the same problem, named by the side it concerns (errno, retryable kept)
            report.problems.append(replace(p, side=name if p.side == "destination" else ("b" if name == "a" else "a")))
        rep.problems.clear()


def _base_writer(plan: Reconciled, state: PairState, pending: Counter[str], ids: dict[str, dict[str, FileId]],
                 side: str) -> Callable[[list[tuple[Action, FileId]]], None]:
    """The executor's ``on_done`` for the plan written into ``side``: base rows, with the file ids the
    written paths have now (so a later move of a copied file is still recognised)."""

    def on_done(done: list[tuple[Action, FileId]]) -> None:
        rows = []
        for act, file_id in done:
            path = act.path
            if path not in pending:
                continue
            if file_id:
                ids.setdefault(path, {})[side] = file_id
            pending[path] -= 1
            if pending[path] == 0:
                del pending[path]
                row = plan.final[path]
                seen = ids.pop(path, None)
                if row is not None and seen:
                    row = row._replace(file_id_a=seen.get("a", row.file_id_a),
                                       file_id_b=seen.get("b", row.file_id_b))
                rows.append((path, row))
        if rows:
            with state.transaction():
                state.put(rows)
            crash_point("base")

    return on_done


def _move(move: Move, state: PairState, side: Replica, report: TwoWayReport) -> None:
    try:
        outcome = move_in(side, move.src, move.dst, move.expect)
    except OSError as exc:
        report.problems.append(failure(move.src, f"cannot move to {move.dst}", exc, move.side))
        return
    if not outcome.done:
        report.problems.append(Problem(move.src, outcome.note, move.side))
        return
    side.barrier()
    crash_point("move")
    if move.reason == "move":
        report.moved += 1
        with state.transaction():
            state.drop_tree(move.src)
            state.put(move.base_rows)
