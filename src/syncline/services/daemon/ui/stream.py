"""``GET /api/events``: the daemon's typed events as Server-Sent Events (STYLE 21).

Each numbered event goes as ``id: SEQ`` / ``event: daemon`` / ``data: JSON`` (``api.event_json``); the
browser's ``EventSource`` sends the last id back as ``Last-Event-ID`` when it reconnects, and the stream
goes on after it from the log's kept events (:meth:`EventLog.since`): nothing is missed. When events
after it are no longer kept (more than the log keeps went by), or this reader fell more than
:data:`BACKLOG` events behind, an ``event: reset`` says to read ``/api/status`` again. State events (a
run's progress, unnumbered) go as ``event: state`` without an id. A comment every :data:`KEEPALIVE`
seconds keeps idle connections open and finds closed ones.

The subscriber only appends to a bounded list: it never blocks the daemon's publishing thread, however
slow the browser (the socket's timeout ends a reader that stops reading).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from ...watch.events import Event, EventLog
from .api import event_json

KEEPALIVE = 15.0
BACKLOG = 1000
RETRY_MS = 2000


class _Inbox:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.items: list[Event] = []
        self.overflow = False

    def __call__(self, event: Event) -> None:
        with self.cond:
            if len(self.items) >= BACKLOG:
                self.overflow = True
                self.items.clear()
            else:
                self.items.append(event)
            self.cond.notify()


def frame(event: Event) -> bytes:
    data = json.dumps(event_json(event), default=str)  # ASCII: a name that is not UTF-8 travels escaped
    if event.seq:
        return f"id: {event.seq}\nevent: daemon\ndata: {data}\n\n".encode()
    return f"event: state\ndata: {data}\n\n".encode()


RESET = b"event: reset\ndata: {}\n\n"


def serve_events(write: Callable[[bytes], object], events: EventLog, last: int | None,
                 closing: threading.Event) -> None:
    """Write the stream with ``write`` until ``closing`` is set or ``write`` raises (the browser went).
    ``last``: the ``Last-Event-ID`` sent (None: from now on)."""
    inbox = _Inbox()
    now = events.last_seq  # "from now on" starts before the subscription: nothing falls in between
    events.subscribe(inbox, states=True)  # before reading the backlog: an event meanwhile is in both, sent once
    try:
        write(f"retry: {RETRY_MS}\n\n".encode())
        sent = now if last is None else _catch_up(write, events, last)
        quiet = time.monotonic()
        while not closing.is_set():
            with inbox.cond:
                if not inbox.items and not inbox.overflow:
                    inbox.cond.wait(1.0)  # short: a closing daemon is noticed within a second
                items, overflow = inbox.items, inbox.overflow
                inbox.items, inbox.overflow = [], False
            if overflow:
                sent = _catch_up(write, events, sent)
            for event in items:
                if event.seq and event.seq <= sent:
                    continue
                write(frame(event))
                quiet = time.monotonic()
                if event.seq:
                    sent = event.seq
            if time.monotonic() - quiet >= KEEPALIVE:
                write(b": keep-alive\n\n")
                quiet = time.monotonic()
    finally:
        events.unsubscribe(inbox)


def _catch_up(write: Callable[[bytes], object], events: EventLog, after: int) -> int:
    """Send the kept events after ``after`` (or a reset when some are no longer kept); the last sent."""
    kept = events.since(after)
    now = events.last_seq
    if after > now or (now > after and (not kept or kept[0].seq > after + 1)):
        write(RESET)  # the page reads the status again; the stream goes on from now
        return now
    for event in kept:
        write(frame(event))
        after = event.seq
    return after
