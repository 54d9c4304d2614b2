"""File versions (``contents`` rows) and their chunk lists, inside the caller's write transaction.

A file's entry points at its current content; a replaced or deleted version keeps its row (a *kept*
version, and protocol 1.0's trash when the client asked for trash), with the path and entry it had, until
retention removes it. A version dropped for good (replaced without
trash) gives its chunks a one-hour lease first, so a download of it that is under way can finish before
the collector takes them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence

import blake3
import sqlalchemy as sa

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import MAX_CHUNKS_PER_FILE
from ...formats.wire.manifest import ENTRY_BYTES, manifest_entries
from ...formats.wire.ops import ChunkRef
from ..chunks import ChunkStore
from . import schema as t
from .raw import Raw
from .rows import Row

DROP_LEASE_NS = 3600 * 10**9
INSERT_BATCH = 10_000  # content_chunks rows a statement
_EMPTY_DIGEST = blake3.blake3(b"").digest()


def add(raw: Raw, folder_id: int, size: int, digest: bytes, chunks: Iterable[ChunkRef]) -> int:
    """A new content row with its ordered chunk list (read as it is inserted, :data:`INSERT_BATCH` rows
    a statement: a manifest's list of millions is never held whole); returns its id. An exception from
    ``chunks`` passes through, with the rows so far written (the caller's savepoint takes them back)."""
    made = raw.one("INSERT INTO contents (folder_id, size, digest) VALUES (:f, :s, :d) RETURNING id",
                   {"f": folder_id, "s": size, "d": digest})
    assert made is not None
    content_id = int(made[0])
    rows = ({"c": content_id, "n": n, "i": c.id, "l": c.length} for n, c in enumerate(chunks))
    while batch := list(itertools.islice(rows, INSERT_BATCH)):
        raw.many("INSERT INTO content_chunks (content_id, position, chunk_id, length) VALUES (:c, :n, :i, :l)",
                 batch)
    return content_id


def _entry_json(row: Row) -> str:
    return json.dumps({"kind": row.kind, "size": row.size, "mtime_ns": row.mtime_ns, "mode": row.mode,
                       "digest": row.digest.hex() if row.digest else None, "target": row.target,
                       "file_id": row.file_id, "version": row.version})


def keep(raw: Raw, folder_id: int, row: Row, now_ns: int, reason: str, device: str, trashed: bool) -> None:
    """Keep ``row``'s version (a file or symlink) as a version no longer live, with the path and entry it had,
    why (``replaced``/``deleted``) and by which device; ``trashed``: also as protocol 1.0's trash. (Plain SQL:
    once for every file a sync overwrites, where building the statement cost more than running it.)"""
    values = {"t": now_ns if trashed else None, "k": now_ns, "p": row.path, "e": _entry_json(row), "r": reason,
              "d": device}
    if row.content_id is None:  # a symlink has no content of its own: its kept row holds the entry alone
        raw.run("INSERT INTO contents (folder_id, size, digest, trashed_ns, trash_path, trash_entry, kept_ns, reason,"
                " by_device) VALUES (:f, :s, :dg, :t, :p, :e, :k, :r, :d)",
                {**values, "f": folder_id, "s": row.size, "dg": _EMPTY_DIGEST})
        return
    raw.run("UPDATE contents SET trashed_ns = :t, trash_path = :p, trash_entry = :e, kept_ns = :k, reason = :r,"
            " by_device = :d WHERE id = :i", {**values, "i": row.content_id})


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


def chunk_list(conn: sa.Connection, content_id: int, start: int = 0, limit: int | None = None) -> list[ChunkRef]:
    """The chunks of a content, in order: all of them, or ``limit`` from position ``start``."""
    c = t.content_chunks.c
    q = sa.select(c.chunk_id, c.length).where(c.content_id == content_id, c.position >= start).order_by(c.position)
    if limit is not None:
        q = q.limit(limit)
    return [ChunkRef(bytes(r.chunk_id), int(r.length)) for r in conn.execute(q)]


def chunk_count(conn: sa.Connection, content_id: int) -> int:
    c = t.content_chunks.c
    return int(conn.execute(sa.select(sa.func.count()).where(c.content_id == content_id)).scalar_one())


def present(raw: Raw, chunk_ns: str, chunks: Iterable[ChunkRef], path: str, batch: int = 500) -> Iterator[ChunkRef]:
    """``chunks`` as they pass, each checked to be in ``chunk_ns`` with its length, ``batch`` at a time:
    ``missing_chunks`` naming those of the first batch that lacks some, ``bad_content`` for a length that
    is not the stored chunk's."""
    it = iter(chunks)
    while part := list(itertools.islice(it, batch)):
        have = lengths(raw, chunk_ns, [c.id for c in part])
        missing = [c.id for c in part if c.id not in have]
        if missing:
            raise missing_chunks(path, list(dict.fromkeys(missing)))
        if any(have[c.id] != c.length for c in part):
            raise WireError("bad_content", f"a chunk of {clip(path)} has another length", "a client bug",
                            {"path": clip(path)})
        yield from part


def manifest_list(raw: Raw, store: ChunkStore, chunk_ns: str, path: str, manifest: Sequence[ChunkRef]) -> Iterator[
        ChunkRef]:
    """The chunks a manifest lists (protocol section 7, "Big files"), read piece by piece from the store
    as they are taken: every piece checked present with its length (``missing_chunks``), whole 36-byte
    entries of lengths 1..``MAX_CHUNK`` (``bad_content``), at most ``MAX_CHUNKS_PER_FILE`` in all
    (``too_large``). Whether the listed chunks are there is :func:`present`'s to check."""
    pieces = list(present(raw, chunk_ns, manifest, path))
    count = 0
    for piece in pieces:
        try:
            data = store.read(chunk_ns, piece.id)
        except FileNotFoundError:  # the collector took it since the rows were read
            raise missing_chunks(path, [piece.id]) from None
        count += len(data) // ENTRY_BYTES
        if count > MAX_CHUNKS_PER_FILE:
            raise WireError("too_large", f"the manifest of {clip(path)} lists more than {MAX_CHUNKS_PER_FILE} "
                            "chunks", "", {"limit": MAX_CHUNKS_PER_FILE, "path": clip(path)})
        yield from manifest_entries(data)


def missing_chunks(path: str, missing: list[bytes]) -> WireError:
    return WireError("missing_chunks", f"the server lacks {len(missing)} chunk(s) of {clip(path)}",
                     "upload them again", {"path": clip(path), "missing": [m.hex() for m in missing[:1000]]})


def lengths(raw: Raw | sa.Connection, chunk_ns: str, ids: Sequence[bytes]) -> dict[bytes, int]:
    """Of ``ids``, those with a row in ``chunk_ns`` (recorded, verified, durable), with their lengths
    (``raw``: the transaction's connection, or a :class:`Raw` cursor on it)."""
    if isinstance(raw, sa.Connection):
        raw = Raw(raw)
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
