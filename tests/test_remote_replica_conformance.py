"""The replica conformance suite (every check of ``syncline.testing.CHECKS``) on RemoteReplica, talking
HTTP to the real app in process: the same expect rules, trash, moves and markers as every replica."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.engine.replicas.remote import RemoteReplica
from syncline.engine.replicas.replica import (
    BatchCommit,
    BatchStat,
    CheckedMarkers,
    Hasher,
    Linker,
    Locker,
    Markers,
    Mover,
)
from syncline.testing import CHECKS, Check

from .remotehelp import Served, served


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_remote_replica_conforms(check: Check, server: Served) -> None:
    check.run(server.factory())


def test_the_remote_replica_has_the_abilities_of_the_plan(server: Served) -> None:
    replica = server.replica("x")
    for ability in (Mover, Hasher, BatchStat, BatchCommit, Locker, Markers, CheckedMarkers):
        assert isinstance(replica, ability), ability.__name__
    assert not isinstance(replica, Linker), "a copy on the server costs no upload: no hard links"
    assert isinstance(replica, RemoteReplica) and replica.address() == "http://127.0.0.1:8765/x"
