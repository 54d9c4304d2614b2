"""Which server folder a person means (``services/daemon/serverfolders.py``): a synced folder's path, or
a folder's name on the server, also when a directory of that name happens to be where they stand."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.core.errors import UsageError
from syncline.engine.twoway.run import TwoWaySyncOptions
from syncline.services.config import DaemonConfig, FolderConfig
from syncline.services.daemon.serverfolders import server_folder


def _config(local: Path, remote: str) -> DaemonConfig:
    return DaemonConfig("daemon.toml", "http://127.0.0.1:1",
                        (FolderConfig(str(local), remote, False, 3600.0, TwoWaySyncOptions()),))


def test_a_name_or_a_synced_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = tmp_path / "Photos"
    synced.mkdir()
    config = _config(synced, "Pictures")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench").mkdir()  # a directory named like a server folder, not synced: the name is meant
    assert server_folder(config, "bench") == ("bench", None)
    assert server_folder(config, "Photos") == ("Pictures", str(synced)), "a synced folder where one stands"
    assert server_folder(config, "./Photos") == ("Pictures", str(synced))
    assert server_folder(config, "Pictures") == ("Pictures", str(synced))
    for bad in ("./bench", str(tmp_path / "bench"), "a b"):
        with pytest.raises(UsageError):
            server_folder(config, bad)
