"""The mirror's durable journal: folders seen changed but not yet synced to every target, and the targets
that have been synced before (whose marker must then be there).

One SQLite file per source in the state directory (``watch/<key>.sqlite``), WAL with ``synchronous=FULL``:
a folder is journaled before it is synced and taken off only when every target has it, so after kill -9
or a reboot the next run starts with exactly what was in flight (and then a full catch-up).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from ...core.errors import BusyError
from ...engine.state import state_subdir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (folder BLOB PRIMARY KEY, deep INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS targets (root BLOB PRIMARY KEY) WITHOUT ROWID;
"""


class Journal:
    """The journal of one watched source."""

    def __init__(self, source: Path) -> None:
        key = hashlib.sha256(os.fsencode(os.path.realpath(source))).hexdigest()[:32]
        self.path = state_subdir("watch") / f"{key}.sqlite"
        # One watcher per source: two would share this journal and fight over every target's lock.
        self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise BusyError(f"another syncline watch is already mirroring {source}",
                            "stop it first, or let it do the work") from None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            # A damaged journal only costs the folders it held: the catch-up sync at start covers them.
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        db.execute("SELECT count(*) FROM pending").fetchone()
        return db

    def close(self) -> None:
        self._db.close()
        os.close(self._lock_fd)

    def add(self, folders: Iterable[tuple[str, bool]]) -> None:
        rows = [(os.fsencode(f), int(deep)) for f, deep in folders]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO pending VALUES (?, ?) ON CONFLICT(folder) DO UPDATE SET "
                                 "deep = max(deep, excluded.deep)", rows)

    def remove(self, folders: Iterable[tuple[str, bool]]) -> None:
        rows = [(os.fsencode(f),) for f, _ in folders]
        if rows:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM pending WHERE folder = ?", rows)

    def pending(self) -> list[tuple[str, bool]]:
        return [(os.fsdecode(f), bool(d)) for f, d in self._db.execute("SELECT folder, deep FROM pending "
                                                                        "ORDER BY folder")]

    def target_known(self, name: str) -> bool:
        """Whether the target ``name`` (its replica's ``describe()``) has been synced before."""
        row = self._db.execute("SELECT 1 FROM targets WHERE root = ?", (os.fsencode(name),)).fetchone()
        return row is not None

    def remember_target(self, name: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO targets VALUES (?)", (os.fsencode(name),))
