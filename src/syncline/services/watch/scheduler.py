"""When a mirror does what: a batch of changes once the source is quiet (or has waited long enough), files
still being written held back, full rescans on a clock, and failing targets tried again with back-off.

The scheduler decides and the runner (``runner.py``) does: nothing here touches a tree or a target; it
reads the change collector, the clock and each target's state. All times are ``time.monotonic()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ...core.paths import parent
from .changes import ChangeCollector, Folder

PUSH_SHARE = 10  # under constant changes, wait this many times as long as the last push took
HELD_RECHECK = 1.0  # seconds between looks at files held back (a still writer sends no event)


@dataclass
class Backoff:
    """When a failing target is tried next: 1 s after its first failure, twice as long after each further
    one, at most ``limit``; a success starts again from 1 s."""

    limit: float = 60.0
    delay: float = 1.0  # the wait after the next failure
    at: float = 0.0  # when the next try is due

    def failed(self) -> None:
        self.at = time.monotonic() + self.delay
        self.delay = min(self.limit, self.delay * 2)

    def succeeded(self) -> None:
        self.delay = 1.0

    def due(self, now: float) -> bool:
        return now >= self.at


class Holder:
    """The ``hold`` predicate of one round of syncs: asks ``decide`` once per path, so every target gets
    the same answer, and remembers it in ``decided``."""

    def __init__(self, decide: Callable[[str], bool]) -> None:
        self.decide = decide
        self.decided: dict[str, bool] = {}

    def __call__(self, path: str) -> bool:
        if path not in self.decided:
            self.decided[path] = self.decide(path)
        return self.decided[path]


class TargetState(Protocol):
    """What the scheduler reads of a target (``targets.Target`` is one)."""

    needs_full: bool
    retry: dict[str, bool]
    backoff: Backoff


@dataclass
class Scheduler:
    """The timing of one mirror. ``being_written(path)`` tells whether a file of the source is open for
    writing (the source replica's lease test)."""

    collector: ChangeCollector
    quiet: float
    max_delay: float
    rescan_every: float
    poll_every: float
    max_hold: float
    being_written: Callable[[str], bool]
    held_changed: Callable[[], None] | None = None  # called when a file is held back or let go (any thread)
    held: dict[str, float] = field(default_factory=dict, init=False)  # files still being written: since when
    next_rescan: float = field(default=0.0, init=False)
    _held_check_at: float = field(default=0.0, init=False)
    _last_push_s: float = field(default=1.0, init=False)  # until a push is timed, changes wait up to max_delay

    # ------------------------------------------------------------------------------------ rescans

    def rescan_interval(self, polling: bool) -> float:
        """How often everything is rescanned: hourly, or every ``poll_every`` while changes go unseen."""
        return min(self.rescan_every, self.poll_every) if polling else self.rescan_every

    def plan_rescan(self, now: float, polling: bool) -> None:
        self.next_rescan = now + self.rescan_interval(polling)

    def rescan_due(self, now: float) -> bool:
        return now >= self.next_rescan

    # ------------------------------------------------------------------------------------ batches

    def batch_due(self) -> bool:
        """Whether the changes gathered go now: the source has been quiet for ``quiet``, they have waited
        :meth:`delay`, events were lost, or one of them is settled (complete when told: a server's commit)."""
        c = self.collector
        if not c.pending():
            return False
        return (c.settled or c.quiet_for_ns() >= self.quiet * 1e9 or c.waiting_for_ns() >= self.delay() * 1e9
                or c.overflowed)

    def delay(self) -> float:
        """How long changes wait at most while the source is never quiet: ``PUSH_SHARE`` times what the
        last push took, so pushing takes at most about a tenth of the time (a few milliseconds: changes go
        almost at once; a heavy churn: bigger batches, fewer scans), within [quiet, max_delay]."""
        return min(self.max_delay, max(self.quiet, PUSH_SHARE * self._last_push_s))

    def sleep(self, targets: Iterable[TargetState]) -> float:
        """How long the loop may wait for an event before something else is due."""
        now = time.monotonic()
        until = [self.next_rescan - now, 1.0]
        if self.collector.settled:
            until.append(0.0)
        elif self.collector.pending():
            quiet_left = self.quiet - self.collector.quiet_for_ns() / 1e9
            delay_left = self.delay() - self.collector.waiting_for_ns() / 1e9
            until.append(min(quiet_left, delay_left))
        until += [t.backoff.at - now for t in targets if t.needs_full or t.retry]
        if self.held:
            until.append(self._held_check_at - now)
        return max(0.005, min(until))

    # ------------------------------------------------------------------------------------ held files

    def holder(self) -> Holder:
        """The ``hold`` predicate for one round of syncs: one answer per file for every target."""
        return Holder(self._hold)

    def _hold(self, path: str) -> bool:
        """Whether to leave the file at ``path`` out of this push: it is open for writing (it goes once
        closed, when its close event comes in), but never for more than ``max_hold`` in a row."""
        if not self.being_written(path):
            return False
        now = time.monotonic()
        since = self.held.get(path)
        if since is None:
            since = self.held[path] = now
            if self.held_changed is not None:
                self.held_changed()
        return now - since < self.max_hold  # past it (a log kept open): pushed as it is now

    def pushed(self, folders: Sequence[Folder], hold: Holder, seconds: float) -> None:
        """A push of ``folders`` took ``seconds``: files there no longer held back are let go."""
        done = {f for f, _ in folders}
        gone = [p for p in self.held if parent(p) in done and not hold.decided.get(p)]
        for p in gone:
            del self.held[p]  # closed, gone, or already the same on every target
        self._last_push_s = seconds
        if gone and self.held_changed is not None:
            self.held_changed()

    def held_to_recheck(self, now: float) -> list[Folder]:
        """The folders of held files, once a second: a writer that went still without closing sends no
        event, so its file is looked at again."""
        if not self.held or now < self._held_check_at:
            return []
        self._held_check_at = now + HELD_RECHECK
        return sorted({(parent(p), False) for p in self.held})

    # ------------------------------------------------------------------------------------ targets

    @staticmethod
    def due(t: TargetState) -> str | None:
        """What ``t`` is owed now: ``"full"`` (a full sync), ``"retry"`` (its retry list), or None."""
        if not t.backoff.due(time.monotonic()):
            return None
        if t.needs_full:
            return "full"
        return "retry" if t.retry else None
