"""A folder's activity on the wire (protocol 1.3, ``activity``): changes per day and kind, for a timeline.

Days are UTC calendar days, named ``YYYY-MM-DD``; the kinds are the op names the change journal records
(``changes?since`` gives the same names): a file written (new, edited or restored) is ``put``, a folder
made ``mkdir``, a link ``symlink``, a removal ``delete`` (a whole folder's too), a rename ``move``, a
change of mtime or mode ``meta``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JOURNAL_OPS = ("put", "mkdir", "symlink", "delete", "move", "meta")
DAY_NS = 86_400 * 10**9


def day_start_ns(ns: int) -> int:
    """The start (00:00 UTC) of the day holding ``ns`` (nanoseconds since the epoch)."""
    return ns - ns % DAY_NS


def day_name(ns: int) -> str:
    """``YYYY-MM-DD``: the UTC day holding ``ns``."""
    return dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Activity:
    """Counts of a folder's changes: ``counts[i]`` maps op names to counts on day ``first_day_ns + i``
    days (oldest first, ending today). ``kept_from_ns`` is None when the journal holds the folder's whole
    history; else the time of its oldest change still kept: earlier days were pruned (their zeros mean
    nothing), and that day itself may be partial."""

    folder: str
    first_day_ns: int
    counts: Sequence[Mapping[str, int]]
    kept_from_ns: int | None

    def to_json(self) -> dict[str, Any]:
        days = []
        for i, counts in enumerate(self.counts):
            day: dict[str, Any] = {"day": day_name(self.first_day_ns + i * DAY_NS)}
            day.update({op: counts.get(op, 0) for op in JOURNAL_OPS})
            day.update({op: n for op, n in sorted(counts.items()) if op not in day})
            day["total"] = sum(counts.values())
            days.append(day)
        return {"folder": self.folder, "ops": list(JOURNAL_OPS),
                "kept_from": None if self.kept_from_ns is None else day_name(self.kept_from_ns), "days": days}
