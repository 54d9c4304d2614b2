"""Versions (issue 14, protocol 1.1 ``versions``): every overwrite and delete keeps the previous version,
whatever the client's trash policy (which still decides only what protocol 1.0 calls trash), each listed
with when, why and by which device, and readable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from syncline.formats.wire.ops import new_op_id
from syncline.server.store.gc import collect

from .apphelp import PACK_HEADERS, cid, dump, make_world, ops_body, pack, put_file, put_item, run

T = 1_700_000_000_000_000_000


def test_every_overwrite_and_delete_keeps_a_version(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            seen: dict[str, Any] | None = None
            for n, (data, trash) in enumerate(((b"v1", True), (b"v2", False), (b"v3", True))):
                await c.post("/v1/folders/Docs/chunks", content=pack(data), headers=PACK_HEADERS)
                r = await c.post("/v1/folders/Docs/ops",
                                 json=ops_body(put_item("a.txt", data, T + n, expect=seen), trash=trash))
                assert r.json()["results"][0]["done"], r.text
                seen = {"kind": "file", "size": 2, "mtime_ns": T + n}
            r = await c.post("/v1/folders/Docs/ops", json=ops_body(
                {"id": new_op_id(), "op": "delete", "path": "a.txt", "expect": seen}, trash=False))
            assert r.json()["results"][0]["done"], r.text

            body = (await c.get("/v1/folders/Docs/versions", params={"path": "a.txt"})).json()
            assert body["current"] is None, "deleted"
            cols = body["columns"]
            rows = [dict(zip(cols, row, strict=True)) for row in body["rows"]]
            assert [(r["mtime_ns"] - T, r["reason"], r["device"]) for r in rows] == [
                (2, "deleted", "anna-laptop"), (1, "replaced", "anna-laptop"), (0, "replaced", "anna-laptop")]
            assert rows[0]["kept_ns"] >= rows[1]["kept_ns"] >= rows[2]["kept_ns"]
            for row, data in zip(rows, (b"v3", b"v2", b"v1"), strict=True):
                got = await c.get("/v1/folders/Docs/file", params={"path": "a.txt", "trash_id": row["version_id"]})
                assert got.status_code == 200 and got.content == data
            trash = (await c.get("/v1/folders/Docs/trash")).json()
            assert [row[3] - T for row in trash["rows"]] == [1], "protocol 1.0 trash: what each write's policy kept"
            empty = (await c.get("/v1/folders/Docs/versions", params={"path": "never.txt"})).json()
            assert empty["current"] is None and empty["rows"] == []
            for bad in ({}, {"path": "../x"}, {"path": "a.txt", "limit": "0"}):
                assert (await c.get("/v1/folders/Docs/versions", params=bad)).status_code == 400, bad

    run(main())


async def _versions(c: Any, path: str) -> tuple[Any, list[dict[str, Any]]]:
    body = (await c.get("/v1/folders/Docs/versions", params={"path": path})).json()
    return body["current"], [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


async def _restore(c: Any, path: str, version_id: Any, expect: Any, op_id: str | None = None) -> dict[str, Any]:
    item = {"id": op_id or new_op_id(), "op": "restore", "path": path, "version_id": version_id, "expect": expect}
    r = await c.post("/v1/folders/Docs/ops", json=ops_body(item, keep_changed=True))  # as syncline restore sends
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["results"][0]
    return result


def test_restore_brings_a_version_back_and_keeps_the_one_it_replaces(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            seen: dict[str, Any] | None = None
            for n, data in enumerate((b"v1", b"v2")):
                await c.post("/v1/folders/Docs/chunks", content=pack(data), headers=PACK_HEADERS)
                r = await c.post("/v1/folders/Docs/ops", json=ops_body(put_item("a.txt", data, T + n, expect=seen)))
                assert r.json()["results"][0]["done"]
                seen = {"kind": "file", "size": 2, "mtime_ns": T + n}
            _, [v1] = await _versions(c, "a.txt")
            assert (await _restore(c, "a.txt", v1["version_id"], None))["code"] == "changed", \
                "the expect rules hold: a.txt is there"
            op_id = new_op_id()
            done = await _restore(c, "a.txt", v1["version_id"], seen, op_id)
            assert done["done"] and not done.get("replayed")
            assert (await c.get("/v1/folders/Docs/file", params={"path": "a.txt"})).content == b"v1"
            current, kept = await _versions(c, "a.txt")
            assert current[3] == T and [(v["mtime_ns"] - T, v["reason"]) for v in kept] == [(1, "replaced")], \
                "v1 is live again; v2, which it replaced, is kept"
            again = await _restore(c, "a.txt", v1["version_id"], seen, op_id)
            assert again["replayed"] and again["version"] == done["version"], "an op id is applied once"
            gone = await _restore(c, "a.txt", v1["version_id"], {"kind": "file", "size": 2, "mtime_ns": T})
            assert gone["error"]["code"] == "not_found", "restored: no longer a kept version"

            [v2] = kept
            done = await _restore(c, "copy.txt", v2["version_id"], None)  # restored beside it
            assert done["done"]
            assert (await c.get("/v1/folders/Docs/file", params={"path": "copy.txt"})).content == b"v2"
            changes = (await c.get("/v1/folders/Docs/changes", params={"since": 0})).json()["changes"]
            assert [row[1:3] for row in changes[-2:]] == [["put", "a.txt"], ["put", "copy.txt"]], \
                "every device sees a restore as a change"
            for bad in ({"version_id": 0}, {"version_id": "1"}, {}):
                item = {"id": new_op_id(), "op": "restore", "path": "b.txt", "expect": None, **bad}
                r = await c.post("/v1/folders/Docs/ops", json=ops_body(item))
                assert r.status_code == 400, (bad, r.text)

    run(main())


def test_the_deleted_files_of_a_folder_newest_first_and_paged(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
                await c.post("/v1/folders/Docs/chunks", content=pack(name.encode()), headers=PACK_HEADERS)
                r = await c.post("/v1/folders/Docs/ops", json=ops_body(put_item(name, name.encode(), T)))
                assert r.json()["results"][0]["done"]
            for name in ("a.txt", "b.txt", "d.txt"):
                item = {"id": new_op_id(), "op": "delete", "path": name,
                        "expect": {"kind": "file", "size": 5, "mtime_ns": T}}
                assert (await c.post("/v1/folders/Docs/ops", json=ops_body(item))).json()["results"][0]["done"]
            r = await c.post("/v1/folders/Docs/ops", json=ops_body(put_item("b.txt", b"b.txt", T + 1)))
            assert r.json()["results"][0]["done"], "b.txt is back: no longer a deleted file"
            body = (await c.get("/v1/folders/Docs/deleted")).json()
            assert [row[0] for row in body["rows"]] == ["d.txt", "a.txt"] and not body["more"]
            page = (await c.get("/v1/folders/Docs/deleted", params={"limit": 1})).json()
            assert [row[0] for row in page["rows"]] == ["d.txt"] and page["more"]
            rest = (await c.get("/v1/folders/Docs/deleted", params={"limit": 1, "before": page["next"]})).json()
            assert [row[0] for row in rest["rows"]] == ["a.txt"]
            version_id = body["rows"][1][body["columns"].index("version_id")]
            assert (await _restore(c, "a.txt", version_id, None))["done"]
            again = (await c.get("/v1/folders/Docs/deleted")).json()
            assert [row[0] for row in again["rows"]] == ["d.txt"], "restored: no longer deleted"

    run(main())


async def _all_done(c: Any, items: list[dict[str, Any]]) -> None:
    r = await c.post("/v1/folders/Docs/ops", json=ops_body(*items))
    assert r.status_code == 200 and all(x.get("done") for x in r.json()["results"]), r.text


def test_the_owner_purges_the_trash_of_a_deleted_folder_and_nothing_else(tmp_path: Path) -> None:
    """``deleted?path=d`` lists a deleted folder's files only (not ``d2/`` or ``d.txt``); ``purge`` is the
    owner's alone, drops what is deleted at or below its path and never a live file's versions; the
    collector then removes the purged chunks, but not one a live file still uses."""
    w = make_world(tmp_path)
    files = {"d/x.txt": b"only in d", "d/sub/y.txt": b"same", "d2/z.txt": b"z", "d.txt": b"dot", "keep.txt": b"same"}

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            dirs = [{"id": new_op_id(), "op": "mkdir", "path": p, "expect": None,
                     "entry": {"mtime_ns": T, "mode": 0o755}} for p in ("d", "d/sub", "d2")]
            await _all_done(c, dirs)
            for path, data in files.items():
                await put_file(c, "Docs", path, data)
            await c.post("/v1/folders/Docs/chunks", content=pack(b"new"), headers=PACK_HEADERS)
            r = await c.post("/v1/folders/Docs/ops", json=ops_body(put_item("keep.txt", b"new", T + 1, expect={
                "kind": "file", "size": 4, "mtime_ns": T})))
            assert r.json()["results"][0].get("done"), r.text
            gone = [{"id": new_op_id(), "op": "delete", "path": p,
                     "expect": {"kind": "file", "size": len(files[p]), "mtime_ns": T}}
                    for p in ("d/x.txt", "d/sub/y.txt", "d2/z.txt", "d.txt")]
            gone += [{"id": new_op_id(), "op": "delete", "path": p, "expect": {"kind": "dir", "size": 0, "mtime_ns": T}}
                     for p in ("d/sub", "d")]
            await _all_done(c, gone)
            under = (await c.get("/v1/folders/Docs/deleted", params={"path": "d"})).json()
            assert sorted(row[0] for row in under["rows"]) == ["d/sub/y.txt", "d/x.txt"]
            assert (await c.get("/v1/folders/Docs/deleted", params={"path": "../d"})).status_code == 400
            assert (await c.post("/v1/folders/Docs/purge", json={"path": "/etc"})).status_code == 400
            assert (await c.put("/v1/folders/Docs/members/bob", json={"rights": "rw"})).status_code == 201
        uid = w.store.folders.get(w.device("anna").user_id, "Docs").uid  # type: ignore[union-attr]
        before = dump(w.store)
        async with w.client("bob") as c:
            r = await c.post("/v1/folders/Docs/purge", json={"path": ""})
            assert r.status_code == 404, "an offer is no right yet"
            assert (await c.post(f"/v1/shares/{uid}/accept", json={})).status_code == 200
            before = dump(w.store)
            r = await c.post("/v1/folders/Docs/purge", json={"path": ""})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        assert dump(w.store) == before, "a refused purge purges nothing"
        async with w.client() as c:
            r = await c.post("/v1/folders/Docs/purge", json={"path": "d"})
            assert r.status_code == 200 and r.json() == {"purged": 2}, r.text
            left = (await c.get("/v1/folders/Docs/deleted")).json()
            assert sorted(row[0] for row in left["rows"]) == ["d.txt", "d2/z.txt"]
            _, kept = await _versions(c, "keep.txt")
            assert len(kept) == 1, "a live file's versions are no trash"
        folder = w.store.folders.get(w.device("anna").user_id, "Docs")
        assert folder is not None
        report = collect(w.store, now_ns=time.time_ns() + 2 * 86400 * 10**9)  # past the upload and drop leases
        assert report.chunks_removed == 1
        with pytest.raises(FileNotFoundError):
            w.store.chunks.length(folder.chunk_ns, cid(b"only in d"))
        assert w.store.chunks.length(folder.chunk_ns, cid(b"same")) == 4, "keep.txt's old version uses it"
        async with w.client() as c:
            _, [old] = await _versions(c, "keep.txt")
            got = await c.get("/v1/folders/Docs/file", params={"path": "keep.txt", "trash_id": old["version_id"]})
            assert got.content == b"same"
            r = await c.post("/v1/folders/Docs/purge", json={})
            assert r.json() == {"purged": 2} and (await c.get("/v1/folders/Docs/deleted")).json()["rows"] == []
            assert (await c.post("/v1/folders/Docs/purge", json={})).json() == {"purged": 0}, "idempotent"

    run(main())
