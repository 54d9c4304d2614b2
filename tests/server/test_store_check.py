"""``check``: a store after ordinary work is clean; a chunk missing from the chunk store, truncated or
altered there, and a chunk row deleted under a version, are each reported."""

from __future__ import annotations

import sqlite3

from syncline.server.store import Store
from syncline.server.store.check import check
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, random_files, store_fixture  # noqa: F401 - fixtures


def test_check_finds_what_is_wrong_with_the_store(store: tuple[Store, int], fs: FolderStore) -> None:
    s = store[0]
    ids = random_files(fs, 4)
    clean = check(s, read_data=True)
    assert clean.problems == [] and clean.chunks == clean.read == 4
    altered = bytes(b ^ 1 for b in s.chunks.read(fs.ns, ids[2]))
    s.chunks.close()
    with sqlite3.connect(s.chunks.db_path(fs.ns)) as db:  # damage done behind the store's back
        db.execute("DELETE FROM chunks WHERE id = ?", (ids[0],))
        db.execute("UPDATE chunks SET data = ? WHERE id = ?", (b"short", ids[1]))
        db.execute("UPDATE chunks SET data = ? WHERE id = ?", (altered, ids[2]))
    db.close()
    with s.db.write() as conn:
        conn.exec_driver_sql("DELETE FROM chunks WHERE chunk_id = ?", (ids[3],))
    found = check(s, read_data=True).problems
    assert len(found) == 4, found
    assert any("missing from the chunk store" in p for p in found)
    assert any("does not record" in p for p in found)
    assert any("other bytes" in p for p in found) and any("holds 5 bytes" in p for p in found)
    assert len(check(s).problems) == 3, "without read_data the altered bytes are not read"
