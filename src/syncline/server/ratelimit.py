"""Login rate limits, in memory and bounded (protocol.md section 11; design.md "Security").

Two limits, both checked before a password is verified:

- **per user name**: 5 failed logins are free; from then on each attempt waits until ``1 s * 2**(n-5)``
  (at most 15 min) after the latest failure, where ``n`` is the number of failures. A success forgets the
  failures; so does a day without one. Names that do not exist are counted the same way, or the limit
  itself would tell which users exist.
- **per client address**: 30 attempts per 10 minutes (a sliding window). IPv6 addresses count per /64,
  the block one subscriber is usually given, so an attacker cannot get a fresh budget by changing the
  low bits of their address.

In memory because a restart only resets the limits to those of a fresh server, while a database write per
failed login would let an attacker fill the disk. Memory is bounded: at most ``max_keys`` names and
``max_keys`` addresses are remembered, the least recently touched forgotten first, so an attacker cycling
names or addresses cannot grow it. (To evict a name under attack they must make ``max_keys`` fresh failures
in between two attempts on it, which the address limit slows to 30 per address per 10 minutes.)

The clock is injected (``time.monotonic`` by default) so tests never sleep.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..formats.wire.limits import (
    LOGIN_ADDRESS_WINDOW_S,
    LOGIN_FAILS_PER_USER,
    LOGIN_WAIT_FIRST_S,
    LOGIN_WAIT_MAX_S,
    LOGINS_PER_ADDRESS,
)

_V = TypeVar("_V")
# Keys are cut to this length: valid user names are at most 32 characters, and a megabyte-long name must
# not cost a megabyte of memory.
_KEY_CHARS = 64


@dataclass
class _Failures:
    count: int
    last: float


class LoginLimiter:
    """The two login limits; thread-safe (handlers run in a thread pool).

    Use: ``wait = limiter.check(user, address)``; if ``wait`` > 0 refuse with ``Retry-After: ceil(wait)``
    and do not verify; else verify and call :meth:`failed` or :meth:`succeeded`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 free_failures: int = LOGIN_FAILS_PER_USER, first_wait: float = LOGIN_WAIT_FIRST_S,
                 max_wait: float = LOGIN_WAIT_MAX_S, forget_after: float = 86400.0,
                 per_address: int = LOGINS_PER_ADDRESS, window: float = LOGIN_ADDRESS_WINDOW_S,
                 max_keys: int = 10_000) -> None:
        self.clock = clock
        self.free_failures = free_failures
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.forget_after = forget_after
        self.per_address = per_address
        self.window = window
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._users: OrderedDict[str, _Failures] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, user: str, address: str) -> float:
        """Seconds ``user`` from ``address`` must wait before trying (0.0: go ahead).

        An attempt allowed here counts against ``address``'s window; a refused one does not (it costs the
        server nothing). ``user`` and ``address`` are any strings: they are only keys.
        """
        now = self.clock()
        user, where = user[:_KEY_CHARS], _address_key(address)
        with self._lock:
            wait = max(self._user_wait(user, now), self._address_wait(where, now))
            if wait <= 0:
                self._record_attempt(where, now)
            return wait

    def failed(self, user: str) -> None:
        """Count a failed login for ``user``."""
        now = self.clock()
        user = user[:_KEY_CHARS]
        with self._lock:
            entry = self._users.pop(user, None)
            if entry is None or now - entry.last > self.forget_after:
                entry = _Failures(0, now)
            entry.count += 1
            entry.last = now
            self._users[user] = entry
            _trim(self._users, self.max_keys)

    def succeeded(self, user: str) -> None:
        """Forget ``user``'s failures (the right password was given)."""
        with self._lock:
            self._users.pop(user[:_KEY_CHARS], None)

    def __len__(self) -> int:
        """How many names and addresses are remembered (for the memory bound's tests)."""
        with self._lock:
            return len(self._users) + len(self._addresses)

    def _user_wait(self, user: str, now: float) -> float:
        entry = self._users.get(user)
        if entry is None:
            return 0.0
        if now - entry.last > self.forget_after:
            del self._users[user]
            return 0.0
        over = entry.count - self.free_failures
        if over < 0:
            return 0.0
        wait = min(self.first_wait * 2.0 ** min(over, 64), self.max_wait)
        return max(0.0, entry.last + wait - now)

    def _address_wait(self, key: str, now: float) -> float:
        times = self._addresses.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.per_address:
            return 0.0
        return times[0] + self.window - now

    def _record_attempt(self, key: str, now: float) -> None:
        times = self._addresses.pop(key, None)
        if times is None:
            times = deque(maxlen=self.per_address)
        times.append(now)
        self._addresses[key] = times
        _trim(self._addresses, self.max_keys)


def _trim(table: OrderedDict[str, _V], size: int) -> None:
    while len(table) > size:
        table.popitem(last=False)


def _address_key(address: str) -> str:
    """The key an address is counted under: IPv4 as it is, IPv6 by its /64, anything else as given."""
    address = address[:_KEY_CHARS]  # (an address is at most 45 characters; parse no more)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
