"""Durations, sizes and rates as people write them in config files and options: ``"90s"``, ``"30m"``,
``"1h"``, ``"1d"``, ``"52w"``; ``65536``, ``64K``, ``500MiB``, ``2TB`` (sizes in powers of 1024, as
``du -h`` and every quota people set); ``"2MB/s"``, ``"500KB/s"``, ``"1.5MiB/s"``, ``500`` (KiB/s)."""

from __future__ import annotations

import math
import re
from typing import Any

DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20,
              "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40,
              "TIB": 1 << 40}


def parse_duration(value: Any) -> float | None:
    """Seconds of ``"90s"``, ``"30m"``, ``"1h"``, ``"1d"``, ``"2w"`` or a plain number of seconds; None
    when ``value`` is none of those or not positive."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value[-1:] in DURATION_UNITS:
        try:
            seconds = float(value[:-1]) * DURATION_UNITS[value[-1]]
        except ValueError:
            return None
    else:
        return None
    return seconds if seconds > 0 and seconds != float("inf") else None


def parse_size(value: Any) -> int | None:
    """Bytes of ``65536``, ``64K``, ``1M``, ``50GiB``, ``2TB`` (powers of 1024); None when it is not a
    size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    text = str(value).strip().upper()
    digits = text.rstrip("KMGTIB")
    unit = text[len(digits):]
    if not digits.isdigit() or unit not in SIZE_UNITS:
        return None
    return int(digits) * SIZE_UNITS[unit]


RATE_FORMS = '"2MB/s", "500KB/s", "1.5MiB/s", a number of KiB/s, or 0 for no limit'
"""The accepted forms of a rate, as an error names them."""
MIN_RATE = 1 << 10  # below 1 KiB/s a pack of a few MiB would take hours: every server would time it out
_RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?I?B?)?(?:/S)?")


def parse_rate(value: Any) -> float | None:
    """Bytes per second of a transfer rate: ``"2MB/s"``, ``"500KB/s"``, ``"1.5MiB/s"``, ``"2M"`` (units in
    powers of 1024, as :func:`parse_size`; ``/s`` optional), or a bare number, which is KiB/s (rsync's
    ``--bwlimit``, Syncthing's limits). ``0`` (or ``"0"``, any unit) is 0.0: no limit. None when ``value``
    is none of those, or a limit under 1 KiB/s (:data:`MIN_RATE`)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value).strip().upper()
    match = _RATE.fullmatch(text)
    if match is None:
        return None
    number, unit = float(match.group(1)), match.group(2) or ""
    if unit not in SIZE_UNITS:
        return None  # "2Mi", "2iB": a typo, not a unit
    rate = number * (SIZE_UNITS[unit] if unit else 1 << 10)
    if rate == 0:
        return 0.0
    return rate if math.isfinite(rate) and rate >= MIN_RATE else None
