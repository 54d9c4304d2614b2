"""``execute(plan, source, target)``: the only code that writes a tree.

Files are staged (copied to temp files beside their final names) by a few threads, then committed in
batches: one durability barrier per batch, then for each file a re-check of the destination and an atomic
rename. A source file that changes while being copied is copied again (up to ``ATTEMPTS`` times) and
otherwise left for the next run; it is never committed torn. Per-item failures are recorded in the
:class:`Report` and the run goes on; what they mean is read from their :mod:`.replicas.errors` class (a
source file that is ``NotFound`` was deleted meanwhile: a notice, not an error), never from an errno.

How many calls run at once follows the replicas' :class:`~.replicas.replica.Features`: at most
``max_connections`` of the target (and of the source) at a time. Over a network (``round_trips``) every
file is staged by the thread pool, so small files overlap their round trips; on a local file system small
files are staged right here, since a thread hand-off costs more than their copy. A batch is committed in
one :class:`~.replicas.replica.BatchCommit` call when the target offers it, and a source that is a
:class:`~.replicas.replica.Prefetcher` is told which small files the plan copies, so it can send them in
packs.

A target without an ability gets the fallback: without :class:`~.replicas.replica.Linker` a ``link``
action copies the file again under its second name; without ``BatchCommit`` the files are committed one
by one.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, replace

from ..core.entry import DIR, FileId
from ..core.errors import Problem
from ..core.plan import Action, Plan
from .crashpoints import crash_point
from .replicas.abilities import commit_many
from .replicas.errors import NotFound, map_os_error
from .replicas.replica import BatchWrite, Features, FileSource, Linker, Outcome, Prefetcher, Replica, Staged
from .report import Report, failure

ATTEMPTS = 3
BATCH_FILES = 2000
BATCH_BYTES = 256 << 20
PARALLEL_MIN = 1 << 20  # files at least this large are copied by the thread pool
DEFERRED_MAX = 1000  # small writes held for one BatchWrite call at most
DEFERRABLE = ("mkdir", "symlink", "meta", "delete")  # a delete has no entry, only what it expects

Progress = Callable[[int, int, int, int], None]  # (files done, files total, bytes done, bytes total)
# Actions whose effect is durable, each with the file id its path has now (0 when the target does not tell):
# two-way sync advances its base with them.
Done = Callable[[list[tuple[Action, FileId]]], None]


class _BarrierFailed(Exception):
    """The target could not make the writes so far durable: the run stops (the report says why)."""


@dataclass
class _Copied:
    action: Action
    staged: Staged | None
    problem: Problem | None = None


def _stage(action: Action, source: FileSource, target: Replica) -> _Copied:
    """Copy one file to a temp file at the target; retry while the source changes under the copy."""
    path = action.path
    for _ in range(ATTEMPTS):
        with ExitStack() as stack:
            try:
                src = stack.enter_context(source.open_file(path))
            except OSError as exc:
                if isinstance(map_os_error(exc), NotFound):
                    return _Copied(action, None, Problem(path, "vanished from the source; skipped", "source",
                                                         error=False))
                return _Copied(action, None, failure(path, "cannot read", exc, "source"))
            try:
                staged = target.stage_file(path, src)
            except OSError as exc:
                return _Copied(action, None, failure(path, "cannot write", exc, "destination"))
            if not src.changed():
                return _Copied(action, staged)
            staged.discard()
    return _Copied(action, None, Problem(path, f"kept changing while being copied ({ATTEMPTS} attempts); "
                                               "left for the next run", "source"))


def _features(side: FileSource | Replica) -> Features | None:
    """The replica's features; None for a source that is only a view (``describe`` and ``open_file``)."""
    features = getattr(side, "features", None)
    return features() if features is not None else None


class _Executor:
    def __init__(self, source: FileSource, target: Replica, report: Report, progress: Progress | None,
                 workers: int, on_done: Done | None = None) -> None:
        self.on_done = on_done
        self.done: list[tuple[Action, FileId]] = []  # done since the last durability barrier
        self.source = source
        self.target = target
        self.linker = target if isinstance(target, Linker) else None
        self.report = report
        self.progress = progress
        sides = [f for f in (_features(target), _features(source)) if f is not None]
        connections = min([workers, *(f.max_connections for f in sides)])
        # Small files are copied right here when no side has round trips to overlap: handing them to a
        # thread costs more GIL and futex traffic than the copy itself (measured: 65 futex calls per file).
        self.inline = not any(f.round_trips for f in sides)
        # With round trips every call takes one of the connections, the main thread's too (a mkdir while
        # files are being staged), so no more than ``max_connections`` are in flight at once.
        self.slots = None if self.inline else threading.BoundedSemaphore(max(1, connections))
        self.pool = ThreadPoolExecutor(max_workers=max(1, connections), thread_name_prefix="syncline-copy")
        self.window = max(1, connections) * 8
        # Over a network, folders, symlinks and metadata are sent together (``BatchWrite``) instead of one
        # round trip each: held until something must follow them (a commit, another write), then sent.
        self.writer = target if isinstance(target, BatchWrite) and not self.inline else None
        self.deferred: list[Action] = []
        self.inflight: deque[Future[_Copied]] = deque()
        self.batch: list[_Copied] = []
        self.batch_bytes = 0
        self.files_done = 0
        self.bytes_done = 0
        self.files_total = 0
        self.bytes_total = 0

    def slot(self) -> AbstractContextManager[object]:
        """Hold one of the target's connections for a call (nothing to hold on a local file system)."""
        return nullcontext() if self.slots is None else self.slots

    def _stage(self, action: Action) -> _Copied:
        with self.slot():
            return _stage(action, self.source, self.target)

    def run(self, plan: Plan) -> None:
        summary = plan.summary()
        self.files_total, self.bytes_total = summary.copies, summary.copy_bytes
        prefetcher = self.source if isinstance(self.source, Prefetcher) else None
        if prefetcher is not None:  # small files then come in packs, not one request each
            prefetcher.prefetch([(a.path, a.entry) for a in plan.actions if a.entry is not None
                                 and (a.op == "copy" or (a.op == "link" and self.linker is None))
                                 and a.entry.size < PARALLEL_MIN])
        # Small files a source prefetches come from memory: copied here too, since a thread per copy
        # costs more GIL hand-overs than the copy (a download of 10,000 files: 2.3-2.9 -> 1.7-1.9 CPU s).
        inline = self.inline or prefetcher is not None
        try:
            for action in plan.actions:
                if action.op == "link" and self.linker is None:
                    action = replace(action, op="copy", link_to=None)  # no hard links there: a copy
                if action.op == "copy":
                    assert action.entry is not None
                    if inline and action.entry.size < PARALLEL_MIN:
                        self._collect(self._stage(action))  # holds a connection: a pack may fall back to a GET
                    else:
                        self.inflight.append(self.pool.submit(self._stage, action))
                        while len(self.inflight) > self.window:
                            self._collect(self.inflight.popleft().result())
                    if len(self.batch) >= BATCH_FILES or self.batch_bytes >= BATCH_BYTES:
                        self.flush()
                    continue
                # Deletes wait for the copies before them (nothing is removed while what replaces it is still
                # in flight); a directory's final meta waits for everything written inside it. A file's
                # meta does not: it would cost a durability barrier per file.
                waits = action.op in ("delete", "link") or (action.op == "meta" and action.entry is not None
                                                            and action.entry.kind == DIR)
                if waits and (self.inflight or self.batch):
                    self.flush()
                if self.writer is not None and action.op in DEFERRABLE and \
                        (action.expect if action.op == "delete" else action.entry) is not None:
                    self.deferred.append(action)
                    if len(self.deferred) >= DEFERRED_MAX:
                        self._send_deferred()
                    continue
                self._send_deferred()  # what came before it in the plan is done first
                with self.slot():
                    self._direct(action)
            self.flush()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            if prefetcher is not None:  # a later open_file of a path is of its version then, not this plan's
                prefetcher.prefetch([])
            for fut in self.inflight:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    staged = fut.result().staged
                    if staged is not None:
                        staged.discard()
            for c in self.batch:
                if c.staged is not None:
                    c.staged.discard()

    def _collect(self, copied: _Copied) -> None:
        if copied.staged is None:
            if copied.problem is not None:
                self.report.problems.append(copied.problem)
            return
        self.batch.append(copied)
        self.batch_bytes += copied.staged.size
        # The bar follows staging (the copying work); commits follow in batches.
        self.files_done += 1
        self.bytes_done += copied.staged.size
        if self.progress is not None:
            self.progress(self.files_done, self.files_total, self.bytes_done, self.bytes_total)

    def flush(self) -> None:
        """Wait for the files in flight, then commit the batch: its commits are not in flight beside
        stagings, so a batch never takes more than the target's connections."""
        while self.inflight:
            self._collect(self.inflight.popleft().result())
        self._send_deferred()  # the folders the batch's files go into
        self._commit_batch()

    def _send_deferred(self) -> None:
        """The held small writes, in plan order, in one ``BatchWrite`` call."""
        if not self.deferred:
            return
        assert self.writer is not None
        items, self.deferred = self.deferred, []
        with self.slot():
            try:
                outcomes: list[Outcome | OSError] = list(self.writer.write_many(
                    [(a.op, a.path, a.entry, a.expect) for a in items]))
            except OSError as exc:
                outcomes = [exc] * len(items)
        for action, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, OSError):
                self.report.problems.append(failure(action.path, f"cannot {action.op}", outcome, "destination"))
            else:
                self._tally(action, outcome)
        crash_point("direct")

    def _commit_batch(self) -> None:
        if not self.batch:
            return
        self.barrier()
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        items = [(c.staged, c.action.expect) for c in batch if c.staged is not None]
        with self.slot():
            outcomes = commit_many(self.target, items)
        for c, outcome in zip(batch, outcomes, strict=True):
            assert c.staged is not None
            if isinstance(outcome, OSError):
                self.report.problems.append(failure(c.action.path, "cannot write", outcome, "destination"))
            elif self._account(c.action, outcome):
                self.report.copied += 1
                self.report.copied_bytes += c.staged.size

    def barrier(self) -> None:
        """Make everything written so far durable, then report the actions that are now done for good.

        A failed barrier (the file system reports EIO) stops the run: nothing since the last barrier may
        be taken as done (the base does not advance for it) and no staged file is renamed into place."""
        try:
            with self.slot():
                self.target.barrier()
        except OSError as exc:
            self.done.clear()
            err = map_os_error(exc)
            if err.errno == errno.ENOSPC:  # nothing was lost: the next run writes it all again
                message = (f"no space left on {self.target.describe()} ({err.strerror or err}); the run stopped, "
                           "and the next run sends again what this one could not finish: free space, then run again")
            else:
                message = (f"the file system reported an error while writing to disk ({err.strerror or err}); the "
                           "run stopped, and what it wrote since its last check may be lost: check the disk, then "
                           "run again")
            self.report.problems.append(Problem("", message, "destination", errno=err.errno or 0,
                                                retryable=err.retryable))
            raise _BarrierFailed from exc
        crash_point("barrier")
        if self.done and self.on_done is not None:
            done, self.done = self.done, []
            self.on_done(done)

    def _direct(self, action: Action) -> None:
        t = self.target
        try:
            if action.op == "mkdir":
                assert action.entry is not None
                outcome = t.make_dir(action.path, action.entry, action.expect)
            elif action.op == "symlink":
                assert action.entry is not None
                outcome = t.make_symlink(action.path, action.entry, action.expect)
            elif action.op == "link":
                assert action.entry is not None and action.link_to is not None and self.linker is not None
                outcome = self.linker.make_link(action.path, action.entry, action.link_to, action.expect)
            elif action.op == "delete":
                assert action.expect is not None
                outcome = t.delete(action.path, action.expect)
            elif action.op == "meta":
                assert action.entry is not None
                outcome = t.set_meta(action.path, action.entry, action.expect)
            else:
                return
        except OSError as exc:
            self.report.problems.append(failure(action.path, f"cannot {action.op}", exc, "destination"))
        else:
            self._tally(action, outcome)
        crash_point("direct")

    def _tally(self, action: Action, outcome: Outcome) -> None:
        """Account a done or kept direct action and count it in the report."""
        if not self._account(action, outcome):
            return
        if action.op == "mkdir":
            self.report.dirs_created += 1
        elif action.op == "symlink":
            self.report.symlinks += 1
        elif action.op == "link":
            self.report.hard_links += 1
        elif action.op == "delete":
            self.report.deleted += 1
        elif action.op == "meta" and action.visible:
            self.report.meta_updated += 1

    def _account(self, action: Action, outcome: Outcome) -> bool:
        if outcome.trashed:
            self.report.trashed += 1
        if not outcome.done:
            self.report.kept += 1
            self._problem(action, outcome.note)
            return False
        if self.on_done is not None:
            self.done.append((action, outcome.file_id))
        if outcome.note:
            self.report.kept += 1
            self.report.problems.append(Problem(action.path, outcome.note, "destination", error=False))
        if outcome.notice:
            self.report.problems.append(Problem(action.path, outcome.notice, "destination", error=False))
        return True

    def _problem(self, action: Action, message: str) -> None:
        self.report.problems.append(Problem(action.path, message, "destination"))


def execute(plan: Plan, source: FileSource, target: Replica, *, report: Report | None = None,
            progress: Progress | None = None, workers: int = 4, on_done: Done | None = None) -> Report:
    """Carry out ``plan``, copying from ``source`` into ``target``; returns the (given or a new) Report.

    Never raises for a per-item failure; raises only for what stops everything (KeyboardInterrupt).
    A durability barrier that fails stops the run with an error in the report. Staged temp files are
    removed on every exit path. ``on_done`` is called with the actions that succeeded, in batches, each
    time a durability barrier has made them durable.
    """
    report = report if report is not None else Report(source=source.describe(), target=target.describe())
    started = time.monotonic()
    if plan.actions:
        ex = _Executor(source, target, report, progress, max(1, workers), on_done)
        try:
            ex.run(plan)
            ex.barrier()
        except _BarrierFailed:
            pass
    report.seconds += time.monotonic() - started
    return report
