"""Every endpoint, from the OpenAPI document: without a token 401 (but info, openapi.json, login), and
another user's folder 404 exactly as a folder that does not exist, with the store unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.server.app.openapi import OPERATIONS

from .apphelp import PACK_HEADERS, cid, dump, make_world, ops_body, pack, put_file, put_item, run

PUBLIC = {"/v1/info", "/v1/openapi.json", "/v1/login"}
ENDPOINTS = sorted((method, path) for path, ops in OPERATIONS.items() for method in ops)
FOLDER_ENDPOINTS = [(m, p) for m, p in ENDPOINTS if p.startswith("/v1/folders/{name}")]
# A valid request of each kind, so that only the folder can be what is refused.
BODIES: dict[str, dict[str, Any]] = {
    "/stat": {"json": {"paths": ["a.txt"]}},
    "/chunks/missing": {"json": {"ids": [cid(b"a").hex()]}},
    "/chunks/read": {"json": {"ids": [cid(b"a").hex()]}},
    "/chunks": {"content": pack(b"a"), "headers": PACK_HEADERS},
    "/ops": {"json": ops_body(put_item("b.txt", b"a"))},
    "/meta/{key}": {"content": b"text"},
    "/locks": {"json": {"ttl": 60}},
    "/locks/{lock}": {"json": {"ttl": 60}},
    "/members/{user}": {"json": {"rights": "ro"}},
    "/file-locks": {"json": {"path": "a.txt"}},
    "/file-locks/{lock}": {"json": {"ttl": 600}},
    "/accept": {"json": {}},
}
QUERIES = {"/file": {"path": "a.txt"}, "/file/chunks": {"path": "a.txt"}, "/file/manifest": {"path": "a.txt"},
           "/versions": {"path": "a.txt"}}


def _request(method: str, path: str, folder: str) -> dict[str, Any]:
    url = path.replace("{name}", folder).replace("{key}", "folder-id").replace("{lock}", "Lnone")
    url = url.replace("{id}", "Dnone").replace("{user}", "root").replace("{uid}", "Fnone")
    suffix = path.removeprefix("/v1/folders/{name}").removeprefix("/v1/shares/{uid}")
    kwargs: dict[str, Any] = dict(BODIES.get(suffix, {})) if method in ("post", "put") else {}
    if suffix in QUERIES:
        kwargs["params"] = QUERIES[suffix]
    if path == "/v1/events":
        kwargs["params"] = {"folder": f"{folder}:0"}
    return {"method": method.upper(), "url": url, **kwargs}


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if e[1] not in PUBLIC])
def test_without_a_token_every_endpoint_is_401(tmp_path: Path, method: str, path: str) -> None:
    w = make_world(tmp_path)

    async def main() -> httpx.Response:
        async with w.client(None) as c:
            return await c.request(**_request(method, path, "Private"))

    r = run(main())
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), [*FOLDER_ENDPOINTS, ("get", "/v1/events")])
def test_another_users_folder_is_not_found_as_a_missing_one(tmp_path: Path, method: str, path: str) -> None:
    w = make_world(tmp_path)

    async def setup() -> None:
        async with w.client("anna") as c:
            await c.put("/v1/folders/Private")
            await put_file(c, "Private", "a.txt", b"a")
            await c.put("/v1/folders/Private/meta/folder-id", content=b"anna's")

    run(setup())
    before = dump(w.store)

    async def main() -> tuple[httpx.Response, httpx.Response]:
        async with w.client("bob") as bob:
            return (await bob.request(**_request(method, path, "Private")),
                    await bob.request(**_request(method, path, "Nothing")))

    theirs, missing = run(main())
    if (method, path) == ("put", "/v1/folders/{name}"):  # bob makes his own Private: anna's is untouched
        assert theirs.status_code == 201 and theirs.json()["files"] == 0
        return
    assert theirs.status_code == missing.status_code == 404, theirs.text
    assert theirs.json()["error"]["code"] == "not_found"
    assert theirs.json()["error"]["message"].replace("Private", "X") == \
        missing.json()["error"]["message"].replace("Nothing", "X")
    assert dump(w.store) == before
