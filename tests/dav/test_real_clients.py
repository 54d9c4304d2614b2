"""Real WebDAV clients against a real ``syncline serve`` on 127.0.0.1, download direction only (writes come
with piece 3): an app password made by ``syncline app-password add``, then rclone (vendor owncloud and
nextcloud, both URL layouts), owncloudcmd and nextcloudcmd bring the folder down whole, and a second
desktop run makes one PROPFIND and no GET (the folder etags say nothing changed); a read-only member
logged in with the account password downloads it too, and the client itself refuses a local addition
(``oc:permissions``). A program that is not installed skips its test here and fails it under ``CI=true``."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syncline.formats.wire.ops import new_op_id

from ..daemonserver import DEADLINE, USER, Server
from ..server.apphelp import ops_body, put_file
from .davhelp import app_password, program

FILES = {"a.txt": b"hello world\n", "sub/b.bin": bytes(range(256)) * 400, "sub/deeper/c.txt": b"c",
         "caf\u00e9 dir/x #%&.txt": b"odd name", "emoji \U0001f600.md": b"# hi\n", "big.bin": bytes(700_000)}
BOB_PASSWORD = "bob-long-enough-password"
EXCLUDES = Path("/etc/Nextcloud/sync-exclude.lst")  # owncloudcmd stops without a system exclude list


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The server with anna's folder Docs holding :data:`FILES`, and an app password of anna's."""
    base = tmp_path_factory.mktemp("dav-real")
    server = Server(base / "data")
    server.add_user()
    server.add_user("bob", BOB_PASSWORD)
    server.start()
    try:
        token = app_password(server, base)
        asyncio.run(_seed(server.url, token))
        yield server, token
    finally:
        server.stop()


async def _seed(url: str, token: str) -> None:
    """Docs with :data:`FILES`, shared read-only with bob (accepted)."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert (await c.put("/v1/folders/Docs")).status_code == 201
        assert (await c.put("/v1/folders/Docs/members/bob", json={"rights": "ro"})).status_code == 201
        login = await c.post("/v1/login", json={"user": "bob", "password": BOB_PASSWORD, "device": "bob-laptop"})
        bob = {"Authorization": f"Bearer {login.json()['token']}"}
        uid = (await c.get("/v1/shares", headers=bob)).json()["incoming"][0]["uid"]
        assert (await c.post(f"/v1/shares/{uid}/accept", json={}, headers=bob)).status_code == 200
        dirs = [{"id": new_op_id(), "op": "mkdir", "path": d, "expect": None,
                 "entry": {"mode": 0o755, "mtime_ns": 1_700_000_000_000_000_000}}
                for d in ("sub", "sub/deeper", "caf\u00e9 dir")]
        assert "error" not in (await c.post("/v1/folders/Docs/ops", json=ops_body(*dirs))).text
        for path, data in FILES.items():
            assert "error" not in await put_file(c, "Docs", path, data)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.name.startswith((".sync_", "._sync_", ".owncloudsync", ".nextcloudsync"))}


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local"), "QT_QPA_PLATFORM": "offscreen", "RCLONE_CONFIG": "/dev/null"}
    return subprocess.run(args, capture_output=True, text=True, timeout=DEADLINE * 2, env=env)


@pytest.mark.parametrize(("vendor", "layout"), [("owncloud", "/remote.php/webdav/"),
                                                ("nextcloud", "/remote.php/dav/files/anna/")])
def test_rclone_lists_and_copies_the_folder(served: tuple[Server, str], tmp_path: Path, vendor: str,
                                            layout: str) -> None:
    rclone = program("rclone")
    server, token = served
    obscured = _run([rclone, "obscure", token], tmp_path).stdout.strip()
    remote = [f"--webdav-url={server.url}{layout}", f"--webdav-vendor={vendor}", f"--webdav-user={USER}",
              f"--webdav-pass={obscured}"]
    listed = _run([rclone, "lsf", "-R", *remote, ":webdav:Docs"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.splitlines()) == {*FILES, "sub/", "sub/deeper/", "caf\u00e9 dir/"}
    copied = _run([rclone, "copy", *remote, ":webdav:Docs", str(tmp_path / "copy")], tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert _tree(tmp_path / "copy") == FILES
    assert (tmp_path / "copy" / "a.txt").stat().st_mtime == 1_700_000_000
    refused = _run([rclone, "lsf", *remote[:-1], f"--webdav-pass={obscured[:-2]}AA", ":webdav:Docs"], tmp_path)
    assert refused.returncode != 0 and "401" in refused.stderr


def _desktop_requests(log: str) -> tuple[int, int]:
    """(PROPFINDs, GETs) in a desktop client's --logdebug output."""
    return log.count('"PROPFIND"'), log.count("GETFileJob::start")


@pytest.mark.parametrize("client", ["owncloudcmd", "nextcloudcmd"])
def test_desktop_clients_download_the_folder_and_a_second_run_fetches_nothing(
        served: tuple[Server, str], tmp_path: Path, client: str) -> None:
    cmd = program(client, EXCLUDES)
    server, token = served
    local = tmp_path / "local"
    local.mkdir()
    common = [cmd, "--non-interactive", "--trust", "-u", USER, "-p", token, "--exclude", str(EXCLUDES), "--logdebug"]
    where = ["--path", "/Docs", str(local), server.url] if client == "nextcloudcmd" else \
        [str(local), f"{server.url}/remote.php/webdav/Docs"]
    first = _run([*common, *where], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _tree(local) == FILES
    propfinds, gets = _desktop_requests(first.stdout + first.stderr)
    assert propfinds == 4 and gets == len(FILES)
    again = _run([*common, *where], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _desktop_requests(again.stdout + again.stderr) == (1, 0)


def test_a_read_only_member_with_the_account_password_downloads_and_may_add_nothing(
        served: tuple[Server, str], tmp_path: Path) -> None:
    cmd = program("owncloudcmd", EXCLUDES)
    server, _ = served
    local = tmp_path / "local"
    local.mkdir()
    args = [cmd, "--non-interactive", "--trust", "-u", "bob", "-p", BOB_PASSWORD, "--exclude", str(EXCLUDES),
            "--logdebug", str(local), f"{server.url}/remote.php/webdav/Docs"]
    first = _run(args, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _tree(local) == FILES
    (local / "new.txt").write_bytes(b"bob's")
    again = _run(args, tmp_path)
    log = again.stdout + again.stderr
    assert '"PUT"' not in log and "permission to add files" in log, "the client refused it from oc:permissions"
