"""The app: info, login, whoami, devices, logout, the protocol header and the per-device limit."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx

from syncline.engine.replicas.errors import NoSpace
from syncline.formats.wire.limits import LIMITS
from syncline.server.app.app import DeviceLimit

from .apphelp import make_world, run


def test_info_needs_no_token_and_lists_the_limits(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client(None) as c:
            r = await c.get("/v1/info")
        assert r.status_code == 200
        body = r.json()
        assert body["server_id"] == w.store.server_id
        assert body["protocol"] == {"major": 1, "minor": 3}
        assert body["limits"] == LIMITS
        assert body["chunker"]["avg_size"] == 16384 and body["chunker"]["max_size"] == 65536

    run(main())


def test_login_whoami_devices_logout(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client(None) as c:
            r = await c.post("/v1/login", json={"user": "anna", "password": "anna-password", "device": "phone"})
            assert r.status_code == 200, r.text
            login = r.json()
            assert login["user"] == "anna" and login["admin"] is False and login["token"].startswith("slt_")
            bad = await c.post("/v1/login", json={"user": "anna", "password": "nope", "device": "phone"})
            assert bad.status_code == 401 and bad.json()["error"]["code"] == "bad_login"
            c.headers["Authorization"] = f"Bearer {login['token']}"
            me = (await c.get("/v1/whoami")).json()
            assert me == {"user": "anna", "admin": False, "device_id": login["device_id"], "device": "phone"}
            devices = (await c.get("/v1/devices")).json()
            assert sorted((d["name"], d["current"]) for d in devices) == [("anna-laptop", False), ("phone", True)]
            assert (await c.post("/v1/logout")).status_code == 204
            after = await c.get("/v1/whoami")
            assert after.status_code == 401 and after.json()["error"]["code"] == "unauthenticated"
            assert after.headers["WWW-Authenticate"] == "Bearer"

    run(main())


def test_a_device_is_revoked_by_its_user_not_by_another(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    anna = w.device("anna")

    async def main() -> None:
        async with w.client("bob") as bob:
            r = await bob.delete(f"/v1/devices/{anna.id}")
            assert r.status_code == 404
        async with w.client("anna") as c:
            assert (await c.get("/v1/whoami")).status_code == 200
        async with w.client("root") as admin:
            assert (await admin.delete(f"/v1/devices/{anna.id}")).status_code == 204
        async with w.client("anna") as c:
            assert (await c.get("/v1/whoami")).status_code == 401

    run(main())


def test_no_token_or_a_wrong_one_is_401(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client(None) as c:
            assert (await c.get("/v1/folders")).status_code == 401
            r = await c.get("/v1/folders", headers={"Authorization": "Bearer slt_wrong"})
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"

    run(main())


def test_protocol_header(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            assert (await c.get("/v1/whoami", headers={"Syncline-Protocol": "1.7"})).status_code == 200
            r = await c.get("/v1/whoami", headers={"Syncline-Protocol": "2.0"})
            assert r.status_code == 426 and r.json()["error"]["code"] == "upgrade_required"
            r = await c.get("/v1/whoami", headers={"Syncline-Protocol": "one"})
            assert r.status_code == 400

    run(main())


def test_unknown_endpoint_and_method_answer_the_error_body(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            r = await c.get("/v1/nothing")
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
            r = await c.delete("/v1/whoami")
            assert r.status_code == 405 and r.json()["error"]["code"] == "bad_request"

    run(main())


def test_more_than_16_requests_at_once_from_one_device_is_429() -> None:
    release = asyncio.Event()
    started = 0

    async def slow(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal started
        started += 1
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limited = DeviceLimit(slow, limit=16)
    statuses: list[int] = []

    async def one(token: str) -> None:
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {"type": "http", "path": "/v1/whoami", "method": "GET",
                 "headers": [(b"authorization", f"Bearer {token}".encode())]}
        await limited(scope, receive, send)
        statuses.append(int(sent[0]["status"]))  # type: ignore[call-overload]

    async def main() -> None:
        tasks = [asyncio.create_task(one("a")) for _ in range(16)]
        while started < 16:
            await asyncio.sleep(0.01)
        await one("a")  # the 17th of one device: refused at once
        await one_other()
        release.set()
        await asyncio.gather(*tasks)

    async def one_other() -> None:
        waiter = asyncio.create_task(one("b"))
        while started < 17:
            await asyncio.sleep(0.01)
        release.set()
        await waiter

    run(main())
    assert statuses.count(429) == 1 and statuses.count(204) == 17
    assert limited.active == {}


def test_a_server_bug_is_500_with_a_request_id_and_no_traceback(tmp_path: Path, monkeypatch: Any,
                                                                 caplog: Any) -> None:
    w = make_world(tmp_path)

    def broken(user_id: int) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(w.store.folders, "for_user", broken)

    async def main() -> httpx.Response:
        async with w.client() as c:
            return await c.get("/v1/folders")

    with caplog.at_level(logging.ERROR, logger="syncline.server"):
        r = run(main())
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["code"] == "internal" and err["retryable"] is True
    assert "secret" not in r.text and "Traceback" not in r.text
    assert err["details"]["request_id"] in caplog.text and "secret internals" in caplog.text


def test_a_replica_error_from_below_is_mapped_by_its_family(tmp_path: Path, monkeypatch: Any) -> None:
    w = make_world(tmp_path)

    def full(user_id: int) -> None:
        raise NoSpace(28, "No space left on device")

    monkeypatch.setattr(w.store.folders, "for_user", full)

    async def main() -> httpx.Response:
        async with w.client() as c:
            return await c.get("/v1/folders")

    r = run(main())
    assert r.status_code == 507 and r.json()["error"]["code"] == "no_space"


def test_repeated_failed_logins_are_rate_limited_with_retry_after(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> list[httpx.Response]:
        async with w.client(None) as c:
            return [await c.post("/v1/login", json={"user": "anna", "password": "wrong-password", "device": "d"})
                    for _ in range(7)]

    answers = run(main())
    assert [r.status_code for r in answers[:5]] == [401] * 5
    limited = answers[-1]
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
