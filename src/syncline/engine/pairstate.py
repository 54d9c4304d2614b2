"""What two-way sync remembers per pair: the base (the last synced state) and the folder's id.

One SQLite database per pair of roots, in the state directory (``pairs/<key>.sqlite``), so the roots
themselves hold nothing but a small marker. The base advances per item: the executor reports each item once
it is durably done, and its rows are committed in the same step (WAL, ``synchronous=FULL``), so after a
crash the base never claims more than the disks hold.

A database that cannot be read is moved aside (``.corrupt-<time>``) and the pair starts over as a first run:
a merge that deletes nothing. Rows are keyed by the path's bytes, so byte order is SQLite's order.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from ..core.entry import KINDS, Entry
from ..core.reconcile import BaseEntry
from .state import state_subdir

SCHEMA_VERSION = 1


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")  # os.fsdecode, without its per-call lookups


_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS base (
    path BLOB PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    mode INTEGER NOT NULL, digest BLOB, target BLOB, inode_a INTEGER NOT NULL, inode_b INTEGER NOT NULL
) WITHOUT ROWID;
"""


def pair_key(a: Path, b: Path) -> tuple[str, bool]:
    """The pair's file name key, and whether ``a`` is the store's side "b" (the key is order-free: the
    pair is the same whichever root is given first)."""
    ra, rb = os.fsencode(os.path.realpath(a)), os.fsencode(os.path.realpath(b))
    swapped = rb < ra
    first, second = (rb, ra) if swapped else (ra, rb)
    return hashlib.sha256(first + b"\0" + second).hexdigest()[:32], swapped


class PairState:
    """The base and folder id of one pair. ``a``/``b`` are the roots as the caller names them."""

    def __init__(self, a: Path, b: Path) -> None:
        key, self._swapped = pair_key(a, b)
        self.path = state_subdir("pairs") / f"{key}.sqlite"
        self.notice = ""
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                p = Path(f"{self.path}{suffix}")
                if p.exists():
                    os.replace(p, Path(f"{aside}{suffix}"))
            self.notice = f"the pair's saved state could not be read ({exc}); moved it to {aside} and " \
                          "merged as on a first run (nothing deleted)"
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {row[0]}, not {SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM base").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------------------------------ meta

    def folder_id(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key='folder_id'").fetchone()
        return None if row is None else str(row[0])

    def set_folder_id(self, folder_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('folder_id', ?)", (folder_id,))

    def synced_before(self) -> bool:
        """Whether a run of this pair ever finished: from then on its base is the truth, even an empty
        one (two sides that were both empty and then one gained a file must not merge it back forever)."""
        return self._db.execute("SELECT 1 FROM meta WHERE key='finished_ns'").fetchone() is not None

    def mark_finished(self) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('finished_ns', ?)", (str(time.time_ns()),))

    # ------------------------------------------------------------------------------------------ base

    def load(self) -> dict[str, BaseEntry]:
        """The whole base (path -> row). An unreadable database gives an empty base and a notice."""
        kinds = KINDS
        entry = partial(tuple.__new__, Entry)  # no NamedTuple __new__ in Python per row
        row = partial(tuple.__new__, BaseEntry)
        decode = _decode
        swapped = self._swapped
        try:
            rows = self._db.execute("SELECT path, kind, size, mtime_ns, mode, digest, target, inode_a, inode_b "
                                    "FROM base")
            return {
                decode(path): row((entry((kinds[kind], size, mtime, mode, digest,
                                          None if target is None else decode(target), 0, 0, None, None)),
                                   ib if swapped else ia, ia if swapped else ib))
                for path, kind, size, mtime, mode, digest, target, ia, ib in rows
            }
        except (sqlite3.DatabaseError, IndexError, ValueError, TypeError) as exc:
            self.notice = f"the pair's saved state could not be read ({exc}); merged as on a first run " \
                          "(nothing deleted)"
            return {}

    @property
    def empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM base LIMIT 1").fetchone() is None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def put(self, rows: Iterable[tuple[str, BaseEntry | None]]) -> None:
        """Set (or, for None, drop) the rows of these paths. Call inside :meth:`transaction`."""
        puts = []
        dels = []
        for path, row in rows:
            key = os.fsencode(path)
            if row is None:
                dels.append((key,))
                continue
            e = row.entry
            ia, ib = (row.inode_b, row.inode_a) if self._swapped else (row.inode_a, row.inode_b)
            puts.append((key, _KIND_CODE[e.kind], e.size, e.mtime_ns, e.mode, e.digest,
                         os.fsencode(e.target) if e.target is not None else None, ia, ib))
        if dels:
            self._db.executemany("DELETE FROM base WHERE path = ?", dels)
        if puts:
            self._db.executemany("INSERT OR REPLACE INTO base VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", puts)

    def drop_tree(self, path: str) -> None:
        """Drop ``path`` and every row below it. Call inside :meth:`transaction`."""
        key = os.fsencode(path)
        # Below "p/" in byte order is the range ["p/", "p0"): "0" is the byte after "/".
        self._db.execute("DELETE FROM base WHERE path = ? OR (path >= ? AND path < ?)",
                         (key, key + b"/", key + b"0"))

    def clear(self) -> None:
        self._db.execute("DELETE FROM base")
