"""The chunk store's databases: one SQLite file per namespace, ``DATA/chunks/<ns>.sqlite``.

The format (``PRAGMA user_version`` 1, ``application_id`` :data:`APPLICATION_ID`)::

    CREATE TABLE chunks (id BLOB PRIMARY KEY, stored_ns INTEGER NOT NULL, data BLOB NOT NULL)

``id`` is the chunk's BLAKE3-256, ``data`` its bytes, ``stored_ns`` when it was last put (the collector's
orphan age). A rowid table, 16 KiB pages, WAL, ``synchronous=FULL``: measured against ``WITHOUT ROWID``
and 4 KiB pages, it puts and reads ~7 KB chunks 1.6-3 times faster, 1 MiB ones 1.4-2 times on put and
3-9 times on read (docs/server-store.md); it is also what incremental blob I/O needs.
``auto_vacuum=INCREMENTAL``: space the collector frees goes back to the file system.

:class:`ChunkDbs` hands out connections: per namespace, idle ones are kept for reuse (readers run
concurrently under WAL), writers queue on a Python lock (waiting happens here, not in SQLite's busy loop),
and at most ``max_open`` namespaces keep connections open (the least recently used are closed).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .store import check_namespace

APPLICATION_ID = 0x53594E43  # "SYNC"
VERSION = 1
PAGE_SIZE = 16384
MAX_IDLE = 4  # idle connections kept per namespace; more are opened under load and closed after
_SCHEMA = ("CREATE TABLE IF NOT EXISTS chunks (id BLOB PRIMARY KEY, stored_ns INTEGER NOT NULL, "
           "data BLOB NOT NULL)")


class ChunkDb:
    """One namespace's database: idle connections to reuse and the lock its writers hold."""

    def __init__(self, path: Path, write_lock: threading.Lock | None = None) -> None:
        self.path = path
        self.write_lock = write_lock if write_lock is not None else threading.Lock()
        self._mutex = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._retired = False

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection used by this thread alone until the block ends (never inside a transaction after)."""
        with self._mutex:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = connect(self.path)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()
            with self._mutex:
                keep = not self._retired and len(self._idle) < MAX_IDLE
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def retire(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        with self._mutex:
            self._retired = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing database (autocommit: transactions are begun explicitly)."""
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False)
    try:
        for pragma in ("synchronous=FULL", "busy_timeout=5000", f"journal_size_limit={64 << 20}"):
            conn.execute(f"PRAGMA {pragma}")
    except BaseException:
        conn.close()
        raise
    return conn


def create(path: Path) -> None:
    """Make the database at ``path`` (or finish one a crash left half made); its directory entry durable."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == VERSION:
            return
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_SCHEMA)
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={VERSION}")
        conn.execute("COMMIT")
    finally:
        conn.close()
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ChunkDbs:
    """The namespaces' databases under ``root``, at most ``max_open`` with open connections."""

    def __init__(self, root: Path, max_open: int = 64) -> None:
        self.root = root
        self.max_open = max_open
        self._lock = threading.Lock()
        self._open: OrderedDict[str, ChunkDb] = OrderedDict()
        # A namespace's writers queue on one lock for the server's life, even when its connections were
        # closed meanwhile: a put still running on a retired ChunkDb and one on its successor never
        # meet in SQLite's busy loop (which gives up after busy_timeout).
        self._write_locks: dict[str, threading.Lock] = {}

    def path(self, ns: str) -> Path:
        """Where namespace ``ns`` keeps its chunks (``ValueError`` for a name the server does not make)."""
        return self.root / f"{check_namespace(ns)}.sqlite"

    def get(self, ns: str, make: bool = False) -> ChunkDb | None:
        """``ns``'s database; None when it has none and ``make`` is false (reads never make a file)."""
        path = self.path(ns)
        with self._lock:
            found = self._open.get(ns)
            if found is not None:
                self._open.move_to_end(ns)
                return found
            if not path.exists():
                if not make:
                    return None
                create(path)
            else:
                with sqlite3.connect(f"file:{path}?mode=rw", uri=True) as probe:
                    version = probe.execute("PRAGMA user_version").fetchone()[0]
                probe.close()
                if version != VERSION:
                    if version != 0:
                        raise OSError(f"{path} is a chunk database of version {version}, not {VERSION}: "
                                      "is this server older than the one that made it?")
                    create(path)  # a crash while it was being made
            db = self._open[ns] = ChunkDb(path, self._write_locks.setdefault(ns, threading.Lock()))
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)[1].retire()
            return db

    def close(self) -> None:
        with self._lock:
            for db in self._open.values():
                db.retire()
            self._open.clear()
