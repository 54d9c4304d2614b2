"""The real-time mirror: one source, several targets, changes pushed folder by folder.

A mirror is built from three parts, wired here:

- a **change source** (``sources.py``: inotify in ``inotify.py``, or polling) that feeds
  the :class:`~.changes.ChangeCollector` with changed folders, renames and lost events;
- a **scheduler** (``scheduler.py``) that decides when: a batch once the source is quiet, files still
  being written held back, full rescans, failing targets retried with back-off;
- a **runner** (``runner.py``) that does it: pushes to the targets and keeps the journal.

What happens is told as typed events (``events.py``) on one :class:`~.events.EventLog`, which the
terminal, ``--json`` logs and a status display all read; :meth:`Mirror.status` is folded from them
(``status.py``), as any other reader's status would be.

Order of a run (``Mirror.run``):

1. the change source is started first, so nothing that changes during the catch-up below is missed;
2. folders a previous run had journaled but not finished are synced, then every target is brought up to
   date by a full one-way sync (the catch-up: what changed while syncline was down);
3. then, in a loop: once the source has been quiet for ``quiet`` seconds (or changes have waited
   ``max_delay``), the changed folders are journaled durably, synced to each target (``sync_dirs``), and
   taken off the journal once every target has them. An overflow of the event queue, and every
   ``rescan_every`` seconds, a full sync catches what events cannot show.

A target that fails (unmounted, read-only, full) is retried with back-off while the others carry on; when
it comes back it gets a full sync. Targets are reached only through the
:class:`~syncline.engine.replicas.replica.Replica` interface (an address given is opened by ``open_replica``): a
replica on a server or a WebDAV share is mirrored to by the same code.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ...core.errors import UsageError
from ...core.scan import resolve_root
from ...engine.marker import case_probe
from ...engine.oneway import SyncOptions, check_apart, check_roots
from ...engine.replicas.address import local_path, open_replica, parse_address
from ...engine.replicas.local import LocalReplica
from ...engine.replicas.replica import Markers, Replica
from ...engine.state import state_dir
from .changes import ChangeCollector, Folder
from .events import (
    STATE_EVERY,
    Event,
    EventLog,
    EventsLost,
    Resuming,
    SourceGone,
    SourceReplaced,
    SourceState,
    Synced,
    Watching,
    legacy,
)
from .inotify import InotifySource
from .journal import Journal
from .kernel import folder_identity
from .runner import Runner
from .scheduler import Backoff, Scheduler
from .sources import SourceFactory
from .status import SourceStatus, TargetStatus, WatchStatus
from .targets import Target


@dataclass(frozen=True)
class WatchOptions:
    """The one-way options for every target, and the timing: a batch goes once the source has been quiet
    for ``quiet`` seconds, or after ``max_delay`` at the latest; a full rescan every ``rescan_every``."""

    sync: SyncOptions = field(default_factory=SyncOptions)
    quiet: float = 0.02
    max_delay: float = 0.5
    rescan_every: float = 3600.0
    max_backoff: float = 60.0
    poll_every: float = 10.0  # full rescans this often while the change source cannot see every change
    max_hold: float = 30.0  # a file kept open for writing is pushed at least this often all the same


class Mirror:
    """Mirror the local folder ``source`` into ``targets`` until ``stop`` is set. A target is a path (a
    local folder, checked against the source like ``syncline sync`` does) or any :class:`Replica`.

    What happens is published on ``events`` (a fresh :class:`EventLog` unless one is given, to share one
    stream between mirrors); ``log``, when given, receives each of this mirror's events as
    ``(message, details)``. ``changes`` makes the change source (inotify unless told otherwise)."""

    def __init__(self, source: str | os.PathLike[str], targets: Sequence[str | os.PathLike[str] | Replica],
                 options: WatchOptions | None = None, log: Callable[[str, dict[str, object]], None] | None = None,
                 *, events: EventLog | None = None, changes: SourceFactory | None = None) -> None:
        self.opts = options or WatchOptions()
        self.source = resolve_root(local_path(source))
        state = Path(os.path.realpath(state_dir()))
        if state.is_relative_to(os.path.realpath(self.source)):
            raise UsageError(f"the state directory {state} is inside the source {self.source}: its journal "
                             "would be watched and synced", "set SYNCLINE_STATE_DIR to a folder outside it")
        self.events = events or EventLog()
        if log is not None:
            self.events.subscribe(legacy(log, str(self.source)))
        self.source_replica = LocalReplica(self.source, keep=self.opts.sync.keep)
        self.targets = [self._target(t) for t in targets]
        names = [t.name for t in self.targets]
        for name in names:
            if names.count(name) > 1:
                raise UsageError(f"the target {name} is given twice", "give each target once")
        self.journal = Journal(self.source)
        self.collector = ChangeCollector()
        self.changes = (changes or InotifySource)(self.source, self.collector, self.emit, self.opts.poll_every)
        self.scheduler = Scheduler(self.collector, quiet=self.opts.quiet, max_delay=self.opts.max_delay,
                                   rescan_every=self.opts.rescan_every, poll_every=self.opts.poll_every,
                                   max_hold=self.opts.max_hold, being_written=self.source_replica.being_written,
                                   held_changed=self._tell_state)
        self.collector.changed = self._tell_state
        self.runner = Runner(self.source, self.source_replica, self.targets, self.journal, self.opts.sync,
                             self.emit)
        self.stop = threading.Event()
        self.batches = 0
        self._root_id: tuple[int, int] | None = None
        self._state_lock = threading.Lock()
        self._told: tuple[int, int, bool] | None = None  # the last SourceState (None: none before Watching)
        self._told_at = 0.0
        self._tell_later: threading.Timer | None = None  # tells a grown count once STATE_EVERY is past
        self._status = WatchStatus(only=str(self.source))  # what status() tells: the events alone
        self.events.subscribe(self._status, states=True)

    def _target(self, given: str | os.PathLike[str] | Replica) -> Target:
        if isinstance(given, (str, os.PathLike)):
            address = parse_address(given)
            if address.kind == "remote":  # not this time: a server folder is the daemon's
                raise UsageError(f"{address.text} is a server folder; watch mirrors into local and WebDAV "
                                 "folders only",
                                 "keep it in sync with `syncline daemon`, or run `syncline sync` into it")
            if address.kind == "local":
                root = address.path
                if root.exists() or root.parent.is_dir():
                    check_roots(self.source, root)
                else:  # its disk is not mounted yet: it waits, retried like a target that goes away
                    check_apart(self.source, root)
            given = open_replica(address, policy=self.opts.sync.policy(), keep=self.opts.sync.keep,
                                 case_probe=case_probe(may_write=True))
        elif isinstance(given, LocalReplica):
            check_roots(self.source, given.root)  # not the source, nor inside it: its writes would be events
        if not isinstance(given, Markers):
            raise UsageError(f"the target {given.describe()} cannot keep syncline's marker files",
                             "mirror into a kind of target that can: without its marker an unmounted or "
                             "replaced target could not be told apart")
        return Target(given, given.describe(), self.emit, Backoff(limit=self.opts.max_backoff))

    def emit(self, event: Event) -> None:
        """Publish ``event`` as this mirror's (its ``source`` set)."""
        self.events.publish(replace(event, source=str(self.source)))

    @property
    def polling(self) -> bool:
        """Whether some changes go unseen, so everything is rescanned every ``poll_every`` seconds."""
        return not self.changes.complete

    @property
    def moved(self) -> int:
        """Renames done on targets instead of a copy and a delete."""
        return self.runner.moved

    # ------------------------------------------------------------------------------------------ run

    def run(self) -> None:
        self._root_id = folder_identity(self.source)
        self.changes.start()  # before the catch-up scan: what changes meanwhile is seen
        try:
            self.emit(Watching(tuple(t.name for t in self.targets)))
            self._told = (-1, -1, False)  # from now on, what the source has in hand is told
            self._tell_state()
            left = self.journal.pending()
            if left:  # what was in flight goes first, before the catch-up's walk of everything
                self.emit(Resuming(len(left)))
                self._push(left, journaled=True)
            for t in self.targets:
                self.runner.full(t, "catch-up", self.scheduler.holder())
            self.changes.check()
            self.scheduler.plan_rescan(time.monotonic(), self.polling)
            while not self.stop.is_set():
                self._tell_state()  # what a push, a full sync or a rate limit left untold
                self.collector.wake.wait(self.scheduler.sleep(self.targets))
                if self.stop.is_set():
                    break
                if self._source_moved_on():
                    continue
                self._tick()
        finally:
            with self._state_lock:
                self._told = None  # nothing more is told of a mirror that stopped
                if self._tell_later is not None:
                    self._tell_later.cancel()
            self.changes.close()
            self.journal.close()
            for replica in (self.source_replica, *(t.replica for t in self.targets)):
                with contextlib.suppress(OSError):  # a target gone away: nothing of it to release
                    replica.close()

    def _tick(self) -> None:
        """One round of the loop: push a due batch, start due rescans and retries."""
        now = time.monotonic()
        if self.scheduler.batch_due():
            folders, moves, overflowed = self.collector.take()
            if overflowed:
                self.emit(EventsLost())
                for t in self.targets:
                    t.needs_full = True
            if moves:
                self.changes.moved(moves)
            if folders:
                self._push(folders, moves=moves)
        if self.scheduler.rescan_due(now):
            for t in self.targets:
                t.needs_full = True
            self.changes.check()
            self.scheduler.plan_rescan(now, self.polling)
        held = self.scheduler.held_to_recheck(now)
        if held:
            self.collector.add(held)
        for t in self.targets:
            due = self.scheduler.due(t)
            if due == "full":
                self.runner.full(t, "rescan", self.scheduler.holder())
            elif due == "retry":
                self.runner.retry(t, self.scheduler.holder())
        # Changes still pending wait for their batch to be due, which the loop's timeout tells
        # (``Scheduler.sleep``): left set, the wake would turn that wait into a busy loop.
        self.collector.wake.clear()

    def _push(self, folders: list[Folder], journaled: bool = False,
              moves: Sequence[tuple[str, str]] = ()) -> None:
        hold = self.scheduler.holder()
        started = time.monotonic()
        took = self.runner.push(folders, hold, journaled=journaled, moves=moves)
        seconds = time.monotonic() - started
        self.scheduler.pushed(folders, hold, seconds)
        self.batches += 1
        self.emit(Synced(len(folders), round(seconds, 3), len(self.scheduler.held), tuple(took)))

    def _source_moved_on(self) -> bool:
        """Whether the source folder is gone (then nothing is pushed until it is back) or is another
        folder than the one watched (replaced, or a disk mounted on it or unmounted from it): then the
        change source starts anew on what is there now, and every target gets a full sync under the
        catch-up's guards, since what changed is unknown. True while there is nothing to do but wait."""
        now_id = folder_identity(self.source)
        if now_id == self._root_id:
            return now_id is None
        self._root_id = now_id
        self.changes.stop()
        self.collector.take()  # events of the folder that was there: not this one's
        self.scheduler.held.clear()
        if now_id is None:
            self.emit(SourceGone())
            return True
        self.emit(SourceReplaced())
        self.changes.start()
        for t in self.targets:
            t.needs_full, t.caught_up, t.retry = True, False, {}
        self.changes.check()
        return False

    def _tell_state(self) -> None:
        """Publish a :class:`SourceState` when what the source has in hand changed: at once, except a
        pending count that only grew, told at most every ``STATE_EVERY`` seconds (a timer tells the last
        one, even while the loop is busy with a long push). Called from any thread: the change source's,
        the syncs', the loop's, the timer's."""
        with self._state_lock:  # held while publishing, so states reach readers in the order they were
            if self._told is None:
                return
            now_state = (self.collector.pending_folders(), len(self.scheduler.held), self.polling)
            if now_state == self._told:
                return
            now = time.monotonic()
            wait = self._told_at + STATE_EVERY - now
            if now_state[1:] == self._told[1:] and now_state[0] > self._told[0] and wait > 0:
                if self._tell_later is None:
                    self._tell_later = threading.Timer(wait, self._told_late)
                    self._tell_later.daemon = True
                    self._tell_later.start()
                return
            self._told, self._told_at = now_state, now
            self.emit(SourceState(*now_state))

    def _told_late(self) -> None:
        with self._state_lock:
            self._tell_later = None
        self._tell_state()

    def status(self) -> dict[str, object]:
        """A snapshot for a status display, folded from this mirror's events (:class:`WatchStatus`):
        ``pending`` folders, ``being_written``, ``polling``, ``gone``, and per target (in the order given)
        whether it is ``ok``, its ``error``, ``last_sync`` (seconds since the epoch) and its ``lag`` (seconds
        since; None: not synced yet). ``seq`` is the number of this mirror's last event: the events after
        it are what changed since."""
        st = self._status.get(str(self.source))
        if st is None:  # not running yet
            st = SourceStatus(str(self.source), tuple(TargetStatus(t.name) for t in self.targets))
        return st.as_dict()
