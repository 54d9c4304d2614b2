"""System tests: real processes on 127.0.0.1 (see ``harness.py``), fixtures for a server, a proxy in
front of it and three devices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.testing import NetProxy

from .harness import Device, Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A started server on its own data dir and a free port; stopped (or killed) at teardown."""
    srv = Server(tmp_path / "server")
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture
def proxy(server: Server) -> Iterator[NetProxy]:
    """A counting TCP proxy in front of ``server`` (it outlives the server's restarts: same port)."""
    with NetProxy("127.0.0.1", server.port) as p:
        yield p


@pytest.fixture
def devices(tmp_path: Path, server: Server, proxy: NetProxy) -> list[Device]:
    """Three devices logged in to ``server``, each reaching it through ``proxy``."""
    return [Device.connected(tmp_path, name, server, proxy.port) for name in ("a", "b", "c")]
