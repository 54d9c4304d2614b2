"""Users for an administrator (protocol 1.3): ``GET /v1/users``, ``PATCH /v1/users/{name}``.

The world of ``apphelp``: anna and bob (users), root (the administrator), one device each."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.limits import MAX_QUOTA
from syncline.formats.wire.users import UserChange

from .apphelp import PACK_HEADERS, dump, make_world, ops_body, pack, put_file, put_item, run
from .test_app_events import Stream


def _by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["name"]: u for u in body["users"]}


def test_an_administrator_lists_every_user_with_usage_and_devices(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.store.users.set_quota("bob", 1000)
    w.auth.login("bob", "bob-password", "bob-phone")  # a second device
    w.store.devices.revoke(w.auth.login("anna", "anna-password", "old")[1].device.id)  # revoked: not counted

    async def main() -> dict[str, Any]:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await put_file(c, "Docs", "a.txt", b"12345")
            await put_file(c, "Docs", "b.txt", b"678")
        async with w.client("bob") as c:
            await c.put("/v1/folders/Bobs")
            await put_file(c, "Bobs", "x.bin", b"x" * 100)
        async with w.client("root") as c:
            r = await c.get("/v1/users")
        assert r.status_code == 200, r.text
        return dict(r.json())

    body = run(main())
    assert [u["name"] for u in body["users"]] == ["anna", "bob", "root"]
    users = _by_name(body)
    assert {k: users["anna"][k] for k in ("admin", "disabled", "quota", "used", "devices")} == \
        {"admin": False, "disabled": False, "quota": None, "used": 8, "devices": 1}
    assert {k: users["bob"][k] for k in ("admin", "quota", "used", "devices")} == \
        {"admin": False, "quota": 1000, "used": 100, "devices": 2}
    assert users["root"]["admin"] is True and users["root"]["used"] == 0
    anna_devices = w.store.devices.list(w.device("anna").user_id)
    assert users["anna"]["last_seen_ns"] == max(d.last_seen_ns or d.created_ns for d in anna_devices)
    assert users["root"]["created_ns"] == w.store.users.get("root").created_ns  # type: ignore[union-attr]


def test_only_an_administrator_may_list_or_change_users(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    before = dump(w.store)

    async def main() -> list[httpx.Response]:
        async with w.client("anna") as c:
            return [await c.get("/v1/users"), await c.patch("/v1/users/bob", json={"disabled": True}),
                    await c.patch("/v1/users/anna", json={"quota": None}),
                    await c.patch("/v1/users/anna", content=b"not even JSON")]

    for r in run(main()):
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    assert dump(w.store) == before


BAD_BODIES: dict[str, Any] = {
    "quota as text": {"quota": "5"},
    "quota as true": {"quota": True},
    "quota as a float": {"quota": 1.5},
    "quota negative": {"quota": -1},
    "quota past 2^62": {"quota": MAX_QUOTA + 1},
    "disabled as text": {"disabled": "yes"},
    "disabled as 1": {"disabled": 1},
    "disabled as null": {"disabled": None},
    "an unknown key": {"quota": 5, "admin": True},
    "nothing to change": {},
    "not an object": [{"quota": 5}],
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_body_is_400_and_changes_nothing(tmp_path: Path, body: Any) -> None:
    w = make_world(tmp_path)
    before = dump(w.store)

    async def main() -> httpx.Response:
        async with w.client("root") as c:
            return await c.patch("/v1/users/bob", json=body)

    r = run(main())
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text
    assert "\n" not in r.json()["error"]["message"] and r.json()["error"]["hint"]
    assert dump(w.store) == before


def test_not_json_and_a_bad_name_are_400_an_unknown_user_404(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> list[httpx.Response]:
        async with w.client("root") as c:
            return [await c.patch("/v1/users/bob", content=b"{quota: 5}"),
                    await c.patch("/v1/users/Bob", json={"quota": 5}),
                    await c.patch("/v1/users/nobody", json={"quota": 5})]

    not_json, bad_name, unknown = run(main())
    assert not_json.status_code == 400 and bad_name.status_code == 400
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert "nobody" in unknown.json()["error"]["message"]


def test_an_administrator_cannot_disable_themselves(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> list[httpx.Response]:
        async with w.client("root") as c:
            return [await c.patch("/v1/users/root", json={"disabled": True}), await c.get("/v1/whoami"),
                    await c.patch("/v1/users/root", json={"disabled": False, "quota": 10})]

    refused, still, harmless = run(main())
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    assert refused.json()["error"]["message"] == "you cannot disable yourself"
    assert still.status_code == 200
    assert harmless.status_code == 200 and harmless.json()["quota"] == 10 and harmless.json()["disabled"] is False


def test_the_last_administrator_is_never_disabled(tmp_path: Path) -> None:
    """Over HTTP the caller is an administrator too, so only a race reaches this: the store's check, in the
    transaction that disables, is what holds (and ``syncline user remove`` meets the same one)."""
    w = make_world(tmp_path)
    root_device = w.device("root")
    with pytest.raises(WireError) as last:
        w.store.users.update("root", UserChange(disabled=True))
    assert last.value.code == "conflict" and last.value.status == 409
    assert "last administrator" in last.value.message
    assert w.store.users.get("root").disabled is False  # type: ignore[union-attr]
    assert w.store.devices.list(root_device.user_id)[0].revoked_ns is None
    w.store.users.set_admin("anna", True)
    assert w.store.users.update("root", UserChange(disabled=True)) == (root_device.id,)


def test_a_disabled_user_is_refused_at_the_next_request_and_their_stream_closes(tmp_path: Path) -> None:
    """The stream's own re-check of its device waits an hour here: only the PATCH can have closed it."""
    w = make_world(tmp_path, keepalive_s=3600)
    bob = w.device("bob")
    dav = {"Authorization": "Basic " + base64.b64encode(b"bob:bob-password").decode(), "Depth": "0"}

    async def main() -> None:
        async with w.client("bob") as c:
            await c.put("/v1/folders/Bobs")
            assert (await c.request("PROPFIND", "/remote.php/webdav/", headers=dav)).status_code == 207
            s = Stream(w.app, w.tokens["bob"], "folder=Bobs:0")
            assert await s.status() == 200
            assert await s.text() == "retry: 2000\n\n"
            assert w.notifier.streams_of(bob.id) == 1
            async with w.client("root") as admin:
                r = await admin.patch("/v1/users/bob", json={"disabled": True})
                assert r.status_code == 200, r.text
                assert r.json()["disabled"] is True and r.json()["devices"] == 0
            while await s.text():  # the server ends the stream
                pass
            await s.task
            assert w.notifier.streams_of(bob.id) == 0
            after = await c.get("/v1/folders")
            assert after.status_code == 401 and after.json()["error"]["code"] == "unauthenticated"
            login = await c.post("/v1/login", json={"user": "bob", "password": "bob-password", "device": "new"})
            assert login.status_code == 401 and login.json()["error"]["code"] == "bad_login"
            # WebDAV's account password too, though its check was remembered for minutes
            assert (await c.request("PROPFIND", "/remote.php/webdav/", headers=dav)).status_code == 401

    run(main())
    assert w.store.users.get("bob").disabled is True  # type: ignore[union-attr]
    assert w.store.folders.get(bob.user_id, "Bobs") is not None  # their folders stay


def test_an_enabled_user_logs_in_again_but_old_devices_stay_revoked(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client("root") as admin:
            assert (await admin.patch("/v1/users/bob", json={"disabled": True})).status_code == 200
            again = await admin.patch("/v1/users/bob", json={"disabled": True})  # already: nothing more
            assert again.status_code == 200 and again.json()["disabled"] is True
            r = await admin.patch("/v1/users/bob", json={"disabled": False})
            assert r.status_code == 200 and r.json()["disabled"] is False
        async with w.client("bob") as c:
            assert (await c.get("/v1/whoami")).status_code == 401
            login = await c.post("/v1/login", json={"user": "bob", "password": "bob-password", "device": "new"})
            assert login.status_code == 200, login.text
            c.headers["Authorization"] = f"Bearer {login.json()['token']}"
            assert (await c.get("/v1/whoami")).json()["user"] == "bob"

    run(main())


def test_a_quota_change_holds_at_the_next_upload(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    data = b"x" * 64

    async def upload(c: httpx.AsyncClient, path: str) -> dict[str, Any]:
        r = await c.post("/v1/folders/Bobs/chunks", content=pack(data), headers=PACK_HEADERS)
        assert r.status_code == 200, r.text
        r = await c.post("/v1/folders/Bobs/ops", json=ops_body(put_item(path, data)))
        assert r.status_code == 200, r.text
        return dict(r.json()["results"][0])

    async def main() -> None:
        async with w.client("bob") as c, w.client("root") as admin:
            await c.put("/v1/folders/Bobs")
            assert (await upload(c, "a.bin"))["done"] is True
            r = await admin.patch("/v1/users/bob", json={"quota": 100})
            assert r.status_code == 200 and r.json()["quota"] == 100 and r.json()["used"] == 64
            refused = await upload(c, "b.bin")
            assert refused["error"]["code"] == "over_quota", refused
            assert (await admin.patch("/v1/users/bob", json={"quota": None})).json()["quota"] is None
            assert (await upload(c, "b.bin"))["done"] is True
            listed = _by_name((await admin.get("/v1/users")).json())["bob"]
            assert listed["quota"] is None and listed["used"] == 128

    run(main())
