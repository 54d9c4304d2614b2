"""The server's schema steps: a store the first release made (its schema frozen in ``data/schema-v1.sql``)
is brought, keeping its rows, to exactly what a new store is made with (every table, column and index),
and a new store is made whole at the newest version without running any step."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.server.store import open_store
from syncline.server.store.migrations import STEPS

V1 = Path(__file__).with_name("data") / "schema-v1.sql"


def _schema(db_path: Path) -> dict[str, Any]:
    """Every table's columns (name, type, nullable, default, key), indexes and unique constraints."""
    engine = sa.create_engine(f"sqlite:///{db_path}")
    try:
        insp = sa.inspect(engine)
        return {table: {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c["default"], c["primary_key"])
                        for c in insp.get_columns(table)],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "foreign": sorted((tuple(f["constrained_columns"]), f["referred_table"])
                              for f in insp.get_foreign_keys(table)),
        } for table in sorted(insp.get_table_names())}
    finally:
        engine.dispose()


def _version(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute("select version from schema_version").fetchone()[0])
    finally:
        db.close()


def v1_store(data: Path) -> None:
    """A data directory as the first release left it: its schema, at version 1, with users ``anna`` and
    ``bob``, anna's folder ``Photos`` and bob's right to read it."""
    data.mkdir(mode=0o700)
    db = sqlite3.connect(data / "meta.db")
    db.executescript(V1.read_text())
    db.execute("create table schema_version (version integer not null)")
    db.execute("insert into schema_version values (1)")
    db.execute("insert into users (name, password_hash, admin, created_ns, disabled) values ('anna', 'h', 1, 1, 0)")
    db.execute("insert into users (name, password_hash, admin, created_ns, disabled) values ('bob', 'h', 0, 2, 0)")
    db.execute("insert into folders (uid, owner_id, name, seq, chunk_ns, root_mode, root_mtime_ns, created_ns)"
               " values ('F1', 1, 'Photos', 0, 'n1', 493, 5, 5)")
    db.execute("insert into folder_access (folder_id, user_id, rights) values (1, 1, 'rw'), (1, 2, 'ro')")
    db.execute("insert into contents (folder_id, size, digest, trashed_ns, trash_path, trash_entry) values"
               " (1, 0, x'00', 7, 'old.txt', '{}')")
    db.commit()
    db.close()


def test_a_store_of_the_first_release_becomes_what_a_new_store_is(tmp_path: Path) -> None:
    old = tmp_path / "old"
    v1_store(old)
    open_store(old, min_free=0).close()
    assert _version(old / "meta.db") == len(STEPS)

    new = tmp_path / "new"
    store = open_store(new, min_free=0)
    store.close()
    assert _version(new / "meta.db") == len(STEPS), "a new store is made at the newest version"
    assert _schema(old / "meta.db") == _schema(new / "meta.db")

    again = open_store(old, min_free=0)
    try:
        anna = again.users.get("anna")
        assert anna is not None and anna.admin and anna.quota_bytes is None, "the first release's rows are kept"
        bob = again.users.get("bob")
        assert bob is not None
        [(photos, rights)] = again.folders.for_user(anna.id)
        assert (photos.name, photos.uid, rights) == ("Photos", "F1", "rw"), "the owner's right names the folder"
        assert again.folders.resolve(anna.id, "Photos") == (photos, "rw")
        assert again.folders.for_user(bob.id) == [], "a right given before shares existed is an offer"
        [offer] = again.shares.of_user(bob.id)
        assert (offer.uid, offer.owner, offer.rights, offer.state) == ("F1", "anna", "ro", "offered")
        assert again.shares.accept(bob.id, "F1").name == "Photos"
        assert again.folders.resolve(bob.id, "Photos") == (photos, "ro")
        with again.db.read() as conn:
            kept = conn.execute(sa.text("select kept_ns, reason from contents")).one()
        assert tuple(kept) == (7, "deleted"), "the first release's trash rows are kept versions"
    finally:
        again.close()
