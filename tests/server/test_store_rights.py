"""Rights are checked inside each write transaction of a folder used by a user (``Store.folder(folder,
user_id)``): rights changed after a request resolved the folder (a share made read-only or revoked while
the request was on its way) refuse the whole write, and nothing of it is done."""

from __future__ import annotations

import blake3
import pytest
import sqlalchemy as sa

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import ChunkRef, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store, schema
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
DATA = b"written while the right went away"
CHUNK = blake3.blake3(DATA).digest()


def _set_rights(s: Store, folder_id: int, user_id: int, rights: str | None) -> None:
    a = schema.folder_access.c
    with s.db.write() as conn:
        conn.execute(schema.folder_access.delete().where(a.folder_id == folder_id, a.user_id == user_id))
        if rights is not None:
            conn.execute(schema.folder_access.insert().values(folder_id=folder_id, user_id=user_id, rights=rights,
                                                              accepted_ns=1))


def _code(call: object) -> str:
    with pytest.raises(WireError) as err:
        call()  # type: ignore[operator]
    return err.value.code


def _state(s: Store, fs: FolderStore) -> tuple[object, ...]:
    return fs.info().seq, [r.path for r in fs.entries().rows], sorted(s.chunks.ids(fs.ns)), fs.read_meta("k")


def test_a_right_taken_away_after_resolving_refuses_every_write(store: tuple[Store, int], fs: FolderStore) -> None:
    s, anna = store
    digest, chunks = put_bytes(fs, b"there before")
    fs.apply_ops([Op(new_op_id(), "put", "before", None, OpEntry(T0, 0o644, 12, digest), chunks)], WirePolicy(), "D1")
    mine = s.folder(fs.folder, anna)  # what a request of anna's device resolved
    put = Op(new_op_id(), "put", "new", None, OpEntry(T0, 0o644, len(DATA), CHUNK), (ChunkRef(CHUNK, len(DATA)),))
    before = _state(s, fs)

    _set_rights(s, fs.id, anna, "ro")
    assert _code(lambda: mine.apply_ops([put], WirePolicy(), "D1")) == "read_only"
    assert _code(lambda: mine.put_chunks([(CHUNK, DATA)], "D1")) == "read_only"
    assert _code(lambda: mine.missing([CHUNK], "D1")) == "read_only"
    assert _code(lambda: mine.write_meta("k", "v")) == "read_only"
    assert _code(lambda: mine.write_meta_if("k", "v", None)) == "read_only"
    lease = mine.lock("D1", 60)  # a run lease is a reader's right too
    mine.renew(lease, 60)
    mine.release(lease)
    assert _state(s, fs) == before

    _set_rights(s, fs.id, anna, None)
    for call in (lambda: mine.apply_ops([put], WirePolicy(), "D1"), lambda: mine.lock("D1", 60),
                 lambda: mine.put_chunks([(CHUNK, DATA)], "D1")):
        assert _code(call) == "not_found", "no right at all: as a folder that is not there"
    assert _state(s, fs) == before

    _set_rights(s, fs.id, anna, "rw")
    mine.put_chunks([(CHUNK, DATA)], "D1")
    _, [r] = mine.apply_ops([put], WirePolicy(), "D1")
    assert r.done and b"".join(mine.read("new")[1]) == DATA


def test_the_server_itself_is_not_checked(store: tuple[Store, int], fs: FolderStore) -> None:
    s, anna = store
    _set_rights(s, fs.id, anna, None)
    fs.write_meta("k", "the server's own write")  # Store.folder(folder) without a user: maintenance, tests
    assert fs.read_meta("k") == "the server's own write"
    with s.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.folder_access)).scalar_one() == 0
