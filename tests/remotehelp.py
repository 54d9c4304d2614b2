"""Helpers of the remote replica's tests: the real app in process (a ``TestClient`` is an
``httpx.Client`` that runs the ASGI app), a device token, and a factory of fresh server folders with the
conformance suite's "other hands" on them (``ServerTree``, which writes through the store as another
device)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
