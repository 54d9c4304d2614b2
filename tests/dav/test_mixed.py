"""A syncline daemon (native protocol) and ``owncloudcmd`` (WebDAV) on one server folder converge with each
other (issue 15): what the daemon's device writes reaches the desktop client's folder, what the desktop
client writes (adds, edits, a rename, a delete) reaches the daemon's, and the server agrees with both; a
desktop run with nothing to do writes and downloads nothing, also after the daemon's uploads (whose SHA1
the server computes). owncloudcmd missing: skipped here, failed under ``CI=true``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..daemonserver import DEADLINE, USER, Device, Server, wait_for
from .davhelp import Client, app_password, server_tree, write

WRITES = ('"PUT"', '"MOVE"', '"DELETE"', '"MKCOL"')


def local_tree(root: Path) -> dict[str, str]:
    """The daemon's folder, its own ``.syncline`` left out."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != ".syncline"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Device, Client, httpx.Client]]:
    server = Server(tmp_path / "data")
    server.add_user()
    server.start()
    laptop = None
    try:
        laptop = Device(tmp_path / "laptop", server, "Shared", "laptop")
        laptop.start()
        token = app_password(server, tmp_path)
        web = httpx.Client(base_url=server.url, auth=(USER, token), timeout=DEADLINE)
        desktop = Client("owncloudcmd", tmp_path / "desktop", tmp_path / "home", server.url, token)
        yield laptop, desktop, web
        web.close()
    finally:
        if laptop is not None:
            laptop.stop()
        server.stop()


def in_sync(laptop: Device, web: httpx.Client) -> dict[str, str]:
    """Wait until the daemon's folder is what the server holds; that tree."""
    def same() -> dict[str, str] | None:
        files = server_tree(web)
        return files if local_tree(laptop.local) == files and laptop.state_of() == "in sync" else None
    return dict(wait_for(same, describe=lambda: (local_tree(laptop.local), server_tree(web), laptop.status())))


def test_a_daemon_and_a_desktop_client_converge_on_one_folder(world: tuple[Device, Client, httpx.Client]) -> None:
    laptop, desktop, web = world
    write(laptop.local, "notes.txt", b"from the daemon\n")
    write(laptop.local, "caf\u00e9/r\u00e9sum\u00e9 #1.txt", b"odd name\n")
    write(laptop.local, "photos/big.jpg", bytes(range(256)) * 20_000)
    files = in_sync(laptop, web)
    desktop.run()
    assert desktop.tree() == files
    log = desktop.run()
    assert not any(w in log for w in WRITES) and "GETFileJob::start" not in log, "nothing to do: nothing done"
    # The desktop client's changes reach the daemon's folder.
    write(desktop.local, "notes.txt", b"edited on the desktop\n")
    write(desktop.local, "desk/new.txt", b"new from the desktop\n")
    (desktop.local / "caf\u00e9").rename(desktop.local / "renamed")
    (desktop.local / "photos" / "big.jpg").unlink()
    desktop.run()
    files = in_sync(laptop, web)
    assert desktop.tree() == files
    assert files.keys() == {"notes.txt", "desk/new.txt", "renamed/r\u00e9sum\u00e9 #1.txt"}
    assert (laptop.local / "notes.txt").read_bytes() == b"edited on the desktop\n"
    # Both at once, on different files.
    write(laptop.local, "desk/new.txt", b"the daemon's edit\n")
    write(desktop.local, "second.txt", b"the desktop's add\n")
    desktop.run()
    in_sync(laptop, web)
    desktop.run()
    files = in_sync(laptop, web)
    assert desktop.tree() == files and (desktop.local / "desk" / "new.txt").read_bytes() == b"the daemon's edit\n"
