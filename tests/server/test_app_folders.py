"""The app: folders, entries, stat, changes, ops, meta, locks and trash, each endpoint's happy path."""

from __future__ import annotations

from pathlib import Path

from syncline.formats.wire.entries import entries_page_of_json, stat_items_of_json
from syncline.formats.wire.ops import new_op_id
from syncline.formats.wire.opsjson import results_of_json

from .apphelp import PACK_HEADERS, cid, make_world, ops_body, pack, put_file, put_item, run

F = "/v1/folders/Docs"


def test_folders_are_made_listed_and_per_user(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            r = await c.put("/v1/folders/Docs")
            assert r.status_code == 201 and r.json()["rights"] == "rw" and r.json()["empty"] is True
            again = await c.put("/v1/folders/Docs")
            assert again.status_code == 200 and again.json()["uid"] == r.json()["uid"]
            one = (await c.get("/v1/folders/Docs")).json()
            assert one["root"]["mode"] == 0o755 and one["seq"] == 0 and "quota" not in one
            w.store.users.set_quota("anna", 5000)
            one = (await c.get("/v1/folders/Docs")).json()
            assert one["quota"] == {"used": 0, "limit": 5000}, "the owner's quota, what all their folders hold"
            listed = (await c.get("/v1/folders")).json()
            assert [(f["name"], f["files"], f["bytes"]) for f in listed] == [("Docs", 0, 0)]
        async with w.client("bob") as bob:
            assert (await bob.get("/v1/folders")).json() == []
            r = await bob.get("/v1/folders/Docs")
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
            mine = await bob.put("/v1/folders/Docs")  # bob's own Docs: another folder
            assert mine.status_code == 201 and mine.json()["uid"] != r.json().get("uid")

    run(main())


def test_ops_entries_stat_changes(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    anna = w.device("anna")

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            mkdir = {"id": new_op_id(), "op": "mkdir", "path": "d", "expect": None,
                     "entry": {"mode": 0o755, "mtime_ns": 5}}
            link = {"id": new_op_id(), "op": "symlink", "path": "l", "expect": None,
                    "entry": {"target": "d/a.txt", "mode": 0o777, "mtime_ns": 6}}
            r = await c.post("/v1/folders/Docs/chunks", content=b"", headers={})
            assert r.status_code == 400
            assert (await put_file(c, "Docs", "top.txt", b"top"))["done"] is True
            body = ops_body(mkdir, put_item("d/a.txt", b""), link)
            r = await c.post("/v1/folders/Docs/ops", json=body)
            assert r.status_code == 200, r.text
            seq, results = results_of_json(r.json(), 3)
            assert seq == 4 and all(x.done for x in results)
            page = entries_page_of_json((await c.get("/v1/folders/Docs/entries?since=0")).json(), 0)
            assert [row.path for row in page.rows] == ["top.txt", "d", "d/a.txt", "l"] and not page.more
            shallow = (await c.get("/v1/folders/Docs/entries", params={"dir": "d", "deep": "0"})).json()
            assert [row[0] for row in shallow["rows"]] == ["d", "d/a.txt"]  # D itself and its children
            top = (await c.post("/v1/folders/Docs/stat", json={"paths": ["top.txt"]})).json()["items"][0]
            seen = {"kind": "file", "size": 3, "mtime_ns": top[3], "target": None, "file_id": top[7],
                    "version": top[8]}
            moved = ops_body({"id": new_op_id(), "op": "move", "path": "top.txt", "to": "d/top.txt",
                              "expect": seen})
            r = await c.post("/v1/folders/Docs/ops", json=moved)
            assert r.json()["results"][0]["done"] is True, r.text
            # a move gives its two rows one version (wire's page reader still wants them strictly increasing)
            delta = (await c.get("/v1/folders/Docs/entries?since=4")).json()
            assert sorted((row[0], row[1], row[8]) for row in delta["rows"]) == [("d/top.txt", "file", 5),
                                                                                ("top.txt", "deleted", 5)]
            r = await c.post("/v1/folders/Docs/stat", json={"paths": ["", "d/top.txt", "nothing", "l/x"]})
            seq, items = stat_items_of_json(r.json(), 4)
            assert seq == 5 and items[2] is None
            root, moved_row, _, blocked = items
            assert root.entry.kind == "dir" and moved_row.entry.digest == cid(b"top")  # type: ignore[union-attr]
            assert getattr(blocked, "code", None) == "not_a_dir"
            changes = (await c.get("/v1/folders/Docs/changes?since=3&limit=10")).json()
            assert changes["changes"] == [[4, "symlink", "l", None, anna.id], [5, "move", "d/top.txt", "top.txt",
                                                                                anna.id]]
            assert changes["seq"] == 5 and changes["more"] is False

    run(main())


def test_meta_locks_and_trash(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            assert (await c.get("/v1/folders/Docs/meta/folder-id")).status_code == 404
            r = await c.put("/v1/folders/Docs/meta/folder-id", content="F123 é".encode())
            assert r.status_code == 204
            r = await c.get("/v1/folders/Docs/meta/folder-id")
            assert r.status_code == 200 and r.text == "F123 é"
            lock = await c.post("/v1/folders/Docs/locks", json={"ttl": 60})
            assert lock.status_code == 201
            lock_id = lock.json()["lock"]
            second = await c.post("/v1/folders/Docs/locks", json={"ttl": 60})
            assert second.status_code == 423 and second.json()["error"]["code"] == "locked"
            async with w.client("root") as other:  # another device (of another user) has no lock of its own here
                assert (await other.post("/v1/folders/Docs/locks", json={"ttl": 60})).status_code == 404
            assert (await c.put(f"/v1/folders/Docs/locks/{lock_id}", json={"ttl": 30})).json()["expires_in"] == 30
            assert (await c.delete(f"/v1/folders/Docs/locks/{lock_id}")).status_code == 204
            assert (await c.put(f"/v1/folders/Docs/locks/{lock_id}", json={"ttl": 30})).status_code == 404
            assert (await c.post("/v1/folders/Docs/locks", json={"ttl": 60})).status_code == 201
            # a file replaced with trash: the old version is listed and readable
            first = await put_file(c, "Docs", "a.txt", b"old")
            row = (await c.post("/v1/folders/Docs/stat", json={"paths": ["a.txt"]})).json()["items"][0]
            expect = {"kind": "file", "size": 3, "mtime_ns": row[3], "target": None, "file_id": first["file_id"],
                      "version": first["version"]}
            await c.post("/v1/folders/Docs/chunks", content=pack(b"new!"), headers=PACK_HEADERS)
            r = await c.post("/v1/folders/Docs/ops", json=ops_body(put_item("a.txt", b"new!", expect=expect)))
            assert r.json()["results"][0]["done"] is True
            trash = (await c.get("/v1/folders/Docs/trash")).json()
            assert len(trash["rows"]) == 1 and trash["columns"][-2:] == ["trashed_ns", "trash_id"]
            trash_id = trash["rows"][0][-1]
            old = await c.get("/v1/folders/Docs/file", params={"path": "a.txt", "trash_id": trash_id})
            assert old.status_code == 200 and old.content == b"old"

    run(main())



def test_a_proposed_lease_id_is_granted_once_and_asked_again_is_the_same_lease(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as a:
            await a.put("/v1/folders/Docs")
            r = await a.post(F + "/locks", json={"ttl": 60, "lock": "Lmine"})
            assert r.status_code == 201 and r.json()["lock"] == "Lmine", r.text
            again = await a.post(F + "/locks", json={"ttl": 60, "lock": "Lmine"})
            assert again.status_code == 201 and again.json()["lock"] == "Lmine", "its answer was lost: the same"
            assert (await a.post(F + "/locks", json={"ttl": 60, "lock": "Lother"})).status_code == 423
            bad = await a.post(F + "/locks", json={"ttl": 60, "lock": "L/../x"})
            assert bad.status_code == 400
            assert (await a.put(f"{F}/locks/Lmine", json={"ttl": 60, "lock": "Lx"})).status_code == 400
        async with w.client("bob") as b:
            await b.put("/v1/folders/Docs")
            taken = await b.post(F + "/locks", json={"ttl": 60, "lock": "Lmine"})  # anna's id, bob's own folder
            assert taken.status_code == 400 and taken.json()["error"]["code"] == "bad_request", taken.text
            assert (await b.post(F + "/locks", json={"ttl": 60, "lock": "Lbobs"})).status_code == 201

    run(main())


def test_a_device_takes_over_only_its_own_lease(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as a:
            await a.put("/v1/folders/Docs")
            login = await a.post("/v1/login", json={"user": "anna", "password": w.password("anna"), "device": "two"})
            assert login.status_code in (200, 201), login.text
            left = (await a.post(F + "/locks", json={"ttl": 60})).json()["lock"]
            assert (await a.post(F + "/locks", json={"ttl": 60})).status_code == 423
            taken = await a.post(F + "/locks", json={"ttl": 60, "replaces": left})
            assert taken.status_code == 201 and taken.json()["lock"] != left
            mine = taken.json()["lock"]
            assert (await a.put(f"{F}/locks/{left}", json={"ttl": 60})).status_code == 404
            async with w.client(None, Authorization=f"Bearer {login.json()['token']}") as b:
                # another device of the same user names anna's lease: it gets its own, hers stays
                other = await b.post(F + "/locks", json={"ttl": 60, "replaces": mine})
                assert other.status_code == 201
                assert (await b.post(F + "/locks", json={"ttl": 60, "replaces": mine})).status_code == 423
                assert (await b.put(f"{F}/locks/{other.json()['lock']}", json={"ttl": 60})).status_code == 200
            assert (await a.put(f"{F}/locks/{mine}", json={"ttl": 60})).status_code == 200
            assert (await a.post(F + "/locks", json={"ttl": 60, "replaces": "Lunknown"})).status_code == 423

    run(main())
