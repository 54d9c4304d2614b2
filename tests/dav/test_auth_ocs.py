"""Basic auth of WebDAV (app passwords are device tokens; the account password, verified once per 10 min;
failures counted as logins are) and the OCS/status endpoints the clients read first."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from syncline.server.app import make_app
from syncline.server.app.app import DeviceLimit
from syncline.server.dav.auth import DEVICE_NAME, BasicAuth
from syncline.server.dav.mount import instance_id

from ..server.apphelp import World, run
from ..server.conftest import Clock
from .davhelp import basic, dav_client, docs_world

ROOT = "/remote.php/webdav/"


@pytest.fixture
def w(tmp_path: Path) -> World:
    return docs_world(tmp_path)


def _status(w: World, headers: dict[str, str], url: str = ROOT, method: str = "PROPFIND") -> Any:
    async def go() -> Any:
        async with dav_client(w) as c:
            c.headers.pop("Authorization")
            return await c.request(method, url, headers={"Depth": "0", **headers})

    return run(go())


def test_an_app_password_is_a_device_token_of_that_user(w: World) -> None:
    assert _status(w, basic("anna", w.tokens["anna"])).status_code == 207
    assert _status(w, basic("bob", w.tokens["anna"])).status_code == 401, "another user's token"
    w.auth.revoke(w.device("anna").id, w.auth.device_of(w.tokens["anna"]))
    revoked = _status(w, basic("anna", w.tokens["anna"]))
    assert revoked.status_code == 401 and revoked.headers["WWW-Authenticate"] == 'Basic realm="syncline"'


@pytest.mark.parametrize("header", [
    {}, {"Authorization": "Bearer slt_x"}, {"Authorization": "Basic"}, {"Authorization": "Basic !!!"},
    {"Authorization": "Basic " + "QQ==" * 2000}, basic("anna", ""), basic("", "x"), basic("Anna Smith", "x"),
    {"Authorization": "Basic //79/w=="},  # not UTF-8
])
def test_anything_else_is_401_with_basic(w: World, header: dict[str, str]) -> None:
    r = _status(w, header)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="syncline"'
    assert b"NotAuthenticated" in r.content and "xml" in r.headers["content-type"]


def test_the_account_password_is_verified_once_and_acts_as_the_webdav_device(w: World) -> None:
    verified = []
    real = w.auth.passwords.verify

    def counting(stored: str | None, password: str) -> Any:
        verified.append(password)
        return real(stored, password)

    w.auth.passwords.verify = counting  # type: ignore[method-assign]
    for _ in range(3):
        assert _status(w, basic("anna", w.password("anna"))).status_code == 207
    assert len(verified) == 1
    devices = [d for d in w.store.devices.list(w.device("anna").user_id) if d.name == DEVICE_NAME]
    assert len(devices) == 1 and devices[0].revoked_ns is None and devices[0].last_seen_ns is not None
    w.store.users.set_password("anna", w.auth.passwords.hash("a-new-password"))
    assert _status(w, basic("anna", w.password("anna"))).status_code == 401, "a new password ends the cache"
    assert _status(w, basic("anna", "a-new-password")).status_code == 207
    assert len([d for d in w.store.devices.list(w.device("anna").user_id) if d.name == DEVICE_NAME]) == 1


def test_wrong_passwords_count_as_failed_logins(w: World) -> None:
    for _ in range(5):
        assert _status(w, basic("anna", "wrong-password")).status_code == 401
    limited = _status(w, basic("anna", w.password("anna")))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert _status(w, basic("anna", w.tokens["anna"])).status_code == 207, "app passwords are not limited"


def test_the_cache_expires_and_account_passwords_can_be_refused(w: World, tmp_path: Path) -> None:
    clock = Clock()
    auth = BasicAuth(w.store, w.auth, clock=clock)
    header = basic("anna", w.password("anna"))["Authorization"]
    first = auth.caller(header)
    clock.now += 599
    assert auth.caller(header).device == first.device
    calls = []
    real = w.auth.check_password
    w.auth.check_password = lambda *a: calls.append(a) or real(*a)  # type: ignore[method-assign]
    clock.now += 2
    assert auth.caller(header).device == first.device and len(calls) == 1
    strict = make_app(w.store, w.auth, dav_account_passwords=False)
    w.app = strict
    assert _status(w, basic("anna", w.password("anna"))).status_code == 401
    assert _status(w, basic("anna", w.tokens["anna"])).status_code == 207


def test_status_and_capabilities_need_no_auth_and_say_what_the_plan_says(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            c.headers.pop("Authorization")
            status = (await c.get("/status.php")).json()
            assert status["installed"] is True and status["productname"] == "syncline"
            assert status["version"] == "10.11.0.0" and status["maintenance"] is False
            v1 = (await c.get("/ocs/v1.php/cloud/capabilities?format=json",
                              headers={"OCS-APIREQUEST": "true"})).json()["ocs"]
            assert v1["meta"]["statuscode"] == 100
            caps = v1["data"]["capabilities"]
            assert caps["dav"]["chunking"] == "1.0" and caps["files"]["bigfilechunking"] is True
            assert caps["checksums"] == {"supportedTypes": ["SHA1"], "preferredUploadType": "SHA1"}
            assert caps["uploadConflictFiles"] is True and caps["files"]["blacklisted_files"] == [".syncline"]
            assert caps["core"]["pollinterval"] == 60000 and caps["core"]["webdav-root"] == "remote.php/webdav"
            assert caps["core"]["status"]["version"] == "10.11.0.0"
            assert not {"files_sharing", "notify_push", "end-to-end-encryption", "files_lock"} & set(caps)
            assert "tus_support" not in caps["files"] and "bulkupload" not in caps["dav"]
            v2 = (await c.get("/ocs/v2.php/cloud/capabilities")).json()["ocs"]
            assert v2["meta"]["statuscode"] == 200
            anonymous = await c.get("/ocs/v1.php/cloud/user?format=json")
            assert anonymous.status_code == 401 and anonymous.json()["ocs"]["meta"]["status"] == "failure"
            user = (await c.get("/ocs/v1.php/cloud/user?format=json", headers=basic("anna", w.tokens["anna"])))
            assert user.json()["ocs"]["data"]["id"] == "anna"
            assert user.json()["ocs"]["data"]["display-name"] == "anna"
            assert (await c.get("/ocs/v1.php/cloud/nothing")).status_code == 404
            assert (await c.get("/v1/info")).status_code == 200, "protocol v1 is untouched"

    run(go())


def test_the_instance_id_is_short_and_stable(w: World) -> None:
    made = instance_id(w.store.server_id)
    assert made.startswith("oc") and len(made) == 12 and made.isalnum() and made == instance_id(w.store.server_id)


def test_dav_requests_count_against_the_per_device_limit(w: World) -> None:
    header = basic("anna", w.tokens["anna"])
    assert _status(w, header).status_code == 207  # builds the middleware stack
    layer: Any = w.app.middleware_stack
    while not isinstance(layer, DeviceLimit):
        layer = layer.app
    key = hashlib.sha256(header["Authorization"].partition(" ")[2].encode("latin-1")).digest()
    layer.active[key] = layer.limit
    assert _status(w, header).status_code == 429
    del layer.active[key]
    assert _status(w, header).status_code == 207


def test_a_web_pages_own_request_gets_no_password_challenge(w: World) -> None:
    """The web UI's scripts say X-Requested-With: a 401 without WWW-Authenticate, so the browser does not
    put its own password dialog over the page (the page shows its login form)."""
    r = _status(w, {"X-Requested-With": "XMLHttpRequest"})
    assert r.status_code == 401 and "www-authenticate" not in r.headers
    assert b"NotAuthenticated" in r.content
