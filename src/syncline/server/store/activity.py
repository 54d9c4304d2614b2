"""A folder's activity (protocol 1.3): its change journal counted per UTC day and op, for a timeline.

One grouped query over the folder's range of the journal's primary key, filtered on ``changes.made_ns``,
in one read with the oldest row still kept. No index on ``made_ns``: the journal keeps 30 days (and at
least the last 100,000 changes, :mod:`.gc`), so the default window reads about all of it either way, and
every commit would pay for one. Measured (``bench/activity.py``, a busy machine, rows spread over 120
days, the worst case for the key): 100,000 rows per folder, 7/30/90 days: 17/53/106 ms, 7/35/130 ms with
an index on ``(folder_id, made_ns, op)``; 1,000,000 rows: 220/358/759 ms against 47/170/471 ms.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ...formats.wire.activity import DAY_NS, Activity, day_start_ns
from . import schema as t
from .db import Database
from .state import read_horizon


def activity(db: Database, folder_id: int, name: str, days: int, now_ns: int) -> Activity:
    """The changes of folder ``folder_id`` (shown as ``name``) on each of the ``days`` UTC days ending
    with the day of ``now_ns``, by op. Changes made after ``now_ns``'s day (a clock set back) are not
    counted."""
    first = day_start_ns(now_ns) - (days - 1) * DAY_NS
    counts: list[dict[str, int]] = [{} for _ in range(days)]
    with db.read() as conn:
        rows = conn.execute(counts_query(folder_id, first, days)).all()
        kept_from = _kept_from(conn, folder_id, now_ns)
    for index, op, n in rows:
        if 0 <= index < days:
            counts[int(index)][str(op)] = int(n)
    return Activity(name, first, counts, kept_from)


def counts_query(folder_id: int, first_ns: int, days: int) -> sa.Select[tuple[Any, ...]]:
    """``(day index, op, count)`` of the folder's journal rows made in the ``days`` days from ``first_ns``:
    one range of the journal's primary key (the folder's rows), grouped."""
    ch = t.changes.c
    day = ((ch.made_ns - first_ns) // DAY_NS).label("day")
    return (sa.select(day, ch.op, sa.func.count()).where(
        ch.folder_id == folder_id, ch.made_ns >= first_ns, ch.made_ns < first_ns + days * DAY_NS)
        .group_by(day, ch.op))


def _kept_from(conn: sa.Connection, folder_id: int, now_ns: int) -> int | None:
    """None when nothing of the folder's journal was ever pruned; else when its oldest kept change was
    made (``now_ns`` when none is left: nothing before now is known)."""
    if read_horizon(conn, folder_id) == 0:
        return None
    ch = t.changes.c
    oldest = conn.execute(sa.select(ch.made_ns).where(ch.folder_id == folder_id).order_by(ch.seq).limit(1)).scalar()
    return now_ns if oldest is None else int(oldest)
