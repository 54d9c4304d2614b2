"""File locks on the server (issue 14, protocol 1.1 ``file-locks``): taking, renewing, releasing and
breaking them, their enforcement on every kind of write by any other device (the holder's own user's too),
expiry, and sixteen devices racing for one."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from syncline.formats.wire.ops import OP_NAMES, new_op_id
from syncline.server.store import schema as t

from .apphelp import PACK_HEADERS, World, dump, make_world, ops_body, pack, put_file, put_item, run

T = 1_700_000_000_000_000_000


def _world(tmp_path: Path) -> World:
    """anna's folder Docs (bob may write it too) with a.txt, d/b.txt, d/c.txt; anna's laptop locks
    a.txt and d/b.txt. anna also has a phone: another device of the holder's own user."""
    w = make_world(tmp_path)
    w.tokens["anna-phone"], _ = w.auth.login("anna", w.password("anna"), "anna-phone")

    async def setup() -> None:
        async with w.client("anna") as c:
            await c.put("/v1/folders/Docs")
            for path in ("a.txt", "d/b.txt", "d/c.txt", "gone.txt"):
                if path.startswith("d/") and (await c.get("/v1/folders/Docs/entries")).json()["rows"][-1][0] != "d":
                    await c.post("/v1/folders/Docs/ops", json=ops_body(_mkdir("d")))
                await put_file(c, "Docs", path, path.encode())
            r = await c.post("/v1/folders/Docs/ops", json=ops_body(  # a kept version, for the restore case
                {"id": new_op_id(), "op": "delete", "path": "gone.txt", "expect": _seen("gone.txt")}))
            assert r.json()["results"][0]["done"], r.text
            assert (await c.put("/v1/folders/Docs/members/bob", json={"rights": "rw"})).status_code == 201
            for path in ("a.txt", "d/b.txt"):
                r = await c.post("/v1/folders/Docs/file-locks", json={"path": path, "note": "editing"})
                assert r.status_code == 201, r.text
        uid = w.store.folders.get(w.device("anna").user_id, "Docs").uid  # type: ignore[union-attr]
        async with w.client("bob") as c:
            assert (await c.post(f"/v1/shares/{uid}/accept", json={})).status_code == 200

    run(setup())
    return w


def _mkdir(path: str) -> dict[str, Any]:
    return {"id": new_op_id(), "op": "mkdir", "path": path, "expect": None, "entry": {"mode": 0o755, "mtime_ns": 5}}


def _seen(path: str) -> dict[str, Any]:
    return {"kind": "file", "size": len(path.encode()), "mtime_ns": T}


def _dir_seen() -> dict[str, Any]:
    return {"kind": "dir", "size": 0, "mtime_ns": 5}


# Every kind of item, each writing a locked path (the test below fails for an op kind without a case).
CASES: dict[str, dict[str, Any]] = {
    "put": put_item("a.txt", b"new", expect=_seen("a.txt")),
    "delete": {"id": "", "op": "delete", "path": "a.txt", "expect": _seen("a.txt")},
    "move": {"id": "", "op": "move", "path": "a.txt", "to": "z.txt", "expect": _seen("a.txt")},
    "move onto": {"id": "", "op": "move", "path": "d/c.txt", "to": "a.txt", "expect": _seen("d/c.txt")},
    "move a folder over a locked child": {"id": "", "op": "move", "path": "d", "to": "e", "expect": _dir_seen()},
    "meta": {"id": "", "op": "meta", "path": "a.txt", "expect": _seen("a.txt"),
             "entry": {"mode": 0o600, "mtime_ns": T}},
    "symlink": {"id": "", "op": "symlink", "path": "a.txt", "expect": _seen("a.txt"),
                "entry": {"target": "x", "mode": 0o777, "mtime_ns": 6}},
    "mkdir": {**_mkdir("a.txt"), "expect": _seen("a.txt")},
    "restore": {"id": "", "op": "restore", "path": "a.txt", "version_id": "KEPT", "expect": _seen("a.txt")},
}


def test_every_op_kind_has_a_case() -> None:
    assert {case["op"] for case in CASES.values()} == set(OP_NAMES)


async def _ops(c: httpx.AsyncClient, item: dict[str, Any]) -> dict[str, Any]:
    if item["op"] == "put":
        assert (await c.post("/v1/folders/Docs/chunks", content=pack(b"new"), headers=PACK_HEADERS)).status_code == 200
    if item.get("version_id") == "KEPT":
        kept = (await c.get("/v1/folders/Docs/versions", params={"path": "gone.txt"})).json()["rows"]
        item = {**item, "version_id": kept[0][-3]}
    r = await c.post("/v1/folders/Docs/ops", json=ops_body({**item, "id": new_op_id()}))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["results"][0]
    return result


@pytest.mark.parametrize("who", ["bob", "anna-phone"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_locked_file_is_written_by_no_other_device(tmp_path: Path, case: str, who: str) -> None:
    w = _world(tmp_path)
    before = dump(w.store)

    async def main() -> dict[str, Any]:
        async with w.client(who) as c:
            return await _ops(c, CASES[case])

    result = run(main())
    assert "done" not in result and result["error"]["code"] == "locked", result
    details = result["error"]["details"]
    assert details["user"] == "anna" and details["device_name"] == "anna-laptop" and details["expires_in"] > 1700
    assert "anna on anna-laptop" in result["error"]["message"]
    after = dump(w.store)
    after["chunks"] = before["chunks"]  # the put's chunk was stored (not committed): the collector's to take
    assert after == before


@pytest.mark.parametrize("case", list(CASES))
def test_the_holder_writes_its_locked_files(tmp_path: Path, case: str) -> None:
    w = _world(tmp_path)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with w.client("anna") as c:
            done = await _ops(c, CASES[case])
            return done, (await c.get("/v1/folders/Docs/file-locks")).json()

    result, locks = run(main())
    assert result.get("done") or (case == "move onto" and result["code"] == "exists"), result
    paths = sorted(lk["path"] for lk in locks["locks"])
    if case in ("delete", "mkdir", "symlink"):
        assert paths == ["d/b.txt"], "no file left at the path: the holder's lock there ends"
    elif case == "move":
        assert paths == ["d/b.txt", "z.txt"], "the holder's move carries its lock"
    elif case == "move a folder over a locked child":
        assert paths == ["a.txt", "e/b.txt"]
    else:
        assert paths == ["a.txt", "d/b.txt"]


def test_locks_listed_renewed_released_broken_and_expired(tmp_path: Path) -> None:
    w = _world(tmp_path)

    async def main() -> None:
        async with w.client("anna") as anna, w.client("bob") as bob, w.client("anna-phone") as phone:
            listed = (await bob.get("/v1/folders/Docs/file-locks")).json()
            assert listed["lock_seq"] == 2
            a = next(lk for lk in listed["locks"] if lk["path"] == "a.txt")
            assert (a["user"], a["device_name"], a["note"], a["mine"]) == ("anna", "anna-laptop", "editing", False)
            assert next(lk for lk in (await anna.get("/v1/folders/Docs/file-locks")).json()["locks"])["mine"]
            r = await bob.post("/v1/folders/Docs/file-locks", json={"path": "a.txt"})
            assert r.status_code == 423 and r.json()["error"]["details"]["user"] == "anna"
            r = await bob.put(f"/v1/folders/Docs/file-locks/{a['lock']}", json={"ttl": 3600})
            assert r.status_code == 403, "only the holder's device renews"
            r = await anna.put(f"/v1/folders/Docs/file-locks/{a['lock']}", json={"ttl": 3600})
            assert r.status_code == 200 and r.json()["expires_in"] >= 3590
            r = await anna.post("/v1/folders/Docs/file-locks", json={"path": "a.txt", "ttl": 120})
            assert r.status_code == 200 and r.json()["lock"] == a["lock"], "locking again renews"
            for bad in ({"path": "a.txt", "ttl": 10}, {"path": "a.txt", "ttl": 8 * 86400}, {"path": "../x"},
                        {"path": "d"}, {"path": "nothing.txt"}, {"path": "a.txt", "note": "x" * 201}, {}):
                r = await bob.post("/v1/folders/Docs/file-locks", json=bad)
                assert r.status_code in (400, 404), (bad, r.text)
            r = await bob.delete(f"/v1/folders/Docs/file-locks/{a['lock']}", params={"force": "1"})
            assert r.status_code == 403, "a member cannot break another's lock"
            assert (await phone.delete(f"/v1/folders/Docs/file-locks/{a['lock']}")).status_code == 204, \
                "the holder's user unlocks from any of its devices"
            assert (await bob.delete(f"/v1/folders/Docs/file-locks/{a['lock']}")).status_code == 404
            r = await bob.post("/v1/folders/Docs/file-locks", json={"path": "a.txt"})
            assert r.status_code == 201
            bobs = r.json()["lock"]
            assert (await anna.delete(f"/v1/folders/Docs/file-locks/{bobs}")).status_code == 403
            assert (await anna.delete(f"/v1/folders/Docs/file-locks/{bobs}", params={"force": "1"})).status_code == 204
            with w.store.db.write() as conn:  # d/b.txt's lock runs out (a crashed holder never unlocks)
                conn.execute(t.file_locks.update().values(expires_ns=1))
            assert (await bob.get("/v1/folders/Docs/file-locks")).json()["locks"] == []
            assert (await _ops(bob, put_item("d/b.txt", b"new", expect=_seen("d/b.txt"))))["done"]
            r = await bob.post("/v1/folders/Docs/file-locks", json={"path": "d/b.txt"})
            assert r.status_code == 201, "an expired lock is replaced"

    run(main())


def test_sixteen_devices_racing_for_one_lock_one_wins(tmp_path: Path) -> None:
    w = _world(tmp_path)
    owner = w.device("anna").user_id
    folder = w.store.folders.get(owner, "Docs")
    assert folder is not None
    fs = w.store.folder(folder, owner)
    won: list[str] = []
    lost: list[str] = []
    go = threading.Barrier(16)
    devices = [w.store.devices.add(owner, f"device {n}", f"hash-{n}").id for n in range(16)]

    def race(n: int) -> None:
        go.wait()
        try:
            fs.take_lock("d/c.txt", devices[n], 600, None)
            won.append(devices[n])
        except Exception as exc:  # the loser's answer: locked
            lost.append(getattr(exc, "code", repr(exc)))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(won) == 1 and lost == ["locked"] * 15
    with w.store.db.read() as conn:
        rows = conn.execute(sa.select(t.file_locks.c.device_id).where(t.file_locks.c.path == "d/c.txt")).all()
    assert [r.device_id for r in rows] == won


def test_a_lock_ends_with_its_holder_s_right_to_write_and_with_the_file(tmp_path: Path) -> None:
    """bob's lock: made read-only, he holds none (it does not come back with the right); a revoked device's
    locks hold no more; the holder putting a folder where its locked file was ends that lock."""
    w = _world(tmp_path)

    async def main() -> None:
        async with w.client("anna") as anna, w.client("bob") as bob, w.client("anna-phone") as phone:
            assert (await bob.post("/v1/folders/Docs/file-locks", json={"path": "d/c.txt"})).status_code == 201
            assert (await anna.put("/v1/folders/Docs/members/bob", json={"rights": "ro"})).status_code == 200
            assert (await anna.put("/v1/folders/Docs/members/bob", json={"rights": "rw"})).status_code == 200
            paths = [lk["path"] for lk in (await phone.get("/v1/folders/Docs/file-locks")).json()["locks"]]
            assert paths == ["a.txt", "d/b.txt"], "bob's lock ended when he could no longer write"
            assert (await _ops(phone, put_item("d/c.txt", b"new", expect=_seen("d/c.txt"))))["done"]

            w.store.devices.revoke(w.device("anna").id)  # anna's laptop, the holder of a.txt and d/b.txt
            assert (await phone.get("/v1/folders/Docs/file-locks")).json()["locks"] == []
            assert (await _ops(phone, put_item("a.txt", b"new", expect=_seen("a.txt"))))["done"]

            r = await phone.post("/v1/folders/Docs/file-locks", json={"path": "gone2.txt"})
            assert r.status_code == 404
            await put_file(phone, "Docs", "x.txt", b"x.txt")
            assert (await phone.post("/v1/folders/Docs/file-locks", json={"path": "x.txt"})).status_code == 201
            done = await _ops(phone, {**_mkdir("x.txt"), "expect": _seen("x.txt")})
            assert done["done"], done
            locks = (await bob.get("/v1/folders/Docs/file-locks")).json()["locks"]
            assert "x.txt" not in [lk["path"] for lk in locks], "no file there: no lock"

    run(main())

