"""Our own server's WebDAV (the OC dialect) as a replica, against a real ``syncline serve`` on 127.0.0.1:
nothing is written under ``.syncline`` there (direct conditional PUTs, chunked uploads, conditional
DELETEs, markers as dead properties of the folder's root), the conformance suite, syncs through it, and
each destructive step raced by another writer without losing anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncline.testing import CHECKS, Check

from .ourdav import Ours, ours

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ours]:
    with ours(tmp_path_factory.mktemp("ours")) as o:
        yield o


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_replica_on_our_server_conforms(check: Check, server: Ours) -> None:
    check.run(server.factory())
