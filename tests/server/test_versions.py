"""Versions (issue 14, protocol 1.1 ``versions``): every overwrite and delete keeps the previous version,
whatever the client's trash policy (which still decides only what protocol 1.0 calls trash), each listed
with when, why and by which device, and readable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncline.formats.wire.ops import new_op_id

from .apphelp import PACK_HEADERS, make_world, ops_body, pack, put_item, run

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
