"""File versions (``contents`` rows) and their chunk lists, inside the caller's write transaction.

A file's entry points at its current content; a replaced or deleted version kept as trash keeps its row,
with the path and entry it had, until retention removes it. A version dropped for good (replaced without
trash) gives its chunks a one-hour lease first, so a download of it that is under way can finish before
the collector takes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import blake3
import sqlalchemy as sa

from ...formats.wire.ops import ChunkRef
from . import schema as t
from .raw import Raw
from .rows import Row

DROP_LEASE_NS = 3600 * 10**9
_EMPTY_DIGEST = blake3.blake3(b"").digest()


def add(raw: Raw, folder_id: int, size: int, digest: bytes, chunks: Sequence[ChunkRef]) -> int:
    """A new content row with its ordered chunk list; returns its id."""
    made = raw.one("INSERT INTO contents (folder_id, size, digest) VALUES (:f, :s, :d) RETURNING id",
                   {"f": folder_id, "s": size, "d": digest})
    assert made is not None
    content_id = int(made[0])
    if chunks:
        raw.many("INSERT INTO content_chunks (content_id, position, chunk_id, length) VALUES (:c, :n, :i, :l)",
                 ({"c": content_id, "n": n, "i": c.id, "l": c.length} for n, c in enumerate(chunks)))
    return content_id


def _entry_json(row: Row) -> str:
    return json.dumps({"kind": row.kind, "size": row.size, "mtime_ns": row.mtime_ns, "mode": row.mode,
                       "digest": row.digest.hex() if row.digest else None, "target": row.target,
                       "file_id": row.file_id, "version": row.version})


def trash(conn: sa.Connection, folder_id: int, row: Row, now_ns: int) -> None:
    """Keep ``row``'s version (a file or symlink) as trash, with the path and entry it had."""
    if row.content_id is None:  # a symlink has no content of its own: its trash row holds the entry alone
        conn.execute(t.contents.insert().values(folder_id=folder_id, size=row.size, digest=_EMPTY_DIGEST,
                                                trashed_ns=now_ns, trash_path=row.path, trash_entry=_entry_json(row)))
        return
    conn.execute(t.contents.update().where(t.contents.c.id == row.content_id).values(
        trashed_ns=now_ns, trash_path=row.path, trash_entry=_entry_json(row)))


def drop(conn: sa.Connection, chunk_ns: str, content_ids: Sequence[int], now_ns: int) -> None:
    """Remove content rows for good; their chunks keep a one-hour lease (downloads under way)."""
    if not content_ids:
        return
    ids = sa.select(t.content_chunks.c.chunk_id).where(t.content_chunks.c.content_id.in_(content_ids))
    conn.execute(t.chunks.update().where(
        t.chunks.c.chunk_ns == chunk_ns, t.chunks.c.chunk_id.in_(ids),
        t.chunks.c.lease_until_ns < now_ns + DROP_LEASE_NS).values(lease_until_ns=now_ns + DROP_LEASE_NS))
    conn.execute(t.content_chunks.delete().where(t.content_chunks.c.content_id.in_(content_ids)))
    conn.execute(t.contents.delete().where(t.contents.c.id.in_(content_ids)))


def chunk_list(conn: sa.Connection, content_id: int) -> list[ChunkRef]:
    return [ChunkRef(bytes(r.chunk_id), int(r.length)) for r in conn.execute(
        sa.select(t.content_chunks.c.chunk_id, t.content_chunks.c.length)
        .where(t.content_chunks.c.content_id == content_id).order_by(t.content_chunks.c.position))]


def lengths(raw: Raw, chunk_ns: str, ids: Sequence[bytes]) -> dict[bytes, int]:
    """Of ``ids``, those with a row in ``chunk_ns`` (recorded, verified, durable), with their lengths."""
    have: dict[bytes, int] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), 500):
        marks, params = raw.in_list("i", unique[start : start + 500])
        have.update((bytes(i), int(n)) for i, n in raw.all(
            f"SELECT chunk_id, length FROM chunks WHERE chunk_ns = :ns AND chunk_id IN ({marks})",
            {"ns": chunk_ns, **params}))
    return have


def missing_rows(raw: Raw, chunk_ns: str, ids: Sequence[bytes]) -> list[bytes]:
    """Of ``ids``, those without a row in ``chunk_ns`` (in the order given, each once)."""
    have = lengths(raw, chunk_ns, ids)
    return [i for i in dict.fromkeys(ids) if i not in have]
