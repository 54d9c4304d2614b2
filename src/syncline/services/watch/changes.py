"""What changed under a watched root: change events reduced to folders to sync.

Every change source feeds this collector: the inotify source (``inotify.py``) calls :meth:`add_batch` with
the folders and renames of each buffer of kernel events and :meth:`ChangeCollector.overflow` when events
were lost; the daemon's server feed calls :meth:`add`. The scheduler reads its timing (``quiet_for_ns``,
``waiting_for_ns``) and the mirror takes each batch.

Every change names the folder whose listing changed (shallow: its children are compared) and, for a
folder that appeared (created, or moved in), the folder itself whole (deep). A storm of events in one
folder collapses into one entry. When the kernel's event queue overflows, events were lost:
``overflowed`` is set and the mirror rescans everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Folder = tuple[str, bool]  # (folder relative to the root, deep)


class ChangeCollector:
    """Gathers changed folders (relative to the watched root) for the mirror. Thread-safe."""

    def __init__(self) -> None:
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

    def add(self, folders: list[Folder], move: tuple[str, str] | None = None, settled: bool = False) -> None:
        """Changed folders (and a rename). ``settled``: the change is complete as told (a server's commit,
        never a file still being written), so the batch need not wait for the folder to be quiet."""
        self.add_batch(folders, [move] if move is not None else [], settled)

    def add_batch(self, folders: list[Folder], moves: list[tuple[str, str]], settled: bool = False) -> None:
        """Changed folders and the renames among them, in the order they happened (see :meth:`add`)."""
        now = time.monotonic_ns()
        with self._lock:
            if not self._folders:
                self.first_ns = now
            self.last_ns = now
            self.settled = self.settled or settled
            self.events += 1
            for f, deep in folders:
                self._folders[f] = self._folders.get(f, False) or deep
            self._moves.extend(moves)
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
