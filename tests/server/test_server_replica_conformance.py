"""The replica conformance suite (every check of ``syncline.testing.CHECKS``) on a server folder through
``ServerFolderReplica``, in process: the expect rules, trash, moves and markers proved in the store."""

from __future__ import annotations

import pytest

from syncline.engine.replicas.replica import BatchCommit, BatchStat, CheckedMarkers, Hasher, Locker, Markers, Mover
from syncline.server.replica import ServerFolderReplica
from syncline.server.store import Store
from syncline.testing import CHECKS, Check, check_replica

from .storetree import (
    server_factory,
    store_fixture,  # noqa: F401 - fixtures
)


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_server_replica_conforms(check: Check, store: tuple[Store, int]) -> None:
    check.run(server_factory(*store))


def test_the_whole_suite_in_one_call(store: tuple[Store, int]) -> None:
    check_replica(server_factory(*store))


def test_the_server_replica_has_the_abilities_of_the_plan(store: tuple[Store, int]) -> None:
    replica = ServerFolderReplica(store[0], store[1], "x", "D1")
    for ability in (Mover, Hasher, BatchStat, BatchCommit, Locker, Markers, CheckedMarkers):
        assert isinstance(replica, ability), ability.__name__
