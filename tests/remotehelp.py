"""Helpers of the remote replica's tests: the real app in process (a ``TestClient`` is an
``httpx.Client`` that runs the ASGI app), a device token, and a factory of fresh server folders with the
conformance suite's "other hands" on them (``ServerTree``, which writes through the store as another
device)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.exceptions import StarletteDeprecationWarning

from syncline.engine.replicas.remote import Credentials, RemoteReplica
from syncline.engine.replicas.remote.basis import ChunkBasis
from syncline.server.store import Store
from syncline.testing.trees import Factory

from .server.apphelp import World, make_world
from .server.storetree import ServerTree

with warnings.catch_warnings():
    # Starlette would rather run its test client on ``httpx2``; on httpx it works the same, and httpx is
    # what the replica uses.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

URL = "http://127.0.0.1:8765"
Mangle = Callable[[httpx.Request, httpx.Response], httpx.Response]


@dataclass
class Served:
    """The app serving a fresh store, a client on it, and anna's credentials."""

    world: World
    http: TestClient
    credentials: Credentials
    state: Path

    @property
    def store(self) -> Store:
        return self.world.store

    def owner(self, user: str = "anna") -> int:
        found = self.store.users.get(user)
        assert found is not None
        return found.id

    def replica(self, name: str, *, policy: Any = None, basis: ChunkBasis | None = None, **kw: Any) -> RemoteReplica:
        return RemoteReplica(URL, name, self.credentials, policy=policy, state_dir=self.state, basis=basis,
                             http=self.http, **kw)

    def tree(self, name: str) -> ServerTree:
        return ServerTree(self.store, self.owner(), name)

    def factory(self) -> Factory:
        numbers = itertools.count()

        def make(*, policy: Any = None, exists: bool = True) -> tuple[RemoteReplica, ServerTree]:
            name = f"folder-{next(numbers)}"
            if exists:
                self.store.folders.create(self.owner(), name)
            return self.replica(name, policy=policy), self.tree(name)

        return make


@contextmanager
def served(tmp_path: Path) -> Iterator[Served]:
    world = make_world(tmp_path / "data")
    creds = Credentials(URL, world.tokens["anna"], None, world.store.server_id)
    with TestClient(world.app) as http:
        try:
            yield Served(world, http, creds, tmp_path / "state")
        finally:
            world.store.close()


class Wire:
    """A transport in front of the app that records every request and lets a test change answers."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self.seen: list[httpx.Request] = []
        self.answered: dict[int, int] = {}  # id of a request seen -> bytes of its answer's body
        self.mangle: Mangle | None = None
        self.before: Callable[[httpx.Request], None] | None = None
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.before is not None:
            self.before(request)
        r = self.server.http.request(request.method, str(request.url), headers=request.headers,
                                     content=request.read())
        headers = {k: v for k, v in r.headers.items() if k not in ("content-length", "content-encoding",
                                                                   "transfer-encoding")}
        answer = httpx.Response(r.status_code, headers=headers, content=r.content)
        self.answered[id(request)] = len(r.content)
        return self.mangle(request, answer) if self.mangle is not None else answer

    def paths(self, method: str = "") -> list[str]:
        return [r.url.path.split("/", 4)[-1] for r in self.seen if not method or r.method == method]


def replica(server: Served, wire: Wire, name: str = "F", **kw: object) -> RemoteReplica:
    kw.setdefault("state_dir", server.state)
    return RemoteReplica("http://127.0.0.1:8765", name, server.credentials, http=wire.client,
                         **kw)  # type: ignore[arg-type]
