"""Taking damaged chunks out of the index (``server check --repair``; docs/server-store.md, "Check and
repair"), in the order that keeps the evidence and never leaves a row for bytes that are not its chunk:

1. each bad chunk's bytes, if the chunk store holds any, are copied to ``DATA/chunks-damaged/<ns>/<hex>``
   and fsynced (evidence for a person to look at; syncline never deletes it);
2. one write transaction per folder deletes the bad chunks' rows and sets ``contents.damaged_ns`` on every
   version that lists a chunk without a row (one of these, or one lost before);
3. the chunks are removed from the chunk store.

A kill between 1 and 2 (crash point ``server-repair-rows``) leaves rows and chunks as they were: the next
repair finds the same chunks bad and finishes (the evidence already kept stays, not written twice). A kill
between 2 and 3 leaves chunks without rows, which are no chunks: the collector's orphans. Nothing here
deletes an entry or a version.

A damaged version heals when every chunk it lists has a row again (:func:`heal`): at the upload that
brings the last one back (a device that has the file whole saving it again), and at every check.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ...engine.crashpoints import crash_point
from ...formats.framing import atomic_file
from . import schema as t
from .gc import unlink_unrecorded
from .meta import Folder

if TYPE_CHECKING:
    from . import Store

DAMAGED_DIR = "chunks-damaged"  # under the data directory; the legacy chunk migration puts its finds there too


def lost_chunk(folder: Folder) -> sa.ColumnElement[bool]:
    """For a ``content_chunks`` row of ``folder``: its chunk has no row (the store does not hold it)."""
    k, cc = t.chunks.c, t.content_chunks.c
    return ~sa.exists().where(k.chunk_ns == folder.chunk_ns, k.chunk_id == cc.chunk_id)


def heal(conn: sa.Connection, folder: Folder, still_bad: Sequence[bytes] = ()) -> int:
    """In ``conn``'s write transaction: clear ``damaged_ns`` on the folder's versions whose every chunk has
    a row again (and is none of ``still_bad``, chunks found bad but not taken out yet). A folder with no
    damaged version costs one read of a partial index. Returns how many healed."""
    ct, cc = t.contents.c, t.content_chunks.c
    marked = sa.and_(ct.folder_id == folder.id, ct.damaged_ns.is_not(None))
    if conn.execute(sa.select(ct.id).where(marked).limit(1)).first() is None:
        return 0
    lacking = sa.or_(lost_chunk(folder), cc.chunk_id.in_(list(still_bad))) if still_bad else lost_chunk(folder)
    whole = sa.and_(marked, ~sa.exists().where(cc.content_id == ct.id, lacking))
    return int(conn.execute(t.contents.update().where(whole).values(damaged_ns=None)).rowcount)


def mark_damaged(conn: sa.Connection, folder: Folder, now_ns: int) -> int:
    """In ``conn``'s write transaction: set ``damaged_ns`` on the folder's versions that list a chunk
    without a row and are not marked yet (a mark keeps the time damage was first found). Returns how many."""
    ct, cc = t.contents.c, t.content_chunks.c
    lacking = sa.exists().where(cc.content_id == ct.id, lost_chunk(folder))
    return int(conn.execute(t.contents.update().where(ct.folder_id == folder.id, ct.damaged_ns.is_(None), lacking)
                            .values(damaged_ns=now_ns)).rowcount)


def take_out(store: Store, folder: Folder, bad: list[bytes], now_ns: int, quarantined: list[Path]) -> int:
    """Take the chunks ``bad`` of ``folder`` out of the index in the module's three steps (the evidence
    files written are appended to ``quarantined``), marking every version that lacks a chunk; returns how
    many versions were newly marked. With ``bad`` empty it only marks what lost a chunk before. The
    store must be exclusive (the caller's to ensure). ``OSError`` when the evidence cannot be written:
    then nothing of the folder has been changed."""
    ns = folder.chunk_ns
    for chunk_id in bad:
        try:
            data = store.chunks.read(ns, chunk_id)
        except FileNotFoundError:
            continue  # the chunk store lost it: no bytes to keep
        kept = keep_evidence(store.data_dir / DAMAGED_DIR / ns, chunk_id, data)
        if kept is not None:
            quarantined.append(kept)
    crash_point("server-repair-rows")
    k = t.chunks.c
    with store.db.write() as conn:
        for start in range(0, len(bad), 500):
            conn.execute(t.chunks.delete().where(k.chunk_ns == ns, k.chunk_id.in_(bad[start : start + 500])))
        marked = mark_damaged(conn, folder, now_ns)
    unlink_unrecorded(store, ns, bad)
    return marked


def keep_evidence(directory: Path, chunk_id: bytes, data: bytes) -> Path | None:
    """Write ``data`` to ``directory/<hex>`` (made if need be), all or nothing and fsynced; None when that
    file already holds these bytes (a repair run again). A file there with other bytes (the legacy
    migration's, an earlier damage) is kept: these go to ``<hex>.1``, ``<hex>.2``, ... instead."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = chunk_id.hex()
    for n in range(1_000):
        path = directory / (name if n == 0 else f"{name}.{n}")
        if not os.path.lexists(path):
            with atomic_file(path) as fh:
                fh.write(data)
            return path
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return None
    raise OSError(f"{directory} holds 1,000 damaged copies of chunk {name}: look at them, then move them away")
