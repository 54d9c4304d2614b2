"""Hostile requests: each is answered 4xx with one error body, and the store is exactly as it was (every
table and every file of the chunk directory compared before and after)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.formats.wire.errors import CODES
from syncline.formats.wire.packs import END, HEADER

from .apphelp import PACK_HEADERS, World, cid, dump, make_world, ops_body, pack, put_file, put_item, run

Case = Callable[[httpx.AsyncClient, World], Awaitable[httpx.Response]]
F = "/v1/folders/Docs"
GOOD = b"some content"
LONG = "/".join(["x" * 200] * 21)  # 4,220 bytes


def _ops(*items: dict[str, Any]) -> Case:
    return lambda c, w: c.post(F + "/ops", json=ops_body(*items))


def _put_at(path: Any) -> dict[str, Any]:
    item = put_item("ok.txt", GOOD)
    item["path"] = path
    return item


def _without_chunks(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "chunks"}


def _stat(paths: Any) -> Case:
    return lambda c, w: c.post(F + "/stat", json={"paths": paths})


def _raw(method: str, url: str, body: bytes, **headers: str) -> Case:
    return lambda c, w: c.request(method, url, content=body, headers=headers)


async def _stalled() -> AsyncIterator[bytes]:
    yield b'{"paths": ['
    await asyncio.sleep(3600)


def _frame(chunk_id: bytes, data: bytes, length: int | None = None) -> bytes:
    return chunk_id + (len(data) if length is None else length).to_bytes(4, "big") + data


async def _other_users_folder(c: httpx.AsyncClient, w: World) -> httpx.Response:
    async with w.client("bob") as bob:
        return await bob.post(F + "/ops", json=ops_body(put_item("ok.txt", GOOD)))


async def _revoked(c: httpx.AsyncClient, w: World) -> httpx.Response:
    w.store.devices.revoke(w.device("bob").id)
    async with w.client("bob") as bob:
        return await bob.get("/v1/folders")


CASES: dict[str, Case] = {
    "dot-dot path": _ops(_put_at("../etc/passwd")),
    "dot-dot inside": _ops(_put_at("a/../../b")),
    "absolute path": _ops(_put_at("/etc/passwd")),
    "NUL in a path": _ops(_put_at("a\0b")),
    ".syncline component": _ops(_put_at("a/.SyncLine/x")),
    "over-long path": _ops(_put_at(LONG)),
    "a path not a string": _ops(_put_at(7)),
    "move target escapes": _ops({"id": "m1", "op": "move", "path": "ok.txt", "to": "../x", "expect": None}),
    "symlink target with NUL": _ops({"id": "s1", "op": "symlink", "path": "l", "expect": None,
                                     "entry": {"target": "a\0", "mode": 511, "mtime_ns": 1}}),
    "stat of dot-dot": _stat([".."]),
    "stat of a lone surrogate": _raw("POST", F + "/stat", b'{"paths": ["\\udc80"]}'),
    "entries dir escapes": lambda c, w: c.get(F + "/entries", params={"dir": "../x"}),
    "file path absolute": lambda c, w: c.get(F + "/file", params={"path": "/etc/passwd"}),
    "file path NUL": lambda c, w: c.get(F + "/file", params={"path": "a\0"}),
    "file without path": lambda c, w: c.get(F + "/file"),
    "body over 8 MiB announced": _raw("POST", F + "/stat", b"{}", **{"Content-Length": str(9 << 20)}),
    "body over 8 MiB sent": _raw("POST", F + "/stat", b'{"paths": ["' + b"a" * (8 << 20) + b'"]}'),
    "body over 8 MiB, no length": lambda c, w: c.post(F + "/stat", content=_chunked(b"[" * (9 << 20))),
    "truncated body": _raw("POST", F + "/stat", b'{"paths": []}', **{"Content-Length": "100"}),
    "Content-Length too short": _raw("POST", F + "/stat", b'{"paths": []}', **{"Content-Length": "3"}),
    "Content-Length not a number": _raw("POST", F + "/stat", b'{"paths": []}', **{"Content-Length": "x"}),
    "stalled body": lambda c, w: c.post(F + "/stat", content=_stalled()),
    "bad JSON": _raw("POST", F + "/ops", b'{"policy": '),
    "not UTF-8": _raw("POST", F + "/ops", b'{"policy": "\xff"}'),
    "NaN": _raw("POST", F + "/ops", b'{"policy": NaN}'),
    "deep nesting": _raw("POST", F + "/ops", b"[" * 100_000 + b"]" * 100_000),
    "wrong types": lambda c, w: c.post(F + "/ops", json={"policy": {"trash": "yes", "keep_changed": 0},
                                                          "items": []}),
    "items not a list": lambda c, w: c.post(F + "/ops", json={"policy": {"trash": True, "keep_changed": False},
                                                               "items": {}}),
    "size as a float": _ops({**put_item("f.txt", GOOD), "entry": {"size": 1.5, "mtime_ns": 1, "mode": 420,
                                                                  "digest": cid(GOOD).hex()}}),
    "size as true": _ops({**put_item("f.txt", GOOD), "entry": {"size": True, "mtime_ns": 1, "mode": 420,
                                                               "digest": cid(GOOD).hex()}}),
    "huge integer": _ops({**put_item("f.txt", GOOD), "entry": {"size": 1 << 70, "mtime_ns": 1, "mode": 420,
                                                               "digest": cid(GOOD).hex()}}),
    "1,001 items": _ops(*[put_item(f"f{i}", GOOD) for i in range(1001)]),
    "two items with one id": _ops({**put_item("a", GOOD), "id": "same"}, {**put_item("b", GOOD), "id": "same"}),
    "11,000 ids": lambda c, w: c.post(F + "/chunks/missing", json={"ids": [cid(b"%d" % i).hex()
                                                                            for i in range(11_000)]}),
    "an id not hex": lambda c, w: c.post(F + "/chunks/missing", json={"ids": ["zz" * 32]}),
    "4,097 ids to read": lambda c, w: c.post(F + "/chunks/read", json={"ids": [cid(GOOD).hex()] * 4097}),
    "1,001 stat paths": _stat(["a"] * 1001),
    "chunk not matching its id": _raw("POST", F + "/chunks", HEADER + _frame(cid(b"other"), b"data") + END,
                                      **PACK_HEADERS),
    "one bad frame among good": _raw("POST", F + "/chunks", HEADER + _frame(cid(b"new one"), b"new one")
                                     + _frame(cid(b"x"), b"y") + END, **PACK_HEADERS),
    "truncated pack": _raw("POST", F + "/chunks", pack(b"new one")[:-5], **PACK_HEADERS),
    "bytes after the pack": _raw("POST", F + "/chunks", pack(b"new one") + b"x", **PACK_HEADERS),
    "not a pack": _raw("POST", F + "/chunks", b"GIF89a" + bytes(40), **PACK_HEADERS),
    "frame over 1 MiB": _raw("POST", F + "/chunks", HEADER + _frame(cid(b"z"), b"", (1 << 20) + 1), **PACK_HEADERS),
    "empty frame": _raw("POST", F + "/chunks", HEADER + _frame(cid(b"z"), b"") + END, **PACK_HEADERS),
    "pack as JSON": _raw("POST", F + "/chunks", pack(b"new one"), **{"Content-Type": "application/json"}),
    "pack without length": lambda c, w: c.post(F + "/chunks", content=_chunked(pack(b"new one")),
                                               headers=PACK_HEADERS),
    "pack over 64 MiB announced": _raw("POST", F + "/chunks", pack(b"x"), **PACK_HEADERS,
                                       **{"Content-Length": str(65 << 20)}),
    "commit of missing chunks": _ops(put_item("new.txt", b"never uploaded")),
    "commit with a wrong digest": _ops({**put_item("new.txt", GOOD), "entry": {
        "size": len(GOOD), "mtime_ns": 1, "mode": 420, "digest": cid(b"else").hex()}}),
    "a manifest of pieces never sent": _ops({**_without_chunks(put_item("big.bin", GOOD * 100)),
                                             "manifest": [[cid(b"never").hex(), 36 * 4]]}),
    "a manifest not of whole entries": _ops({**_without_chunks(put_item("big.bin", GOOD * 100)),
                                             "manifest": [[cid(GOOD).hex(), len(GOOD)]]}),
    "a put with chunks and a manifest": _ops({**put_item("big.bin", GOOD), "manifest": [[cid(GOOD).hex(), 36]]}),
    "4,097 chunks inline": _ops({**put_item("big.bin", GOOD), "chunks": [[cid(GOOD).hex(), 1]] * 4097}),
    "chunk list from a negative position": lambda c, w: c.get(F + "/file/chunks", params={"path": "ok.txt",
                                                                                          "from": "-1"}),
    "manifest from a negative position": lambda c, w: c.get(F + "/file/manifest", params={"path": "ok.txt",
                                                                                          "from": "-1"}),
    "manifest of an escaping path": lambda c, w: c.get(F + "/file/manifest", params={"path": "../x"}),
    "chunk list limit over a page": lambda c, w: c.get(F + "/file/chunks", params={"path": "ok.txt",
                                                                                    "limit": "65537"}),
    "chunk list limit 0": lambda c, w: c.get(F + "/file/chunks", params={"path": "ok.txt", "limit": "0"}),
    "another user's folder": _other_users_folder,
    "unknown folder": lambda c, w: c.get("/v1/folders/Nope/entries"),
    "folder name escapes": lambda c, w: c.put("/v1/folders/..%2Fx"),
    "bad folder name": lambda c, w: c.put("/v1/folders/-x"),
    "revoked token": _revoked,
    "since negative": lambda c, w: c.get(F + "/entries", params={"since": "-1"}),
    "since not a number": lambda c, w: c.get(F + "/changes", params={"since": "1e3"}),
    "limit too big": lambda c, w: c.get(F + "/entries", params={"limit": "10001"}),
    "deep not 0 or 1": lambda c, w: c.get(F + "/entries", params={"deep": "yes"}),
    "meta key bad": lambda c, w: c.put(F + "/meta/Folder_ID", content=b"x"),
    "meta text too long": lambda c, w: c.put(F + "/meta/folder-id", content=b"x" * 4097),
    "meta text not UTF-8": lambda c, w: c.put(F + "/meta/folder-id", content=b"\xff"),
    "lock ttl too short": lambda c, w: c.post(F + "/locks", json={"ttl": 5}),
    "lock ttl a string": lambda c, w: c.post(F + "/locks", json={"ttl": "60"}),
    "renew unknown lock": lambda c, w: c.put(F + "/locks/Lnothing", json={"ttl": 60}),
    "lock replacing an id of 65 characters": lambda c, w: c.post(F + "/locks", json={"ttl": 60, "replaces": "L" * 65}),
    "lock replacing an empty id": lambda c, w: c.post(F + "/locks", json={"ttl": 60, "replaces": ""}),
    "lock replacing an id with a slash": lambda c, w: c.post(F + "/locks", json={"ttl": 60, "replaces": "L/../x"}),
    "lock replacing a non-ASCII id": lambda c, w: c.post(F + "/locks", json={"ttl": 60, "replaces": "Lé"}),
    "lock replacing a number": lambda c, w: c.post(F + "/locks", json={"ttl": 60, "replaces": 12345}),
    "lock replacing null": lambda c, w: c.post(F + "/locks", json={"ttl": 60, "replaces": None}),
    "lock replacing a list": lambda c, w: c.post(F + "/locks", json={"ttl": 60, "replaces": ["Lx"]}),
    "lock replacing with a bad ttl": lambda c, w: c.post(F + "/locks", json={"ttl": 5, "replaces": "Lx"}),
    "renew replacing a lease": lambda c, w: c.put(F + "/locks/Lnothing", json={"ttl": 60, "replaces": "Lx"}),
    "range garbage": lambda c, w: c.get(F + "/file", params={"path": "ok.txt"}, headers={"Range": "bytes=x"}),
    "If-Match garbage": lambda c, w: c.get(F + "/file", params={"path": "ok.txt"}, headers={"If-Match": "*"}),
    "trash id of another path": lambda c, w: c.get(F + "/file", params={"path": "ok.txt", "trash_id": "1"}),
    "65 folders in a stream": lambda c, w: c.get("/v1/events", params=[("folder", f"F{i}:0") for i in range(65)]),
    "a stream of an unknown folder": lambda c, w: c.get("/v1/events", params={"folder": "Nope:0"}),
    "a stream without folders": lambda c, w: c.get("/v1/events"),
    "a stream position not a number": lambda c, w: c.get("/v1/events", params={"folder": "Docs:x"}),
    "login with a huge password": lambda c, w: c.post("/v1/login", json={"user": "anna", "password": "p" * 2000,
                                                                          "device": "d"}),
    "login with a control character device": lambda c, w: c.post("/v1/login", json={
        "user": "anna", "password": "anna-password", "device": "a\nb"}),
    "login wrong password": lambda c, w: c.post("/v1/login", json={"user": "anna", "password": "no",
                                                                    "device": "d"}),
    "login replacing another user's device": lambda c, w: c.post("/v1/login", json={
        "user": "anna", "password": "anna-password", "device": "d", "replaces": w.device("bob").id}),
    "protocol 2": lambda c, w: c.get("/v1/folders", headers={"Syncline-Protocol": "2.0"}),
}


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_request_is_refused_and_changes_nothing(tmp_path: Path, name: str) -> None:
    w = make_world(tmp_path, stall_s=0.5)

    async def setup() -> None:
        async with w.client() as c:
            assert (await c.put("/v1/folders/Docs")).status_code == 201
            assert (await put_file(c, "Docs", "ok.txt", GOOD))["done"] is True

    run(setup())
    before = dump(w.store)

    async def attack() -> httpx.Response:
        async with w.client() as c:
            return await CASES[name](c, w)

    r = run(attack())
    err = r.json()
    if r.status_code == 200:  # a batch answered per item (section 7): every item refused, nothing done
        assert err["results"] and all("error" in item for item in err["results"]), err
        err = err["results"][0]
    else:
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        assert r.status_code == CODES[err["error"]["code"]].status or r.status_code == 405, err
    code, message = err["error"]["code"], err["error"]["message"]
    assert code in CODES and CODES[code].status < 500
    assert message and "\n" not in message and len(message) < 1000
    after = dump(w.store)
    if name == "revoked token":  # the revocation itself is the one change
        after["devices"] = before["devices"]
    assert after == before
