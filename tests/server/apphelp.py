"""Helpers of the app's tests: a store with two users, a test authenticator, clients, dumps of the store."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import blake3
import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import new_op_id
from syncline.formats.wire.packs import CONTENT_TYPE, write_pack
from syncline.server.app import make_app
from syncline.server.notify import InProcessNotifier
from syncline.server.store import Device, Store, open_store
from syncline.server.store import schema as t

DEADLINE = 60.0  # generous: a busy machine may be slow, never wrong
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, DEADLINE)

    return asyncio.run(bounded())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class FakeAuth:
    """The app's Authenticator for tests: tokens checked through the store as the real one does;
    passwords kept in a dict (the real one verifies Argon2 hashes)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.passwords: dict[str, str] = {}

    def device_of(self, authorization: str | None) -> Device:
        scheme, _, token = (authorization or "").partition(" ")
        device = self.store.devices.by_token_hash(token_hash(token)) if scheme == "Bearer" and token else None
        if device is None:
            raise WireError("unauthenticated", "no valid token", "log in again")
        return device

    def login(self, user: str, password: str, device: str, replaces: str | None,
              client_addr: str) -> tuple[str, Device]:
        found = self.store.users.get(user)
        if found is None or self.passwords.get(user) != password:
            raise WireError("bad_login", "wrong user or password", "check them")
        token = "slt_" + secrets.token_urlsafe(32)
        return token, self.store.devices.add(found.id, device, token_hash(token), replaces)


@dataclass
class World:
    store: Store
    auth: FakeAuth
    app: Starlette
    notifier: InProcessNotifier
    tokens: dict[str, str]  # user -> token of one device

    def client(self, user: str | None = "anna", **headers: str) -> httpx.AsyncClient:
        if user is not None:
            headers.setdefault("Authorization", f"Bearer {self.tokens[user]}")
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver",
                                 headers=headers)

    def device(self, user: str) -> Device:
        device = self.store.devices.by_token_hash(token_hash(self.tokens[user]))
        assert device is not None
        return device


def make_world(data: Path, **options: Any) -> World:
    store = open_store(data, min_free=0)
    auth = FakeAuth(store)
    tokens = {}
    for name, admin in (("anna", False), ("bob", False), ("root", True)):
        user = store.users.add(name, "x", admin)
        auth.passwords[name] = f"{name}-password"
        token = "slt_" + secrets.token_urlsafe(32)
        store.devices.add(user.id, f"{name}-laptop", token_hash(token))
        tokens[name] = token
    notifier = InProcessNotifier()
    return World(store, auth, make_app(store, auth, notifier, **options), notifier, tokens)


def cid(data: bytes) -> bytes:
    return bytes(blake3.blake3(data).digest())


def pack(*chunks: bytes) -> bytes:
    return b"".join(write_pack((cid(c), c) for c in chunks))


PACK_HEADERS = {"Content-Type": CONTENT_TYPE}


def put_item(path: str, data: bytes, mtime_ns: int = 1_700_000_000_000_000_000, expect: Any = None) -> dict[str, Any]:
    chunks = [[cid(data).hex(), len(data)]] if data else []
    return {"id": new_op_id(), "op": "put", "path": path, "expect": expect,
            "entry": {"size": len(data), "mtime_ns": mtime_ns, "mode": 0o644, "digest": cid(data).hex()},
            "chunks": chunks}


def ops_body(*items: dict[str, Any], trash: bool = True, keep_changed: bool = False) -> dict[str, Any]:
    return {"policy": {"trash": trash, "keep_changed": keep_changed}, "items": list(items)}


async def put_file(client: httpx.AsyncClient, folder: str, path: str, data: bytes) -> dict[str, Any]:
    """Upload ``data`` (one chunk) and commit it at ``path``; the item's result."""
    if data:
        r = await client.post(f"/v1/folders/{folder}/chunks", content=pack(data), headers=PACK_HEADERS)
        assert r.status_code == 200, r.text
    r = await client.post(f"/v1/folders/{folder}/ops", json=ops_body(put_item(path, data)))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["results"][0]
    return result


def dump(store: Store) -> dict[str, Any]:
    """Every table's rows and every file under the chunk directory: what "the store unchanged" compares.
    ``devices.last_seen_ns`` is left out (every authenticated request may touch it)."""
    out: dict[str, Any] = {}
    with store.db.read() as conn:
        for name, table in sorted(t.metadata.tables.items()):
            rows = [dict(r._mapping) for r in conn.execute(sa.select(table))]
            for r in rows:
                r.pop("last_seen_ns", None)
            out[name] = sorted(rows, key=repr)
    out["chunk files"] = sorted(str(p.relative_to(store.data_dir)) for p in (store.data_dir / "chunks").rglob("*"))
    out["tmp files"] = sorted(str(p) for p in (store.data_dir / "tmp").rglob("*"))
    return out


Check = Callable[[httpx.Response], None]
