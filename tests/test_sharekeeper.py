"""The daemon's share keeper without a server (its calls replaced): where it binds a share, and never."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncline.formats.wire.shares import Share
from syncline.services.config import SharesConfig, load_daemon_config
from syncline.services.daemon import sharekeeper as sk
from syncline.services.daemon.configfile import add_folder, remove_folder
from syncline.services.daemon.shares import Shares
from syncline.services.watch.events import Event


class Log:
    def __init__(self) -> None:
        self.got: list[Event] = []

    def publish(self, event: Event) -> None:
        self.got.append(event)


def _keeper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, incoming: list[Share],
            shares_dir: Path) -> tuple[sk.ShareKeeper, Path, Log]:
    @contextlib.contextmanager
    def connected(_state: Path, _url: str) -> Iterator[object]:
        yield object()

    monkeypatch.setattr(sk, "connected", connected)
    monkeypatch.setattr(sk, "list_shares", lambda _client: Shares(tuple(incoming), ()))
    config = tmp_path / "daemon.toml"
    log = Log()
    keeper = sk.ShareKeeper("https://srv:1", config, tmp_path / "state", SharesConfig("auto", str(shares_dir)),
                            log)  # type: ignore[arg-type]
    return keeper, config, log


def _seen(log: Log) -> Any:
    return [e for e in log.got if isinstance(e, sk.SharesSeen)][-1]


def test_a_share_is_never_bound_in_or_around_a_synced_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "Shared"
    shared.mkdir()
    (shared / "mine.txt").write_text("synced already")
    docs = Share("UID1", "docs", "anna", "bob", "rw", "accepted", "docs", 1)
    keeper, config, log = _keeper(tmp_path, monkeypatch, [docs], shared)
    add_folder(config, str(shared), "Mine")  # the person syncs the shares dir itself
    keeper.look()
    assert sorted(p.name for p in shared.iterdir()) == ["mine.txt"], "nothing made inside a synced folder"
    [(name, why)] = _seen(log).unbound
    assert name == "docs" and "synced already" in why
    assert [f.remote for f in load_daemon_config(config).folders] == ["Mine"]


def test_a_full_folder_is_passed_over_and_a_share_is_bound_once(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "Shared"
    (shared / "docs").mkdir(parents=True)
    (shared / "docs" / "keep.txt").write_text("not anna's")
    docs = Share("UID1", "docs", "anna", "bob", "rw", "accepted", "docs", 1)
    keeper, config, log = _keeper(tmp_path, monkeypatch, [docs], shared)
    keeper.look()
    [folder] = load_daemon_config(config).folders
    assert (folder.local, folder.remote) == (str(shared / "docs-2"), "docs")
    assert (shared / "docs" / "keep.txt").read_text() == "not anna's"
    remove_folder(config, folder.local)  # the person did not want it here
    keeper.look()
    assert load_daemon_config(config).folders == (), "a share handled once is not bound again"
    assert _seen(log).unbound == (("docs", "not synced on this device"),)
