"""What two-way sync remembers per pair: the base (the last synced state) and the folder's id.

One SQLite database per pair of replicas, in the state directory (``pairs/<key>.sqlite``, the key made of
the two replicas' addresses: a local folder's real path, a server folder's URL), so the roots themselves
hold nothing but a small marker. The base advances per item: the executor reports each item once
it is durably done, and its rows are committed in the same step (WAL, ``synchronous=FULL``), so after a
crash the base never claims more than the disks hold.

Only a database that is truly corrupt (SQLite says so, or its tables are not this module's) is moved aside
(``.corrupt-<time>``), and the pair starts over as a first run: a merge that deletes nothing. One that
cannot be opened, read or written for any other reason (a full disk, an I/O error, a lock, a base from a
newer syncline) is left exactly as it is and the run stops with a :class:`StateError`: taking a healthy
base for lost would merge and bring back files the user deleted. Rows are keyed by the path's bytes, so
byte order is SQLite's order.

Schema (``SCHEMA_VERSION`` in ``meta``; an older database is upgraded in place when opened):

- v1: ``meta`` and ``base`` (one row per path); ``meta`` holds the folder id, the roots' generations,
  ``finished_ns`` (a run finished) and ``unfinished_ns`` (a run is writing, or was killed while it was);
- v2: ``base.mtime_far``: a time beyond SQLite's 64-bit integers (after 2262, before 1677; ``core/times.py``)
  as its decimal text, with ``mtime_ns`` clamped to the int64 bound on the same side; NULL for every other
  time. A partial index finds those few rows without reading the table twice.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

from ...core.entry import DIR, KINDS, Entry, FileId
from ...core.errors import StateError
from ...core.reconcile import BaseEntry
from ...core.times import INT64_MAX, INT64_MIN
from ..state import state_dir, state_subdir

SCHEMA_VERSION = 2


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")  # os.fsdecode, without its per-call lookups


_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_FAR_INDEX = "CREATE INDEX IF NOT EXISTS base_far ON base(path) WHERE mtime_far IS NOT NULL"
# The columns inode_a and inode_b hold each side's file id (``BaseEntry.file_id_a``/``file_id_b``): an
# inode locally, which SQLite stores as an integer, and a server's id later, stored as text in the same
# column (SQLite keeps each value's own type). So they keep their old names and no base needs a migration.
# Their INTEGER affinity turns a text id that reads as a whole number ("0042") into one (42): a replica
# with such ids should hand them out as ints, so an id read back equals the one it reports.
_CREATE = (
    """CREATE TABLE base (
    path BLOB PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    mode INTEGER NOT NULL, digest BLOB, target BLOB, inode_a INTEGER NOT NULL, inode_b INTEGER NOT NULL,
    mtime_far TEXT
) WITHOUT ROWID""",
    _FAR_INDEX,
)
_UPGRADES = {  # version n -> the statements that make it version n + 1
    1: ("ALTER TABLE base ADD COLUMN mtime_far TEXT", _FAR_INDEX),
}


class _Corrupt(Exception):
    """The database opens, but is not one this module wrote: set it aside."""


# SQLite's own verdicts of a damaged file; every other error (full, I/O, locked, read-only, cannot open)
# says nothing about the base itself.
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def _is_corrupt(exc: BaseException) -> bool:
    if isinstance(exc, _Corrupt):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPT_CODES  # extended codes keep the primary in the low byte


_FIX = "free space on (or repair) the disk of the state directory ($SYNCLINE_STATE_DIR), then run again"


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


@contextmanager
def _state_errors(path: Path, doing: str) -> Iterator[None]:
    """Turn an SQLite error while ``doing`` into a one-line :class:`StateError`: the run stops, the base
    stays as it is. The base only ever lags what the disks hold, so the next run finishes the rest."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StateError(f"cannot {doing} the pair's saved state {path}: {_why(exc)}",
                         _FIX + "; what this run did is kept and the next run finishes the rest") from None


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _schema_version(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _Corrupt(f"schema version {value!r}") from None


Address = str | os.PathLike[str]


def address_of(side: Address) -> str:
    """The address a pair's key is made of: a replica's ``address()`` as it is, or for a local folder
    given as a path (``os.PathLike``) its real absolute path, which is what ``LocalReplica.address()``
    gives (so bases made before replicas had addresses are found again, with no migration)."""
    return side if isinstance(side, str) else os.path.realpath(side)


def pair_key(a: Address, b: Address) -> tuple[str, bool]:
    """The pair's file name key, and whether ``a`` is the store's side "b" (the key is order-free: the
    pair is the same whichever replica is given first)."""
    ra, rb = os.fsencode(address_of(a)), os.fsencode(address_of(b))
    swapped = rb < ra
    first, second = (rb, ra) if swapped else (ra, rb)
    return hashlib.sha256(first + b"\0" + second).hexdigest()[:32], swapped


def has_base(a: Address, b: Address) -> bool:
    """Whether the pair of ``a`` and ``b`` has a base (was synced before on this machine); creates nothing."""
    return (state_dir() / "pairs" / f"{pair_key(a, b)[0]}.sqlite").exists()


class PairState:
    """The base and folder id of one pair. ``a``/``b`` are the replicas' addresses (or local roots, see
    :func:`address_of`) as the caller names them."""

    def __init__(self, a: Address, b: Address) -> None:
        key, self._swapped = pair_key(a, b)
        self.path = state_subdir("pairs") / f"{key}.sqlite"
        self.notice = ""
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            try:
                return self._connect()
            except (sqlite3.Error, _Corrupt) as exc:
                if not _is_corrupt(exc):
                    raise
                aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
                for suffix in ("", "-wal", "-shm"):
                    p = Path(f"{self.path}{suffix}")
                    if p.exists():
                        os.replace(p, Path(f"{aside}{suffix}"))
                self.notice = f"the pair's saved state could not be read ({exc}); moved it to {aside} and " \
                              "merged as on a first run (nothing deleted)"
                return self._connect()
        except (sqlite3.Error, _Corrupt, OSError) as exc:
            raise StateError(f"cannot open the pair's saved state {self.path}: {_why(exc)}",
                             _FIX + "; nothing was changed") from None
    def _connect(self) -> sqlite3.Connection:
        """Open (creating or upgrading) the database. Raises :class:`_Corrupt` or ``sqlite3.Error``, and
        :class:`StateError` for a base of a newer schema."""
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN")
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                db.execute(_META)
                for statement in _CREATE:
                    db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif not {"meta", "base"} <= tables:
                raise _Corrupt(f"tables {sorted(tables)}")
            else:
                row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                version = _schema_version(row[0]) if row is not None else 0
                if version > SCHEMA_VERSION:
                    raise StateError(f"the pair's saved state {self.path} was written by a newer syncline "
                                     f"(schema v{version}; this syncline knows up to v{SCHEMA_VERSION})",
                                     "upgrade syncline; nothing was changed")
                if version < SCHEMA_VERSION:
                    if version not in _UPGRADES:
                        raise _Corrupt(f"schema version {version}")
                    while version < SCHEMA_VERSION:
                        for statement in _UPGRADES[version]:
                            db.execute(statement)
                        version += 1
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("SELECT count(*) FROM base").fetchone()
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with suppress(sqlite3.Error):  # a checkpoint that cannot run now runs at the next open
            self._db.close()

    # ------------------------------------------------------------------------------------------ meta

    # Every method raises StateError when SQLite fails for a reason other than a corrupt file.

    def folder_id(self) -> str | None:
        with _state_errors(self.path, "read"):
            row = self._db.execute("SELECT value FROM meta WHERE key='folder_id'").fetchone()
        return None if row is None else str(row[0])

    def start_writing(self, folder_id: str) -> None:
        """Record the pair's folder id, and that a run is about to write (until :meth:`mark_finished`): a
        run killed from here on may have left a folder half-made that a scoped run would not look into
        (see :meth:`interrupted`). One commit, as the folder id alone took."""
        with _state_errors(self.path, "write"), self.transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [("folder_id", folder_id), ("unfinished_ns", str(time.time_ns()))])

    def interrupted(self) -> bool:
        """Whether a run started writing and never reached :meth:`mark_finished` (it was killed, or stopped
        by an error)."""
        with _state_errors(self.path, "read"):
            return self._db.execute("SELECT 1 FROM meta WHERE key='unfinished_ns'").fetchone() is not None

    def generations(self) -> tuple[int | None, int | None]:
        """The generations of the roots (``a``, ``b`` as the caller names them) at this pair's last run
        that changed anything; None where no run recorded one."""
        with _state_errors(self.path, "read"):
            rows = dict(self._db.execute("SELECT key, value FROM meta "
                                         "WHERE key IN ('generation_a', 'generation_b')").fetchall())
        first, second = (_count(rows.get(k)) for k in ("generation_a", "generation_b"))
        return (second, first) if self._swapped else (first, second)

    def set_generations(self, ga: int, gb: int) -> None:
        """Remember the roots' generations (``a``, ``b`` as the caller names them)."""
        first, second = (gb, ga) if self._swapped else (ga, gb)
        with _state_errors(self.path, "write"), self.transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [("generation_a", str(first)), ("generation_b", str(second))])

    def unmarked(self) -> tuple[bool, bool]:
        """Whether each root (``a``, ``b`` as the caller names them) held no folder id at this pair's last
        run because this pair could not write one there (a side the user may only read)."""
        with _state_errors(self.path, "read"):
            rows = dict(self._db.execute("SELECT key, value FROM meta "
                                         "WHERE key IN ('unmarked_a', 'unmarked_b')").fetchall())
        first, second = (rows.get(k) == "1" for k in ("unmarked_a", "unmarked_b"))
        return (second, first) if self._swapped else (first, second)

    def set_unmarked(self, a: bool, b: bool) -> None:
        first, second = (b, a) if self._swapped else (a, b)
        with _state_errors(self.path, "write"), self.transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [("unmarked_a", "1" if first else "0"), ("unmarked_b", "1" if second else "0")])

    def synced_before(self) -> bool:
        """Whether a run of this pair ever finished: from then on its base is the truth, even an empty
        one (two sides that were both empty and then one gained a file must not merge it back forever)."""
        with _state_errors(self.path, "read"):
            return self._db.execute("SELECT 1 FROM meta WHERE key='finished_ns'").fetchone() is not None

    def mark_finished(self) -> None:
        """Record that a run's writes are all done (:meth:`synced_before` is true from then on, and
        :meth:`interrupted` false until the next :meth:`start_writing`)."""
        with _state_errors(self.path, "write"), self.transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('finished_ns', ?)", (str(time.time_ns()),))
            self._db.execute("DELETE FROM meta WHERE key='unfinished_ns'")

    # ------------------------------------------------------------------------------------------ base

    def load(self) -> dict[str, BaseEntry]:
        """The whole base (path -> row). A corrupt database gives an empty base and a notice (the run
        merges); any other failure to read it raises :class:`StateError`."""
        return self._load([("", ())])

    def load_dirs(self, dirs: Iterable[tuple[str, bool]]) -> dict[str, BaseEntry]:
        """The rows of part of the base, as :meth:`load` gives them: for each ``(folder, deep)`` the
        folder's own row and its children's (``deep``: every row below it; ``""`` is the root, which has
        no row). What a scoped two-way run reads instead of the whole base."""
        # One query per folder, not one with a clause per folder: SQLite tests every clause of an OR on
        # every row it reads, so a scope of 1,000 folders over 100,000 rows read them 1,000 times over
        # (7 s of a 1% run at 100,000 files); each range below is a seek in the primary key.
        queries: list[tuple[str, tuple[bytes | int, ...]]] = []
        for folder, deep in dirs:
            if folder == "":
                if deep:
                    return self.load()
                queries.append((" WHERE instr(path, X'2F') = 0", ()))  # no "/": a top-level name
                continue
            key = os.fsencode(folder)
            # Below "d/" in byte order is the range ["d/", "d0"): "0" is the byte after "/".
            if deep:
                queries.append((" WHERE path = ? OR (path >= ? AND path < ?)", (key, key + b"/", key + b"0")))
            else:
                queries.append((" WHERE path = ? OR (path >= ? AND path < ? AND instr(substr(path, ?), X'2F') = 0)",
                                (key, key + b"/", key + b"0", len(key) + 2)))
        if not queries:
            return {}
        return self._load(queries)

    def load_paths(self, paths: Iterable[str]) -> dict[str, BaseEntry]:
        """The rows of ``paths`` (those the base has), as :meth:`load` gives them: what a scoped run reads
        of the children it was told changed."""
        keys = sorted({os.fsencode(p) for p in paths if p})
        # A few hundred at a time: SQLite allows at most 32,766 parameters to a statement.
        step = 500
        return self._load([(f" WHERE path IN ({', '.join('?' * len(keys[i:i + step]))})", tuple(keys[i:i + step]))
                           for i in range(0, len(keys), step)])

    def _load(self, queries: Sequence[tuple[str, tuple[bytes | int, ...]]]) -> dict[str, BaseEntry]:
        """The rows each ``(where, params)`` of ``queries`` selects, in one dict (a row two of them select
        is read twice and kept once)."""
        kinds = KINDS
        entry = partial(tuple.__new__, Entry)  # no NamedTuple __new__ in Python per row
        row = partial(tuple.__new__, BaseEntry)
        decode = _decode
        swapped = self._swapped
        base: dict[str, BaseEntry] = {}
        try:
            for where, params in queries:
                rows = self._db.execute("SELECT path, kind, size, mtime_ns, mode, digest, target, inode_a, "
                                        "inode_b FROM base" + where, params)
                base.update({
                    decode(path): row((entry((kinds[kind], size, mtime, mode, digest,
                                              None if target is None else decode(target), 0, 0, None, None,
                                              None)),
                                       ib if swapped else ia, ia if swapped else ib))
                    for path, kind, size, mtime, mode, digest, target, ia, ib in rows
                })
            for path, far in self._db.execute("SELECT path, mtime_far FROM base WHERE mtime_far IS NOT NULL"):
                p = decode(path)
                if p not in base:  # outside the part asked for
                    continue
                base[p] = base[p]._replace(entry=base[p].entry._replace(mtime_ns=int(far)))
            return base
        except (sqlite3.Error, IndexError, ValueError, TypeError) as exc:
            if isinstance(exc, sqlite3.Error) and not _is_corrupt(exc):
                raise StateError(f"cannot read the pair's saved state {self.path}: {_why(exc)}",
                                 _FIX + "; nothing was changed") from None
            self.notice = f"the pair's saved state could not be read ({exc}); merged as on a first run " \
                          "(nothing deleted)"
            return {}

    def paths_of_file_ids(self, side: str, file_ids: Iterable[FileId]) -> dict[FileId, list[str]]:
        """The base's paths whose file id on ``side`` (``"a"`` or ``"b"`` as the caller names them) is one
        of ``file_ids``: where a file new in a scoped run's folders was when the base last saw it (one
        query over the table; it has no index on file ids)."""
        wanted = list(dict.fromkeys(i for i in file_ids if i))
        column = "inode_a" if (side == "a") != self._swapped else "inode_b"
        out: dict[FileId, list[str]] = {}
        with _state_errors(self.path, "read"):
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                for path, fid in self._db.execute(f"SELECT path, {column} FROM base WHERE {column} IN ({marks})",
                                                  chunk):
                    out.setdefault(fid, []).append(_decode(path))
        return out

    def counts(self) -> tuple[int, int]:
        """(rows, files): the base's rows, and those that are not folders (as the delete guard counts
        files)."""
        with _state_errors(self.path, "read"):
            rows, files = self._db.execute("SELECT count(*), total(kind != ?) FROM base",
                                           (_KIND_CODE[DIR],)).fetchone()
        return int(rows), int(files or 0)

    @property
    def empty(self) -> bool:
        with _state_errors(self.path, "read"):
            return self._db.execute("SELECT 1 FROM base LIMIT 1").fetchone() is None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes in the block commit together, or none does (a failed commit rolls back)."""
        with _state_errors(self.path, "write"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

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
            ia, ib = (row.file_id_b, row.file_id_a) if self._swapped else (row.file_id_a, row.file_id_b)
            mtime, far = e.mtime_ns, None
            if not INT64_MIN <= mtime <= INT64_MAX:
                mtime, far = (INT64_MAX if mtime > 0 else INT64_MIN), str(mtime)
            puts.append((key, _KIND_CODE[e.kind], e.size, mtime, e.mode, e.digest,
                         os.fsencode(e.target) if e.target is not None else None, ia, ib, far))
        with _state_errors(self.path, "write"):
            if dels:
                self._db.executemany("DELETE FROM base WHERE path = ?", dels)
            if puts:
                self._db.executemany("INSERT OR REPLACE INTO base VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", puts)

    def drop_tree(self, path: str) -> None:
        """Drop ``path`` and every row below it. Call inside :meth:`transaction`."""
        key = os.fsencode(path)
        # Below "p/" in byte order is the range ["p/", "p0"): "0" is the byte after "/".
        with _state_errors(self.path, "write"):
            self._db.execute("DELETE FROM base WHERE path = ? OR (path >= ? AND path < ?)",
                             (key, key + b"/", key + b"0"))

    def clear(self) -> None:
        with _state_errors(self.path, "write"):
            self._db.execute("DELETE FROM base")
