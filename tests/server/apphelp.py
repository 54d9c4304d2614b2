"""Helpers of the app's tests: a store with two users, a test authenticator, clients, dumps of the store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import blake3
import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from syncline.formats.wire.ops import new_op_id
from syncline.formats.wire.packs import CONTENT_TYPE, write_pack
from syncline.server.app import make_app
from syncline.server.auth import Authenticator, token_hash
from syncline.server.notify import InProcessNotifier
from syncline.server.passwords import HashGate, Passwords
from syncline.server.store import Device, Store, open_store
from syncline.server.store import schema as t
from syncline.server.users import add_user

from .conftest import cheap_hasher

DEADLINE = 60.0  # generous: a busy machine may be slow, never wrong
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, DEADLINE)

    return asyncio.run(bounded())


def cheap_auth(store: Store, clock: Callable[[], int] | None = None) -> Authenticator:
    """The real authenticator with a cheap Argon2 (the production code path, a millisecond a hash);
    ``clock`` (nanoseconds) for its logins and sessions, the real one when None."""
    if clock is None:
        return Authenticator(store, Passwords(cheap_hasher(), HashGate()))
    return Authenticator(store, Passwords(cheap_hasher(), HashGate()), clock=clock)


@dataclass
class World:
    store: Store
    auth: Authenticator
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

    def password(self, user: str) -> str:
        return f"{user}-password"


def make_world(data: Path, clock: Callable[[], int] | None = None, **options: Any) -> World:
    """A store with users anna, bob and root (an admin), one device each, and the app over it
    (``options``: ``make_app``'s; ``clock``: the authenticator's, see :func:`cheap_auth`)."""
    store = open_store(data, min_free=0)
    auth = cheap_auth(store, clock)
    tokens = {}
    for name, admin in (("anna", False), ("bob", False), ("root", True)):
        add_user(store, auth.passwords, name, f"{name}-password", admin)
        tokens[name], _ = auth.login(name, f"{name}-password", f"{name}-laptop")
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
    """Every table's rows and every chunk in the chunk store: what "the store unchanged" compares.
    ``devices.last_seen_ns`` is left out (every authenticated request may touch it)."""
    out: dict[str, Any] = {}
    with store.db.read() as conn:
        for name, table in sorted(t.metadata.tables.items()):
            rows = [dict(r._mapping) for r in conn.execute(sa.select(table))]
            for r in rows:
                r.pop("last_seen_ns", None)
            out[name] = sorted(rows, key=repr)
    out["chunks"] = {r["chunk_ns"]: sorted(store.chunks.ids(r["chunk_ns"])) for r in out["folders"]}
    out["tmp files"] = sorted(str(p) for p in (store.data_dir / "tmp").rglob("*"))
    return out


Check = Callable[[httpx.Response], None]
