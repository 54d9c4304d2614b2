"""One folder of the daemon, kept in sync in its own thread: local changes by inotify, the other side's
by its change feed, both into one :class:`~syncline.services.watch.changes.ChangeCollector`, and runs of
the two-way engine when the watch's :class:`~syncline.services.watch.scheduler.Scheduler` says a batch
is due.

Runs: full at start (what changed while the daemon was down), after lost events (an inotify overflow, a
feed whose history is gone), after a failed run, when the local root appeared or was replaced, and every
``check_every``; otherwise scoped to the changed folders (``runner.run_two_way``).

Outcomes: a run that cannot reach a side (``OSError``, a retryable error) is tried again in full with
:class:`~syncline.services.watch.scheduler.Backoff` (1 s doubling to 60 s) and the folder is "offline";
a safety stop, a usage error (a missing or emptied root, max-delete, a marker of another folder, an
address nothing opens) or a refusal for good (a ``Denied`` error that is not retryable: the folder's share
taken back, ``share_revoked``) *parks* the folder: nothing more is run until :attr:`FolderLoop.resume` is set
(``syncline folder resume``) or the supervisor replaces the loop (the config changed). What happens is
told as events (``events.py``) and the status is folded from them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import SynclineError
from ...engine.replicas.abilities import catch_up, locked_by_others
from ...engine.replicas.errors import Denied
from ...engine.replicas.replica import Replica
from ..config import FolderConfig
from ..watch.changes import ChangeCollector, Folder
from ..watch.events import Event, EventLog
from ..watch.inotify import InotifySource
from ..watch.kernel import folder_identity
from ..watch.scheduler import Backoff, Scheduler
from ..watch.sources import ChangeSource, SourceFactory
from .echoes import OwnWrites
from .events import (
    FolderEnded,
    FolderItemFailed,
    FolderOffline,
    FolderResumed,
    FolderStarted,
    FolderStopped,
    FolderSynced,
    FolderSyncing,
)
from .feed import FeedSource, changed_folders
from .heal import heal_damaged
from .positions import Positions
from .readonly import FolderMasks
from .runner import Rate, changes_of, folder_basis, open_sides, run_two_way

if TYPE_CHECKING:
    from ...engine.replicas.remote.basis import ChunkBasis

PROGRESS_EVERY = 0.25  # seconds between progress events of a long run
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """How a folder loop waits: a batch once the folder was quiet ``quiet`` s (at most ``max_delay``
    under constant changes), full runs every ``poll_every`` s while inotify cannot see every change, runs
    that failed tried again after 1 s doubling to ``max_backoff``; the supervisor reads the config every
    ``config_every`` s."""

    quiet: float = 0.05
    max_delay: float = 0.5
    poll_every: float = 10.0
    max_backoff: float = 60.0
    config_every: float = 2.0
    locks_every: float = 15.0  # while files are read-only for locks: how often they are asked (expiry tells no event)


@dataclass
class _Due:
    """The loop's state as the scheduler reads a target's (``scheduler.TargetState``)."""

    backoff: Backoff
    needs_full: bool = True
    retry: dict[str, bool] = field(default_factory=dict)  # the two-way engine retries within its run


class FolderLoop:
    """Keep ``folder`` in sync with ``address`` until :attr:`stop` is set; :meth:`run` is the thread's
    body and never raises for what happens to the folder (it is told as events)."""

    def __init__(self, folder: FolderConfig, address: str, events: EventLog, *, feed: FeedSource | None,
                 positions: Positions, device: str, timing: Timing, changes: SourceFactory | None = None,
                 state: Path | None = None, readonly: FolderMasks | None = None) -> None:
        self.folder = folder
        self.readonly = readonly  # lock_makes_readonly: this folder's files made read-only (None: off)
        self.address = address
        self.events = events
        self.feed = feed
        self.positions = positions
        self.device = device
        self.timing = timing
        self.state = state
        self.stop = threading.Event()
        self.resume = threading.Event()
        self.collector = ChangeCollector()
        self._make_source = changes or InotifySource
        self._source: ChangeSource | None = None
        self._root_id: tuple[int, int] | None = None
        self._due = _Due(Backoff(limit=timing.max_backoff))
        self._dirs: dict[str, bool] = {}  # changed folders waiting for a run (folder -> deep)
        self._names: dict[str, set[str] | None] = {}  # a shallow one -> its children that changed (None: any)
        self._seq = positions.get(folder.local, folder.remote)  # the feed position the last run synced
        self._own = OwnWrites(Path(folder.local), {})  # what the last run wrote here (echoes.py)
        self._collected = self._seq  # the position read from the feed: its changes are in _dirs (or a full run is due)
        self._told_seq = self._seq  # the newest position the feed told
        self._feed_lock = threading.Lock()
        self._feed_lost = False  # the feed lost the server: a full run finds out whether the folder is offline
        self._feed_told = False  # a position was told since _read_feed last looked
        self._conflicts = 0
        self._parked = False
        self._locks_told = True  # the locks are to be looked at (readonly): at start, then on each event
        self._locks_next = 0.0  # when the locks are looked at again while files are read-only
        self.thread = threading.Thread(target=self.run, name=f"folder {folder.local}", daemon=True)

    def emit(self, event: Event) -> None:
        self.events.publish(replace(event, source=self.folder.local))

    def wake(self) -> None:
        self.collector.wake.set()

    # ------------------------------------------------------------------------------------------ run

    def run(self) -> None:
        self.emit(FolderStarted(self.folder.remote, self.folder.paused))
        try:
            if self.folder.paused:
                self.stop.wait()
                return
            while not self.stop.is_set():
                try:
                    self._open_and_loop()
                    return
                except Exception as exc:  # a bug: the folder stops, visibly, and the daemon goes on
                    _log.exception("the loop of %s failed", self.folder.local)
                    self._park(f"internal error ({type(exc).__name__}: {exc}); please report it")
                    if not self._wait_resume():
                        return
        finally:
            if self.feed is not None:
                self.feed.unfollow(self.folder.remote)
            if self._source is not None:
                self._source.close()
            self.emit(FolderEnded())

    def _open_and_loop(self) -> None:
        """Open the sides (again after a park) and loop until the folder's loop ends. The folder's chunk
        basis is held here, not by the sides: it lasts across runs and reopened sides, and is closed
        when the loop ends (the folder removed or changed, the daemon stopping)."""
        basis: ChunkBasis | None = None
        try:
            while not self.stop.is_set():
                try:
                    if basis is None:
                        basis = folder_basis(self.folder, self.address, self.state)
                    local, other = open_sides(self.folder, self.address, self.state, basis, self.readonly)
                except SynclineError as exc:
                    self._park(str(exc))
                    if not self._wait_resume():
                        return
                    continue
                try:
                    self._loop(local, other)
                    return
                finally:
                    for side in (local, other):
                        with contextlib.suppress(OSError):
                            side.close()
        finally:
            if basis is not None:
                basis.close()

    def _loop(self, local: Replica, other: Replica) -> None:
        scheduler = Scheduler(self.collector, quiet=self.timing.quiet, max_delay=self.timing.max_delay,
                              rescan_every=self.folder.check_every, poll_every=self.timing.poll_every,
                              max_hold=0.0, being_written=lambda _path: False)
        if self.feed is not None:
            self.feed.follow(self.folder.remote, self._seq, self._told, self._lost, self._locks_moved)
        while not self.stop.is_set():
            if self._parked and not self._wait_resume():
                return
            self._watch_root()
            self._read_feed()
            self._settle_locks(other)
            with self._feed_lock:
                if self._feed_lost:
                    self._feed_lost = False
                    self._due.needs_full = True
            now = time.monotonic()
            if scheduler.rescan_due(now):
                self._due.needs_full = True
                if self._source is not None:
                    self._source.check()
            if scheduler.batch_due():
                folders, names, moves, overflowed = self.collector.take_named()
                folders = self._own.keep(folders, names)  # the last run's downloads are no local change
                if overflowed:
                    self._due.needs_full = True
                if moves and self._source is not None:
                    self._source.moved(moves)
                self._add(folders, names)
            if (self._due.needs_full or self._dirs) and self._due.backoff.due(time.monotonic()):
                full = self._due.needs_full
                self._run(local, other, None if full else sorted(self._dirs.items()))
                if full and not self._due.needs_full:  # the clock of the periodic check starts again
                    scheduler.plan_rescan(time.monotonic(), self._polling)
            # The wake is cleared before looking at what other threads told: one set during the run (a feed
            # position, a lost feed, a stop) is seen by _told_since_look, one set from here on ends the wait.
            self.collector.wake.clear()
            if not self._told_since_look():
                wait = scheduler.sleep([self._due])
                if self.readonly is not None and self._locks_next:
                    wait = max(0.0, min(wait, self._locks_next - time.monotonic()))
                self.collector.wake.wait(wait)

    @property
    def _polling(self) -> bool:
        return self._source is None or not self._source.complete

    def _wait_resume(self) -> bool:
        """Wait while parked; True once resumed, False when the loop is to end."""
        while not self.stop.is_set():
            if self.resume.wait(0.5):
                self.resume.clear()
                self._parked = False
                self._due.needs_full = True
                self._due.backoff.at = 0.0
                self.emit(FolderResumed())
                return True
        return False

    def _park(self, why: str) -> None:
        self._parked = True
        self.resume.clear()
        self.emit(FolderStopped(why))

    # ------------------------------------------------------------------------------------ changes

    def _watch_root(self) -> None:
        """Watch the local root as it is now: when it appeared (made by a first run), went away or was
        replaced, the change source starts anew on what is there, and a full run follows."""
        now_id = folder_identity(Path(self.folder.local))
        if now_id == self._root_id and self._source is not None:
            return
        self._root_id = now_id
        if self._source is not None:
            self._source.close()
            self._source = None
        self.collector.take()  # events of a folder that is no longer there
        self._due.needs_full = True
        if now_id is not None:
            self._source = self._make_source(Path(self.folder.local), self.collector, self.emit,
                                             self.timing.poll_every)
            self._source.start()  # before the full run's scan: what changes meanwhile is seen

    def _told_since_look(self) -> bool:
        """Whether another thread told the loop something it has not looked at: a feed position not read
        yet (its wake may have been cleared by a run's ``take`` or by the loop), a lost feed, a stop. Without
        it, a position told during a run waited for the loop's next timeout (up to 1 s)."""
        with self._feed_lock:
            return self._feed_told or self._feed_lost or self.stop.is_set()

    def _told(self, seq: int) -> None:
        """The feed's ``on_seq`` (any thread)."""
        with self._feed_lock:
            self._told_seq = max(self._told_seq, seq)
            self._feed_told = True
        self.wake()

    def run_soon(self) -> None:
        """A full run soon (any thread): something outside the daemon changed the other side in this device's
        name, which the change feed leaves out as this device's own (``syncline restore``)."""
        with self._feed_lock:
            self._feed_lost = True  # read as "look at both sides in full" by the loop
        self.wake()

    def _locks_moved(self) -> None:
        """The feed's ``on_locks`` (any thread): a change waiting for a lock (a retryable item failure,
        backing off) is tried now rather than at the end of its back-off, and files are made read-only or
        given their modes back (``lock_makes_readonly``)."""
        with self._feed_lock:
            self._due.backoff.at = 0.0
            self._feed_told = True
            self._locks_told = True
        self.wake()

    def _settle_locks(self, other: Replica) -> None:
        """With ``lock_makes_readonly``: the files locked by someone else made read-only, those whose lock
        ended given their modes back, when a ``locks`` event came (and at start), and every
        ``Timing.locks_every`` while some are read-only (an expired lock tells no event). In the loop's
        thread, between runs, so no run sees a mode change in the middle. A side that cannot be asked
        now is asked again at the next look."""
        if self.readonly is None:
            return
        with self._feed_lock:
            told, self._locks_told = self._locks_told, False
        if not told and not (self._locks_next and time.monotonic() >= self._locks_next):
            return
        try:
            locked = locked_by_others(other)
            self.readonly.settle(locked)
        except (SynclineError, OSError) as exc:
            _log.info("the locks of %s were not looked at: %s", self.folder.local, exc)
            self._locks_next = time.monotonic() + min(self.timing.locks_every, self.timing.max_backoff)
            return
        self._locks_next = time.monotonic() + self.timing.locks_every if self.readonly.masked() else 0.0

    def _lost(self, _why: str) -> None:
        """The feed's ``on_lost`` (any thread): try the other side now, so an idle folder whose server went
        away says "offline" (the failed run does) instead of "in sync"."""
        with self._feed_lock:
            self._feed_lost = True
        self.wake()

    def _read_feed(self) -> None:
        """Read what the other side's feed says changed since the last position read, into the collector."""
        if self.feed is None:
            return
        with self._feed_lock:
            told = self._told_seq
            self._feed_told = False  # a read that fails is tried at the next wake, not in a busy loop
        if told <= self._collected:
            return
        try:
            batch = self.feed.changes(self.folder.remote, self._collected)
        except SynclineError as exc:
            if not exc.retryable:
                self._park(str(exc))
            return  # a retryable one: read again at the next wake; the full runs catch up meanwhile
        except OSError:
            return
        if batch.gone:
            self._due.needs_full = True  # what changed is unknown: the next run is full
        else:
            # Straight to the next run: a commit is settled, and no echo of this device's writes (the
            # watcher's collector would hold it for a quiet period and drop it as one).
            self._add(*changed_folders(batch, self.device))
        self._collected = max(self._collected, batch.seq)

    # ------------------------------------------------------------------------------------------ runs

    def _add(self, folders: list[Folder], names: Mapping[str, set[str] | None]) -> None:
        """Folders for the next run, with the children named in each (none named: any child)."""
        for f, deep in folders:
            self._dirs[f] = self._dirs.get(f, False) or deep
            told, had = names.get(f), self._names.get(f, set())
            self._names[f] = None if told is None or had is None else had | told

    def _run(self, local: Replica, other: Replica, dirs: list[Folder] | None) -> None:
        full = dirs is None
        # The feed position this run covers once it ends well: every change read from the feed so far is
        # in this run's folders (or the run is full).
        position = self._collected
        self.emit(FolderSyncing(full))
        rate = Rate()
        last = [0.0]

        def progress(files_done: int, files_total: int, bytes_done: int, bytes_total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                files, size, eta = rate.left(files_done, files_total, bytes_done, bytes_total)
                self.emit(FolderSyncing(full, files, size, eta, files_total, bytes_total))

        started = time.monotonic()
        names = {f: some for f, some in self._names.items() if some is not None}
        self._dirs, self._names = {}, {}
        before, self._own = self._own, OwnWrites(Path(self.folder.local), {})
        try:
            report = run_two_way(local, other, self.folder.options, dirs, progress, names)
        except SynclineError as exc:
            if exc.retryable:
                self._failed(str(exc))
            else:
                self._park(str(exc))
            return
        except OSError as exc:
            why = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
            if isinstance(exc, Denied) and not exc.retryable:
                self._park(why)  # refused for good (a share taken back, a token revoked): trying again changes nothing
            else:
                self._failed(why)
            return
        self._due.needs_full = False
        self._own = OwnWrites.of(Path(self.folder.local), report, before)
        if full:  # at the start and the hourly check: what the server lost and this device has goes up again
            with contextlib.suppress(SynclineError, OSError):
                heal_damaged(local, other)
        if report.to_b.changed or report.moved:
            # What this run committed is paged into the other side's listing now, while nothing waits:
            # after a first upload of 100,000 files it took the next edit's run 2 s.
            with contextlib.suppress(SynclineError, OSError):
                catch_up(other)
        for p in report.problems:
            if p.error:
                self.emit(FolderItemFailed(p.path, f"{p.side}: {p.message}" if p.side else p.message, p.retryable))
        if any(p.error and p.retryable for p in report.problems):
            # Some items failed for a reason that may pass (a cut connection, a full disk): run over the same
            # ground again after a back-off, rather than leave them until the next change or the hourly check.
            if full:
                self._due.needs_full = True
            self._add(dirs or [], names)
            self._due.backoff.failed()
        else:
            self._due.backoff.succeeded()
        if position > self._seq:
            self.positions.put(self.folder.local, self.folder.remote, position)
            self._seq = position
        self._conflicts += len(report.conflicts)
        errors = sum(1 for p in report.problems if p.error)
        scope = tuple((f, deep, None if f not in names else tuple(sorted(names[f]))) for f, deep in dirs or ())
        self.emit(FolderSynced(full, report.to_a.copied + report.to_b.copied, self._conflicts, errors,
                               round(time.monotonic() - started, 3), scope, changes_of(report)))

    def _failed(self, why: str) -> None:
        self._due.needs_full = True  # what the failed run left half done is unknown: look at everything
        self._due.backoff.failed()
        self.emit(FolderOffline(why, round(self._due.backoff.at - time.monotonic(), 1)))
