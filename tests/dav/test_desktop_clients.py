"""The official desktop clients, two-way through a real ``syncline serve`` on 127.0.0.1 (issue 15): folder
A synced by ``owncloudcmd`` 2.11, folder B by ``nextcloudcmd`` 3.7, both on the server folder Shared.

Steps: (1) A uploads a tree with unicode names (NFC and NFD, a space, ``#``, ``%``, ``&``, an emoji) and a
50 MB file, which goes in chunks (chunking NG); (2) edits on A, an add and a delete on B; (3) a file and a
folder renamed on A, which the server journals as moves (ids kept); (4) the same file edited on both
sides; (5) a folder deleted on B. After each step: A, B, A; every run exits 0; then A, B and the server
(read over WebDAV) hold the same files, byte for byte; then one more run of each makes no write and no
download (the loop guard). In (4) the server keeps both contents: the conflict copy as a file and the
replaced version among the versions. A program that is not installed skips here and fails under
``CI=true``."""

from __future__ import annotations

import os
import shutil
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from ..daemonserver import DEADLINE, USER, Server
from .davhelp import Client, app_password, server_tree, write

NFC, NFD = unicodedata.normalize("NFC", "caf\u00e9"), unicodedata.normalize("NFD", "caf\u00e9")
WRITES = ('"PUT"', '"MOVE"', '"DELETE"', '"MKCOL"', '"PROPPATCH"', '"COPY"')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Client, Client, httpx.Client]]:
    base = tmp_path_factory.mktemp("desktop")
    server = Server(base / "data")
    server.add_user()
    server.start()
    try:
        token = app_password(server, base, "desktops")
        web = httpx.Client(base_url=server.url, auth=(USER, token), timeout=DEADLINE)
        assert web.request("MKCOL", "/remote.php/webdav/Shared").status_code == 201
        a = Client("owncloudcmd", base / "A", base / "homeA", server.url, token)
        b = Client("nextcloudcmd", base / "B", base / "homeB", server.url, token)
        yield server, a, b, web
        web.close()
    finally:
        server.stop()


def converge(a: Client, b: Client, web: httpx.Client) -> dict[str, str]:
    """A, B, A; the three trees equal; then a run of each that writes and downloads nothing."""
    for client in (a, b, a):
        client.run()
    files = server_tree(web)
    assert a.tree() == files, "A differs from the server"
    assert b.tree() == files, "B differs from the server"
    for client in (a, b):
        log = client.run()
        assert not any(w in log for w in WRITES) and "GETFileJob::start" not in log, \
            f"a run with nothing to do wrote or downloaded: {[w for w in WRITES if w in log]}"
    return files


def test_two_desktop_clients_converge_through_the_server(world: tuple[Server, Client, Client, httpx.Client]) -> None:
    _, a, b, web = world
    # (1) a tree with odd names, and a 50 MB file in chunks
    names = {f"{NFC}/menu.txt": b"nfc", f"{NFD} folder/menu.txt": b"nfd", "with space/a #1 %20 & b.txt": b"odd",
             "emoji \U0001f600/\U0001f4c4 notes.md": b"# notes\n", "top.txt": b"top\n",
             "docs/keep/a.txt": b"a", "docs/keep/b.txt": b"b", "docs/gone/c.txt": b"c"}
    for path, data in names.items():
        write(a.local, path, data)
    write(a.local, "big.bin", os.urandom(50 * 1024 * 1024))
    files = converge(a, b, web)
    assert set(files) >= set(names) | {"big.bin"}
    # (2) edits on A, an add and a delete on B
    write(a.local, "top.txt", b"top, edited on A\n")
    write(a.local, "docs/keep/a.txt", b"a, edited")
    write(b.local, "from B/new.txt", b"added on B")
    (b.local / "docs" / "keep" / "b.txt").unlink()
    files = converge(a, b, web)
    assert "from B/new.txt" in files and "docs/keep/b.txt" not in files
    # (3) a file and a folder renamed on A: moves on the server, ids kept
    ids = {p: _fileid(web, p) for p in ("top.txt", "docs/keep")}
    (a.local / "top.txt").rename(a.local / "top renamed.txt")
    (a.local / "docs" / "keep").rename(a.local / "docs" / "kept")
    files = converge(a, b, web)
    assert {"top renamed.txt", "docs/kept/a.txt"} <= set(files) and "top.txt" not in files
    assert _fileid(web, "top renamed.txt") == ids["top.txt"] and _fileid(web, "docs/kept") == ids["docs/keep"], \
        "a rename travels as a MOVE (the server's id is kept), not a delete and an upload"
    # (4) the same file edited on both sides: both contents kept
    write(a.local, "docs/kept/a.txt", b"A's edit")
    write(b.local, "docs/kept/a.txt", b"B's edit")
    files = converge(a, b, web)
    contents = {web.get(f"/remote.php/webdav/Shared/{p}").content for p in files if p.startswith("docs/kept/a")}
    assert {b"A's edit", b"B's edit"} <= contents, f"both edits are files on the server: {sorted(files)}"
    # (5) a folder deleted on B
    shutil.rmtree(b.local / "docs" / "gone")
    files = converge(a, b, web)
    assert not any(p.startswith("docs/gone/") for p in files)


def _fileid(web: httpx.Client, path: str) -> str:
    body = b'<d:propfind xmlns:d="DAV:"><d:prop><oc:fileid xmlns:oc="http://owncloud.org/ns"/></d:prop></d:propfind>'
    r = web.request("PROPFIND", f"/remote.php/webdav/Shared/{path}", content=body, headers={"Depth": "0"})
    assert r.status_code == 207, r.text
    return ET.fromstring(r.content).findtext(".//{http://owncloud.org/ns}fileid") or ""
