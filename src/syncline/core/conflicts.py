"""Conflict copy names: ``report.sync-conflict-20261122-153000-laptop.txt``.

When both sides of a two-way pair changed a file differently, one version keeps the name and the other is
kept beside it under a conflict name made of the original stem, ``.sync-conflict-``, the losing version's
mtime (UTC, to the second), the device that held it, and the original extension (Syncthing's pattern, so
tools that know it recognise ours). The name is a pure function of the version, which is what makes a
re-run find the same name instead of making a second copy. Names never nest: a conflict copy that is
itself in conflict gets a name made from the original name, not from its own.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

MARK = ".sync-conflict-"
# stem, then the mark, date and time, an optional "-N" (when that name was taken), the device, the extension
_CONFLICT_RE = re.compile(r"^(?P<stem>.*?)\.sync-conflict-(?P<when>\d{8}-\d{6})(?:-(?P<n>\d+))?-(?P<device>[^./]+)"
                          r"(?P<ext>\.[^./]*)?$")
_DEVICE_BAD = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_DEVICE = 32
_YEAR_1000 = -30_610_224_000  # 1000-01-01T00:00:00Z
_YEAR_9999 = 253_402_300_799  # 9999-12-31T23:59:59Z
NAME_MAX = 255  # bytes in one file name (Linux, and most file systems)


def device_label(name: str) -> str:
    """``name`` (a host name) reduced to what a conflict name may hold: letters, digits, ``_`` and ``-``."""
    label = _DEVICE_BAD.sub("-", name.split(".")[0]).strip("-")[:_MAX_DEVICE]
    return label or "device"


def split_ext(name: str) -> tuple[str, str]:
    """``("report", ".txt")`` for ``report.txt``; a leading dot is part of the stem (``.bashrc``)."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:]


def original_name(name: str) -> str:
    """The name a conflict copy was made from (``name`` itself when it is not a conflict name)."""
    m = _CONFLICT_RE.match(name)
    if m is None:
        return name
    return m["stem"] + (m["ext"] or "")


def is_conflict_name(name: str) -> bool:
    return _CONFLICT_RE.match(name) is not None


@dataclass(frozen=True, slots=True)
class ConflictName:
    """What a conflict copy's name says: the ``original`` name it was made from (its stem may have been
    shortened to fit ``NAME_MAX``), the losing version's mtime as ``when`` (UTC, ``YYYYMMDD-HHMMSS``),
    the alternative number ``n`` (0 for the first name), and the ``device`` label."""

    original: str
    when: str
    n: int
    device: str


def parse_conflict_name(name: str) -> ConflictName | None:
    """The parts of the conflict name ``name`` (one file name, no folder); None when it is not one."""
    m = _CONFLICT_RE.match(name)
    if m is None:
        return None
    return ConflictName(m["stem"] + (m["ext"] or ""), m["when"], int(m["n"] or 0), m["device"])


def conflict_name(path: str, mtime_ns: int, device: str, n: int = 0) -> str:
    """The conflict copy path for the version of ``path`` with ``mtime_ns`` held by ``device``.

    ``n`` > 0 gives the alternative names used when the first one is taken by other content.
    """
    head, _, name = path.rpartition("/")
    stem, ext = split_ext(original_name(name))
    # The name holds a four-digit year: a time outside 1000..9999 (tmpfs holds any 64-bit time_t, which
    # gmtime cannot even convert) is named after the nearest end of that range.
    when = time.strftime("%Y%m%d-%H%M%S", time.gmtime(min(max(mtime_ns // 1_000_000_000, _YEAR_1000), _YEAR_9999)))
    extra = f"-{n}" if n else ""
    tail = f"{MARK}{when}{extra}-{device_label(device)}{ext}"
    # A name longer than NAME_MAX bytes cannot be created: shorten the stem (never the marker or extension).
    room = NAME_MAX - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > room and stem:
        stem = stem[:-1]
    new = stem + tail
    return f"{head}/{new}" if head else new
