"""``check``: a store after ordinary work is clean; a missing, truncated or altered chunk file, and a chunk
row deleted under a version, are each reported."""

from __future__ import annotations

import os

from syncline.formats.wire.ops import Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store
from syncline.server.store.check import check
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures


def test_check_finds_what_is_wrong_with_the_store(store: tuple[Store, int], fs: FolderStore) -> None:
    s = store[0]
    ids = []
    for n in range(4):
        data = os.urandom(100 + n)
        digest, chunks = put_bytes(fs, data)
        fs.apply_ops([Op(new_op_id(), "put", f"f{n}", None, OpEntry(1, 0o644, len(data), digest), chunks)],
                     WirePolicy(), "D1")
        ids.append(digest)
    clean = check(s, read_data=True)
    assert clean.problems == [] and clean.chunks == clean.read == 4
    s.chunks.path(fs.ns, ids[0]).unlink()
    s.chunks.path(fs.ns, ids[1]).write_bytes(b"short")
    altered = s.chunks.path(fs.ns, ids[2])
    altered.write_bytes(bytes(b ^ 1 for b in altered.read_bytes()))
    with s.db.write() as conn:
        conn.exec_driver_sql("DELETE FROM chunks WHERE chunk_id = ?", (ids[3],))
    found = check(s, read_data=True).problems
    assert len(found) == 4, found
    assert any("file" in p and "is missing" in p for p in found)
    assert any("does not record" in p for p in found)
    assert any("other bytes" in p for p in found) and any("holds 5 bytes" in p for p in found)
    assert len(check(s).problems) == 3, "without read_data the altered bytes are not read"
