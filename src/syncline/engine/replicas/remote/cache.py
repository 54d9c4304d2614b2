"""The listing cache: the last full listing of a server folder, in SQLite under the state directory, so
that a scan of an unchanged folder is one ``entries?since=<seq>`` request with an empty answer.

One database per folder address. It holds the folder's uid and the server's id it belongs to (a folder
deleted and made again under the same name, or another server at the address, starts from nothing), the
``seq`` the listing is complete at, and one row per path. It is a cache: anything wrong with it (a
damaged file, another schema) is dropped and the folder listed again from 0; the entries it returns
were checked by the wire codec when they arrived, and are what the server said at ``seq``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from ....core.entry import Entry
from ....core.listing import Listing
from ....formats.wire.entries import Row, etag_of

SCHEMA = 1
CACHE_DIR = "remote-listings"  # below the state directory
RESP = "bad_response"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    path TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    mode INTEGER NOT NULL, digest BLOB, target TEXT, file_id TEXT NOT NULL, version INTEGER NOT NULL);
"""


def cache_path(state_dir: Path, address: str) -> Path:
    return Path(state_dir) / CACHE_DIR / f"{hashlib.sha256(address.encode()).hexdigest()[:32]}.sqlite"


class ListingCache:
    """The cached listing of one folder (see the module). ``path`` None keeps it in memory only (a
    replica without a state directory: the cache then lasts as long as the replica)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._db = self._open()
        # The rows in memory too, once read: a daemon's every run would otherwise read and rebuild them all
        # (0.7 s of a one-file edit's run at 100,000 files).
        self._listing: Listing | None = None
        self._listing_seq = -1  # the seq the database was at when the rows in memory matched it

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            return self._init(sqlite3.connect(":memory:", check_same_thread=False))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._init(sqlite3.connect(self.path, check_same_thread=False))
        except sqlite3.DatabaseError:
            self.path.unlink(missing_ok=True)  # a damaged cache is only a slower next scan
            return self._init(sqlite3.connect(self.path, check_same_thread=False))

    @staticmethod
    def _init(db: sqlite3.Connection) -> sqlite3.Connection:
        db.isolation_level = None
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last update costs one listing
        db.executescript(_TABLES)
        version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if version is None or version[0] != str(SCHEMA):
            db.executescript("BEGIN; DELETE FROM entries; DELETE FROM meta; COMMIT;")
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        return db

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def seq(self, owner: str) -> int:
        """The ``seq`` the cached listing is complete at, 0 when there is none or it is of another
        ``owner`` (``server_id/folder uid``): then the cache is emptied."""
        with self._mutex:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'owner'").fetchone()
            if row is None or row[0] != owner:
                self._reset(owner)
                return 0
            seq = self._stored_seq()
            if seq != self._listing_seq:  # another process (a one-shot sync) updated the database
                self._listing = None
            return seq

    def _stored_seq(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        return int(row[0]) if row is not None else 0

    def _reset(self, owner: str) -> None:
        self._listing = None
        self._db.executescript("BEGIN; DELETE FROM entries; DELETE FROM meta WHERE key != 'schema'; COMMIT;")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('owner', ?)", (owner,))

    def reset(self, owner: str) -> None:
        """Forget the listing (``history_gone``: the server no longer has the delta)."""
        with self._mutex:
            self._reset(owner)

    def apply(self, rows: Iterable[Row], seq: int, complete: bool) -> None:
        """Apply one page: each row replaces its path's entry, a tombstone removes it. ``complete``: the
        last page (its ``seq`` is what the listing is now complete at); until then the stored ``seq`` is
        not moved, so an interrupted update is asked for again from the same point."""
        rows = list(rows)  # read twice: into the database, then into the rows in memory
        with self._mutex:
            db = self._db
            db.execute("BEGIN")
            try:
                for r in rows:
                    if r.entry is None:
                        db.execute("DELETE FROM entries WHERE path = ?", (r.path,))
                    else:
                        e = r.entry
                        db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   (r.path, e.kind, e.size, e.mtime_ns, e.mode, e.digest, e.target, str(e.file_id),
                                    r.version))
                if complete:
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(seq),))
                db.execute("COMMIT")
                if complete:
                    self._listing_seq = seq
            except BaseException:
                db.execute("ROLLBACK")
                self._listing = None  # read again from what the database holds
                raise
            if self._listing is not None:
                for r in rows:
                    if r.entry is None:
                        self._listing.remove(r.path)
                    else:
                        self._listing.put(r.path, _entry(r.entry, r.version))

    def listing(self) -> Listing:
        """Every cached entry by path (as the wire codec made it: ``etag`` ``v<version>``, ``ctime_ns``
        the version), with each folder's children. Read from the database once, then kept up to date by
        :meth:`apply`: the caller reads it and never changes it, and it holds until the next ``apply``."""
        with self._mutex:
            if self._listing is None:
                self._listing_seq = self._stored_seq()
                rows = self._db.execute("SELECT path, kind, size, mtime_ns, mode, digest, target, file_id, "
                                        "version FROM entries").fetchall()
                self._listing = Listing((p, Entry(k, s, m, mode, d, t, f, v, etag=etag_of(v)))
                                        for p, k, s, m, mode, d, t, f, v in rows)
            return self._listing


def _entry(e: Entry, version: int) -> Entry:
    """``e`` as a row read back from the database holds it (see :meth:`ListingCache.listing`)."""
    return Entry(e.kind, e.size, e.mtime_ns, e.mode, e.digest, e.target, str(e.file_id), version,
                 etag=etag_of(version))
