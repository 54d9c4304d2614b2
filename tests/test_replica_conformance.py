"""The replica conformance suite (``syncline.testing``) on every replica syncline has: a local folder, and
memory trees shaped like a POSIX disk, an SMB share (1 s mtimes) and a FAT stick (case-insensitive, 2 s
mtimes, no symlinks, no permissions, no server-side move)."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.engine.replicas.replica import Replica, WritePolicy
from syncline.testing import CHECKS, Check, Factory, FlakyReplica, Tree, check_replica, local_factory, memory_factory

MEMORY_KINDS = {
    "memory": {},
    "memory-smb": {"mtime_precision_ns": 10**9, "case_sensitive": False},
    "memory-fat": {"mtime_precision_ns": 2 * 10**9, "case_sensitive": False, "symlinks": False,
                   "permissions": False, "mover": False},
}


@pytest.fixture(params=["local", *MEMORY_KINDS])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "local":
        return local_factory(tmp_path)
    return memory_factory(**MEMORY_KINDS[request.param])


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_replica_conforms(check: Check, factory: Factory) -> None:
    check.run(factory)


def test_check_replica_runs_every_check_and_names_the_failures(tmp_path: Path) -> None:
    check_replica(local_factory(tmp_path))

    def careless(**asked: object) -> tuple[Replica, Tree]:
        replica, tree = memory_factory()(**asked)
        replica.policy = WritePolicy()  # ignores the policy it was given: neither keep_changed nor trash=False
        return replica, tree

    with pytest.raises(AssertionError) as failed:
        check_replica(careless)
    assert "keep_changed_leaves_the_destination" in str(failed.value)
    assert "commit_without_trash_destroys_what_was_expected" in str(failed.value)
    assert "commits_a_new_file" not in str(failed.value)


@pytest.mark.parametrize("inner", ["local", "memory"])
def test_a_flaky_replica_with_no_fault_armed_conforms_like_what_it_wraps(inner: str, tmp_path: Path) -> None:
    make = local_factory(tmp_path) if inner == "local" else memory_factory()

    def wrapped(**policy: object) -> tuple[Replica, Tree]:
        replica, tree = make(**policy)
        return FlakyReplica(replica), tree

    check_replica(wrapped)
