"""What changed under a watched root: change events reduced to folders to sync.

Every change source feeds this collector: the inotify source hands it watchdog's events as they come,
another source calls :meth:`ChangeCollector.add` and :meth:`ChangeCollector.overflow` itself. The
scheduler reads its timing (``quiet_for_ns``, ``waiting_for_ns``) and the mirror takes each batch.

Every event names the folder whose listing changed (shallow: its children are compared) and, for a
folder that appeared (created, or moved in), the folder itself whole (deep). A storm of events in one
folder collapses into one entry. Events for the root's ``.syncline`` folder and syncline's own temp files
are dropped. When the kernel's event queue overflows, events were lost: ``overflowed`` is set and the
mirror rescans everything.

watchdog (7.x) handles an inotify queue overflow inside its emitter (it rebuilds its watches) and only logs
a warning; the inotify source listens to that log record (``inotify.OverflowListener``), which is the one
signal watchdog gives, and calls ``overflow``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from ...core.paths import META_DIR, parent

Folder = tuple[str, bool]  # (folder relative to the root, deep)


class ChangeCollector(FileSystemEventHandler):
    """A watchdog handler that gathers changed folders for the mirror. Thread-safe."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = os.path.abspath(root)
        self._lock = threading.Lock()
        self._folders: dict[str, bool] = {}
        self._moves: list[tuple[str, str]] = []  # (from, to) within the root, in the order they happened
        self.first_ns = 0  # when the oldest pending change came in (monotonic)
        self.last_ns = 0  # when the newest did
        self.overflowed = False
        self.settled = False  # a change is pending that is complete when told (no quiet to wait for)
        self.events = 0
        self.wake = threading.Event()
        # Called after each add and take, outside the lock (the pending count may have changed): the
        # mirror tells a status display, at a rate it limits.
        self.changed: Callable[[], None] | None = None

    # ---------------------------------------------------------------------------------------- events

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, (FileOpenedEvent, FileClosedNoWriteEvent)):
            return
        folders: list[Folder] = []
        src = self._relative(event.src_path)
        if src is not None:
            folders.append((parent(src), False) if src else ("", False))
            if isinstance(event, DirCreatedEvent) and src:
                folders.append((src, True))
        dest_raw = getattr(event, "dest_path", "")
        move = None
        if dest_raw:
            dest = self._relative(dest_raw)
            if dest is not None and dest:
                folders.append((parent(dest), False))
                if isinstance(event, DirMovedEvent):
                    folders.append((dest, True))
                if src:
                    move = (src, dest)
        if folders:
            self.add(folders, move)

    def _relative(self, path: str | bytes) -> str | None:
        """``path`` relative to the root; None for what is never synced (or outside the root)."""
        p = os.fsdecode(path)
        if p == self.root:
            return ""
        if not p.startswith(self.root + "/"):
            return None
        rel = p[len(self.root) + 1 :]
        # syncline's own folders, at any depth. (A temp-like name is not filtered by its shape: it may be
        # a user's file; the folder's scan knows which temp names are syncline's.)
        if META_DIR in rel.split("/"):
            return None
        return rel

    def add(self, folders: list[Folder], move: tuple[str, str] | None = None, settled: bool = False) -> None:
        """Changed folders (and a rename). ``settled``: the change is complete as told (a server's commit,
        never a file still being written), so the batch need not wait for the folder to be quiet."""
        now = time.monotonic_ns()
        with self._lock:
            if not self._folders:
                self.first_ns = now
            self.last_ns = now
            self.settled = self.settled or settled
            self.events += 1
            for f, deep in folders:
                self._folders[f] = self._folders.get(f, False) or deep
            if move is not None:
                self._moves.append(move)
        self.wake.set()
        if self.changed is not None:
            self.changed()

    def overflow(self) -> None:
        """Events were lost: the mirror must rescan everything."""
        with self._lock:
            self.overflowed = True
        self.wake.set()

    # ---------------------------------------------------------------------------------------- batches

    def pending_folders(self) -> int:
        with self._lock:
            return len(self._folders)

    def pending(self) -> bool:
        with self._lock:
            return bool(self._folders) or self.overflowed

    def take(self) -> tuple[list[Folder], list[tuple[str, str]], bool]:
        """The folders gathered so far, the renames seen (in order), and whether events were lost; all are
        reset."""
        with self._lock:
            folders = sorted(self._folders.items())
            moves = self._moves
            overflowed = self.overflowed
            self._folders = {}
            self._moves = []
            self.overflowed = False
            self.settled = False
            self.wake.clear()
        if self.changed is not None:
            self.changed()
        return folders, moves, overflowed

    def quiet_for_ns(self) -> int:
        with self._lock:
            return time.monotonic_ns() - self.last_ns if self._folders else 0

    def waiting_for_ns(self) -> int:
        with self._lock:
            return time.monotonic_ns() - self.first_ns if self._folders else 0
