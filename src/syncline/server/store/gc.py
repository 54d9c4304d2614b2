"""The collector (design.md "Commits", step 3): version retention, history pruning, unreferenced chunks
and orphan chunks. Run by the server every hour (:class:`~syncline.server.collector.Collector`) and by
``syncline serve --gc``.

Retention (:mod:`.retention`) decides which kept versions stay: by age buckets per path, the trash
rows of deleted files for their time, then a cap per user. A clock far ahead of the last collection would
make every version look old, so the caller may skip retention (:func:`clock_jumped`): versions are
never dropped on a clock that may be wrong, only kept longer.

Order matters for safety. Kept versions past retention are dropped in short write transactions,
decided on a read, each dropping only versions still kept as they were read (their chunks get the
one-hour lease a dropped version gives). Then, in one write transaction per folder, old tombstones and
journal rows are pruned and the folder's history horizon moved, and the ``chunks`` rows no content of
the folder references and whose lease ran out are deleted. Only after that transaction committed are their chunks
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
from . import contents, davprops
from . import schema as t
from .meta import Folder, folder_of
from .raw import Raw
from .retention import Kept, Policy, keep, over_cap
from .state import read_horizon, write_horizon

if TYPE_CHECKING:
    from . import Store

DEFAULT_POLICY = Policy()

LAST_RETENTION_KEY = "gc_last_retention_ns"  # settings: when retention last ran (the clock guard's reference)
DROP_BATCH = 500  # kept versions dropped per write transaction
CLOCK_JUMP_S = 7 * 86400  # a clock this far past the next expected collection is not trusted to drop versions
ORPHAN_AGE_S = 600  # a chunk without a row this old is no upload's: uploads record rows within seconds


@dataclass
class GcReport:
    trash_dropped: int = 0  # kept versions dropped (the trash's and the others')
    retention_skipped: bool = False
    changes_pruned: int = 0
    tombstones_pruned: int = 0
    chunks_removed: int = 0
    orphans_removed: int = 0


def collect(store: Store, now_ns: int | None = None, policy: Policy = DEFAULT_POLICY,
            history_s: int = HISTORY_S, history_min: int = HISTORY_MIN_CHANGES,
            stop: threading.Event | None = None, retention: bool = True) -> GcReport:
    """One collection over every folder of ``store``; ``now_ns`` for tests (default: now). ``stop`` set
    ends it before the next folder (each folder's collection is whole or not begun). ``retention`` False
    keeps every version (the clock guard said the clock is not to be trusted)."""
    now = time.time_ns() if now_ns is None else now_ns
    report = GcReport(retention_skipped=not retention)
    with store.db.read() as conn:
        folders = [folder_of(r) for r in conn.execute(sa.select(t.folders))]
    capped = _over_caps(store, folders, now, policy) if retention else {}
    for folder in folders:
        if stop is not None and stop.is_set():
            break
        if retention:
            _retention(store, folder, now, policy, capped.get(folder.id, set()), report)
        with store.db.write() as conn:
            _history(conn, folder.id, now - history_s * 10**9, history_min, report)
            gone = _unreferenced(conn, folder.id, folder.chunk_ns, now)
        crash_point("server-gc-rows")
        report.chunks_removed += unlink_unrecorded(store, folder.chunk_ns, gone)
        report.orphans_removed += _orphans(store, folder.chunk_ns, now)
    if retention and not (stop is not None and stop.is_set()):
        with store.db.write() as conn:
            conn.execute(t.settings.delete().where(t.settings.c.key == LAST_RETENTION_KEY))
            conn.execute(t.settings.insert().values(key=LAST_RETENTION_KEY, text=str(now)))
    return report


def clock_jumped(store: Store, now_ns: int, every_s: float) -> bool:
    """Whether ``now_ns`` lies more than :data:`CLOCK_JUMP_S` past the collection expected after the last
    one that ran retention (a clock set years ahead, or a server off for weeks: a person should say which,
    with ``syncline serve --gc --clock-ok``)."""
    with store.db.read() as conn:
        last = conn.execute(sa.select(t.settings.c.text).where(t.settings.c.key == LAST_RETENTION_KEY)).scalar()
    return last is not None and now_ns > int(last) + int((every_s + CLOCK_JUMP_S) * 10**9)


def _kept_rows(conn: sa.Connection, folder_id: int) -> list[Kept]:
    """Every version kept in the folder, each marked when it is a deleted file's trash row."""
    c, e = t.contents.c, t.entries.c
    when = sa.func.coalesce(c.kept_ns, c.trashed_ns)
    live = sa.exists(sa.select(e.path).where(e.folder_id == folder_id, e.path == c.trash_path, e.kind != t.DELETED))
    rows = conn.execute(sa.select(c.id, c.trash_path, when.label("k"), c.size, c.reason, live.label("live")).where(
        c.folder_id == folder_id, when.is_not(None))).all()
    newest: dict[str, int] = {}
    for r in rows:
        if int(r.k) >= newest.get(str(r.trash_path), -1):
            newest[str(r.trash_path)] = int(r.k)
    return [Kept(int(r.id), str(r.trash_path), int(r.k), int(r.size),
                 trash=not r.live and r.reason == "deleted" and int(r.k) == newest[str(r.trash_path)]) for r in rows]


def _over_caps(store: Store, folders: list[Folder], now: int, policy: Policy) -> dict[int, set[int]]:
    """Per folder, the kept versions to drop so that each capped owner's kept bytes fit the cap."""
    if policy.cap is None:
        return {}
    by_owner: dict[int, list[tuple[int, Kept]]] = {}
    with store.db.read() as conn:
        for folder in folders:
            kept = _kept_rows(conn, folder.id)
            stay = keep(kept, now, policy)
            by_owner.setdefault(folder.owner_id, []).extend((folder.id, v) for v in kept if v.id in stay)
    out: dict[int, set[int]] = {}
    for pairs in by_owner.values():
        drop = over_cap([v for _, v in pairs], now, policy.cap)
        for folder_id, v in pairs:
            if v.id in drop:
                out.setdefault(folder_id, set()).add(v.id)
    return out


def _retention(store: Store, folder: Folder, now: int, policy: Policy, capped: set[int], report: GcReport) -> None:
    """Drop the folder's kept versions the policy lets go, and ``capped``. Decided on a read of the folder
    (the write lock is not held while a million versions are looked at), then dropped in short write
    transactions, each dropping only those still kept as they were read: a version restored since is live,
    and a version kept since is newer than any decided on, so it makes none of them needed."""
    with store.db.read() as conn:
        kept = _kept_rows(conn, folder.id)
    stay = keep(kept, now, policy)
    old = [(v.id, v.kept_ns) for v in kept if v.id not in stay or v.id in capped]
    c = t.contents.c
    when = sa.func.coalesce(c.kept_ns, c.trashed_ns)
    for start in range(0, len(old), DROP_BATCH):
        batch = dict(old[start : start + DROP_BATCH])
        with store.db.write() as conn:
            still = [int(r.id) for r in conn.execute(sa.select(c.id, when.label("k")).where(
                c.folder_id == folder.id, c.id.in_(list(batch)))) if r.k is not None and int(r.k) == batch[int(r.id)]]
            contents.drop(conn, folder.chunk_ns, still, now)
        report.trash_dropped += len(still)


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
    davprops.drop_orphans(conn, folder_id)  # WebDAV properties of what is gone with its last tombstone
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
