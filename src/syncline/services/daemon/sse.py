"""Server-Sent Events, read incrementally (the WHATWG ``text/event-stream`` rules), for the change feed
(``protocol.md`` section 9).

Bytes go in as they arrive, in pieces cut anywhere (a CR LF may be split between two pieces); complete
events come out. Lines end with CR LF, LF or CR; a line starting with ``:`` is a comment (the server's
keep-alive); ``field: value`` drops one space after the colon; ``data`` lines are joined by LF; an empty
line ends an event, and an event with no ``data`` is dropped; ``retry`` takes digits only; unknown fields
are ignored. The stream is a server's answer and not trusted: a line or an event's data over
:data:`MAX_LINE` bytes is a :class:`ValueError` (the reader drops the connection), so a hostile server
cannot grow the client's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 64 * 1024  # the feed's events are about 60 bytes; nothing legitimate comes near this


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its type (``message`` when the stream named none) and its data."""

    event: str
    data: str


class SseParser:
    """The state of one stream. :meth:`feed` returns the events the new bytes complete; :attr:`retry_ms` is
    the last valid ``retry:`` the server sent (None before any); :attr:`seen` counts every line, comments
    included, so a reader knows the connection is alive."""

    def __init__(self) -> None:
        self.retry_ms: int | None = None
        self.seen = 0
        self._buffer = bytearray()
        self._after_cr = False  # the last piece ended in CR: a LF first in the next one is the same line end
        self._event = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, piece: bytes) -> list[SseEvent]:
        out: list[SseEvent] = []
        start = 0
        if self._after_cr and piece[:1] == b"\n":
            start = 1
        self._after_cr = False
        n = len(piece)
        i = start
        while i < n:
            c = piece[i]
            if c in (10, 13):  # LF, CR
                self._buffer += piece[start:i]
                self._line(bytes(self._buffer), out)
                self._buffer.clear()
                if c == 13:
                    if i + 1 < n and piece[i + 1] == 10:
                        i += 1
                    elif i + 1 == n:
                        self._after_cr = True
                start = i + 1
            i += 1
        self._buffer += piece[start:]
        if len(self._buffer) > MAX_LINE:
            raise ValueError(f"an event stream line over {MAX_LINE} bytes")
        return out

    def _line(self, raw: bytes, out: list[SseEvent]) -> None:
        self.seen += 1
        line = raw.decode("utf-8", "replace")
        if not line:
            if self._data:
                out.append(SseEvent(self._event or "message", "\n".join(self._data)))
            self._event, self._data, self._size = "", [], 0
            return
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._size > MAX_LINE:
                raise ValueError(f"an event's data over {MAX_LINE} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
