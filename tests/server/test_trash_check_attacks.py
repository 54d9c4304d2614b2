"""Attacks on trash purge, a deleted folder's restore and ``server check --repair``, from a reviewer's
session: each test states what must hold; its "Defect" note names where it once failed (fixed since)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import blake3
import sqlalchemy as sa

from syncline.engine.replicas.remote.client import Client
from syncline.formats.wire.ops import new_op_id
from syncline.server.store import open_store
from syncline.server.store import schema as t
from syncline.server.store.check import check
from syncline.services.daemon.versions import deleted, restore_tree

from ..remotehelp import served
from .apphelp import PACK_HEADERS, make_world, ops_body, pack, put_file, put_item, run
from .test_check_repair import commit


async def _ops(c: Any, *items: dict[str, Any]) -> list[dict[str, Any]]:
    r = await c.post("/v1/folders/Docs/ops", json=ops_body(*items))
    assert r.status_code == 200, r.text
    return list(r.json()["results"])

T = 1_700_000_000_000_000_000


def test_purge_drops_only_what_the_trash_lists_never_a_renamed_files_history(tmp_path: Path) -> None:
    """a.txt is edited (its first version kept, reason "replaced"), then renamed b.txt: nothing was
    deleted, ``deleted`` (``syncline trash list``) is empty, yet ``purge`` of the whole trash drops a.txt's
    old version, the history of the live file b.txt, which ``trash purge`` promises to keep ("Versions of
    files still there stay"). Defect: FolderStore.purge (server/store/folder.py) selects every kept version
    whose trash_path has no live entry, whatever its reason; ``deleted`` selects reason == "deleted"."""
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await put_file(c, "Docs", "a.txt", b"v1")
            await c.post("/v1/folders/Docs/chunks", content=pack(b"v2"), headers=PACK_HEADERS)
            [r] = await _ops(c, put_item("a.txt", b"v2", T + 1, expect={"kind": "file", "size": 2, "mtime_ns": T}))
            assert r["done"]
            [r] = await _ops(c, {"id": new_op_id(), "op": "move", "path": "a.txt", "to": "b.txt",
                                 "expect": {"kind": "file", "size": 2, "mtime_ns": T + 1}})
            assert r["done"]
            assert (await c.get("/v1/folders/Docs/deleted")).json()["rows"] == [], "nothing is in the trash"
            r2 = await c.post("/v1/folders/Docs/purge", json={"path": ""})
            assert r2.status_code == 200
            history = (await c.get("/v1/folders/Docs/versions", params={"path": "a.txt"})).json()["rows"]
            assert r2.json() == {"purged": 0} and len(history) == 1, \
                f"purge of an empty trash dropped {r2.json()} version(s): the live b.txt's first version is gone"

    run(main())


def test_deleted_lists_each_path_once_and_restoring_a_folder_reports_no_failure(tmp_path: Path) -> None:
    """d/x.txt was deleted twice (made, deleted, made again, deleted). ``deleted?path=d`` should list the
    newest kept version of each path (its docstring says so); it lists both, so ``trash list`` shows the
    file twice and ``trash restore Docs d`` (restore_tree) restores the newest, then tries the older one
    over it, reports "not restored: d/x.txt ..." and exits 1 although everything came back.
    Defect: FolderStore.deleted (server/store/folder.py) has no "newest per path" condition."""
    with served(tmp_path) as s:
        fs = s.store.folder(s.store.folders.create(s.owner(), "Docs")[0])
        from syncline.formats.wire.ops import Expect, Op, OpEntry, WirePolicy

        def put(path: str, data: bytes) -> None:
            commit(fs, path, data)

        def delete(path: str) -> None:
            row = fs.stat_many([path])[1][0]
            assert row is not None and not isinstance(row, Exception)
            _, [res] = fs.apply_ops([Op(new_op_id(), "delete", path, Expect.of(row.entry()))], WirePolicy(), "D1")
            assert res.done, res

        fs.apply_ops([Op(new_op_id(), "mkdir", "d", None, OpEntry(T, 0o755))], WirePolicy(), "D1")
        put("d/x.txt", b"first")
        delete("d/x.txt")
        put("d/x.txt", b"second")
        delete("d/x.txt")
        client = Client(s.credentials, http=s.http)
        found = deleted(client, "Docs", "d")
        restored, left = restore_tree(client, "Docs", found, "d", "d")
        assert [p for p, _ in found] == ["d/x.txt"] and restored == 1 and left == [], (found, restored, left)


def test_repair_does_not_take_out_a_chunk_whose_bytes_hash_to_its_id(tmp_path: Path) -> None:
    """The row of a chunk says another length than the chunk store holds, but the bytes held hash to the
    chunk's id: they are the good bytes (the row is what is wrong). ``check --repair`` takes them out of
    the store anyway and marks the live file damaged (its downloads answer 422) although nothing of it was
    lost. Defect: check._verify (server/store/check.py) calls a length mismatch bad before hashing."""
    data = tmp_path / "data"
    store = open_store(data, min_free=0)
    owner = store.users.add("anna", "hash").id
    folder = store.folders.create(owner, "Docs")[0]
    fs = store.folder(folder)
    good = os.urandom(3000)
    commit(fs, "good.bin", good)
    chunk = blake3.blake3(good).digest()
    with store.db.write() as conn:  # the row's length is what got damaged
        conn.execute(t.chunks.update().where(t.chunks.c.chunk_id == chunk).values(length=2999))
    report = check(store, repair=True)
    assert store.chunks.read(folder.chunk_ns, chunk) == good, "the good bytes were taken out of the store"
    with store.db.read() as conn:
        damaged = conn.execute(sa.select(t.contents.c.damaged_ns)).scalars().all()
    assert damaged == [None], f"the intact live file was marked damaged: {report.problems}"
    store.close()
