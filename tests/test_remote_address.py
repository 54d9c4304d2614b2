"""Server folder addresses: ``https://host:port/NAME`` opens a RemoteReplica with the credentials saved
for that server; without them, one line saying how to connect."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.core.errors import UsageError
from syncline.engine.replicas.address import local_path, open_replica, parse_address
from syncline.engine.replicas.remote import Credentials, RemoteReplica, save_credentials
from syncline.engine.replicas.replica import WritePolicy


def test_a_server_folder_address() -> None:
    where = parse_address("https://Box.example/Photos")
    assert (where.kind, where.url, where.folder) == ("remote", "https://box.example:443", "Photos")
    assert parse_address("http://127.0.0.1:8765/Docs/").folder == "Docs"
    for bad in ("https://box/", "https://box/a/b", "https://box/a?x=1"):
        with pytest.raises(UsageError):
            parse_address(bad)


def test_a_server_this_device_never_connected_to_says_how_to_connect(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        open_replica("https://box.example:8765/Photos", state=tmp_path)
    assert caught.value.message == ("not connected to https://box.example:8765: "
                                    "run `syncline connect https://box.example:8765`")


def test_a_connected_server_folder_opens_as_a_remote_replica(tmp_path: Path) -> None:
    save_credentials(tmp_path, Credentials("https://box.example:8765", "slt_x", None, "S1"))
    replica = open_replica("https://BOX.example:8765/Photos", state=tmp_path, policy=WritePolicy.two_way())
    assert isinstance(replica, RemoteReplica)
    assert replica.address() == "https://box.example:8765/Photos" and replica.policy == WritePolicy.two_way()
    replica.close()


def test_a_local_only_command_refuses_a_server_folder() -> None:
    with pytest.raises(UsageError, match="local folders only"):
        local_path("https://box.example/Photos")
