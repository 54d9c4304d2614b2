"""The inotify change source: watchdog's observer feeds the collector, and the kernel is asked whether it
really watches every folder.

watchdog skips, without a word, the folders it cannot watch (past ``fs.inotify.max_user_watches``), and
one whose parent moved before its watch was added; it only *logs* an overflow of the kernel's queue. So
this source counts the watches the process holds against the folders there are (``check``), looks for the
watch of every folder below one that moved (``moved``), and listens to watchdog's log for the overflow.
Whatever it cannot see, it says (an event), and it reports itself incomplete so the mirror polls.
"""

from __future__ import annotations

import errno
import logging
import time
import warnings
from collections.abc import Sequence
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

from .changes import ChangeCollector
from .events import Emit, Rewatched, WatchesComplete, WatchesShort, WatchRefused
from .kernel import count_folders, inotify_watches, read_int, unwatched_folders, watched_inodes

CHANGE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent, FileAttribEvent,
    DirCreatedEvent, DirDeletedEvent, DirModifiedEvent, DirMovedEvent, DirAttribEvent]
# watchdog warns when a folder moved quickly away and back is watched again: harmless, and not the user's.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)

_MAX_WATCHES = "/proc/sys/fs/inotify/max_user_watches"
_MAX_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"


class InotifySource:
    """Watches ``root`` recursively with inotify (through watchdog) and feeds ``collector``."""

    def __init__(self, root: Path, collector: ChangeCollector, emit: Emit, poll_every: float) -> None:
        self.root = root
        self.collector = collector
        self.emit = emit
        self.poll_every = poll_every
        self.watching = False
        self.polling = False  # some changes go unseen: the mirror rescans every poll_every
        self._observer: BaseObserver | None = None
        self._listener = OverflowListener(collector)
        self._listening = False

    @property
    def complete(self) -> bool:
        return not self.polling

    def start(self) -> None:
        if not self._listening:
            self._listener.attach()
            self._listening = True
        self._arm()

    def _arm(self) -> None:
        """Start watching the source; on failure, poll with full rescans."""
        observer = Observer()
        # Only the events that mean a change: reading (open, access, close without a write) is left out of
        # the kernel's queue, or the mirror's own rescans of a big tree would overflow it and start another.
        observer.schedule(self.collector, str(self.root), recursive=True, event_filter=CHANGE_EVENTS)
        try:
            observer.start()
        except OSError as exc:  # not even the root can be watched (the watch limit, or no inotify)
            self.emit(WatchRefused(str(exc.strerror or exc), self.poll_every, _limit_advice(exc, self.root)))
            self.polling = True
            return
        self._observer = observer
        self.watching = True

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        self._observer = None
        self.watching = False

    def close(self) -> None:
        self.stop()
        if self._listening:
            self._listener.detach()
            self._listening = False

    def check(self) -> None:
        """Whether inotify watches every folder of the source. watchdog skips, without a word, the folders
        it cannot watch (the kernel's ``fs.inotify.max_user_watches`` is reached): then changes there would
        go unseen, so the source says so and stays incomplete (the mirror polls) until it can again."""
        if not self.watching:
            return
        folders = count_folders(self.root)
        watched = inotify_watches()
        if watched is None:
            return
        short = watched < folders
        if short and not self.polling:
            limit = read_int(_MAX_WATCHES)
            self.emit(WatchesShort(folders, watched, limit, self.poll_every, _watches_sysctl(limit, folders)))
        elif not short and self.polling:
            self.emit(WatchesComplete(folders))
        self.polling = short

    def moved(self, moves: Sequence[tuple[str, str]]) -> None:
        """Make sure every folder at or below a folder that moved within the source is watched, and arm
        the watch anew when one is not.

        watchdog adds the watch of a new folder by the path it had when it was made. When its parent moves
        before watchdog gets to it (a busy machine, or ``mkdir A/S; mv A B/C`` in one go), the watch is
        looked for at the old path, is not found, and nothing made in the folder is ever seen. The folder
        sync after a move scans the moved folders whole, so arming anew before it loses nothing. A folder
        made a moment ago may simply not be watched yet: it gets a second until it counts as missing."""
        if not moves or not self.watching or self.polling:
            return  # polling already rescans everything: nothing relies on the events
        dests = sorted({new for _, new in moves})
        deadline = time.monotonic() + 1.0
        while True:
            watched = watched_inodes()
            if watched is None:
                return
            missing = unwatched_folders(self.root, dests, watched)
            if not missing:
                return
            if time.monotonic() >= deadline:
                break
            dests = missing
            time.sleep(0.05)
        self.emit(Rewatched(tuple(missing[:10])))
        old = self._observer
        self._observer = None
        self._arm()  # the new watch first, then the old one goes: no moment without one
        if old is not None:
            old.stop()
            old.join(timeout=10)


class OverflowListener(logging.Handler):
    """Calls ``collector.overflow()`` when watchdog logs that the inotify queue overflowed."""

    def __init__(self, collector: ChangeCollector) -> None:
        super().__init__(logging.WARNING)
        self.collector = collector

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.collector.overflow()

    def attach(self) -> None:
        logging.getLogger("watchdog").addHandler(self)

    def detach(self) -> None:
        logging.getLogger("watchdog").removeHandler(self)


def _watches_sysctl(limit: int | None, folders: int) -> str:
    """The command that raises the per-user watch limit enough for ``folders`` folders."""
    return f"sysctl fs.inotify.max_user_watches={max(2 * (limit or 8192), 2 * folders)}"


def _limit_advice(exc: OSError, source: Path) -> str:
    """What to run when inotify refuses even the source folder: ``sysctl ...`` for the limit it hit
    (watches: ENOSPC; inotify instances: EMFILE), or "" for any other failure."""
    if exc.errno == errno.ENOSPC:
        return _watches_sysctl(read_int(_MAX_WATCHES), count_folders(source))
    if exc.errno == errno.EMFILE:
        limit = read_int(_MAX_INSTANCES)
        return f"sysctl fs.inotify.max_user_instances={2 * (limit or 128)}"
    return ""
