"""Web sessions (issue 16): ``/ui/login``, ``/ui/session``, ``/ui/logout``, the session cookie and its
CSRF checks, expiry on a fake clock, the shared login limits, revocation, and the schema step.

The app in process (httpx over ASGI) for the rules; real ``syncline serve`` processes for the cookie a
browser gets over plain HTTP and over TLS."""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from syncline.core.errors import UsageError
from syncline.formats.wire.ops import new_op_id
from syncline.server.app.websession import csrf_of, device_name
from syncline.server.auth import WebPolicy
from syncline.server.collector import Collector
from syncline.server.config import load_server_config
from syncline.server.ratelimit import LoginLimiter
from syncline.server.store import open_store
from syncline.server.store import schema as t

from .apphelp import World, dump, make_world, ops_body, run
from .conftest import Clock
from .test_app_events import Stream
from .test_app_uvicorn import DEADLINE, running
from .test_store_migrations import v1_store

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAME = {"Sec-Fetch-Site": "same-origin"}
HOUR = 3600


class NsClock:
    """The authenticator's wall clock, moved by hand (nanoseconds)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000 * 10**9

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


def client(w: World, https: bool = False, **headers: str) -> httpx.AsyncClient:
    """A client with an empty cookie jar: each test says which cookie it sends."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=w.app),
                             base_url=f"{'https' if https else 'http'}://testserver",
                             headers={"User-Agent": FIREFOX, **headers})


def cookie_of(response: httpx.Response) -> tuple[str, str]:
    """(name, value) of the response's one ``Set-Cookie``."""
    m = re.match(r"([^=;]+)=([^;]*)", response.headers["set-cookie"])
    assert m is not None, response.headers
    return m[1], m[2]


async def web_login(w: World, user: str = "anna", https: bool = False) -> tuple[str, dict[str, Any]]:
    """A new web session of ``user``: (its cookie header value, the login's answer)."""
    async with client(w, https) as c:
        r = await c.post("/ui/login", json={"user": user, "password": w.password(user)}, headers=SAME)
    assert r.status_code == 200, r.text
    name, token = cookie_of(r)
    return f"{name}={token}", dict(r.json())


async def make_docs(w: World) -> None:
    """anna's folder Docs, made by her native device."""
    async with client(w, Authorization=f"Bearer {w.tokens['anna']}") as c:
        assert (await c.put("/v1/folders/Docs")).status_code in (201, 200)


async def docs_and_login(w: World) -> tuple[str, dict[str, Any]]:
    """:func:`make_docs`, then anna's web login (its cookie and answer)."""
    await make_docs(w)
    return await web_login(w)


async def send(w: World, method: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
    async with client(w, **({"https": True} if headers.pop("_https", None) else {})) as c:
        return await c.request(method, path, headers=headers, **kw)


def test_login_sets_an_http_only_cookie_and_answers_the_session(tmp_path: Path) -> None:
    w = make_world(tmp_path, clock=NsClock())

    async def main() -> None:
        async with client(w) as c:
            r = await c.post("/ui/login", json={"user": "anna", "password": "anna-password"}, headers=SAME)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["set-cookie"] == f"syncline={cookie_of(r)[1]}; Max-Age={14 * 24 * HOUR}; Path=/; " \
                                          "HttpOnly; SameSite=Lax"
        body = r.json()
        assert set(body) == {"user", "admin", "device_id", "csrf", "expires_ns"}
        assert body["user"] == "anna" and body["admin"] is False
        token = cookie_of(r)[1]
        assert body["csrf"] == csrf_of(w.store.web_secret, token) and token not in r.text
        device = w.store.devices.get(body["device_id"])
        assert device is not None and device.kind == "web" and device.name == "web: Firefox on Linux"
        assert device.expires_ns == body["expires_ns"] == device.created_ns + 24 * HOUR * 10**9
        r = await send(w, "GET", "/ui/session", {"Cookie": f"syncline={token}"})
        assert r.status_code == 200 and r.json() == body and "set-cookie" not in r.headers
        listed = await send(w, "GET", "/v1/devices", {"Cookie": f"syncline={token}"})
        mine = [d for d in listed.json() if d["current"]]
        assert mine == [{"id": body["device_id"], "name": "web: Firefox on Linux", "created": device.created_ns,
                         "last_seen": mine[0]["last_seen"], "revoked": None, "current": True, "kind": "web",
                         "expires": body["expires_ns"]}]

    run(main())


def test_over_tls_the_cookie_is_host_prefixed_and_secure(tmp_path: Path) -> None:
    w = make_world(tmp_path, clock=NsClock())

    async def main() -> None:
        cookie, body = await web_login(w, https=True)
        name, token = cookie.split("=", 1)
        assert name == "__Host-syncline"
        async with client(w, https=True) as c:
            r = await c.post("/ui/login", json={"user": "anna", "password": "anna-password"}, headers=SAME)
        assert r.headers["set-cookie"].endswith("; Path=/; HttpOnly; SameSite=Lax; Secure")
        assert r.headers["set-cookie"].startswith("__Host-syncline=slt_")
        assert (await send(w, "GET", "/ui/session", {"Cookie": cookie, "_https": "1"})).json() == body
        # Each name on its own scheme only: a plain cookie over TLS, or the TLS one over plain HTTP, is nobody.
        assert (await send(w, "GET", "/ui/session", {"Cookie": f"syncline={token}", "_https": "1"})).status_code == 401
        assert (await send(w, "GET", "/ui/session", {"Cookie": cookie})).status_code == 401

    run(main())


def test_wrong_credentials_are_401_and_set_no_cookie(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        before = dump(w.store)
        for user, password in (("anna", "nope"), ("nobody", "x")):
            r = await send(w, "POST", "/ui/login", dict(SAME), json={"user": user, "password": password})
            assert r.status_code == 401 and r.json()["error"]["code"] == "bad_login"
            assert "set-cookie" not in r.headers
        for bad in ({"user": "anna"}, {"user": 1, "password": "x"}, [], "x"):
            r = await send(w, "POST", "/ui/login", dict(SAME), json=bad)
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        assert dump(w.store) == before

    run(main())


@pytest.mark.parametrize("origin", [{}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                    {"Origin": "http://evil.example"}, {"Origin": "null"},
                                    {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"}])
def test_a_login_from_another_site_is_refused_before_the_password(tmp_path: Path, origin: dict[str, str]) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        before = dump(w.store)
        for _ in range(6):  # past the 5 free failures, were they counted
            r = await send(w, "POST", "/ui/login", dict(origin), json={"user": "anna", "password": "wrong"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await send(w, "POST", "/ui/login", dict(origin), json={"user": "anna", "password": "anna-password"})
        assert r.status_code == 403 and "set-cookie" not in r.headers
        assert dump(w.store) == before
        ok = await send(w, "POST", "/ui/login", {"Origin": "http://testserver"},
                        json={"user": "anna", "password": "anna-password"})
        assert ok.status_code == 200  # nothing was counted against anna
        # A browser that still holds a live session's cookie logs in like any other (no CSRF value asked).
        again = await send(w, "POST", "/ui/login", {**SAME, "Cookie": "syncline=" + cookie_of(ok)[1]},
                           json={"user": "bob", "password": "bob-password"})
        assert again.status_code == 200 and again.json()["user"] == "bob"

    run(main())


# The CSRF matrix. Each action is something the page may do that changes the store; it acts only with the
# session's cookie, its CSRF value and a same-origin request. Every other combination changes nothing.
Action = Callable[[World, dict[str, str], int], Awaitable[httpx.Response]]


async def _put_folder(w: World, headers: dict[str, str], n: int) -> httpx.Response:
    return await send(w, "PUT", f"/v1/folders/New{n}", headers)


async def _mkdir(w: World, headers: dict[str, str], n: int) -> httpx.Response:
    item = {"id": new_op_id(), "op": "mkdir", "path": f"d{n}", "expect": None, "entry": {"mode": 0o755, "mtime_ns": 5}}
    return await send(w, "POST", "/v1/folders/Docs/ops", headers, json=ops_body(item))


async def _mkcol(w: World, headers: dict[str, str], n: int) -> httpx.Response:
    return await send(w, "MKCOL", f"/remote.php/dav/files/anna/Docs/m{n}", headers)


async def _revoke(w: World, headers: dict[str, str], n: int) -> httpx.Response:
    return await send(w, "DELETE", f"/v1/devices/{w.tokens[f'laptop{n}']}", headers)


async def _logout(w: World, headers: dict[str, str], n: int) -> httpx.Response:
    return await send(w, "POST", "/ui/logout", headers)


ACTIONS: dict[str, Action] = {"PUT folder": _put_folder, "POST ops": _mkdir, "MKCOL": _mkcol,
                              "DELETE device": _revoke, "POST logout": _logout}
GOOD_ORIGINS = [SAME, {"Origin": "http://testserver"}]
BAD_ORIGINS = [{}, {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "none"},
               {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"}, {"Origin": "http://evil.example"},
               {"Origin": "null"}, {"Origin": "https://testserver"}, {"Origin": "http://testserver.evil.example"}]


@pytest.mark.parametrize("action", list(ACTIONS))
def test_csrf_matrix(tmp_path: Path, action: str) -> None:
    w = make_world(tmp_path, clock=NsClock())  # a clock that stands still: last_seen is written once
    act = ACTIONS[action]
    anna = w.device("anna")
    for n in range(2):  # devices of anna's that DELETE may revoke (their ids stand in w.tokens)
        _, made = w.auth.login("anna", "anna-password", f"laptop {n}")
        w.tokens[f"laptop{n}"] = made.device.id

    async def main() -> None:
        cookie, body = await docs_and_login(w)
        _, other = await web_login(w)  # another session's CSRF value is no good for this one
        assert (await send(w, "GET", "/ui/session", {"Cookie": cookie})).status_code == 200  # (seen: written)
        csrfs: dict[str, dict[str, str]] = {"none": {}, "another's": {"X-Syncline-CSRF": other["csrf"]},
                                            "garbage": {"X-Syncline-CSRF": "x" * 64},
                                            "right": {"X-Syncline-CSRF": body["csrf"]}}
        n = 100
        for with_cookie in (False, True):
            for csrf_name, csrf in csrfs.items():
                for origin in GOOD_ORIGINS + BAD_ORIGINS:
                    if with_cookie and csrf_name == "right" and origin in GOOD_ORIGINS:
                        continue  # the acting combinations, below
                    headers = {**origin, **csrf, **({"Cookie": cookie} if with_cookie else {})}
                    before = dump(w.store)
                    r = await act(w, dict(headers), n % 2)
                    case = f"{action} {headers}"
                    if with_cookie:
                        assert r.status_code == 403, case
                        assert r.json()["error"]["code"] == "forbidden", case
                    else:
                        assert r.status_code == 401, case
                    assert dump(w.store) == before, case
                    n += 1
        for i, origin in enumerate(GOOD_ORIGINS):
            cookie, body = await web_login(w)  # (logout ends the session it is done with)
            before = dump(w.store)
            r = await act(w, {**origin, "X-Syncline-CSRF": body["csrf"], "Cookie": cookie}, i)
            assert r.status_code in (200, 201, 204), (action, origin, r.text)
            assert dump(w.store) != before
        assert w.store.devices.get(anna.id) == w.device("anna"), "the native device is untouched"

    run(main())


def test_csrf_matrix_actions_did_what_they_say(tmp_path: Path) -> None:
    """The acting combinations of the matrix, their effects named (the matrix only sees the store change)."""
    w = make_world(tmp_path)

    async def main() -> None:
        cookie, body = await docs_and_login(w)
        ok = {**SAME, "X-Syncline-CSRF": body["csrf"], "Cookie": cookie}
        assert (await _put_folder(w, dict(ok), 1)).status_code == 201
        assert (await _mkdir(w, dict(ok), 1)).json()["results"][0]["done"] is True
        assert (await _mkcol(w, dict(ok), 1)).status_code == 201
        anna_id = w.device("anna").user_id
        assert w.store.folders.get(anna_id, "New1") is not None
        docs = w.store.folders.get(anna_id, "Docs")
        assert docs is not None and docs.seq == 2
        r = await _logout(w, dict(ok), 0)
        assert r.status_code == 204
        assert r.headers["set-cookie"] == "syncline=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        device = w.store.devices.get(body["device_id"])
        assert device is not None and device.revoked_ns is not None
        assert (await send(w, "GET", "/ui/session", {"Cookie": cookie})).status_code == 401
        again = await send(w, "POST", "/ui/logout", dict(ok))
        assert again.status_code == 401 and again.headers["set-cookie"].startswith("syncline=; Max-Age=0")

    run(main())


def test_reads_need_only_the_cookie_and_webdav_takes_it(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        cookie, body = await docs_and_login(w)
        r = await send(w, "GET", "/v1/whoami", {"Cookie": cookie})
        assert r.status_code == 200 and r.json()["device_id"] == body["device_id"]
        assert [f["name"] for f in (await send(w, "GET", "/v1/folders", {"Cookie": cookie})).json()] == ["Docs"]
        r = await send(w, "GET", "/remote.php/dav/files/anna/Docs", {"Cookie": cookie})
        assert r.status_code != 401
        propfind = {"Cookie": cookie, "Depth": "1", **SAME, "X-Syncline-CSRF": body["csrf"]}
        for prefix in ("/remote.php/dav/files/anna/", "/remote.php/webdav/", "/dav/"):
            r = await send(w, "PROPFIND", prefix, dict(propfind))
            assert r.status_code == 207, (prefix, r.text)
            assert "Docs" in r.text
        # PROPFIND is not a GET: without the CSRF value it is refused like a write.
        r = await send(w, "PROPFIND", "/remote.php/dav/files/anna/", {"Cookie": cookie, "Depth": "1", **SAME})
        assert r.status_code == 403

    run(main())


def test_webdav_takes_a_bearer_device_token_as_v1_does(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with client(w, Authorization=f"Bearer {w.tokens['anna']}") as c:
            await c.put("/v1/folders/Docs")
            r = await c.request("PROPFIND", "/remote.php/dav/files/anna/", headers={"Depth": "1"})
            assert r.status_code == 207 and "Docs" in r.text
            # Bearer is the token's user whatever the URL names: another user's tree is not there.
            r = await c.request("PROPFIND", "/remote.php/dav/files/bob/", headers={"Depth": "1"})
            assert r.status_code == 404
        w.store.devices.revoke(w.device("anna").id)
        for header in (f"Bearer {w.tokens['anna']}", "Bearer slt_" + "A" * 43, "Bearer nonsense", "Bearer "):
            r = await send(w, "PROPFIND", "/remote.php/dav/files/anna/", {"Authorization": header, "Depth": "0"})
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic"), header

    run(main())


def test_the_cookie_means_nothing_elsewhere_or_beside_a_token(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        cookie, body = await web_login(w)
        # OCS's user endpoint takes a caller, but is not a path the cookie is read on.
        r = await send(w, "GET", "/ocs/v1.php/cloud/user", {"Cookie": cookie, "OCS-APIRequest": "true"})
        assert r.status_code == 401
        # A native client's own Authorization wins; the cookie adds nothing, not even a CSRF check.
        r = await send(w, "GET", "/v1/whoami", {"Cookie": cookie, "Authorization": f"Bearer {w.tokens['bob']}"})
        assert r.json()["user"] == "bob"
        r = await send(w, "PUT", "/v1/folders/Bobs", {"Cookie": cookie, "Authorization": f"Bearer {w.tokens['bob']}"})
        assert r.status_code == 201
        # A device's token in the cookie is not a web session: nobody.
        for value in (f"syncline={w.tokens['anna']}", "syncline=slt_" + "A" * 43, "syncline=garbage", "syncline="):
            r = await send(w, "GET", "/v1/whoami", {"Cookie": value})
            assert r.status_code == 401, value
            r = await send(w, "PUT", "/v1/folders/X", {"Cookie": value, **SAME, "X-Syncline-CSRF": body["csrf"]})
            assert r.status_code == 401, value
        r = await send(w, "GET", "/ui/session", {"Authorization": f"Bearer {w.tokens['anna']}"})
        assert r.status_code == 401  # a device is not a web session

    run(main())


def test_idle_expiry_slides_and_the_maximum_age_does_not(tmp_path: Path) -> None:
    clock = NsClock()
    w = make_world(tmp_path, clock=clock)

    async def main() -> None:
        cookie, body = await web_login(w)
        started = clock.now
        end = started + 14 * 24 * HOUR * 10**9
        for _ in range(14):  # a request an hour short of the idle limit keeps it going, up to 14 days
            clock.advance(23 * HOUR)
            r = await send(w, "GET", "/ui/session", {"Cookie": cookie})
            assert r.status_code == 200, clock.now - started
            assert r.json()["expires_ns"] == min(clock.now + 24 * HOUR * 10**9, end)
        clock.now = end - 1
        r = await send(w, "GET", "/ui/session", {"Cookie": cookie})
        assert r.status_code == 200 and r.json()["expires_ns"] == end, "never past the maximum age"
        clock.advance(1e-9)
        assert (await send(w, "GET", "/ui/session", {"Cookie": cookie})).status_code == 401
        assert (await send(w, "GET", "/v1/whoami", {"Cookie": cookie})).status_code == 401

        cookie, body = await web_login(w)
        clock.advance(24 * HOUR - 1)
        assert (await send(w, "GET", "/v1/whoami", {"Cookie": cookie})).status_code == 200
        clock.advance(24 * HOUR)  # 24 h after that request, to the nanosecond
        assert (await send(w, "GET", "/v1/whoami", {"Cookie": cookie})).status_code == 401
        device = w.store.devices.get(body["device_id"])
        assert device is not None and device.revoked_ns is None, "refused before the collector ran"
        revoked: list[str] = []
        collector = Collector(w.store, clock=clock, web=w.auth.web, on_revoked=revoked.append)
        assert set(collector.expire_sessions(clock.now)) >= {body["device_id"]}
        assert body["device_id"] in revoked
        device = w.store.devices.get(body["device_id"])
        assert device is not None and device.revoked_ns == clock.now
        assert collector.expire_sessions(clock.now) == ()
        laptop = w.device("anna")
        assert laptop.revoked_ns is None and laptop.expires_ns is None, "a device never expires"
        async with client(w, Authorization=f"Bearer {w.tokens['anna']}") as c:
            assert (await c.get("/v1/whoami")).status_code == 200

    run(main())


def test_the_collector_sweeps_sessions_made_before_a_shorter_maximum_age(tmp_path: Path) -> None:
    clock = NsClock()
    w = make_world(tmp_path, clock=clock)

    async def main() -> None:
        _, body = await web_login(w)
        clock.advance(2 * HOUR)
        shorter = Collector(w.store, clock=clock, web=WebPolicy(idle_s=24 * HOUR, max_age_s=HOUR))
        assert shorter.expire_sessions(clock.now) == (body["device_id"],)

    run(main())


def test_the_21st_login_revokes_the_oldest_session_and_its_streams(tmp_path: Path) -> None:
    clock = NsClock()
    w = make_world(tmp_path, clock=clock, keepalive_s=30.0)

    async def main() -> None:
        await make_docs(w)
        sessions = []
        for _ in range(20):
            sessions.append(await web_login(w))
            clock.advance(1)
        first_cookie, first = sessions[0]
        stream = Stream(w.app, "", "folder=Docs:0", headers=[(b"cookie", first_cookie.encode())])
        assert await stream.status() == 200
        assert await stream.text() == "retry: 2000\n\n"
        await web_login(w)
        while await stream.text():  # closed at once, not at the next keep-alive 30 s on
            pass
        await stream.task
        assert (await send(w, "GET", "/ui/session", {"Cookie": first_cookie})).status_code == 401
        for cookie, _ in sessions[1:]:
            assert (await send(w, "GET", "/ui/session", {"Cookie": cookie})).status_code == 200
        live = [d for d in w.store.devices.list(w.device("anna").user_id) if d.revoked_ns is None]
        assert sorted(d.kind for d in live) == ["device"] + ["web"] * 20
        assert w.store.devices.get(first["device_id"]).revoked_ns is not None  # type: ignore[union-attr]
        # bob's sessions are his own count
        await web_login(w, "bob")
        assert (await send(w, "GET", "/ui/session", {"Cookie": sessions[1][0]})).status_code == 200

    run(main())


def test_a_revoked_session_is_refused_at_once_and_its_stream_ends(tmp_path: Path) -> None:
    w = make_world(tmp_path, keepalive_s=30.0)

    async def main() -> None:
        async with client(w, Authorization=f"Bearer {w.tokens['anna']}") as c:
            await c.put("/v1/folders/Docs")
            cookie, body = await web_login(w)
            stream = Stream(w.app, "", "folder=Docs:0", headers=[(b"cookie", cookie.encode())])
            assert await stream.status() == 200
            assert await stream.text() == "retry: 2000\n\n"
            assert (await c.delete(f"/v1/devices/{body['device_id']}")).status_code == 204
            while await stream.text():
                pass
            await stream.task
        assert w.notifier.streams_of(body["device_id"]) == 0
        assert (await send(w, "GET", "/v1/whoami", {"Cookie": cookie})).status_code == 401
        r = await send(w, "PUT", "/v1/folders/X", {"Cookie": cookie, **SAME, "X-Syncline-CSRF": body["csrf"]})
        assert r.status_code == 401

    run(main())


def test_an_expired_sessions_stream_ends_at_its_next_keepalive(tmp_path: Path) -> None:
    clock = NsClock()
    w = make_world(tmp_path, clock=clock, keepalive_s=0.05)

    async def main() -> None:
        cookie, _ = await docs_and_login(w)
        stream = Stream(w.app, "", "folder=Docs:0", headers=[(b"cookie", cookie.encode())])
        assert await stream.status() == 200
        assert await stream.text() == "retry: 2000\n\n"
        assert await stream.text() == ": keep-alive\n\n"
        clock.advance(25 * HOUR)
        while await stream.text():
            pass
        await stream.task

    run(main())


@pytest.mark.parametrize("first", ["web", "native"])
def test_failures_at_one_login_count_at_the_other(tmp_path: Path, first: str) -> None:
    w = make_world(tmp_path)
    w.auth.limiter = LoginLimiter(Clock())  # its waits do not run out while the test runs
    web = ("/ui/login", {"user": "anna", "password": "wrong"})
    native = ("/v1/login", {"user": "anna", "password": "wrong", "device": "x"})
    failing, other = (web, native) if first == "web" else (native, web)

    async def main() -> None:
        for _ in range(5):
            r = await send(w, "POST", failing[0], dict(SAME), json=failing[1])
            assert r.status_code == 401
        right = {**other[1], "password": "anna-password"}
        r = await send(w, "POST", other[0], dict(SAME), json=right)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1 and "set-cookie" not in r.headers

    run(main())


def test_device_names_from_user_agents() -> None:
    cases = {
        FIREFOX: "web: Firefox on Linux",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
        "Safari/537.36 Edg/126.0": "web: Edge on Windows",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1": "web: Safari on iOS",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile "
        "Safari/537.36": "web: Chrome on Android",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Safari/605.1.15": "web: Safari on macOS",
        "curl/8.5.0": "web: curl on an unknown system",
        "": "web: a browser on an unknown system",
        "\x1b[31mevil\x07/1 (\n\t)": "web: a browser on an unknown system",
        "Evil" + "x" * 200 + "/1.0 Linux": "web: Evil" + "x" * 20 + " on Linux",
        "\u202eevil/1": "web: evil on an unknown system",
    }
    for agent, name in cases.items():
        assert device_name(agent) == name, agent
    assert device_name(None) == "web: a browser on an unknown system"
    for agent in ("A" * 10_000, "\x00" * 50, "é" * 100, "(" * 300):
        made = device_name(agent)
        assert len(made) <= 64 and made.isprintable() and made.isascii()


def test_a_hostile_user_agent_makes_a_clean_device_name(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with client(w) as c:
            agent = b"\x7fX\x85\xa0Y\xff" + b"z" * 500  # read as latin-1: not all printable
            r = await c.post("/ui/login", json={"user": "anna", "password": "anna-password"},
                             headers=httpx.Headers([(b"User-Agent", agent), (b"Sec-Fetch-Site", b"same-origin")]))
        assert r.status_code == 200
        device = w.store.devices.get(r.json()["device_id"])
        assert device is not None and device.name.isprintable() and len(device.name) <= 64

    run(main())


def test_the_web_table_of_the_server_config(tmp_path: Path) -> None:
    assert load_server_config(tmp_path).web == WebPolicy()
    (tmp_path / "server.toml").write_text('[web]\nidle = "2h"\nmax_age = "7d"\n')
    assert load_server_config(tmp_path).web == WebPolicy(idle_s=2 * HOUR, max_age_s=7 * 24 * HOUR)
    for bad in ('idle = "0"', 'idle = "30s"', 'max_age = "soon"', 'max_age = true', 'idle = "100000w"',
                'ttl = "1h"'):
        (tmp_path / "server.toml").write_text(f"[web]\n{bad}\n")
        with pytest.raises(UsageError, match=r"\[web\]"):
            load_server_config(tmp_path)


def test_the_schema_step_keeps_devices_as_devices(tmp_path: Path) -> None:
    old = tmp_path / "old"
    v1_store(old)
    engine = sa.create_engine(f"sqlite:///{old / 'meta.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("insert into devices (id, user_id, name, token_hash, created_ns, last_seen_ns)"
                             " values ('Dold', 1, 'anna-laptop', 'h1', 3, 4)")
    engine.dispose()
    store = open_store(old, min_free=0)
    try:
        device = store.devices.get("Dold")
        assert device is not None and (device.kind, device.expires_ns, device.name) == ("device", None, "anna-laptop")
        assert store.devices.by_token_hash("h1") == device
        secret = store.web_secret
        assert len(secret) == 32
    finally:
        store.close()
    again = open_store(old, min_free=0)
    try:
        assert again.web_secret == secret, "made once: a restart keeps every open page's CSRF value"
        with again.db.read() as conn:
            kinds = conn.execute(sa.select(t.devices.c.kind)).scalars().all()
        assert kinds == ["device"]
    finally:
        again.close()


def _real_login(url: str, password: str, verify: ssl.SSLContext | bool = True) -> tuple[httpx.Response, str]:
    with httpx.Client(base_url=url, timeout=DEADLINE, verify=verify) as c:
        r = c.post("/ui/login", json={"user": "admin", "password": password},
                   headers={**SAME, "User-Agent": FIREFOX})
        assert r.status_code == 200, r.text
        name, token = cookie_of(r)
        cookie = f"{name}={token}"
        body = r.json()
        session = c.get("/ui/session", headers={"Cookie": cookie})
        assert session.status_code == 200 and session.json()["device_id"] == body["device_id"]
        made = c.put("/v1/folders/Web", headers={"Cookie": cookie, **SAME, "X-Syncline-CSRF": body["csrf"]})
        assert made.status_code == 201
        refused = c.put("/v1/folders/Evil", headers={"Cookie": cookie, "Sec-Fetch-Site": "cross-site",
                                                     "X-Syncline-CSRF": body["csrf"]})
        assert refused.status_code == 403
        listing = c.request("PROPFIND", "/remote.php/webdav/", headers={
            "Cookie": cookie, "Depth": "1", **SAME, "X-Syncline-CSRF": body["csrf"]})
        assert listing.status_code == 207 and "Web" in listing.text and "Evil" not in listing.text
        out = c.post("/ui/logout", headers={"Cookie": cookie, **SAME, "X-Syncline-CSRF": body["csrf"]})
        assert out.status_code == 204
        assert c.get("/v1/whoami", headers={"Cookie": cookie}).status_code == 401
    return r, cookie


def test_a_real_server_over_plain_http(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server:
        r, cookie = _real_login(server.url, server.password)
    assert cookie.startswith("syncline=slt_")
    flags = [f.strip() for f in r.headers["set-cookie"].split(";")[1:]]
    assert sorted(flags) == sorted(["Max-Age=1209600", "Path=/", "HttpOnly", "SameSite=Lax"])


def test_a_real_server_over_tls(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "server.toml").write_text('[web]\nmax_age = "2d"\n')
    with running(data, "--tls", "self-signed") as server:
        trust = ssl.create_default_context(cafile=str(data / "tls" / "cert.pem"))
        r, cookie = _real_login(server.url, server.password, trust)
    assert cookie.startswith("__Host-syncline=slt_")
    flags = [f.strip() for f in r.headers["set-cookie"].split(";")[1:]]
    assert sorted(flags) == sorted(["Max-Age=172800", "Path=/", "HttpOnly", "SameSite=Lax", "Secure"])
    assert r.json()["expires_ns"] <= time.time_ns() + 24 * HOUR * 10**9
