"""The rights matrix (issue 14): every endpoint of the OpenAPI document, asked by the folder's owner, a
read-write member, a read-only member (who accepted the share under another name), a user with no share,
an administrator with no share, and a member whose share was revoked. Each refusal leaves the store exactly
as it was. An endpoint missing from :data:`KIND` fails the test, so a new route cannot skip the matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.server.app.openapi import OPERATIONS
from syncline.server.users import add_user

from .apphelp import PACK_HEADERS, World, cid, dump, make_world, ops_body, pack, put_file, put_item, run

F = "/v1/folders/{name}"
READ, WRITE, OWNER, OTHER = "read", "write", "owner", "other"
# What each endpoint needs of the caller's right to the folder it names. OTHER: not a folder's endpoint
# (the caller's own account, shares offered to them, public), checked by the tests below and elsewhere.
KIND: dict[tuple[str, str], str] = {
    ("get", F): READ, ("put", F): OTHER,
    ("get", F + "/entries"): READ, ("post", F + "/stat"): READ, ("get", F + "/changes"): READ,
    ("post", F + "/chunks/read"): READ, ("get", F + "/file"): READ, ("get", F + "/file/chunks"): READ,
    ("get", F + "/file/manifest"): READ, ("get", F + "/meta/{key}"): READ, ("get", F + "/trash"): READ,
    ("post", F + "/locks"): READ, ("put", F + "/locks/{lock}"): READ, ("delete", F + "/locks/{lock}"): READ,
    ("get", F + "/members"): READ, ("get", "/v1/events"): READ, ("get", F + "/versions"): READ,
    ("get", F + "/deleted"): READ, ("get", F + "/damaged"): READ, ("get", F + "/activity"): READ,
    ("post", F + "/ops"): WRITE, ("post", F + "/chunks"): WRITE, ("post", F + "/chunks/missing"): WRITE,
    ("put", F + "/meta/{key}"): WRITE,
    ("get", F + "/file-locks"): READ, ("post", F + "/file-locks"): WRITE, ("put", F + "/file-locks/{lock}"): WRITE,
    ("delete", F + "/file-locks/{lock}"): WRITE,
    ("put", F + "/members/{user}"): OWNER, ("delete", F + "/members/{user}"): OWNER, ("post", F + "/purge"): OWNER,
    ("get", "/v1/info"): OTHER, ("get", "/v1/openapi.json"): OTHER, ("post", "/v1/login"): OTHER,
    ("post", "/v1/logout"): OTHER, ("get", "/v1/whoami"): OTHER, ("get", "/v1/devices"): OTHER,
    ("delete", "/v1/devices/{id}"): OTHER, ("get", "/v1/folders"): OTHER, ("get", "/v1/shares"): OTHER,
    ("post", "/v1/shares/{uid}/accept"): OTHER, ("post", "/v1/shares/{uid}/decline"): OTHER,
    # an administrator's (test_users_api.py)
    ("get", "/v1/users"): OTHER, ("patch", "/v1/users/{name}"): OTHER,
}
ENDPOINTS = sorted((method, path) for path, ops in OPERATIONS.items() for method in ops)
MATRIX = [e for e in ENDPOINTS if KIND.get(e) != OTHER]
# The caller, and the name the folder has for them (the read-only member accepted it under another).
ROLES = {"anna": "Shared", "bob": "Shared", "carol": "Team", "dave": "Shared", "root": "Shared", "erin": "Shared"}
OK = {READ: {"anna", "bob", "carol"}, WRITE: {"anna", "bob"}, OWNER: {"anna"}}


def test_every_endpoint_is_in_the_matrix() -> None:
    assert sorted(KIND) == ENDPOINTS


def _login(w: World, name: str) -> None:
    add_user(w.store, w.auth.passwords, name, w.password(name))
    w.tokens[name], _ = w.auth.login(name, w.password(name), f"{name}-laptop")


def _shared_world(tmp_path: Path) -> World:
    """anna's folder Shared: bob may write it, carol read it (as Team), erin's share was taken back, frank
    has an offer; dave and root (an administrator) have nothing. It holds a.txt, a meta text and a lease."""
    w = make_world(tmp_path)
    for name in ("carol", "dave", "erin", "frank"):
        _login(w, name)

    async def setup() -> None:
        async with w.client("anna") as c:
            assert (await c.put("/v1/folders/Shared")).status_code == 201
            await put_file(c, "Shared", "a.txt", b"a")
            assert (await c.put("/v1/folders/Shared/meta/folder-id", content=b"anna's")).status_code == 204
            for user, rights in (("bob", "rw"), ("carol", "ro"), ("erin", "rw"), ("frank", "ro")):
                assert (await c.put(f"/v1/folders/Shared/members/{user}", json={"rights": rights})).status_code == 201
        uid = w.store.folders.get(w.device("anna").user_id, "Shared").uid  # type: ignore[union-attr]
        for user, name in (("bob", None), ("carol", "Team"), ("erin", None)):
            async with w.client(user) as c:
                r = await c.post(f"/v1/shares/{uid}/accept", json={} if name is None else {"name": name})
                assert r.status_code == 200, r.text
        async with w.client("anna") as c:
            assert (await c.delete("/v1/folders/Shared/members/erin")).status_code == 204

    run(setup())
    return w


def _request(method: str, path: str, folder: str, lease: str) -> dict[str, Any]:
    """A request that the owner would have answered 2xx, so that only the caller's right is tested."""
    url = path.replace("{name}", folder).replace("{key}", "folder-id").replace("{lock}", lease)
    url = url.replace("{user}", "frank")
    suffix = path.removeprefix(F)
    kw: dict[str, Any] = {}
    bodies: dict[str, dict[str, Any]] = {
        "/stat": {"json": {"paths": ["a.txt"]}},
        "/chunks/missing": {"json": {"ids": [cid(b"new").hex()]}},
        "/chunks/read": {"json": {"ids": [cid(b"a").hex()]}},
        "/chunks": {"content": pack(b"new"), "headers": PACK_HEADERS},
        "/ops": {"json": ops_body(put_item("b.txt", b""))},
        "/meta/{key}": {"content": b"text"},
        "/locks": {"json": {"ttl": 60}},
        "/locks/{lock}": {"json": {"ttl": 60}},
        "/members/{user}": {"json": {"rights": "rw"}},
        "/file-locks": {"json": {"path": "a.txt", "ttl": 600}},
        "/file-locks/{lock}": {"json": {"ttl": 600}},
        "/purge": {"json": {"path": ""}},
    }
    if method in ("post", "put"):
        kw.update(bodies.get(suffix, {}))
    if suffix.startswith("/file") or suffix == "/versions":
        kw["params"] = {"path": "a.txt"}
    if path == "/v1/events":  # HEAD: a stream's answer without holding it open
        return {"method": "HEAD", "url": url, "params": {"folder": f"{folder}:0"}}
    return {"method": method.upper(), "url": url, **kw}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize(("method", "path"), MATRIX)
def test_the_rights_matrix(tmp_path: Path, method: str, path: str, role: str) -> None:
    w = _shared_world(tmp_path)
    folder = ROLES[role]

    async def lease() -> str:  # a run lease or file lock of the caller's own (anna's for a reader), to renew or end
        if not path.endswith("{lock}"):
            return "Lnone"
        if "file-locks" in path:
            async with w.client(role if role in OK[WRITE] else "anna") as c:
                r = await c.post(f"/v1/folders/{ROLES['anna']}/file-locks", json={"path": "a.txt"})
                assert r.status_code == 201, r.text
                return str(r.json()["lock"])
        if role not in OK[READ]:
            return "Lnone"
        async with w.client(role) as c:
            r = await c.post(f"/v1/folders/{folder}/locks", json={"ttl": 60})
            assert r.status_code == 201, r.text
            return str(r.json()["lock"])

    lease_id = run(lease())
    before = dump(w.store)

    async def ask() -> httpx.Response:
        async with w.client(role) as c:
            return await c.request(**_request(method, path, folder, lease_id))

    r = run(ask())
    kind = KIND[(method, path)]
    if role in OK[kind]:
        assert 200 <= r.status_code < 300, r.text
        return
    expected = {"dave": ("not_found", 404), "root": ("not_found", 404), "erin": ("share_revoked", 403),
                "bob": ("forbidden", 403), "carol": ("read_only" if kind == WRITE else "forbidden", 403)}[role]
    assert r.status_code == expected[1], r.text
    if r.request.method != "HEAD":  # a HEAD answer has no body to read the code from
        assert r.json()["error"]["code"] == expected[0], r.text
    assert dump(w.store) == before, "a refused request changed nothing"


def test_folder_lists_and_the_name_of_a_share(tmp_path: Path) -> None:
    """``GET /v1/folders``: a member sees the share under their name for it, with its owner; nobody else
    sees it; making a folder under a share's name is refused, and the share is untouched."""
    w = _shared_world(tmp_path)

    async def main() -> dict[str, Any]:
        out = {}
        for role in ROLES:
            async with w.client(role) as c:
                r = await c.get("/v1/folders")
                assert r.status_code == 200
                out[role] = [(f["name"], f["owner"], f["rights"], f["shared"]) for f in r.json()]
        async with w.client("carol") as c:
            r = await c.put("/v1/folders/Team")
            assert r.status_code == 409 and r.json()["error"]["code"] == "exists", r.text
        return out

    seen = run(main())
    assert seen == {"anna": [("Shared", "anna", "rw", False)], "bob": [("Shared", "anna", "rw", True)],
                    "carol": [("Team", "anna", "ro", True)], "dave": [], "root": [], "erin": []}


def test_only_the_offered_user_sees_accepts_or_declines_an_offer(tmp_path: Path) -> None:
    w = _shared_world(tmp_path)
    uid = w.store.folders.get(w.device("anna").user_id, "Shared").uid  # type: ignore[union-attr]

    async def main() -> None:
        for role in ("dave", "root", "anna"):
            async with w.client(role) as c:
                assert [s["uid"] for s in (await c.get("/v1/shares")).json()["incoming"]] == []
                before = dump(w.store)
                for verb in ("accept", "decline"):
                    r = await c.post(f"/v1/shares/{uid}/{verb}", json={})
                    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
                assert dump(w.store) == before
        async with w.client("frank") as c:
            [offer] = (await c.get("/v1/shares")).json()["incoming"]
            assert (offer["uid"], offer["owner"], offer["rights"], offer["state"]) == (uid, "anna", "ro", "offered")
            assert (await c.get("/v1/folders/Shared")).status_code == 404, "an offer is no right yet"
            assert (await c.post(f"/v1/shares/{uid}/decline")).status_code == 204
            assert (await c.get("/v1/shares")).json()["incoming"] == []
        async with w.client("anna") as c:
            out = (await c.get("/v1/shares")).json()["outgoing"]
            assert [(s["user"], s["rights"], s["state"]) for s in out] == [("bob", "rw", "accepted"),
                                                                             ("carol", "ro", "accepted")]

    run(main())
