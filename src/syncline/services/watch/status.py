"""How each watched source and its targets are doing, folded from the event stream alone.

:class:`WatchStatus` is a subscriber (``EventLog.subscribe(status, states=True)``) that keeps, per
source, the folders pending, the files being written, whether it polls, whether it is gone, and per
target whether it is fine, its error and when it last synced. It reads nothing of a mirror but its
events, so whatever reads the stream (the terminal status line, a status API, a web UI, a Python caller
of ``syncline.watch(on_event=...)``) builds the same status, and a reader elsewhere can rebuild one from
:meth:`EventLog.since` (the numbered events; the pending counts then come with the next state event).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from .events import (
    Event,
    FullSynced,
    MirrorFailed,
    SourceGone,
    SourceReplaced,
    SourceState,
    Synced,
    TargetBack,
    TargetRefused,
    TargetUnavailable,
    WatchesComplete,
    WatchesShort,
    Watching,
    WatchRefused,
)


@dataclass(frozen=True)
class TargetStatus:
    """One target: ``ok`` once a sync left nothing to retry there (False before its first, and while it
    waits: then ``error`` says why); ``last_sync`` is when (seconds since the epoch; None: not yet)."""

    target: str
    ok: bool = False
    error: str = ""
    last_sync: float | None = None


@dataclass(frozen=True)
class SourceStatus:
    """One watched source as its events tell it; ``seq`` is the number of its last numbered event."""

    source: str
    targets: tuple[TargetStatus, ...] = ()
    pending: int = 0
    being_written: int = 0
    polling: bool = False
    gone: bool = False
    failed: str = ""  # why the mirror stopped for good ("": it did not)
    seq: int = 0

    def as_dict(self, now: float | None = None) -> dict[str, object]:
        """The JSON-able form (``Mirror.status()``'s, which ``status_text`` renders): each target's ``lag``
        is the seconds from its ``last_sync`` to ``now`` (default: the current time), rounded to 0.1."""
        at = time.time() if now is None else now
        return {"source": self.source, "pending": self.pending, "polling": self.polling,
                "being_written": self.being_written, "gone": self.gone, "seq": self.seq,
                "targets": [{"target": t.target, "ok": t.ok, "error": t.error, "last_sync": t.last_sync,
                             "lag": None if t.last_sync is None else round(max(0.0, at - t.last_sync), 1)}
                            for t in self.targets]}

    def target(self, name: str) -> TargetStatus | None:
        return next((t for t in self.targets if t.target == name), None)

    def _set(self, name: str, ok: bool, error: str, last_sync: float | None = None) -> SourceStatus:
        """This status with the target ``name`` now ``ok`` with ``error`` (added after the others if it
        was not known); ``last_sync`` None keeps the one it had."""
        old = self.target(name) or TargetStatus(name)
        new = TargetStatus(name, ok, error, old.last_sync if last_sync is None else last_sync)
        if self.target(name) is None:
            return replace(self, targets=(*self.targets, new))
        return replace(self, targets=tuple(new if t.target == name else t for t in self.targets))


class WatchStatus:
    """The status of every source whose events it receives (only ``only``'s when given), as immutable
    :class:`SourceStatus` snapshots. Call it with each event, in stream order (subscribe it with
    ``states=True``, or pass it as ``syncline.watch(on_event=...)``). Thread-safe; folding an event is a
    few dictionary operations, so it may sit on a busy stream."""

    def __init__(self, only: str | None = None) -> None:
        self.only = only
        self._lock = threading.Lock()
        self._sources: dict[str, SourceStatus] = {}
        self._seq = 0

    def __call__(self, event: Event) -> None:
        if not event.source or (self.only is not None and event.source != self.only):
            return
        with self._lock:
            before = self._sources.get(event.source) or SourceStatus(event.source)
            after = _fold(before, event)
            if event.seq:
                after = replace(after, seq=event.seq)
                self._seq = max(self._seq, event.seq)
            self._sources[event.source] = after

    @property
    def seq(self) -> int:
        """The number of the last numbered event folded (0: none yet)."""
        return self._seq

    def get(self, source: str) -> SourceStatus | None:
        """The status of ``source`` (its absolute path, as events name it); None before its first event."""
        with self._lock:
            return self._sources.get(source)

    def sources(self) -> list[SourceStatus]:
        """Every source's status, in the order their first events came."""
        with self._lock:
            return list(self._sources.values())


def _fold(st: SourceStatus, e: Event) -> SourceStatus:
    """``st`` after the event ``e`` of its source."""
    if isinstance(e, Watching):  # a run starts: its targets, in the order given, not synced yet
        known = {t.target: t for t in st.targets}
        return replace(st, targets=tuple(known.get(n, TargetStatus(n)) for n in e.targets), gone=False, failed="")
    if isinstance(e, SourceState):
        return replace(st, pending=e.pending, being_written=e.being_written, polling=e.polling)
    if isinstance(e, Synced):
        st = replace(st, being_written=e.being_written)
        for name in e.took:
            st = st._set(name, True, "", e.time)
        return st
    if isinstance(e, FullSynced):
        # The full sync's settling came first: a refusal it met was told (the target keeps that error);
        # a failing target that took it was told back.
        old = st.target(e.target)
        return st if old is not None and old.error else st._set(e.target, True, "", e.time)
    if isinstance(e, (TargetUnavailable, TargetRefused)):
        return st._set(e.target, False, e.error)
    if isinstance(e, TargetBack):
        return st._set(e.target, True, "", e.time)
    if isinstance(e, (WatchRefused, WatchesShort)):
        return replace(st, polling=True)
    if isinstance(e, WatchesComplete):
        return replace(st, polling=False)
    if isinstance(e, SourceGone):
        return replace(st, gone=True, pending=0, being_written=0)
    if isinstance(e, SourceReplaced):
        return replace(st, gone=False)
    if isinstance(e, MirrorFailed):
        return replace(st, failed=e.error)
    return st
