"""rclone as a WebDAV client of a real ``syncline serve`` (issue 15): ``copy``, ``sync``, ``check`` (by
checksum: the server lists SHA1 and MD5) and ``bisync`` agree with the server, whose files are read back
over WebDAV. rclone missing: skipped here, failed under ``CI=true``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..daemonserver import DEADLINE, USER, Server
from .davhelp import app_password, program


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment that names the server ``sl:`` for rclone (an app password, vendor owncloud)."""
    rclone = program("rclone")
    base = tmp_path_factory.mktemp("rclone")
    server = Server(base / "data")
    server.add_user()
    server.start()
    try:
        token = app_password(server, base)
        obscured = subprocess.run([rclone, "obscure", token], capture_output=True, text=True, check=True).stdout.strip()
        yield {**os.environ, "RCLONE_CONFIG": "/dev/null", "RCLONE_CONFIG_SL_TYPE": "webdav",
               "RCLONE_CONFIG_SL_URL": f"{server.url}/remote.php/webdav/", "RCLONE_CONFIG_SL_VENDOR": "owncloud",
               "RCLONE_CONFIG_SL_USER": USER, "RCLONE_CONFIG_SL_PASS": obscured, "HOME": str(base)}
    finally:
        server.stop()


def rclone(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([program("rclone"), *args], capture_output=True, text=True, env=env,
                          timeout=DEADLINE * 2)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def write(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


def test_copy_sync_check_and_bisync_agree_with_the_server(remote: dict[str, str], tmp_path: Path) -> None:
    here, back, both = tmp_path / "here", tmp_path / "back", tmp_path / "both"
    write(here, {"a.txt": b"a", "sub/caf\u00e9 #1.txt": b"odd", "big.bin": os.urandom(3_000_000), "empty": b""})
    rclone(remote, "copy", str(here), "sl:Docs")  # a new folder: rclone makes it when told its parent is missing
    checked = rclone(remote, "check", str(here), "sl:Docs")
    assert "0 differences found" in checked and "could not be checked" not in checked, checked
    (here / "a.txt").unlink()
    write(here, {"c.txt": b"c", "sub/caf\u00e9 #1.txt": b"edited"})
    rclone(remote, "sync", str(here), "sl:Docs")
    rclone(remote, "copy", "sl:Docs", str(back))
    assert tree(back) == tree(here), "what sync left on the server is what is here"
    assert "0 differences found" in rclone(remote, "check", str(here), "sl:Docs")
    both.mkdir()
    rclone(remote, "bisync", str(both), "sl:Docs", "--resync", "--workdir", str(tmp_path / "work"))
    assert tree(both) == tree(here)
    write(both, {"from both.txt": b"new on this side"})
    (both / "c.txt").unlink()
    rclone(remote, "bisync", str(both), "sl:Docs", "--workdir", str(tmp_path / "work"))
    again = tmp_path / "again"
    rclone(remote, "copy", "sl:Docs", str(again))
    assert tree(again) == tree(both) and "from both.txt" in tree(again) and "c.txt" not in tree(again)
