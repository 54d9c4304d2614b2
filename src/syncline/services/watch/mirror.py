"""The real-time mirror: one source, several targets, changes pushed folder by folder.

Order of a run (``Mirror.run``):

1. the watch on SRC is armed first, so nothing that changes during the catch-up below is missed;
2. folders a previous run had journaled but not finished are synced, then every target is brought up to
   date by a full one-way sync (the catch-up: what changed while syncline was down);
3. then, in a loop: once the source has been quiet for ``quiet`` seconds (or changes have waited
   ``max_delay``), the changed folders are journaled durably, synced to each target (``sync_dirs``), and
   taken off the journal once every target has them. An overflow of the event queue, and every
   ``rescan_every`` seconds, a full sync catches what events cannot show.

A target that fails (unmounted, read-only, full) is retried with back-off while the others carry on; when
it comes back it gets a full sync. A target root that is missing, or lost its marker
(``.syncline/mirror-of``) after the first sync, is never filled from scratch: it waits, and the log says why.

Targets are reached only through the :class:`~syncline.engine.replicas.replica.Replica` interface (a path
given is a ``LocalReplica``): a replica on a server or a WebDAV share is mirrored to by the same code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from ...core.entry import DIR
from ...core.errors import SynclineError, UsageError
from ...core.paths import parent
from ...core.scan import resolve_root
from ...engine.oneway import SyncOptions, check_apart, check_roots, sync_dirs, sync_replicas
from ...engine.replicas.local import LocalReplica
from ...engine.replicas.replica import Replica
from ...engine.state import state_dir
from .changes import ChangeCollector, Folder, OverflowListener
from .journal import Journal
from .kernel import count_folders, folder_identity, inotify_watches, read_int, unwatched_folders, watched_inodes
from .targets import Log, Target

MIRROR_OF_FILE = "mirror-of"
CHANGE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent, FileAttribEvent,
    DirCreatedEvent, DirDeletedEvent, DirModifiedEvent, DirMovedEvent, DirAttribEvent]
PUSH_SHARE = 10  # under constant changes, wait this many times as long as the last push took
# watchdog warns when a folder moved quickly away and back is watched again: harmless, and not the user's.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)


@dataclass(frozen=True)
class WatchOptions:
    """The one-way options for every target, and the timing: a batch goes once the source has been quiet
    for ``quiet`` seconds, or after ``max_delay`` at the latest; a full rescan every ``rescan_every``."""

    sync: SyncOptions = field(default_factory=SyncOptions)
    quiet: float = 0.02
    max_delay: float = 0.5
    rescan_every: float = 3600.0
    max_backoff: float = 60.0
    poll_every: float = 10.0  # full rescans this often while inotify cannot watch every folder
    max_hold: float = 30.0  # a file kept open for writing is pushed at least this often all the same


class Mirror:
    """Mirror the local folder ``source`` into ``targets`` until ``stop`` is set. A target is a path (a
    local folder, checked against the source like ``syncline sync`` does) or any :class:`Replica`."""

    def __init__(self, source: str | os.PathLike[str], targets: Sequence[str | os.PathLike[str] | Replica],
                 options: WatchOptions | None = None, log: Log | None = None) -> None:
        self.opts = options or WatchOptions()
        self.source = resolve_root(source)
        state = Path(os.path.realpath(state_dir()))
        if state.is_relative_to(os.path.realpath(self.source)):
            raise UsageError(f"the state directory {state} is inside the source {self.source}: its journal "
                             "would be watched and synced", "set SYNCLINE_STATE_DIR to a folder outside it")
        self.source_replica = LocalReplica(self.source, keep=self.opts.sync.keep)
        self.log: Log = log or (lambda msg, fields: None)
        self.targets = [self._target(t) for t in targets]
        names = [t.name for t in self.targets]
        for name in names:
            if names.count(name) > 1:
                raise UsageError(f"the target {name} is given twice", "give each target once")
        self.journal = Journal(self.source)
        self.collector = ChangeCollector(str(self.source))
        self.stop = threading.Event()
        self.batches = 0
        self.moved = 0
        self.polling = False
        self.watching = False
        self.held: dict[str, float] = {}  # files still being written: when first held (monotonic)
        self._observer: BaseObserver | None = None
        self._root_id: tuple[int, int] | None = None
        self._held_check_at = 0.0
        self._last_push_s = 1.0  # until a push has been timed, changes wait up to max_delay

    def _target(self, given: str | os.PathLike[str] | Replica) -> Target:
        if isinstance(given, (str, os.PathLike)):
            root = Path(os.path.abspath(os.fspath(given)))
            if root.exists() or root.parent.is_dir():
                check_roots(self.source, root)
            else:  # its disk is not mounted yet: it waits, retried like a target that goes away
                check_apart(self.source, root)
            given = LocalReplica(root, trash=self.opts.sync.trash, keep=self.opts.sync.keep)
        elif isinstance(given, LocalReplica):
            check_roots(self.source, given.root)  # not the source, nor inside it: its writes would be events
        return Target(given, given.describe(), self.log, self.opts.max_backoff)

    # ------------------------------------------------------------------------------------------ run

    def run(self) -> None:
        listener = OverflowListener(self.collector)
        listener.attach()
        self._root_id = folder_identity(self.source)
        self._arm()  # armed before the catch-up scan: what changes meanwhile is seen
        try:
            self.log("watching", {"source": str(self.source), "targets": [t.name for t in self.targets]})
            left = self.journal.pending()
            if left:  # what was in flight goes first, before the catch-up's walk of everything
                self.log("resuming", {"folders": len(left)})
                self._push(left, journaled=True)
            for t in self.targets:
                self._full(t, "catch-up")
            self._check_coverage()
            next_rescan = time.monotonic() + self._rescan_interval()
            while not self.stop.is_set():
                self.collector.wake.wait(self._sleep(next_rescan))
                if self.stop.is_set():
                    break
                if self._source_moved_on():
                    continue
                next_rescan = self._tick(next_rescan)
        finally:
            self._disarm()
            listener.detach()
            self.journal.close()
            for replica in (self.source_replica, *(t.replica for t in self.targets)):
                with contextlib.suppress(OSError):  # a target gone away: nothing of it to release
                    replica.close()

    def _tick(self, next_rescan: float) -> float:
        """One round of the loop: push a due batch, start due rescans and retries. Returns when the next
        periodic rescan is due."""
        now = time.monotonic()
        if self.collector.pending() and self._batch_due():
            folders, moves, overflowed = self.collector.take()
            if overflowed:
                self.log("events were lost (inotify queue overflow): rescanning everything; raise "
                         "fs.inotify.max_queued_events to avoid it", {})
                for t in self.targets:
                    t.needs_full = True
            if moves:
                self._watch_moved(moves)
            if folders:
                self._push(folders, moves=moves)
        if now >= next_rescan:
            for t in self.targets:
                t.needs_full = True
            self._check_coverage()
            next_rescan = now + self._rescan_interval()
        if self.held and now >= self._held_check_at:
            # A writer that went still without closing sends no event: look at its file again.
            self.collector.add(sorted({(parent(p), False) for p in self.held}))
            self._held_check_at = now + 1.0
        for t in self.targets:
            if t.needs_full and time.monotonic() >= t.retry_at:
                self._full(t, "rescan")
            elif t.retry and time.monotonic() >= t.retry_at:
                self._retry(t)
        if not self.collector.pending():
            self.collector.wake.clear()
        return next_rescan

    def _arm(self) -> None:
        """Start watching the source (inotify through watchdog); on failure, poll with full rescans."""
        observer = Observer()
        # Only the events that mean a change: reading (open, access, close without a write) is left out of
        # the kernel's queue, or the mirror's own rescans of a big tree would overflow it and start another.
        observer.schedule(self.collector, str(self.source), recursive=True, event_filter=CHANGE_EVENTS)
        try:
            observer.start()
        except OSError as exc:  # not even the root can be watched (the watch limit, or no inotify)
            self.log(f"inotify cannot watch {self.source} ({exc.strerror or exc}): polling with a full rescan "
                     f"every {self.opts.poll_every:g} s{_limit_hint(exc, self.source)}", {})
            self.polling = True
            return
        self._observer = observer
        self.watching = True

    def _watch_moved(self, moves: Sequence[tuple[str, str]]) -> None:
        """Make sure every folder at or below a folder that moved within the source is watched, and arm
        the watch anew when one is not.

        watchdog adds the watch of a new folder by the path it had when it was made. When its parent moves
        before watchdog gets to it (a busy machine, or ``mkdir A/S; mv A B/C`` in one go), the watch is
        looked for at the old path, is not found, and nothing made in the folder is ever seen. The folder
        sync after a move scans the moved folders whole, so arming anew before it loses nothing. A folder
        made a moment ago may simply not be watched yet: it gets a second until it counts as missing."""
        if not self.watching or self.polling:
            return  # polling already rescans everything: nothing relies on the events
        dests = sorted({new for _, new in moves})
        deadline = time.monotonic() + 1.0
        while True:
            watched = watched_inodes()
            if watched is None:
                return
            missing = unwatched_folders(self.source, dests, watched)
            if not missing:
                return
            if time.monotonic() >= deadline:
                break
            dests = missing
            time.sleep(0.05)
        self.log("a moved folder lost its watch: watching the source anew", {"folders": missing[:10]})
        old = self._observer
        self._observer = None
        self._arm()  # the new watch first, then the old one goes: no moment without one
        if old is not None:
            old.stop()
            old.join(timeout=10)

    def _disarm(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        self._observer = None
        self.watching = False

    def _source_moved_on(self) -> bool:
        """Whether the source folder is gone (then nothing is pushed until it is back) or is another
        folder than the one watched (replaced, or a disk mounted on it or unmounted from it): then the
        watch is armed anew on what is there now, and every target gets a full sync under the catch-up's
        guards, since what changed is unknown. True while there is nothing to do but wait."""
        now_id = folder_identity(self.source)
        if now_id == self._root_id:
            return now_id is None
        self._root_id = now_id
        self._disarm()
        self.collector.take()  # events of the folder that was there: not this one's
        self.held.clear()
        if now_id is None:
            self.log(f"the source {self.source} is gone: waiting for it to come back", {})
            return True
        self.log("the source folder was replaced or remounted: watching it anew and rescanning everything",
                 {"source": str(self.source)})
        self._arm()
        for t in self.targets:
            t.needs_full, t.caught_up, t.retry = True, False, {}
        self._check_coverage()
        return False

    def status(self) -> dict[str, object]:
        """A snapshot for a status display: pending folders, and per target whether it is fine, its error,
        and how long ago it was last synced (None: not yet)."""
        now = time.time()
        return {"source": str(self.source), "pending": self.collector.pending_folders(), "polling": self.polling,
                "being_written": len(self.held),
                "targets": [{"target": t.name, "ok": t.ok, "error": t.error,
                             "lag": None if not t.last_sync else round(now - t.last_sync, 1)} for t in self.targets]}

    def _rescan_interval(self) -> float:
        return min(self.opts.rescan_every, self.opts.poll_every) if self.polling else self.opts.rescan_every

    def _check_coverage(self) -> None:
        """Whether inotify watches every folder of the source. watchdog skips, without a word, the folders
        it cannot watch (the kernel's ``fs.inotify.max_user_watches`` is reached): then changes there would
        go unseen, so the mirror says so and rescans every ``poll_every`` seconds until it can again."""
        if not self.watching:
            return
        folders = count_folders(self.source)
        watched = inotify_watches()
        if watched is None:
            return
        short = watched < folders
        if short and not self.polling:
            limit = read_int(_MAX_WATCHES)
            self.log("inotify cannot watch every folder (the watch limit is reached): polling with a full "
                     f"rescan every {self.opts.poll_every:g} s; raise the limit, e.g. "
                     f"{_watches_sysctl(limit, folders)}",
                     {"folders": folders, "watched": watched, "limit": limit})
        elif not short and self.polling:
            self.log("every folder is watched again: polling stops", {"folders": folders})
        self.polling = short

    def _sleep(self, next_rescan: float) -> float:
        now = time.monotonic()
        until = [next_rescan - now, 1.0]
        if self.collector.pending():
            quiet_left = self.opts.quiet - self.collector.quiet_for_ns() / 1e9
            delay_left = self._delay() - self.collector.waiting_for_ns() / 1e9
            until.append(min(quiet_left, delay_left))
        until += [t.retry_at - now for t in self.targets if t.needs_full or t.retry]
        if self.held:
            until.append(self._held_check_at - now)
        return max(0.005, min(until))

    def _batch_due(self) -> bool:
        c = self.collector
        return c.quiet_for_ns() >= self.opts.quiet * 1e9 or c.waiting_for_ns() >= self._delay() * 1e9 \
            or c.overflowed

    def _delay(self) -> float:
        """How long changes wait at most while the source is never quiet: ``PUSH_SHARE`` times what the
        last push took, so pushing takes at most about a tenth of the time (a few milliseconds: changes go
        almost at once; a heavy churn: bigger batches, fewer scans), within [quiet, max_delay]."""
        return min(self.opts.max_delay, max(self.opts.quiet, PUSH_SHARE * self._last_push_s))

    # ------------------------------------------------------------------------------------------ work

    def _push(self, folders: list[Folder], journaled: bool = False,
              moves: Sequence[tuple[str, str]] = ()) -> None:
        """Sync ``folders`` to every target that is fine; journaled first, off the journal when done.
        ``moves`` seen in the source are first done as renames on each target, where that is safe."""
        if not journaled:
            self.journal.add(folders)
        started = time.monotonic()
        all_done = True
        hold = self._holder()
        for t in self.targets:
            if t.needs_full and not (journaled and not t.caught_up):
                all_done = False  # it gets everything with its full sync
                continue
            if not self._ready(t):
                all_done = False
                continue
            batch = folders
            if t.retry and time.monotonic() >= t.retry_at:
                batch, t.retry = t.add_retry(folders), {}  # the retry is due: it goes along
            try:
                self._moves(t, moves)
                report = sync_dirs(self.source_replica, t.replica, batch, self.opts.sync, hold=hold)
            except (SynclineError, OSError) as exc:
                t.failed(exc)
                all_done = False
                continue
            all_done = t.settle(report) and all_done
        if all_done:
            self.journal.remove(folders)
        pushed = {f for f, _ in folders}
        for p in [p for p in self.held if parent(p) in pushed and not hold.decided.get(p)]:
            del self.held[p]  # closed, gone, or already the same on every target
        self.batches += 1
        self._last_push_s = time.monotonic() - started
        fields: dict[str, object] = {"folders": len(folders), "seconds": round(self._last_push_s, 3)}
        if self.held:
            fields["being_written"] = len(self.held)
        self.log("synced", fields)

    def _holder(self) -> _Holder:
        """The ``hold`` predicate for one round of syncs: one answer per file for every target."""
        return _Holder(self._hold)

    def _hold(self, path: str) -> bool:
        """Whether to leave the file at ``path`` out of this push: it is open for writing (it goes once
        closed, when its close event comes in), but never for more than ``max_hold`` in a row."""
        if not self.source_replica.being_written(path):
            return False
        now = time.monotonic()
        since = self.held.setdefault(path, now)
        return now - since < self.opts.max_hold  # past it (a log kept open): pushed as it is now

    def _moves(self, t: Target, moves: Sequence[tuple[str, str]]) -> None:
        """Rename on ``t`` what was renamed in the source, when ``t`` still holds the old path as the source
        holds the new one (same kind; a file with the same size and mtime) and nothing is at the new path:
        a renamed folder of any size is one rename instead of a copy and a delete. Anything else is left to
        the folder sync that follows, which copies and deletes.

        Only with ``--delete`` (without it the old name stays on the target, as rsync keeps it), and only
        between names the rules let through on both sides (a rename into an excluded name is a delete)."""
        if not moves or not self.opts.sync.delete:
            return
        replica, source, rules = t.replica, self.source_replica, self.opts.sync.rules
        visible_new = source.scan_dirs(sorted({(parent(n), False) for _, n in moves}), rules, "source").entries
        with replica.lock():
            visible_old = replica.scan_dirs(sorted({(parent(o), False) for o, _ in moves}), rules,
                                            "destination").entries
            for old, new in moves:
                if new in visible_new and old in visible_old:
                    self._rename_one(replica, source, old, new)

    def _rename_one(self, replica: Replica, source: Replica, old: str, new: str) -> None:
        now = source.stat(new)
        there = replica.stat(old)
        if now is None or there is None or now.kind != there.kind or replica.stat(new) is not None:
            return
        if now.kind != DIR and (now.size, now.mtime_ns) != (there.size, there.mtime_ns):
            return
        if parent(new) and replica.stat(parent(new)) is None:
            return
        if replica.move(old, new, there).done:
            self.moved += 1

    def _full(self, t: Target, why: str) -> None:
        """A full sync of ``t``. ``--max-delete`` guards the first one of a run (the catch-up: what
        changed while syncline was down is unknown) and the first after a safety stop; the others (a
        target back, after an overflow, the hourly rescan) carry deletions made while syncline watched,
        and only the empty-source stop applies to them."""
        if not self._ready(t):
            return
        opts = self.opts.sync if not t.caught_up else replace(self.opts.sync, max_delete=1.0)
        try:
            report = sync_replicas(self.source_replica, t.replica, opts, hold=self._holder())
        except (SynclineError, OSError) as exc:
            t.failed(exc)
            return
        t.needs_full = False
        t.caught_up = True
        t.retry = {}
        t.settle(report)
        self._journal_settled()
        self.log(why, {"target": t.name, "changed": report.changed, "errors": len(report.errors)})

    def _journal_settled(self) -> None:
        """Empty the journal once no target lacks anything: no full sync or retry is owed to any."""
        if not any(x.needs_full or x.retry for x in self.targets):
            self.journal.remove(self.journal.pending())

    def _ready(self, t: Target) -> bool:
        """Whether ``t`` can be written: its root exists and holds the marker naming this source (once
        synced, it must). A target seen for the first time gets its root (when the parent is there) and
        the marker; one whose marker names another source is left alone."""
        replica = t.replica
        try:
            marker = replica.read_meta(MIRROR_OF_FILE)
            if marker is not None and marker.strip() != str(self.source):
                raise OSError(f"{t.name} holds a mirror of {marker.strip()}, not of {self.source}: left alone "
                              f"(remove its .syncline/{MIRROR_OF_FILE} to mirror into it anyway)")
            if self.journal.target_known(t.name):
                if marker is None and self.opts.sync.force and replica.exists():
                    replica.write_meta(MIRROR_OF_FILE, str(self.source) + "\n")  # the user vouches for it
                    marker = str(self.source)
                if marker is None:
                    why = "missing" if not replica.exists() else f"without its marker (.syncline/{MIRROR_OF_FILE})"
                    raise OSError(f"{t.name} is {why}: not filled from scratch; check that it is there "
                                  "(restart with --force to take it as it is)")
                return True
            if not replica.exists():
                replica.create_root()
            if marker is None:
                replica.write_meta(MIRROR_OF_FILE, str(self.source) + "\n")
        except OSError as exc:
            t.failed(exc)
            return False
        self.journal.remember_target(t.name)
        return True

    def _retry(self, t: Target) -> None:
        """Sync again, after the back-off, the folders where changes could not be made for a reason that
        may pass (a full or read-only target): only those, not the whole tree."""
        if not self._ready(t):
            return
        batch, t.retry = list(t.retry.items()), {}
        try:
            report = sync_dirs(self.source_replica, t.replica, batch, self.opts.sync, hold=self._holder())
        except (SynclineError, OSError) as exc:
            t.failed(exc)
            return
        t.settle(report)
        self._journal_settled()

class _Holder:
    """Asks ``decide`` once per path and remembers the answer in ``decided``."""

    def __init__(self, decide: Callable[[str], bool]) -> None:
        self.decide = decide
        self.decided: dict[str, bool] = {}

    def __call__(self, path: str) -> bool:
        if path not in self.decided:
            self.decided[path] = self.decide(path)
        return self.decided[path]


_MAX_WATCHES = "/proc/sys/fs/inotify/max_user_watches"
_MAX_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"


def _watches_sysctl(limit: int | None, folders: int) -> str:
    """The command that raises the per-user watch limit enough for ``folders`` folders."""
    return f"sysctl fs.inotify.max_user_watches={max(2 * (limit or 8192), 2 * folders)}"


def _limit_hint(exc: OSError, source: Path) -> str:
    """What to run when inotify refuses even the source folder: ``; raise the limit, e.g. sysctl ...`` for
    the limit it hit (watches: ENOSPC; inotify instances: EMFILE), or "" for any other failure."""
    if exc.errno == errno.ENOSPC:
        return f"; raise the limit, e.g. {_watches_sysctl(read_int(_MAX_WATCHES), count_folders(source))}"
    if exc.errno == errno.EMFILE:
        limit = read_int(_MAX_INSTANCES)
        return f"; raise the limit, e.g. sysctl fs.inotify.max_user_instances={2 * (limit or 128)}"
    return ""
