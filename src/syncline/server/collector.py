"""The server's collector thread: :func:`~syncline.server.store.gc.collect` every ``every_s`` seconds
while the server runs (trash past retention, history past its window, chunks nothing references once
their lease ran out, orphan chunk files). Without it a server's chunk store only grows.

The first collection waits ``first_s`` after the start (a server restarted in a loop does not collect at
every start), then one every ``every_s``. A collection that fails is logged and tried at the next turn: it
changes nothing it has not finished (each folder's rows in one transaction, chunks removed after it).
:meth:`Collector.stop` ends the thread between two folders.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .store import Store
from .store.gc import collect

EVERY_S = 3600.0
FIRST_S = 600.0
log = logging.getLogger("syncline.server")


class Collector:
    """Collect ``store`` every ``every_s`` seconds in a thread of its own, first after ``first_s``; ``clock``
    (nanoseconds) is the collector's now (tests move it ahead)."""

    def __init__(self, store: Store, every_s: float = EVERY_S, first_s: float = FIRST_S,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.store, self.every_s, self.first_s, self.clock = store, every_s, first_s, clock
        self.runs = 0  # collections finished (or failed), for tests and logs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the thread (within the folder being collected) and wait for it up to ``timeout`` s."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        wait = self.first_s
        while not self._stop.wait(wait):
            wait = self.every_s
            started = time.monotonic()
            try:
                r = collect(self.store, now_ns=self.clock(), stop=self._stop)
            except Exception:  # a bug or a broken store: said, and tried again at the next turn
                log.exception("the collection of unused chunks and old history failed")
            else:
                if r.chunks_removed or r.orphans_removed or r.trash_dropped or r.changes_pruned:
                    log.info("collected in %.1f s: %d chunks and %d orphan chunks removed, %d trashed versions "
                             "past retention dropped, %d changes and %d tombstones pruned",
                             time.monotonic() - started, r.chunks_removed, r.orphans_removed, r.trash_dropped,
                             r.changes_pruned, r.tombstones_pruned)
            self.runs += 1
