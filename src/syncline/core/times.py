"""Times as syncline stores them: nanoseconds since 1970 as an int, whatever the file system holds.

``os.stat`` gives ``st_mtime_ns`` as an unbounded int. Most times fit a signed 64-bit integer (1677-09-21
to 2262-04-11), which is what SQLite and msgpack store natively; a file system may hold more (ext4 up to
2446-05-10, tmpfs any signed 64-bit count of seconds). A time that does not fit is stored *wide*: as the
pair ``[seconds, nanoseconds]`` (floor division, so ``0 <= nanoseconds < 10**9``) in the portable formats
(``docs/formats/``), or as its decimal text in the two-way base (``engine/twoway/pairstate.py``). A time that fits
is never stored wide: every time has exactly one encoding.
"""

from __future__ import annotations

from typing import Any

NS = 1_000_000_000
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
TIME_MIN = INT64_MIN * NS  # the earliest timespec: time_t seconds are signed 64-bit
TIME_MAX = INT64_MAX * NS + NS - 1  # the latest


def fits(ns: int) -> bool:
    """Whether the time ``ns`` fits a signed 64-bit integer (stored as a plain int)."""
    return INT64_MIN <= ns <= INT64_MAX


def is_time(v: Any) -> bool:
    """Whether ``v`` is an int within the times a file system can hold (:data:`TIME_MIN` to :data:`TIME_MAX`)."""
    return type(v) is int and TIME_MIN <= v <= TIME_MAX


def pack_time(ns: int) -> int | list[int]:
    """``ns`` as a portable format stores it: the int when it fits 64 bits, else ``[seconds, nanoseconds]``."""
    if INT64_MIN <= ns <= INT64_MAX:
        return ns
    return list(divmod(ns, NS))


def unpack_time(v: Any, wide: bool) -> int | None:
    """The time a decoded value stands for, or None when it is not a valid encoding.

    An int must fit 64 bits. With ``wide`` (the file's wide-times flag is set) a ``[seconds, nanoseconds]``
    pair is accepted too, but only for a time that does not fit 64 bits (one encoding per time).
    """
    if type(v) is int:
        return v if INT64_MIN <= v <= INT64_MAX else None
    if not wide or type(v) is not list or len(v) != 2:
        return None
    s, n = v
    if type(s) is not int or type(n) is not int or not INT64_MIN <= s <= INT64_MAX or not 0 <= n < NS:
        return None
    ns: int = s * NS + n
    return None if INT64_MIN <= ns <= INT64_MAX else ns


def any_wide(times: Any) -> bool:
    """Whether any of the ints in the iterable ``times`` does not fit 64 bits (min and max run in C)."""
    values = list(times)
    return bool(values) and (min(values) < INT64_MIN or max(values) > INT64_MAX)
