"""What a watch tells: one stream of typed events (syncthing's ``lib/events``).

Each event is a small frozen dataclass: a ``kind``, the sequence number the stream gave it (1, 2, ...:
increasing, never reused within a process), the time it happened, the source it concerns (``""``: the
whole process) and its own typed fields. Readers never parse text: the terminal and ``--json`` logs
render ``message`` and ``details()`` (the wording both have always shown), decide what needs a person by
``trouble``, and a status API or a web UI reads the fields, re-reading what they missed with
:meth:`EventLog.since` (``status.py`` folds them into a status).

A few kinds are *state* events (``state`` is True: :class:`SourceState`): a snapshot of a quantity that
changes with every file event (the folders waiting), published when it changes, at most a few times a
second. They carry no sequence number (``seq`` 0), are not kept for :meth:`EventLog.since` and reach only
the subscribers that ask for them, so logs, the numbered stream and its replay buffer are what they were.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import ClassVar


@dataclass(frozen=True, kw_only=True)
class Event:
    """The fields every event has; ``seq`` and ``time`` are stamped by :meth:`EventLog.publish`."""

    kind: ClassVar[str] = "event"
    wording: ClassVar[str] = ""  # the message, formatted with the fields; "" for the kind itself
    trouble: ClassVar[bool] = False  # needs a person: shown with -q, and on stderr
    shown: ClassVar[tuple[str, ...] | None] = None  # the fields ``details`` gives; None: the type's own
    state: ClassVar[bool] = False  # a state snapshot: unnumbered, not kept, not logged (see the module)
    seq: int = 0
    time: float = 0.0  # seconds since the epoch
    source: str = ""  # the watched source's absolute path; "" for the process as a whole

    @property
    def message(self) -> str:
        """The one-line wording (the ``event`` of a JSON line)."""
        if not self.wording:
            return self.kind
        return self.wording.format(**{f.name: getattr(self, f.name) for f in fields(self)})

    def details(self) -> dict[str, object]:
        """The fields shown after the message, as ``key=value`` or JSON keys, in this order (tuples as
        lists, as JSON has them)."""
        names = self.shown if self.shown is not None else [f.name for f in fields(self) if f.name not in _BASE]
        return {n: list(v) if isinstance(v, tuple) else v for n in names for v in [getattr(self, n)]}


# ---------------------------------------------------------------------------------------- the mirror


@dataclass(frozen=True)
class Watching(Event):
    """The watch is armed; the catch-up follows."""

    kind: ClassVar[str] = "watching"
    shown: ClassVar[tuple[str, ...]] = ("source", "targets")
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Resuming(Event):
    """Folders a previous run journaled but did not finish go first."""

    kind: ClassVar[str] = "resuming"
    folders: int


@dataclass(frozen=True)
class Synced(Event):
    """A batch of changed folders went to every target that could take it."""

    kind: ClassVar[str] = "synced"
    shown: ClassVar[tuple[str, ...]] = ("folders", "seconds", "being_written")
    folders: int
    seconds: float
    being_written: int = 0  # files held back, still open for writing
    took: tuple[str, ...] = ()  # the targets that took every change of it (not shown: for a status)

    def details(self) -> dict[str, object]:
        fields = super().details()
        if not self.being_written:
            del fields["being_written"]
        return fields


@dataclass(frozen=True)
class FullSynced(Event):
    """A full sync of one target ended: the ``catch-up`` at start (or after a safety stop), or a ``rescan``
    (periodic, after lost events, for a target back)."""

    kind: ClassVar[str] = "full-sync"
    wording: ClassVar[str] = "{why}"
    shown: ClassVar[tuple[str, ...]] = ("target", "changed", "errors")
    why: str  # "catch-up" or "rescan"
    target: str
    changed: int
    errors: int


# ---------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class _TargetWaits(Event):
    """A target is retried with back-off after ``retry_in`` seconds."""

    trouble: ClassVar[bool] = True
    shown: ClassVar[tuple[str, ...]] = ("target", "error", "retry_in")
    target: str
    error: str
    retry_in: float


@dataclass(frozen=True)
class TargetUnavailable(_TargetWaits):
    """A target could not be synced at all (unreachable, or ``safety``: stopped by a deletion guard); it
    is retried with back-off, then gets a full sync."""

    kind: ClassVar[str] = "target-unavailable"
    safety: bool = False

    @property
    def message(self) -> str:
        what = "stopped by a safety check" if self.safety else "target unavailable"
        return f"{what}; retrying with back-off"


@dataclass(frozen=True)
class TargetRefused(_TargetWaits):
    """A target took a sync but refused some changes for a reason that may pass; their folders are retried."""

    kind: ClassVar[str] = "target-refused"
    wording: ClassVar[str] = "target cannot take every change; retrying with back-off"


@dataclass(frozen=True)
class ItemFailed(Event):
    """One item failed (told once while it repeats)."""

    kind: ClassVar[str] = "item-error"
    wording: ClassVar[str] = "error"
    trouble: ClassVar[bool] = True
    target: str
    problem: str


@dataclass(frozen=True)
class TargetBack(Event):
    """A target that was failing took a whole sync again."""

    kind: ClassVar[str] = "target-back"
    wording: ClassVar[str] = "target back"
    target: str


# ---------------------------------------------------------------------------------------- the source


@dataclass(frozen=True)
class SourceGone(Event):
    """The source folder is not there: nothing is pushed until it is back."""

    kind: ClassVar[str] = "source-gone"
    wording: ClassVar[str] = "the source {source} is gone: waiting for it to come back"
    trouble: ClassVar[bool] = True


@dataclass(frozen=True)
class SourceReplaced(Event):
    """The source folder is another one than was watched: watched anew, every target rescanned."""

    kind: ClassVar[str] = "source-replaced"
    wording: ClassVar[str] = "the source folder was replaced or remounted: watching it anew and rescanning everything"
    trouble: ClassVar[bool] = True
    shown: ClassVar[tuple[str, ...]] = ("source",)


@dataclass(frozen=True)
class EventsLost(Event):
    """The kernel's event queue overflowed: everything is rescanned."""

    kind: ClassVar[str] = "events-lost"
    wording: ClassVar[str] = ("events were lost (inotify queue overflow): rescanning everything; raise "
                              "fs.inotify.max_queued_events to avoid it")
    trouble: ClassVar[bool] = True


@dataclass(frozen=True)
class WatchRefused(Event):
    """inotify cannot watch even the source folder: the mirror polls. ``advice`` is what to run, or ""."""

    kind: ClassVar[str] = "watch-refused"
    trouble: ClassVar[bool] = True
    shown: ClassVar[tuple[str, ...]] = ()
    reason: str
    poll_every: float
    advice: str = ""

    @property
    def message(self) -> str:
        advice = f"; raise the limit, e.g. {self.advice}" if self.advice else ""
        return (f"inotify cannot watch {self.source} ({self.reason}): polling with a full rescan every "
                f"{self.poll_every:g} s{advice}")


@dataclass(frozen=True)
class WatchesShort(Event):
    """inotify watches fewer folders than there are (the watch limit): the mirror polls as well."""

    kind: ClassVar[str] = "watches-short"
    wording: ClassVar[str] = ("inotify cannot watch every folder (the watch limit is reached): polling with a "
                              "full rescan every {poll_every:g} s; raise the limit, e.g. {advice}")
    trouble: ClassVar[bool] = True
    shown: ClassVar[tuple[str, ...]] = ("folders", "watched", "limit")
    folders: int
    watched: int
    limit: int | None
    poll_every: float
    advice: str


@dataclass(frozen=True)
class WatchesComplete(Event):
    """Every folder is watched again: polling stops."""

    kind: ClassVar[str] = "watches-complete"
    wording: ClassVar[str] = "every folder is watched again: polling stops"
    folders: int


@dataclass(frozen=True)
class Rewatched(Event):
    """A folder moved within the source lost its watch: the source is watched anew."""

    kind: ClassVar[str] = "rewatched"
    wording: ClassVar[str] = "a moved folder lost its watch: watching the source anew"
    folders: tuple[str, ...]  # the first ten without a watch


@dataclass(frozen=True)
class SourceState(Event):
    """A state event (see the module): what the mirror has in hand at its source, published when it
    changes. A change of ``being_written`` or ``polling`` is published at once; a change of ``pending``
    alone at most every :data:`STATE_EVERY` seconds while it grows (one per inotify event would flood
    every reader), and at once when it falls (a batch was taken). The last one published is the state
    until the next."""

    kind: ClassVar[str] = "source-state"
    state: ClassVar[bool] = True
    pending: int  # changed folders gathered, not yet taken into a batch
    being_written: int  # files held back, still open for writing
    polling: bool  # some changes go unseen: everything is rescanned every ``poll_every`` seconds


STATE_EVERY = 0.25  # seconds: how often a growing pending count is told at most


# ---------------------------------------------------------------------------------------- the process


@dataclass(frozen=True)
class MirrorFailed(Event):
    """A mirror stopped for good (the command then exits with 2)."""

    kind: ClassVar[str] = "mirror-failed"
    wording: ClassVar[str] = "error: the mirror stopped"
    trouble: ClassVar[bool] = True
    shown: ClassVar[tuple[str, ...]] = ("source", "error")
    error: str


@dataclass(frozen=True)
class Stopped(Event):
    """Every mirror of the process has stopped."""

    kind: ClassVar[str] = "stopped"


_BASE = frozenset({"seq", "time", "source"})
Subscriber = Callable[[Event], None]
Emit = Callable[[Event], None]  # how a part of a mirror tells what happens (``Mirror.emit``)


class EventLog:
    """One stream of events, shared by every mirror of a process. :meth:`publish` stamps each event with
    the next sequence number and the time and hands it to every subscriber, in sequence order (one event at
    a time, so a subscriber needs no lock of its own and must not block). The last ``keep`` events are kept
    for a reader that fell behind (:meth:`since`). State events (``Event.state``) are stamped with the time
    only (``seq`` stays 0), are not kept, and go only to the subscribers that asked for ``states``.
    Thread-safe."""

    def __init__(self, keep: int = 1000) -> None:
        self._lock = threading.RLock()
        self._seq = 0
        self._recent: deque[Event] = deque(maxlen=keep)
        self._subscribers: list[tuple[Subscriber, bool]] = []

    def subscribe(self, subscriber: Subscriber, *, states: bool = False) -> None:
        """Deliver every numbered event published from now on to ``subscriber``, and the state events too
        when ``states`` (a status display's choice; a log's is not to)."""
        with self._lock:
            self._subscribers.append((subscriber, states))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber`` (raises ValueError when it is not subscribed)."""
        with self._lock:
            for i, (subscribed, _states) in enumerate(self._subscribers):
                if subscribed == subscriber:
                    del self._subscribers[i]
                    return
        raise ValueError("not subscribed")

    def publish(self, event: Event) -> Event:
        """Stamp ``event`` (its ``seq`` and ``time`` are replaced; a state event keeps ``seq`` 0) and
        deliver it; returns the stamped one."""
        with self._lock:
            if event.state:
                stamped = replace(event, seq=0, time=time.time())
            else:
                self._seq += 1
                stamped = replace(event, seq=self._seq, time=time.time())
                self._recent.append(stamped)
            for subscriber, states in list(self._subscribers):
                if states or not event.state:
                    subscriber(stamped)
        return stamped

    def since(self, seq: int) -> list[Event]:
        """The kept events after sequence number ``seq``, oldest first. When the first has a number above
        ``seq + 1``, older ones were dropped: the reader should take a fresh status instead."""
        with self._lock:
            return [e for e in self._recent if e.seq > seq]

    @property
    def last_seq(self) -> int:
        """The number of the last event published (0: none yet). Read without the lock, so a status
        display may ask while a subscriber is busy."""
        return self._seq


def legacy(log: Callable[[str, dict[str, object]], None], source: str) -> Subscriber:
    """A subscriber that hands each event of ``source`` to ``log(message, details)``: the form
    ``syncline.watch`` and ``Mirror`` have always taken (as ``--json`` prints them, less the time)."""

    def relay(event: Event) -> None:
        if event.source == source:
            log(event.message, event.details())

    return relay
