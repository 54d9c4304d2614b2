"""Bandwidth limits: a token bucket per server and direction, shared by every replica of the process on
that server, that paces the bodies a :class:`~.client.Client` sends and reads.

The limits are the process's (:data:`LIMITS`): the daemon sets them from its config's ``[defaults]
max_upload_rate`` and ``max_download_rate`` at each load, ``syncline sync --bwlimit`` once. A limit is
per server, as Syncthing's and Dropbox's are: all the folders and transfer threads of the process on one
server share its two buckets, so eight parallel uploads together go at the upload rate. No limit (the
default) is no bucket: a request then costs one attribute read here.

Pacing is in slices of at most 64 KiB (:func:`slice_of`), so a 64 MiB pack goes out at the rate instead of
in one burst after a long wait; a download is paced as its bytes are read, and TCP's window slows the
server to match.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

UP = "up"
DOWN = "down"
MAX_SLICE = 64 << 10
MIN_SLICE = 1 << 10
BURST_S = 0.25  # an idle bucket lets this many seconds' worth of bytes go at once

Wait = Callable[[threading.Condition, float], Any]


def slice_of(rate: float) -> int:
    """The most bytes paced at once at ``rate`` (bytes/s): a sixteenth of a second's worth, between 1 and
    64 KiB (at 1 KiB/s a slice is still sent within a second: a server never sees a stalled body)."""
    return int(min(MAX_SLICE, max(MIN_SLICE, rate / 16)))


def _wait(cond: threading.Condition, seconds: float) -> None:
    cond.wait(seconds)


class TokenBucket:
    """``rate`` bytes per second, with a burst of :data:`BURST_S` seconds' worth after idleness.

    :meth:`take` reserves bytes and returns when they are paid for: a taker may run into debt, and the
    takers after it wait for its debt too, so takers are served in the order they came and all of them
    together never get more than ``burst + rate * t`` bytes in ``t`` seconds. Thread-safe. ``clock``
    (monotonic seconds) and ``wait`` (called with the bucket's condition held, to block up to that many
    seconds or until notified) are a test's fake clock's.

    :meth:`set_rate` takes effect at once, for the takers waiting too (they are woken to count again);
    a rate of 0 lifts the limit and lets every waiting taker go."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic, wait: Wait = _wait) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self._wait = wait
        self._rate = 0.0
        self._last = clock()
        # Bytes paid for and bytes taken, since the start: a taker's mark is the total taken with its
        # bytes, and it goes when the total paid for reaches it.
        self._paid = 0.0
        self._taken = 0.0
        self.set_rate(rate)

    @property
    def rate(self) -> float:
        """Bytes per second (0: no limit)."""
        return self._rate

    @property
    def slice(self) -> int:
        """The most bytes a pacer should take at once (:func:`slice_of` the rate)."""
        return slice_of(self._rate)

    def set_rate(self, rate: float) -> None:
        """Pace at ``rate`` bytes per second from now on (0: no limit). ``ValueError`` for a negative rate."""
        if rate < 0:
            raise ValueError(f"a rate of {rate} bytes/s")
        with self._cond:
            self._refill(self._clock())
            was = self._rate
            self._rate = float(rate)
            if not was or not rate:
                # A new limit starts with a full burst; none carries no debt into a later one.
                self._paid = self._taken + self._burst()
            self._paid = min(self._paid, self._taken + self._burst())
            self._cond.notify_all()

    def take(self, n: int) -> None:
        """Return once ``n`` more bytes may go (at once when the bucket holds them, or when there is no
        limit)."""
        if n <= 0:
            return
        with self._cond:
            self._refill(self._clock())
            self._taken += n
            mark = self._taken
            # Within half a byte is paid: a clock's rounding must not keep a taker waiting for nothing.
            while self._rate > 0 and self._paid + 0.5 < mark:
                self._wait(self._cond, (mark - self._paid) / self._rate)
                self._refill(self._clock())

    def _burst(self) -> float:
        return max(self._rate * BURST_S, float(self.slice)) if self._rate > 0 else 0.0

    def _refill(self, now: float) -> None:
        if self._rate > 0 and now > self._last:
            self._paid = min(self._paid + (now - self._last) * self._rate, self._taken + self._burst())
        self._last = max(self._last, now)


class RateLimits:
    """The upload and download rates of a process (bytes/s, 0: none) and the buckets they make: one per
    server address and direction, made at the first paced request and kept while its direction is
    limited. Thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, wait: Wait = _wait) -> None:
        self._mutex = threading.Lock()
        self._clock = clock
        self._wait = wait
        self._rates = {UP: 0.0, DOWN: 0.0}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self.limited = False  # read without the lock: the unlimited path is this one attribute

    def set(self, upload: float, download: float) -> None:
        """Limit every server's uploads to ``upload`` and downloads to ``download`` bytes per second (0: no
        limit). Transfers under way are paced at the new rates from their next slice on."""
        with self._mutex:
            self._rates = {UP: float(upload), DOWN: float(download)}
            self.limited = upload > 0 or download > 0
            for key, bucket in list(self._buckets.items()):
                bucket.set_rate(self._rates[key[1]])
                if not self._rates[key[1]]:
                    del self._buckets[key]

    def rates(self) -> tuple[float, float]:
        """(upload, download) in bytes per second, 0 for none."""
        return self._rates[UP], self._rates[DOWN]

    def buckets(self, address: str) -> tuple[TokenBucket | None, TokenBucket | None]:
        """The (upload, download) buckets of the server at ``address`` (None for a direction with no
        limit)."""
        if not self.limited:
            return None, None
        with self._mutex:
            return self._bucket(address, UP), self._bucket(address, DOWN)

    def _bucket(self, address: str, direction: str) -> TokenBucket | None:
        rate = self._rates[direction]
        if not rate:
            return None
        bucket = self._buckets.get((address, direction))
        if bucket is None:
            bucket = self._buckets[(address, direction)] = TokenBucket(rate, clock=self._clock, wait=self._wait)
        return bucket


LIMITS = RateLimits()
"""The process's limits, which every :class:`~.client.Client` not given others paces by."""


# ------------------------------------------------------------------------------------------------ pacing

def paced(blocks: Iterable[bytes | bytearray | memoryview], bucket: TokenBucket) -> Iterator[bytes]:
    """The bytes of ``blocks``, cut in slices, each handed on once ``bucket`` lets it go."""
    for block in blocks:
        view = memoryview(block)
        start = 0
        while start < len(view):
            piece = view[start:start + bucket.slice]
            bucket.take(len(piece))
            start += len(piece)
            yield bytes(piece)


def paced_body(content: Any, bucket: TokenBucket) -> tuple[Any, int | None]:
    """A request body (``bytes``, ``str`` or an iterable of bytes, as ``httpx`` takes it) paced by
    ``bucket``, and the Content-Length it needs when a whole body became a stream (None when it did not:
    an iterable's length is the caller's to give, and a body of one slice is paced before it goes)."""
    if content is None:
        return None, None
    if isinstance(content, str):
        content = content.encode()
    if isinstance(content, bytes | bytearray | memoryview):
        size = len(content)
        if size <= bucket.slice:
            bucket.take(size)
            return content, None
        return paced([content], bucket), size
    return paced(content, bucket), None


class PacedStream(httpx.SyncByteStream):
    """A response's body stream whose bytes are handed on at ``bucket``'s pace."""

    def __init__(self, inner: httpx.SyncByteStream, bucket: TokenBucket) -> None:
        self._inner = inner
        self._bucket = bucket

    def __iter__(self) -> Iterator[bytes]:
        yield from paced(self._inner, self._bucket)

    def close(self) -> None:
        self._inner.close()


def pace_response(response: httpx.Response, bucket: TokenBucket) -> None:
    """Pace the reading of ``response``'s body (not read yet) by ``bucket``."""
    stream = response.stream
    if isinstance(stream, httpx.SyncByteStream):
        response.stream = PacedStream(stream, bucket)
