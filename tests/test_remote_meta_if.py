"""``RemoteReplica.write_meta_if`` over the real app in process: ``If-None-Match: *`` / ``If-Match`` with
the etag of the text expected, ``412`` as False, and of devices creating one marker at once exactly one
wins (the server compares and sets in one transaction)."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.engine.replicas.errors import ReplicaError
from syncline.engine.replicas.remote.replica import meta_key

from .remotehelp import served
from .server.test_app_meta_if import race

ROUNDS = 5


def test_a_remote_marker_is_written_only_over_what_was_read(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        folder = server.store.folders.create(server.owner(), "Docs")[0]
        replica = server.replica("Docs")
        assert replica.write_meta_if("folder-id", "one é", None)
        assert not replica.write_meta_if("folder-id", "two", None), "a marker that is there is not made again"
        assert not replica.write_meta_if("folder-id", "two", "zero")
        assert replica.read_meta("folder-id") == "one é"
        assert replica.write_meta_if("folder-id", "two", "one é")
        assert replica.read_meta("folder-id") == "two"
        assert replica.write_meta_if("made-dirs.json", "[]", None)  # a name the server spells as another key
        assert server.store.folder(folder).read_meta(meta_key("made-dirs.json")) == "[]"
        with pytest.raises(ReplicaError):
            replica.write_meta_if("folder-id", "x" * 4097, "two")
        assert replica.read_meta("folder-id") == "two"
        replica.close()


def test_of_two_devices_creating_one_marker_at_once_exactly_one_wins(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        server.store.folders.create(server.owner(), "Docs")
        devices = [server.replica("Docs"), server.replica("Docs")]
        for n in range(ROUNDS):
            key = f"marker-{n}"
            won = race(2, lambda i: devices[i].write_meta_if(key, f"device {i}", None))  # noqa: B023 (joined here)
            assert len(won) == 1, won
            assert devices[0].read_meta(key) == devices[1].read_meta(key) == f"device {won[0]}"
        for d in devices:
            d.close()
