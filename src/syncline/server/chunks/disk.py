"""DiskChunkStore: chunks in one SQLite database per namespace, ``DATA/chunks/<ns>.sqlite``
(:mod:`.sqlitedb` has the format).

A put verifies every chunk, then inserts them all in one transaction and commits it (WAL,
``synchronous=FULL``): when :meth:`DiskChunkStore.put_many` returns, the chunks are on disk; before the
``COMMIT`` none of them is visible. A crash leaves the transaction rolled back (nothing) or committed
chunks without metadata rows (orphans the collector removes): never an id with other bytes than it says.
Readable without syncline: ``sqlite3 DATA/chunks/<ns>.sqlite "SELECT writefile('out', data) FROM chunks
WHERE id = X'<hex>'"`` (design.md, "The chunk store").

One row per chunk instead of one file: a put of 2,000 chunks of ~7 KB is one transaction rather than
2,000 file creations and renames (docs/server-store.md has the numbers). Names never come from a client:
the namespace is the server's own random name, checked before it becomes a file name, and ids are bound
as SQL parameters. SQLite's errors become ``OSError`` here (``ENOSPC`` for a full disk), so the store's
callers handle one error family.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ...engine.crashpoints import crash_point
from .sqlitedb import ChunkDbs
from .store import Buffer, chunk_hex, verify

_UPSERT = ("INSERT INTO chunks (id, stored_ns, data) VALUES (?, ?, ?) "
           "ON CONFLICT (id) DO UPDATE SET data = excluded.data, stored_ns = excluded.stored_ns")


class DiskChunkStore:
    """Chunks under ``root`` (``DATA/chunks``); ``tmp`` (``DATA/tmp``, same file system) is spool space for
    the server's own uploads (``server/staging.py``), emptied at start. At most ``max_open`` namespaces
    keep their database open."""

    def __init__(self, root: Path, tmp: Path, max_open: int = 64) -> None:
        self.root = root
        self.tmp = tmp
        root.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        self.dbs = ChunkDbs(root, max_open)

    def db_path(self, ns: str) -> Path:
        """The database of namespace ``ns`` (``ValueError`` for a name the server does not make)."""
        return self.dbs.path(ns)

    def put_many(self, ns: str, chunks: Iterable[tuple[bytes, Buffer]]) -> int:
        pending = []
        for chunk_id, data in chunks:
            verify(chunk_id, data)
            pending.append((chunk_id, data))
        # Written even when the store holds the id: without a metadata row it is no chunk yet (the caller
        # asks only for those), and the bytes in hand are verified, what is stored may not be any more.
        todo = list(dict(pending).items())
        if not todo:
            return 0
        self._put(ns, todo, crash_points=True)
        return len(todo)

    def _put(self, ns: str, todo: list[tuple[bytes, Buffer]], crash_points: bool = False) -> None:
        now = time.time_ns()
        try:
            db = self.dbs.get(ns, make=True)
            assert db is not None
            with db.write_lock, db.connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_UPSERT, [(i, now, d) for i, d in todo])
                if crash_points:
                    crash_point("server-chunks-temp")
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _os_error(exc, ns) from exc
        if crash_points:
            crash_point("server-chunks-renamed")

    def read(self, ns: str, chunk_id: bytes, offset: int = 0, length: int = -1) -> bytes:
        chunk_hex(chunk_id)
        if offset < 0:
            raise ValueError("a negative offset")
        if offset == 0 and length < 0:
            rows = self._query(ns, "SELECT data FROM chunks WHERE id = ?", (chunk_id,))
        elif length < 0:
            rows = self._query(ns, "SELECT substr(data, ?) FROM chunks WHERE id = ?", (offset + 1, chunk_id))
        else:
            rows = self._query(ns, "SELECT substr(data, ?, ?) FROM chunks WHERE id = ?",
                               (offset + 1, length, chunk_id))
        if not rows:
            raise FileNotFoundError(errno.ENOENT, f"the store holds no chunk {chunk_id.hex()} in {ns}")
        return bytes(rows[0][0])

    def length(self, ns: str, chunk_id: bytes) -> int:
        chunk_hex(chunk_id)
        rows = self._query(ns, "SELECT length(data) FROM chunks WHERE id = ?", (chunk_id,))
        if not rows:
            raise FileNotFoundError(errno.ENOENT, f"the store holds no chunk {chunk_id.hex()} in {ns}")
        return int(rows[0][0])

    def has(self, ns: str, chunk_id: bytes) -> bool:
        chunk_hex(chunk_id)
        return bool(self._query(ns, "SELECT 1 FROM chunks WHERE id = ?", (chunk_id,)))

    def delete_many(self, ns: str, ids: Iterable[bytes]) -> None:
        gone = []
        for chunk_id in ids:
            chunk_hex(chunk_id)
            gone.append((chunk_id,))
        try:
            db = self.dbs.get(ns)
            if db is None or not gone:
                return
            with db.write_lock, db.connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("DELETE FROM chunks WHERE id = ?", gone)
                conn.execute("COMMIT")
                conn.execute("PRAGMA incremental_vacuum")
        except sqlite3.Error as exc:
            raise _os_error(exc, ns) from exc

    def ids(self, ns: str, stored_before: int | None = None) -> Iterator[bytes]:
        if stored_before is None:
            rows = self._query(ns, "SELECT id FROM chunks ORDER BY id", ())
        else:
            rows = self._query(ns, "SELECT id FROM chunks WHERE stored_ns < ? ORDER BY id", (stored_before,))
        return (bytes(r[0]) for r in rows)

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def empty_tmp(self) -> None:
        """Remove what a killed upload left in ``tmp`` (called when the server starts, before any put)."""
        for p in self.tmp.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    def close(self) -> None:
        """Close every database (a later call opens them again)."""
        self.dbs.close()

    def _query(self, ns: str, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """Every row of a read (so the connection goes back with no read transaction left open)."""
        try:
            db = self.dbs.get(ns)
            if db is None:
                return []
            with db.connection() as conn:
                return conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _os_error(exc, ns) from exc


def _os_error(exc: sqlite3.Error, ns: str) -> OSError:
    """The ``OSError`` a file store would have raised: ``ENOSPC`` for a full disk, ``EIO`` otherwise."""
    if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_FULL:
        return OSError(errno.ENOSPC, f"the chunk store's disk is full ({exc})")
    return OSError(errno.EIO, f"the chunk database of {ns} failed: {exc}")
