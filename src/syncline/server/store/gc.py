"""The collector (design.md "Commits", step 3): trash retention, history pruning, unreferenced chunks and
orphan chunks. Run by the server every hour (:class:`~syncline.server.collector.Collector`).

Order matters for safety. In one write transaction per folder: trashed versions past retention are
dropped (their chunks get the one-hour lease a dropped version gives), old tombstones and journal rows
are pruned and the folder's history horizon moved; then the ``chunks`` rows no content of the folder
references and whose lease ran out are deleted. Only after that transaction committed are their chunks
removed from the chunk store (a row is deleted before its chunk, never after: the database is the truth
of presence). Chunk removals wait for the uploads in flight (:mod:`.gate`). A commit cannot reference a
chunk the collector took: it re-checks its chunk rows inside its own transaction, which cannot interleave
with this one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ...engine.crashpoints import crash_point
from ...formats.wire.limits import HISTORY_MIN_CHANGES, HISTORY_S
from . import contents
from . import schema as t
from .meta import folder_of
from .raw import Raw
from .state import read_horizon, write_horizon

if TYPE_CHECKING:
    from . import Store

TRASH_RETENTION_S = 30 * 24 * 3600
ORPHAN_AGE_S = 600  # a chunk without a row this old is no upload's: uploads record rows within seconds


@dataclass
class GcReport:
    trash_dropped: int = 0
    changes_pruned: int = 0
    tombstones_pruned: int = 0
    chunks_removed: int = 0
    orphans_removed: int = 0


def collect(store: Store, now_ns: int | None = None, retention_s: int = TRASH_RETENTION_S,
            history_s: int = HISTORY_S, history_min: int = HISTORY_MIN_CHANGES,
            stop: threading.Event | None = None) -> GcReport:
    """One collection over every folder of ``store``; ``now_ns`` for tests (default: now). ``stop`` set
    ends it before the next folder (each folder's collection is whole or not begun)."""
    now = time.time_ns() if now_ns is None else now_ns
    report = GcReport()
    with store.db.read() as conn:
        folders = [folder_of(r) for r in conn.execute(sa.select(t.folders))]
    for folder in folders:
        if stop is not None and stop.is_set():
            break
        with store.db.write() as conn:
            _retention(conn, folder.id, folder.chunk_ns, now - retention_s * 10**9, now, report)
            _history(conn, folder.id, now - history_s * 10**9, history_min, report)
            gone = _unreferenced(conn, folder.id, folder.chunk_ns, now)
        crash_point("server-gc-rows")
        report.chunks_removed += unlink_unrecorded(store, folder.chunk_ns, gone)
        report.orphans_removed += _orphans(store, folder.chunk_ns, now)
    return report


def _retention(conn: sa.Connection, folder_id: int, chunk_ns: str, before_ns: int, now: int,
               report: GcReport) -> None:
    c = t.contents.c
    old = [int(r.id) for r in conn.execute(sa.select(c.id).where(
        c.folder_id == folder_id, sa.or_(c.kept_ns < before_ns, c.trashed_ns < before_ns)))]
    for start in range(0, len(old), 500):
        contents.drop(conn, chunk_ns, old[start : start + 500], now)
    report.trash_dropped += len(old)


def _history(conn: sa.Connection, folder_id: int, before_ns: int, keep_at_least: int, report: GcReport) -> None:
    """Prune journal rows and tombstones older than ``before_ns`` that are not among the last
    ``keep_at_least`` changes; the horizon moves to the newest pruned sequence number."""
    ch = t.changes.c
    seq = int(conn.execute(sa.select(t.folders.c.seq).where(t.folders.c.id == folder_id)).scalar_one())
    old = conn.execute(sa.select(sa.func.max(ch.seq)).where(ch.folder_id == folder_id,
                                                            ch.made_ns < before_ns)).scalar()
    cutoff = min(int(old or 0), seq - keep_at_least)
    if cutoff <= read_horizon(conn, folder_id):
        return
    report.changes_pruned += conn.execute(t.changes.delete().where(ch.folder_id == folder_id,
                                                                   ch.seq <= cutoff)).rowcount
    e = t.entries.c
    report.tombstones_pruned += conn.execute(t.entries.delete().where(
        e.folder_id == folder_id, e.kind == t.DELETED, e.version <= cutoff)).rowcount
    write_horizon(conn, folder_id, cutoff)


def _unreferenced(conn: sa.Connection, folder_id: int, chunk_ns: str, now: int) -> list[bytes]:
    """Delete the chunk rows of ``chunk_ns`` that no content of the folder references and whose lease ran
    out; returns their ids (their chunks are removed after the commit)."""
    k, cc, ct = t.chunks.c, t.content_chunks.c, t.contents.c
    used = sa.select(cc.chunk_id).join(t.contents, ct.id == cc.content_id).where(ct.folder_id == folder_id)
    gone = [bytes(r.chunk_id) for r in conn.execute(sa.select(k.chunk_id).where(
        k.chunk_ns == chunk_ns, k.lease_until_ns < now, k.chunk_id.not_in(used)))]
    for start in range(0, len(gone), 500):
        conn.execute(t.chunks.delete().where(k.chunk_ns == chunk_ns, k.chunk_id.in_(gone[start : start + 500])))
    return gone


def unlink_unrecorded(store: Store, chunk_ns: str, ids: list[bytes]) -> int:
    """Remove the chunks of ``ids`` that still have no row, with uploads held off: an upload may have
    stored one of them again between the rows' deletion and now (its new row keeps its chunk)."""
    if not ids:
        return 0
    with store.gate.sweep():
        with store.db.read() as conn:
            again = contents.lengths(Raw(conn), chunk_ns, ids)
        gone = [i for i in ids if i not in again]
        store.chunks.delete_many(chunk_ns, gone)
    return len(gone)


def _orphans(store: Store, chunk_ns: str, now: int) -> int:
    """Remove chunks of ``chunk_ns`` without a row (left by an upload killed before its rows) that were
    stored :data:`ORPHAN_AGE_S` or more ago (the chunk store keeps when each was last put)."""
    with store.gate.sweep():
        old = list(store.chunks.ids(chunk_ns, stored_before=now - ORPHAN_AGE_S * 10**9))
        if not old:
            return 0
        with store.db.read() as conn:
            have = contents.lengths(Raw(conn), chunk_ns, old)
        gone = [i for i in old if i not in have]
        store.chunks.delete_many(chunk_ns, gone)
    return len(gone)
