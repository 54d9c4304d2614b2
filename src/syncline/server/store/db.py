"""The metadata database: one SQLAlchemy engine, explicit transactions, one write lock per process.

pysqlite's own transaction handling is off (the engine runs in ``AUTOCOMMIT``, which sets the driver's
``isolation_level`` to None) and the store says what it means: ``BEGIN IMMEDIATE`` for a writer, so it takes
SQLite's write lock at once and two writers never deadlock upgrading a read lock; ``BEGIN`` for a reader
that must see one snapshot (a page of a listing and its ``seq``). On PostgreSQL both are ``BEGIN`` (a
writer of a folder locks its row by raising ``folders.seq`` first). Writers in this process also queue on
one :class:`threading.Lock`, so waiting happens in Python, not in SQLite's busy loop; another process on
the same data directory (``syncline user add``) is covered by ``busy_timeout``.

Every connection runs with ``journal_mode=WAL``, ``synchronous=FULL`` (a commit a device was told about
survives a power cut: the device advances its base on it) and ``foreign_keys=ON``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=5000")


class Database:
    """The engine of one metadata database (``url``: a SQLAlchemy URL; :meth:`sqlite` for a file)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=8, max_overflow=8,
                                       connect_args={"check_same_thread": False} if url.startswith("sqlite")
                                       else {})
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock()
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @classmethod
    def on_file(cls, path: Path) -> Database:
        return cls(f"sqlite:///{path}")

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction: committed (durably) when the block ends, rolled back when it raises."""
        with self._write_lock, self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if self.is_sqlite else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction: every statement in the block sees one snapshot."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
