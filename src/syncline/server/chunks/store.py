"""The chunk store interface: content-addressed, verified, durable (design.md "The chunk store").

A chunk's name is the BLAKE3-256 of its bytes; a store checks that on every put, so nothing it holds can
be other than its name says. Chunks live in namespaces (one per server folder, a random name the server
makes): presence is answered per namespace, never across them. The metadata database, not the store, is
the truth of presence: a row is written only after its chunk is durable here, and deleted before it is
removed from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol

import blake3

ID_BYTES = 32
Buffer = bytes | bytearray | memoryview
_NAMESPACE_RE = re.compile(r"^[a-z0-9]{8,64}$")


class BadChunk(ValueError):
    """Bytes that do not hash to the id they were given under (nothing of the put was stored)."""

    def __init__(self, chunk_id: bytes) -> None:
        super().__init__(f"chunk {chunk_id.hex()} does not match its bytes")
        self.chunk_id = chunk_id


def chunk_hex(chunk_id: bytes) -> str:
    """The id as 64 hex digits: ``ValueError`` unless it is exactly 32 bytes."""
    if not isinstance(chunk_id, bytes) or len(chunk_id) != ID_BYTES:
        raise ValueError("a chunk id is 32 bytes")
    return chunk_id.hex()


def check_namespace(ns: str) -> str:
    """``ns`` unchanged if it is a namespace name the server makes (it becomes a file name)."""
    if not _NAMESPACE_RE.match(ns):
        raise ValueError(f"not a chunk namespace: {ns!r}")
    return ns


def verify(chunk_id: bytes, data: Buffer) -> None:
    """:class:`BadChunk` unless ``data`` hashes to ``chunk_id``."""
    chunk_hex(chunk_id)
    if blake3.blake3(data).digest() != chunk_id:
        raise BadChunk(chunk_id)


class ChunkStore(Protocol):
    """Verified chunks, durable once :meth:`put_many` returns (SQLite on disk now; S3-compatible later)."""

    def put_many(self, ns: str, chunks: Iterable[tuple[bytes, Buffer]]) -> int:
        """Store ``(id, bytes)`` pairs durably: every one is verified first (:class:`BadChunk`, nothing
        stored), then all become visible together, only once durable (a chunk already held is written
        again from the verified bytes). ``OSError`` (``ENOSPC`` for a full disk): nothing stored. Returns
        how many were written."""
        ...

    def read(self, ns: str, chunk_id: bytes, offset: int = 0, length: int = -1) -> bytes:
        """``length`` bytes of one chunk from ``offset`` (``-1``: to its end; ``FileNotFoundError`` when
        the store does not hold it)."""
        ...

    def length(self, ns: str, chunk_id: bytes) -> int:
        """How many bytes the store holds under ``chunk_id`` (``FileNotFoundError`` when none), for
        ``check``."""
        ...

    def has(self, ns: str, chunk_id: bytes) -> bool: ...

    def delete_many(self, ns: str, ids: Iterable[bytes]) -> None:
        """Remove chunks (those not there are skipped)."""
        ...

    def ids(self, ns: str, stored_before: int | None = None) -> Iterator[bytes]:
        """Every chunk id held in ``ns`` (with ``stored_before``, a time in ns: only those last put before
        it), for ``check`` and the orphan sweep."""
        ...

    def free_bytes(self) -> int: ...
