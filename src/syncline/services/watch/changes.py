"""What changed under a watched root: change events reduced to folders to sync.

Every change source feeds this collector: the inotify source (``inotify.py``) calls :meth:`add_batch` with
the folders and renames of each buffer of kernel events and :meth:`ChangeCollector.overflow` when events
were lost; the daemon's server feed calls :meth:`add`. The scheduler reads its timing (``quiet_for_ns``,
``waiting_for_ns``) and the mirror takes each batch.

Every change names the folder whose listing changed (shallow: its children are compared) and, for a
folder that appeared (created, or moved in), the folder itself whole (deep). A storm of events in one
folder collapses into one entry. A source that knows which children changed says so (``names``): the
daemon then tells its own writes from other changes (``take_named``); a folder added without names
stands for any change in it. When the kernel's event queue overflows, events were lost:
``overflowed`` is set and the mirror rescans everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

Folder = tuple[str, bool]  # (folder relative to the root, deep)


class ChangeCollector:
    """Gathers changed folders (relative to the watched root) for the mirror. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: dict[str, bool] = {}
        self._names: dict[str, set[str] | None] = {}  # a shallow folder -> its children named (None: any)
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

    def add_batch(self, folders: list[Folder], moves: list[tuple[str, str]], settled: bool = False,
                  names: Mapping[str, Iterable[str]] | None = None) -> None:
        """Changed folders and the renames among them, in the order they happened (see :meth:`add`);
        ``names``: for a shallow folder, the names of its children that changed (a folder not in it: any)."""
        now = time.monotonic_ns()
        with self._lock:
            if not self._folders:
                self.first_ns = now
            self.last_ns = now
            self.settled = self.settled or settled
            self.events += 1
            for f, deep in folders:
                self._folders[f] = self._folders.get(f, False) or deep
                told = names.get(f) if names is not None and not deep else None
                had = self._names.get(f, set())
                self._names[f] = None if told is None or had is None else had.union(told)
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
        folders, _, moves, overflowed = self.take_named()
        return folders, moves, overflowed

    def take_named(self) -> tuple[list[Folder], dict[str, set[str] | None], list[tuple[str, str]], bool]:
        """:meth:`take`, with each folder's changed children as named (None: any change, and always for a
        deep folder)."""
        with self._lock:
            folders = sorted(self._folders.items())
            names = {f: None if deep else self._names.get(f) for f, deep in folders}
            moves = self._moves
            overflowed = self.overflowed
            self._folders = {}
            self._names = {}
            self._moves = []
            self.overflowed = False
            self.settled = False
            self.wake.clear()
        if self.changed is not None:
            self.changed()
        return folders, names, moves, overflowed

    def quiet_for_ns(self) -> int:
        with self._lock:
            return time.monotonic_ns() - self.last_ns if self._folders else 0

    def waiting_for_ns(self) -> int:
        with self._lock:
            return time.monotonic_ns() - self.first_ns if self._folders else 0
