"""Numbered schema steps (STYLE 9): the database holds its ``schema_version``; opening a store runs the
steps above it, each in its own write transaction, in order. A released step is never edited: a change is
a new step appended to :data:`STEPS`, and ``schema.py`` changed to match.

A new database is made whole from ``schema.py`` at the newest version (no step runs on it): the steps are
for stores an earlier release made, and each must bring such a store to exactly what ``schema.py`` makes
(``tests/server/test_store_migrations.py`` migrates the first release's schema, frozen there as SQL, and
compares every table, column and index with a new store's). Without this, step 1 (which made the tables
from ``schema.py``) would give a new store the columns of later steps before those steps ran.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from . import schema
from .db import Database

_VERSION = sa.Table("schema_version", sa.MetaData(), sa.Column("version", sa.Integer, nullable=False))


def _step_1(conn: sa.Connection) -> None:
    """The tables of design.md, issue 13: what a store of version 1 holds (made whole since; never run)."""
    raise AssertionError("a new store is made whole at the newest version; no store is at version 0")


def _step_2(conn: sa.Connection) -> None:
    """The index that counts a folder's files and bytes (a store made by step 1 of an earlier release
    lacks it; one made since has it from step 1)."""
    # Plain SQL (SQLite and PostgreSQL alike): an sa.Index made here would join the shared table's indexes.
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS entries_kind_size ON entries (folder_id, kind, size)")


def _step_3(conn: sa.Connection) -> None:
    """Per-user quotas (issue 14): none for every user until an administrator sets one."""
    conn.exec_driver_sql("ALTER TABLE users ADD COLUMN quota_bytes BIGINT")


def _step_4(conn: sa.Connection) -> None:
    """Shares (issue 14): each right names the folder in its user's namespace. The owners' rows take the
    folder's own name, accepted when the folder was made; any other right (none could be given without a
    command before this release) becomes an offer its user accepts under a name of their own."""
    for column in ("name TEXT", "granted_ns BIGINT", "accepted_ns BIGINT", "revoked_ns BIGINT"):
        conn.exec_driver_sql(f"ALTER TABLE folder_access ADD COLUMN {column}")
    made = "(SELECT f.created_ns FROM folders f WHERE f.id = folder_access.folder_id)"
    conn.exec_driver_sql(
        f"UPDATE folder_access SET name = (SELECT f.name FROM folders f WHERE f.id = folder_access.folder_id),"
        f" granted_ns = {made}, accepted_ns = {made}"
        " WHERE user_id = (SELECT f.owner_id FROM folders f WHERE f.id = folder_access.folder_id)")
    conn.exec_driver_sql(f"UPDATE folder_access SET granted_ns = {made} WHERE granted_ns IS NULL")
    conn.exec_driver_sql("CREATE UNIQUE INDEX folder_access_name ON folder_access (user_id, name)")


def _step_5(conn: sa.Connection) -> None:
    """File locks (issue 14): their table, and each folder's count of lock changes."""
    conn.exec_driver_sql("ALTER TABLE folders ADD COLUMN lock_seq BIGINT DEFAULT '0' NOT NULL")
    conn.exec_driver_sql(
        "CREATE TABLE file_locks (folder_id INTEGER NOT NULL, path TEXT NOT NULL, lock_id TEXT NOT NULL,"
        " user_id INTEGER NOT NULL, device_id TEXT NOT NULL, created_ns BIGINT NOT NULL,"
        " expires_ns BIGINT NOT NULL, note TEXT, PRIMARY KEY (folder_id, path),"
        " FOREIGN KEY(folder_id) REFERENCES folders (id), UNIQUE (lock_id),"
        " FOREIGN KEY(user_id) REFERENCES users (id))")
    conn.exec_driver_sql("CREATE INDEX file_locks_expiry ON file_locks (folder_id, expires_ns)")


def _step_6(conn: sa.Connection) -> None:
    """Versions (issue 14): every version no longer live is kept, with when, why and by which device. The
    trash rows of earlier releases become kept versions (replaced when their path has a live file now)."""
    for column in ("kept_ns BIGINT", "reason TEXT", "by_device TEXT"):
        conn.exec_driver_sql(f"ALTER TABLE contents ADD COLUMN {column}")
    conn.exec_driver_sql(
        "UPDATE contents SET kept_ns = trashed_ns, reason = CASE WHEN EXISTS (SELECT 1 FROM entries e WHERE"
        " e.folder_id = contents.folder_id AND e.path = contents.trash_path AND e.kind != 'deleted')"
        " THEN 'replaced' ELSE 'deleted' END WHERE trashed_ns IS NOT NULL")
    conn.exec_driver_sql("CREATE INDEX contents_kept ON contents (folder_id, trash_path, kept_ns)")


def _step_7(conn: sa.Connection) -> None:
    """Damaged versions (issue 14, ``server check --repair``): when a version was found to list a chunk
    the store lost. NULL for every version of an earlier release (none was ever marked). The partial index
    holds the marked ones alone: an upload asks whether any version of its folder waits to be healed."""
    conn.exec_driver_sql("ALTER TABLE contents ADD COLUMN damaged_ns BIGINT")
    conn.exec_driver_sql("CREATE INDEX contents_damaged ON contents (folder_id) WHERE damaged_ns IS NOT NULL")


def _step_8(conn: sa.Connection) -> None:
    """WebDAV (issue 15): each folder row's ``tree_version`` (filled from the rows, tombstones included: the
    highest version at or below it), the numeric ids (one per file_id there is, live or a tombstone's), dead
    properties, and the contents' SHA1 and MD5 (none known yet)."""
    conn.exec_driver_sql("ALTER TABLE entries ADD COLUMN tree_version BIGINT")
    ident = "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT" if conn.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    conn.exec_driver_sql(
        f"CREATE TABLE dav_ids (id {ident}, folder_id INTEGER NOT NULL, file_id TEXT NOT NULL,"
        " UNIQUE (folder_id, file_id), FOREIGN KEY(folder_id) REFERENCES folders (id))")
    blob = "BLOB" if conn.dialect.name == "sqlite" else "BYTEA"
    conn.exec_driver_sql(f"CREATE TABLE content_sums (digest {blob} NOT NULL, sha1 {blob} NOT NULL,"
                         f" md5 {blob} NOT NULL, PRIMARY KEY (digest))")
    conn.exec_driver_sql(
        "CREATE TABLE dav_props (folder_id INTEGER NOT NULL, file_id TEXT NOT NULL, ns TEXT NOT NULL,"
        " name TEXT NOT NULL, xml TEXT NOT NULL, PRIMARY KEY (folder_id, file_id, ns, name),"
        " FOREIGN KEY(folder_id) REFERENCES folders (id))")
    # Below a folder is the byte range path || '/' .. path || '0' (rows.py), as everywhere in the store.
    conn.exec_driver_sql(
        "UPDATE entries SET tree_version = (SELECT max(e.version) FROM entries e WHERE e.folder_id ="
        " entries.folder_id AND (e.path = entries.path OR (e.path > entries.path || '/' AND"
        " e.path < entries.path || '0'))) WHERE kind = 'dir'")
    conn.exec_driver_sql("INSERT INTO dav_ids (folder_id, file_id) SELECT id, '' FROM folders ORDER BY id")
    conn.exec_driver_sql(
        "INSERT INTO dav_ids (folder_id, file_id) SELECT folder_id, file_id FROM entries"
        " GROUP BY folder_id, file_id ORDER BY min(version)")


def _step_9(conn: sa.Connection) -> None:
    """WebDAV locks (issue 15): a lock is keyed by its id (shared locks share a path) and says its scope,
    depth, WebDAV owner and whether it was taken over WebDAV. The locks there are keep their ids and
    become what they were: exclusive, depth 0, native. (A table's key cannot change in place on SQLite:
    a new table takes the rows.)"""
    boolean = "BOOLEAN DEFAULT '0' NOT NULL"
    conn.exec_driver_sql(
        "CREATE TABLE file_locks_new (lock_id TEXT NOT NULL, folder_id INTEGER NOT NULL, path TEXT NOT NULL,"
        " user_id INTEGER NOT NULL, device_id TEXT NOT NULL, created_ns BIGINT NOT NULL, expires_ns BIGINT NOT NULL,"
        f" note TEXT, scope TEXT DEFAULT 'exclusive' NOT NULL, deep {boolean}, owner_xml TEXT, dav {boolean},"
        " PRIMARY KEY (lock_id), FOREIGN KEY(folder_id) REFERENCES folders (id),"
        " FOREIGN KEY(user_id) REFERENCES users (id))")
    conn.exec_driver_sql(
        "INSERT INTO file_locks_new (lock_id, folder_id, path, user_id, device_id, created_ns, expires_ns, note)"
        " SELECT lock_id, folder_id, path, user_id, device_id, created_ns, expires_ns, note FROM file_locks")
    conn.exec_driver_sql("DROP TABLE file_locks")
    conn.exec_driver_sql("ALTER TABLE file_locks_new RENAME TO file_locks")
    conn.exec_driver_sql("CREATE INDEX file_locks_path ON file_locks (folder_id, path)")
    conn.exec_driver_sql("CREATE INDEX file_locks_expiry ON file_locks (folder_id, expires_ns)")


def _step_10(conn: sa.Connection) -> None:
    """Web sessions (issue 16): each device says its kind, and a browser's session when it expires. The
    devices there are all ``device`` (the WebDAV device of account passwords too: nothing told it apart
    before) and never expire."""
    conn.exec_driver_sql("ALTER TABLE devices ADD COLUMN kind TEXT DEFAULT 'device' NOT NULL")
    conn.exec_driver_sql("ALTER TABLE devices ADD COLUMN expires_ns BIGINT")


STEPS: tuple[Callable[[sa.Connection], None], ...] = (_step_1, _step_2, _step_3, _step_4, _step_5, _step_6,
                                                      _step_7, _step_8, _step_9, _step_10)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer syncline (its schema version is past every step known here)."""


def schema_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(sa.select(_VERSION.c.version)).scalar_one())


def migrate(db: Database) -> int:
    """Bring ``db`` to the newest schema; returns its version. :class:`SchemaTooNew` for a database a
    newer release wrote (never downgraded: it would lose what that release keeps)."""
    while True:
        with db.write() as conn:
            have = schema_version(conn)
            if have > len(STEPS):
                raise SchemaTooNew(f"the server's database has schema version {have}; this syncline knows "
                                   f"up to {len(STEPS)}: run the newer syncline")
            if have == len(STEPS):
                return have
            if have == 0:  # a new database: the newest tables at once (its version in the same transaction)
                _VERSION.create(conn)
                schema.metadata.create_all(conn)
                conn.execute(_VERSION.insert().values(version=len(STEPS)))
                continue
            STEPS[have](conn)
            conn.execute(_VERSION.update().values(version=have + 1))
