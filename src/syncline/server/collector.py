"""The server's collector thread: :func:`~syncline.server.store.gc.collect` every ``every_s`` seconds
while the server runs (versions past the retention policy, history past its window, chunks nothing references once
their lease ran out, orphan chunk files). Without it a server's chunk store only grows. Each turn also
revokes the web sessions past their idle deadline or maximum age (they are refused from the moment they
expire; the sweep makes the device list say so and closes their event streams through ``on_revoked``).

The first collection waits ``first_s`` after the start (a server restarted in a loop does not collect at
every start), then one every ``every_s``. A collection that fails is logged and tried at the next turn: it
changes nothing it has not finished (each folder's rows in one transaction, chunks removed after it).
:meth:`Collector.stop` ends the thread between two folders.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .auth import WebPolicy
from .spools import Spools, spool_root
from .store import Store
from .store.gc import DEFAULT_POLICY, clock_jumped, collect
from .store.retention import Policy
from .worker import Worker

EVERY_S = 3600.0
FIRST_S = 600.0
log = logging.getLogger("syncline.server")


class Collector(Worker):
    """Collect ``store`` every ``every_s`` seconds in a thread of its own, first after ``first_s``, keeping
    versions as ``policy`` says; ``clock`` (nanoseconds) is the collector's now (tests move it ahead). A
    clock far past the last collection drops no version (:func:`~.store.gc.clock_jumped`; said once in
    the log). Web sessions expire as ``web`` says; ``on_revoked(device_id)`` is called for each it
    revokes (the server closes their event streams)."""

    def __init__(self, store: Store, every_s: float = EVERY_S, first_s: float = FIRST_S,
                 clock: Callable[[], int] = time.time_ns, policy: Policy = DEFAULT_POLICY,
                 web: WebPolicy | None = None, on_revoked: Callable[[str], None] | None = None) -> None:
        self.store, self.every_s, self.first_s, self.clock, self.policy = store, every_s, first_s, clock, policy
        self.web = web if web is not None else WebPolicy()
        self.on_revoked = on_revoked
        super().__init__("collector")  # stopped within the folder being collected
        self.skipped = 0  # collections that kept every version because of the clock
        self.runs = 0  # collections finished (or failed), for tests and logs

    def _run(self) -> None:
        wait = self.first_s
        while not self._stop.wait(wait):
            wait = self.every_s
            started = time.monotonic()
            try:
                now = self.clock()
                self.expire_sessions(now)
                trusted = not clock_jumped(self.store, now, self.every_s)
                if not trusted:
                    if not self.skipped:
                        log.warning("the clock is more than a week past the last collection: no version is "
                                    "dropped until the clock is right or `syncline serve --gc --clock-ok` says it is")
                    self.skipped += 1
                r = collect(self.store, now_ns=now, policy=self.policy, stop=self._stop, retention=trusted)
                Spools(spool_root(self.store.data_dir)).sweep(now / 1e9)  # chunked uploads left a day
            except Exception:  # a bug or a broken store: said, and tried again at the next turn
                log.exception("the collection of unused chunks and old history failed")
            else:
                if r.chunks_removed or r.orphans_removed or r.trash_dropped or r.changes_pruned:
                    log.info("collected in %.1f s: %d chunks and %d orphan chunks removed, %d trashed versions "
                             "past retention dropped, %d changes and %d tombstones pruned",
                             time.monotonic() - started, r.chunks_removed, r.orphans_removed, r.trash_dropped,
                             r.changes_pruned, r.tombstones_pruned)
            self.runs += 1

    def expire_sessions(self, now: int) -> tuple[str, ...]:
        """Revoke the web sessions expired at ``now``; their ids (each told to ``on_revoked``)."""
        gone = self.store.devices.revoke_expired(now, int(self.web.max_age_s * 1e9))
        if gone:
            log.info("%d web sessions expired", len(gone))
        if self.on_revoked is not None:
            for device_id in gone:
                self.on_revoked(device_id)
        return gone
