"""``GET /ui/zip``: a folder as one zip, streamed with bounded memory (docs/protocol.md, "Zip download (web
UI)"). The zips are read back with the stdlib: ``testzip()`` clean, every file's bytes the store's.

Most tests run the app in process; those where streaming matters (zips under way, a client that leaves, a
download cut) serve it with uvicorn on 127.0.0.1 in a thread, and the memory test runs ``syncline serve``."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import blake3
import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from syncline.core.errors import UsageError
from syncline.server.app import routes_zip, zipstream
from syncline.server.app.zipstream import ZipLimits
from syncline.server.config import DEFAULT_ZIP_MAX, load_server_config
from syncline.server.store import contents
from syncline.server.store import schema as t
from syncline.server.store.folder import FolderStore
from syncline.server.users import add_user

from ..daemonserver import PASSWORD, USER, Server, wait_for
from .apphelp import DEADLINE, World, make_world, run
from .storetree import ServerTree

MTIME = 1_700_000_000_123_456_789  # 2023-11-14 22:13:20 UTC


def _world(tmp_path: Path, **limits: Any) -> World:
    return make_world(tmp_path / "data", zip_limits=ZipLimits(**limits))


def _tree(w: World, user: str = "anna", name: str = "Docs") -> ServerTree:
    owner = w.device(user).user_id
    w.store.folders.create(owner, name)
    return ServerTree(w.store, owner, name)


def _fill(tree: ServerTree) -> dict[str, bytes]:
    """A folder with unicode names, an empty folder and file, a file of several chunks, a backslash in a
    name and a symlink; the files' bytes by path."""
    files = {"top.txt": b"top", "é/naïve.txt": "déjà vu".encode(), "日本/データ.bin": os.urandom(5000),
             "a/b/c.txt": b"deep", "a/empty.txt": b"", "big.bin": os.urandom(2_500_000), "odd\\name.txt": b"\\"}
    for path, data in files.items():
        tree.write(path, data, mtime_ns=MTIME)
    tree.mkdir("empty/inner")
    tree.symlink("a/link", "../top.txt")
    return files


def _read(data: bytes) -> zipfile.ZipFile:
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.testzip() is None
    return z


def _get(w: World, user: str | None = "anna", **params: str) -> httpx.Response:
    async def main() -> httpx.Response:
        async with w.client(user) as c:
            return await c.get("/ui/zip", params=params)

    return run(main())


def test_a_folder_zips_whole_and_reads_back(tmp_path: Path) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    files = _fill(tree)
    r = _get(w, folder="Docs")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert r.headers["content-disposition"] == "attachment; filename=\"Docs.zip\"; filename*=UTF-8''Docs.zip"
    z = _read(r.content)
    names = {zip_name.replace("＼", "\\") for zip_name in z.namelist()}
    folders = {"a/", "a/b/", "é/", "日本/", "empty/", "empty/inner/"}
    assert names == set(files) | folders, "every folder and file, no symlink, nothing else"
    assert "odd＼name.txt" in z.namelist(), "a backslash is never a separator in the zip"
    for path, data in files.items():
        assert z.read(path.replace("\\", "＼")) == data == tree.read(path)
    info = z.getinfo("日本/データ.bin")
    assert info.flag_bits & 0x800, "UTF-8 names say so"
    assert info.date_time == (2023, 11, 14, 22, 13, 20) and info.compress_type == zipfile.ZIP_STORED
    assert (info.external_attr >> 16) & 0o777 == 0o644
    assert z.getinfo("empty/inner/").is_dir()
    assert _read(_get(w, folder="Docs", dir="").content).namelist() == z.namelist(), "dir \"\": the whole folder"


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is installed by .ci/run")
def test_info_zip_unzip_checks_and_extracts_it(tmp_path: Path) -> None:
    w = _world(tmp_path)
    files = _fill(_tree(w))
    archive = tmp_path / "Docs.zip"
    archive.write_bytes(_get(w, folder="Docs").content)
    checked = subprocess.run(["unzip", "-t", str(archive)], capture_output=True, text=True, timeout=DEADLINE)
    assert checked.returncode == 0 and "No errors detected" in checked.stdout, checked.stdout + checked.stderr
    out = tmp_path / "out"
    done = subprocess.run(["unzip", "-q", str(archive), "-d", str(out)], capture_output=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    for path, data in files.items():
        got = out / path.replace("\\", "＼")
        assert got.read_bytes() == data, path
        assert got.stat().st_mtime_ns == MTIME // 10**9 * 10**9, "the exact second, from the extended timestamp"
        assert got.stat().st_mode & 0o777 == 0o644
    assert (out / "empty" / "inner").is_dir() and not any((out / "empty" / "inner").iterdir())
    assert not (out / "a" / "link").exists(), "no symlink"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Docs.zip", "data", "out"], "nothing outside out/"


def test_a_subdir_has_names_relative_to_it_and_its_name(tmp_path: Path) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    files = _fill(tree)
    r = _get(w, folder="Docs", dir="é")
    assert r.status_code == 200, r.text
    assert _read(r.content).namelist() == ["naïve.txt"]
    assert r.headers["content-disposition"] == f"attachment; filename=\"_.zip\"; filename*=UTF-8''{quote('é.zip')}"
    z = _read(_get(w, folder="Docs", dir="a").content)
    assert sorted(z.namelist()) == ["b/", "b/c.txt", "empty.txt"]
    assert z.read("b/c.txt") == files["a/b/c.txt"]
    empty = _read(_get(w, folder="Docs", dir="empty/inner").content)
    assert empty.namelist() == [], "an empty folder is an empty zip"


def test_zip64_is_written_when_sizes_pass_its_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    files = {f"f{n}.bin": os.urandom(3000 + n) for n in range(4)} | {"sub/g.bin": os.urandom(3000), "sub/h": b""}
    for path, data in files.items():
        tree.write(path, data)
    tree.mkdir("sub/empty")
    # As if each file were past 4 GiB, the folders' entries past 4 GiB into the zip, and past 65,535 entries.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 2000)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 3)
    r = _get(w, folder="Docs")
    monkeypatch.undo()
    assert r.status_code == 200
    assert b"PK\x06\x06" in r.content and b"PK\x06\x07" in r.content, "the ZIP64 end records"
    z = _read(r.content)
    assert sorted(z.namelist()) == sorted([*files, "sub/", "sub/empty/"])
    for path, data in files.items():
        assert z.read(path) == data
        if len(data) > 2000:
            assert z.getinfo(path).extra.startswith(b"\x01\x00"), "a ZIP64 field in the central directory"
    assert z.getinfo("sub/empty/").header_offset > 2000 and z.getinfo("sub/empty/").is_dir()


def test_bounds_are_checked_before_the_first_byte(tmp_path: Path) -> None:
    w = _world(tmp_path, max_entries=4, max_bytes=10_000)
    tree = _tree(w)
    tree.write("a/one.bin", os.urandom(4000))
    tree.write("a/two.bin", os.urandom(4000))
    tree.write("three.bin", b"3")
    ok = _get(w, folder="Docs")
    assert ok.status_code == 200 and len(_read(ok.content).namelist()) == 4, "at the bound: served"
    tree.write("four.bin", b"4")
    many = _get(w, folder="Docs")
    assert many.status_code == 413, many.text
    err = many.json()["error"]
    assert err["code"] == "too_large" and err["details"]["limit"] == 4
    assert "5 files and folders" in err["message"] and "smaller folder" in err["hint"]
    assert _get(w, folder="Docs", dir="a").status_code == 200, "a subfolder within the bounds"
    tree.write("a/three.bin", os.urandom(4000))
    big = _get(w, folder="Docs", dir="a")
    assert big.status_code == 413 and big.json()["error"]["details"]["limit"] == 10_000
    assert "11.7 KiB" in big.json()["error"]["message"] and "\n" not in big.json()["error"]["message"]
    assert w.app.state.zips.running() == 0, "a refused zip holds no slot"


def _share(w: World) -> None:
    """anna's Docs: carol may read it (as Team), erin's share was taken back, dave has none."""
    for name in ("carol", "dave", "erin"):
        add_user(w.store, w.auth.passwords, name, w.password(name))
        w.tokens[name], _ = w.auth.login(name, w.password(name), f"{name}-laptop")

    async def main() -> None:
        async with w.client("anna") as c:
            for user in ("carol", "erin"):
                assert (await c.put(f"/v1/folders/Docs/members/{user}", json={"rights": "ro"})).status_code == 201
        folder = w.store.folders.get(w.device("anna").user_id, "Docs")
        assert folder is not None
        uid = folder.uid
        for user, name in (("carol", "Team"), ("erin", None)):
            async with w.client(user) as c:
                r = await c.post(f"/v1/shares/{uid}/accept", json={} if name is None else {"name": name})
                assert r.status_code == 200, r.text
        async with w.client("anna") as c:
            assert (await c.delete("/v1/folders/Docs/members/erin")).status_code == 204

    run(main())


def test_the_read_right_is_checked_as_the_native_routes_check_it(tmp_path: Path) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    tree.write("a.txt", b"a")
    _share(w)
    r = _get(w, "carol", folder="Team")
    assert r.status_code == 200 and _read(r.content).read("a.txt") == b"a", "a read-only member reads"
    assert r.headers["content-disposition"].startswith('attachment; filename="Team.zip"')
    for user, folder, status, code in (("dave", "Docs", 404, "not_found"), ("root", "Docs", 404, "not_found"),
                                       ("erin", "Docs", 403, "share_revoked"), (None, "Docs", 401, "unauthenticated")):
        got = _get(w, user, folder=folder)
        native = run(_native(w, user, folder))
        assert (got.status_code, got.json()["error"]["code"]) == (status, code) == \
            (native.status_code, native.json()["error"]["code"]), user
    forged = run(_forged(w))
    assert forged.status_code == 401
    assert w.app.state.zips.running() == 0


async def _native(w: World, user: str | None, folder: str) -> httpx.Response:
    async with w.client(user) as c:
        return await c.get(f"/v1/folders/{folder}/file", params={"path": "a.txt"})


async def _forged(w: World) -> httpx.Response:
    async with w.client(None, Authorization="Bearer slt_" + "A" * 43) as c:
        return await c.get("/ui/zip", params={"folder": "Docs"})


@pytest.mark.parametrize("where", ["..", "../Docs", "/etc", "/", "a/../a", "a//b", "a/", "./a", "x\x00y",
                                   "..\\..\\etc", "a\\b", ".syncline", "a/.SyncLine", "a" * 300])
def test_a_hostile_dir_is_refused(tmp_path: Path, where: str) -> None:
    w = _world(tmp_path)
    _tree(w).write("a/x.txt", b"x")
    r = _get(w, folder="Docs", dir=where)
    assert r.status_code == 400, (where, r.text)
    assert r.json()["error"]["code"] == "bad_path"


def test_a_dir_that_is_not_a_folder_is_404_and_bad_names_400(tmp_path: Path) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    tree.write("a/x.txt", b"x")
    tree.symlink("ln", "a")
    for where in ("nope", "a/x.txt", "ln", "A"):
        r = _get(w, folder="Docs", dir=where)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", where
    assert _get(w, folder="../Docs").json()["error"]["code"] == "bad_request"
    assert _get(w).json()["error"]["code"] == "bad_request", "no folder named"
    assert _get(w, folder="Nope").status_code == 404


def test_a_version_lost_meanwhile_is_left_out_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    for path in ("keep.txt", "gone.txt", "sub/damaged.txt", "SYNCLINE-MISSING.txt", "ok.txt"):
        tree.write(path, path.encode())
    fs = tree.fs
    listed = routes_zip.read_subtree

    def then_change(*args: Any) -> Any:
        found = listed(*args)
        gone, damaged = _content_id(fs, "gone.txt"), _content_id(fs, "sub/damaged.txt")
        tree.write("keep.txt", b"replaced after the listing")  # its version listed is kept: zipped
        tree.remove("gone.txt")
        with w.store.db.write() as conn:
            contents.drop(conn, fs.ns, [gone], time.time_ns())  # as retention drops it
            # as `syncline server check --repair` marks it (after the writes above, which would heal it)
            conn.execute(t.contents.update().where(t.contents.c.id == damaged).values(damaged_ns=1))
        return found

    monkeypatch.setattr(routes_zip, "read_subtree", then_change)
    r = _get(w, folder="Docs")
    assert r.status_code == 200, r.text
    z = _read(r.content)
    assert z.read("keep.txt") == b"keep.txt", "the version the listing saw"
    assert z.read("ok.txt") == b"ok.txt" and z.read("SYNCLINE-MISSING.txt") == b"SYNCLINE-MISSING.txt"
    assert z.namelist()[-1] == "SYNCLINE-MISSING-2.txt", "the list is the last entry, under a free name"
    listing = z.read("SYNCLINE-MISSING-2.txt").decode()
    assert "gone.txt: the server no longer keeps this version" in listing
    assert "sub/damaged.txt: the server lost part of this version" in listing
    assert "gone.txt" not in z.namelist() and "sub/damaged.txt" not in z.namelist()


def _content_id(fs: FolderStore, path: str) -> int:
    with fs.store.db.read() as conn:
        e = t.entries.c
        return int(conn.execute(sa.select(e.content_id).where(e.folder_id == fs.id, e.path == path)).scalar_one())


def test_head_answers_the_head_only(tmp_path: Path) -> None:
    w = _world(tmp_path)
    _tree(w).write("a.txt", b"a")

    async def main() -> httpx.Response:
        async with w.client() as c:
            return await c.head("/ui/zip", params={"folder": "Docs"})

    r = run(main())
    assert r.status_code == 200 and r.content == b"" and r.headers["content-type"] == "application/zip"
    assert w.app.state.zips.running() == 0


def test_server_toml_sets_zip_max(tmp_path: Path) -> None:
    assert load_server_config(tmp_path).zip_max == DEFAULT_ZIP_MAX == 16 << 30
    (tmp_path / "server.toml").write_text('[web]\nzip_max = "2GiB"\n')
    assert load_server_config(tmp_path).zip_max == 2 << 30
    for bad in ('[web]\nzip_max = "lots"\n', "[web]\nzip_max = -1\n", "[web]\nzip_min = 1\n"):
        (tmp_path / "server.toml").write_text(bad)
        with pytest.raises(UsageError) as caught:
            load_server_config(tmp_path)
        assert "[web]" in str(caught.value) or "zip_m" in str(caught.value)


# -- served by uvicorn: zips under way, clients that leave ------------------------------------------------------
@contextmanager
def serving(w: World) -> Iterator[str]:
    """``w``'s app on 127.0.0.1 (uvicorn in a thread, as ``syncline serve`` runs it); its URL."""
    config = uvicorn.Config(w.app, host="127.0.0.1", port=0, http="h11", loop="asyncio", ws="none",
                            lifespan="on", log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started and server.servers, describe=lambda: "uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(DEADLINE)
        assert not thread.is_alive()


def _client(url: str, w: World, user: str, small_window: bool = False) -> httpx.Client:
    """``user``'s client of the server at ``url``; ``small_window``: its socket's receive buffer fixed at
    64 KiB, so a zip it stops reading stays under way whatever the machine lets TCP buffers grow to
    (autotuning on loopback may take tens of MiB: ``net.ipv4.tcp_rmem``)."""
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)] if small_window else None
    return httpx.Client(base_url=url, timeout=DEADLINE, headers={"Authorization": f"Bearer {w.tokens[user]}"},
                        transport=httpx.HTTPTransport(socket_options=options))


def _no_zip_left(w: World) -> bool:
    """No zip under way: every slot free and every worker thread ended."""
    return w.app.state.zips.running() == 0 and not any(th.name == "syncline-zip" for th in threading.enumerate())


@contextmanager
def _held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Every zip's first version waits for the event: zips stay under way until the test lets them go."""
    go = threading.Event()
    opened = routes_zip.open_version

    def held(fs: FolderStore, content_id: int) -> Iterator[bytes]:
        if not go.wait(DEADLINE):
            raise AssertionError("never let go")
        return opened(fs, content_id)

    monkeypatch.setattr(routes_zip, "open_version", held)
    try:
        yield go
    finally:
        go.set()


def test_one_zip_a_user_and_two_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(tmp_path)
    for user in ("anna", "bob", "root"):
        _tree(w, user).write("a.txt", user.encode())
    with serving(w) as url, _held(monkeypatch) as go, _client(url, w, "anna") as anna, \
            _client(url, w, "bob") as bob, _client(url, w, "root") as root, \
            anna.stream("GET", "/ui/zip", params={"folder": "Docs"}) as first:
        assert first.status_code == 200
        again = anna.get("/ui/zip", params={"folder": "Docs"})
        assert again.status_code == 429 and again.json()["error"]["code"] == "rate_limited"
        assert int(again.headers["retry-after"]) >= 1 and "yours is still under way" in again.json()["error"]["message"]
        with bob.stream("GET", "/ui/zip", params={"folder": "Docs"}) as second:
            assert second.status_code == 200, "another user's"
            third = root.get("/ui/zip", params={"folder": "Docs"})
            assert third.status_code == 429 and "2 zip downloads" in third.json()["error"]["message"]
            go.set()
            assert _read(second.read()).read("a.txt") == b"bob"
        assert _read(first.read()).read("a.txt") == b"anna"
    wait_for(lambda: _no_zip_left(w))
    assert _read(_get(w, "root", folder="Docs").content).read("a.txt") == b"root", "slots free again"


def test_a_client_that_leaves_frees_its_slot(tmp_path: Path) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    for n in range(8):  # 32 MiB: more than the pipe and the sockets' buffers hold (a small window)
        tree.write(f"f{n}.bin", os.urandom(4 << 20))
    with serving(w) as url, _client(url, w, "anna", small_window=True) as anna:
        for keep in (0, 3 << 20):
            with anna.stream("GET", "/ui/zip", params={"folder": "Docs"}) as r:
                assert r.status_code == 200
                got = 0
                # Held, not left to the loop: a generator dropped after ``break`` is finalized at once, and
                # httpx then closes the connection (the client would leave before the check below).
                pieces = r.iter_raw()
                for piece in pieces:
                    got += len(piece)
                    if got >= keep:
                        break
                wait_for(lambda: w.app.state.zips.running() == 1, describe=lambda k=keep, n=got: (k, n))  # type: ignore[misc]
            wait_for(lambda: _no_zip_left(w))  # the worker, blocked on the full pipe, has ended
        whole = anna.get("/ui/zip", params={"folder": "Docs"})
        assert whole.status_code == 200
        z = _read(whole.content)
        assert z.read("f7.bin") == tree.read("f7.bin")


def test_a_client_that_takes_nothing_is_given_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    for n in range(8):
        tree.write(f"f{n}.bin", os.urandom(4 << 20))
    monkeypatch.setattr(zipstream, "STALL_S", 0.5)
    with serving(w) as url, _client(url, w, "anna", small_window=True) as anna, \
            anna.stream("GET", "/ui/zip", params={"folder": "Docs"}) as r:
        assert r.status_code == 200
        wait_for(lambda: _no_zip_left(w))  # connected, reading nothing: its slot is free all the same
        with pytest.raises(httpx.RemoteProtocolError):
            r.read()  # and what it gets is cut short


def _cut(w: World, url: str, user: str, folder: str) -> None:
    """The zip of ``folder`` ends without its end: the client sees a broken answer, never a whole zip."""
    with _client(url, w, user) as c, pytest.raises(httpx.RemoteProtocolError):
        r = c.get("/ui/zip", params={"folder": folder})
        pytest.fail(f"a whole answer: {r.status_code}, {len(r.content)} bytes")


@pytest.mark.parametrize("fault", ["gone", "damaged", "io error"])
def test_a_chunk_failing_mid_file_cuts_the_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    fault: str) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    tree.write("a.txt", b"first")
    tree.write("b.bin", os.urandom(2_000_000))  # seven chunks
    read = w.store.chunks.read
    seen: list[bytes] = []

    def failing(ns: str, chunk_id: bytes, offset: int = 0, length: int = -1) -> bytes:
        seen.append(chunk_id)
        if len(seen) == 3:  # b.bin's second chunk
            if fault == "gone":
                raise FileNotFoundError(2, "gone")
            if fault == "io error":
                raise OSError(5, "Input/output error")
            return b"x" + read(ns, chunk_id, offset, length)[1:]
        return read(ns, chunk_id, offset, length)

    monkeypatch.setattr(w.store.chunks, "read", failing)
    with serving(w) as url:
        _cut(w, url, "anna", "Docs")
        wait_for(lambda: _no_zip_left(w))
        monkeypatch.setattr(w.store.chunks, "read", read)
        with _client(url, w, "anna") as c:
            assert _read(c.get("/ui/zip", params={"folder": "Docs"}).content).read("b.bin") == tree.read("b.bin")


def test_a_share_taken_back_cuts_a_zip_under_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(tmp_path)
    tree = _tree(w)
    tree.write("a.txt", b"a")
    tree.write("b.txt", b"b")
    _share(w)
    monkeypatch.setattr(zipstream, "RECHECK_S", 0.0)
    with serving(w) as url, _held(monkeypatch) as go:
        done = threading.Thread(target=_cut, args=(w, url, "carol", "Team"))
        done.start()
        wait_for(lambda: w.app.state.zips.running() == 1)

        async def revoke() -> None:
            async with w.client("anna") as c:
                assert (await c.delete("/v1/folders/Docs/members/carol")).status_code == 204

        run(revoke())
        go.set()
        done.join(DEADLINE)
        assert not done.is_alive()
    wait_for(lambda: _no_zip_left(w))


# -- a real `syncline serve`: memory -------------------------------------------------------------------------
def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _fill_big(data: Path, files: int, size: int) -> dict[str, bytes]:
    """``files`` files of ``size`` random bytes in anna's folder Big, written into the store before the
    server starts (so the server's memory holds nothing of them); their BLAKE3 digests."""
    from syncline.server.store import open_store

    store = open_store(data, min_free=0)
    try:
        owner = store.users.get(USER)
        assert owner is not None
        store.folders.create(owner.id, "Big")
        tree = ServerTree(store, owner.id, "Big")
        digests = {}
        for n in range(files):
            block = os.urandom(size)
            tree.write(f"d{n % 4}/f{n}.bin", block)
            digests[f"d{n % 4}/f{n}.bin"] = blake3.blake3(block).digest()
        tree.write("small.txt", b"small")
        tree.write("warm/up.bin", os.urandom(2 << 20))
        return digests
    finally:
        store.close()


def test_a_200_mib_zip_read_slowly_holds_little_memory(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.add_user()
    digests = _fill_big(server.data, 25, 8 << 20)  # 200 MiB
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as c:
            r = c.post("/v1/login", json={"user": USER, "password": PASSWORD, "device": "zip test"})
            assert r.status_code == 200, r.text
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            warm = c.get("/ui/zip", params={"folder": "Big", "dir": "warm"})  # imports and pools, before the base
            assert warm.status_code == 200
            del warm
            base = _rss_kib(pid)
            peak = [base]
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.02):
                    peak[0] = max(peak[0], _rss_kib(pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            out = tmp_path / "big.zip"
            try:
                with c.stream("GET", "/ui/zip", params={"folder": "Big"}) as r, out.open("wb") as f:
                    assert r.status_code == 200
                    for piece in r.iter_raw(256 << 10):
                        f.write(piece)
                        time.sleep(0.004)  # a slow client: about 60 MiB/s at most, slower than the server reads
            finally:
                stop.set()
                sampler.join(DEADLINE)
        rise_mib = (peak[0] - base) / 1024
        assert rise_mib < 64, f"the server's RSS rose {rise_mib:.1f} MiB"
        with zipfile.ZipFile(out) as z:
            assert z.testzip() is None
            assert z.read("small.txt") == b"small"
            for path, digest in digests.items():
                with z.open(path) as member:
                    assert blake3.blake3(member.read()).digest() == digest, path
    finally:
        server.stop()


def test_a_server_stops_cleanly_with_a_zip_under_way(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.add_user()
    _fill_big(server.data, 8, 4 << 20)  # 32 MiB: the worker is blocked on its full pipe when the stop comes
    server.start()
    try:
        proc = server.proc
        assert proc is not None
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as c:
            r = c.post("/v1/login", json={"user": USER, "password": PASSWORD, "device": "zip test"})
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            with c.stream("GET", "/ui/zip", params={"folder": "Big"}) as r:
                assert r.status_code == 200
                pieces = r.iter_raw()
                next(pieces)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=DEADLINE) == 0, "".join(server.lines)
                with pytest.raises(httpx.TransportError):  # cut: never a zip that looks whole
                    for _ in pieces:
                        pass
        assert not any("Traceback" in line for line in server.lines), "".join(server.lines)
    finally:
        server.stop()
