"""Two devices, each a daemon in a thread with its own state and folder, against one real server process
(``syncline serve``) and one server folder: edits, deletes, renames (a move on the server, no upload) and
conflicts cross; a stopped server makes the folders offline, a restarted one is caught up with. Every
wait is bounded; no duration is asserted."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syncline.services.daemon import connect as c
from syncline.services.daemon import request_restart

from .daemonserver import (
    DEADLINE,
    PASSWORD,
    SYNCLINE,
    USER,
    Device,
    Server,
    journal,
    make_conflict,
    serving,
    syncline,
    two_devices,
    wait_for,
)

FOLDER = "Shared"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Server, Device, Device]]:
    with two_devices(tmp_path, FOLDER, tls=True) as devices:
        yield devices


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return None


def test_an_edit_and_a_delete_on_one_device_reach_the_other(pair: tuple[Server, Device, Device]) -> None:
    _, a, b = pair
    (a.local / "notes.txt").write_text("from the laptop\n", encoding="utf-8")
    wait_for(lambda: _text(b.local / "notes.txt") == "from the laptop\n")
    (b.local / "notes.txt").write_text("edited on the desk\n", encoding="utf-8")
    wait_for(lambda: _text(a.local / "notes.txt") == "edited on the desk\n")
    (a.local / "sub").mkdir()
    (a.local / "sub" / "deep.txt").write_text("deep\n", encoding="utf-8")
    wait_for(lambda: _text(b.local / "sub" / "deep.txt") == "deep\n")
    (a.local / "notes.txt").unlink()
    wait_for(lambda: not (b.local / "notes.txt").exists())
    assert _text(b.local / "sub" / "deep.txt") == "deep\n"


def test_a_rename_is_one_move_on_the_server_and_no_upload(pair: tuple[Server, Device, Device]) -> None:
    server, a, b = pair
    (a.local / "papers").mkdir()
    for n in range(3):
        (a.local / "papers" / f"p{n}.txt").write_text(f"paper {n}\n" * 100, encoding="utf-8")
    wait_for(lambda: all(_text(b.local / "papers" / f"p{n}.txt") == f"paper {n}\n" * 100 for n in range(3)))
    wait_for(lambda: a.state_of() == "in sync" and b.state_of() == "in sync")
    before = journal(server, a.token, FOLDER)
    since = before[-1][0]
    (a.local / "papers").rename(a.local / "archive")
    wait_for(lambda: all(_text(b.local / "archive" / f"p{n}.txt") == f"paper {n}\n" * 100 for n in range(3))
             and not (b.local / "papers").exists())
    rows = journal(server, a.token, FOLDER, since)
    assert [(r[1], r[2], r[3]) for r in rows] == [("move", "archive", "papers")], rows
    assert rows[0][4] == a.device_id


def test_a_conflict_keeps_both_versions_on_both_devices(pair: tuple[Server, Device, Device]) -> None:
    _, a, b = pair
    make_conflict(a, b, "plan.txt", b"first\n", b"the laptop's plan\n", b"the desk's plan\n")

    def versions(device: Device) -> set[str] | None:
        """both versions are in the device's folder"""
        found = {_text(p) for p in device.local.iterdir() if p.name.startswith("plan")}
        return found if found == {"the laptop's plan\n", "the desk's plan\n"} else None

    wait_for(lambda: versions(a) and versions(b))

    def settled(device: Device) -> list[str] | None:
        """the folder holds the two versions and nothing else (a replaced version on its way to the trash,
        ``.syncline-old-*``, is gone once the run ends)"""
        names = sorted(p.name for p in device.local.iterdir() if p.name != ".syncline")
        return names if len(names) == 2 else None

    for device in (a, b):
        names = wait_for(lambda device=device: settled(device))
        assert "plan.txt" in names, names
        assert next(n for n in names if n != "plan.txt").startswith("plan.sync-conflict-"), names


def test_a_stopped_server_makes_the_folder_offline_and_a_restarted_one_is_caught_up(
        pair: tuple[Server, Device, Device]) -> None:
    server, a, b = pair
    server.stop()
    # Idle folders find out from their feed, before anything needs the server.
    wait_for(lambda: a.state_of() == "offline" and b.state_of() == "offline")
    status = a.status()
    assert status is not None and status["why"], status
    (a.local / "while-away.txt").write_text("written while the server was down\n", encoding="utf-8")
    server.start()
    wait_for(lambda: _text(b.local / "while-away.txt") == "written while the server was down\n", DEADLINE)
    wait_for(lambda: a.state_of() == "in sync")
    (b.local / "after.txt").write_text("after the restart\n", encoding="utf-8")
    wait_for(lambda: _text(a.local / "after.txt") == "after the restart\n")


def test_syncline_daemon_as_a_process_follows_the_server(tmp_path: Path) -> None:
    with serving(tmp_path / "data") as server:
        _daemon_process(tmp_path, server)


def _daemon_process(tmp_path: Path, server: Server) -> None:
    proc = None
    desk = None
    try:
        env = {"SYNCLINE_STATE_DIR": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        config = tmp_path / "xdg" / "syncline" / "daemon.toml"
        done = syncline("connect", server.url, "--user", USER, "--password-stdin", stdin=PASSWORD + "\n", env=env)
        assert done.returncode == 0, done.stderr
        local = tmp_path / "laptop"
        done = syncline("folder", "add", str(local), "--remote", FOLDER, "--create", env=env)
        assert done.returncode == 0, done.stderr
        assert config.exists()
        proc = subprocess.Popen([SYNCLINE, "daemon", "-q"], env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def status() -> str:
            return syncline("status", env=env).stdout

        wait_for(lambda: "in sync" in status(), describe=status)
        desk = Device(tmp_path / "desk", server, FOLDER, "desk")
        desk.start()
        (desk.local / "hello.txt").write_text("from the desk\n", encoding="utf-8")
        wait_for(lambda: _text(local / "hello.txt") == "from the desk\n")
        (local / "reply.txt").write_text("from the laptop\n", encoding="utf-8")
        wait_for(lambda: _text(desk.local / "reply.txt") == "from the laptop\n")
    finally:
        if desk is not None:
            desk.stop()
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate(timeout=DEADLINE)
            assert proc.returncode == 0, err


def test_a_revoked_device_stops_and_a_new_connect_restarts_it(pair: tuple[Server, Device, Device]) -> None:
    server, a, b = pair
    with httpx.Client(base_url=server.url, verify=False, timeout=DEADLINE,
                      headers={"Authorization": f"Bearer {a.token}"}) as http:
        assert http.delete(f"/v1/devices/{b.device_id}").status_code == 204
    (a.local / "after-revoke.txt").write_text("b may not see this yet\n", encoding="utf-8")
    wait_for(lambda: b.state_of() in ("stopped", "offline"), describe=b.status)
    assert not (b.local / "after-revoke.txt").exists()
    login = c.log_in(c.meet(server.url), USER, PASSWORD, "desk again", None)
    c.save(b.state, login)
    request_restart(b.state)  # what `syncline connect` asks of a running daemon
    wait_for(lambda: _text(b.local / "after-revoke.txt") == "b may not see this yet\n", describe=b.status)
    (b.local / "back.txt").write_text("back\n", encoding="utf-8")
    wait_for(lambda: _text(a.local / "back.txt") == "back\n")


def test_a_file_past_the_quota_stays_on_the_device_listed_and_goes_once_there_is_room(
        pair: tuple[Server, Device, Device]) -> None:
    """The server refuses a file past its owner's quota: the device keeps it untouched, `syncline status`
    lists it with why, everything else syncs; once the administrator raises the quota it goes, and the list
    empties."""
    server, a, b = pair
    quota = syncline("user", "set", USER, "--quota", "64KiB", "--data", str(server.data))
    assert quota.returncode == 0, quota.stderr
    big = os.urandom(200_000)
    (a.local / "big.bin").write_bytes(big)
    (a.local / "small.txt").write_text("fits", encoding="utf-8")
    wait_for(lambda: _text(b.local / "small.txt") == "fits", describe=b.status)

    def held() -> list[str]:
        return [i["path"] for i in (a.status() or {}).get("not_synced", [])]

    wait_for(lambda: held() == ["big.bin"], describe=a.status)
    status = a.status()
    assert status is not None and "quota" in status["not_synced"][0]["why"]
    shown = syncline("status", env={**os.environ, "SYNCLINE_STATE_DIR": str(a.state)})
    assert "not synced, kept here: big.bin" in shown.stdout, shown.stdout + shown.stderr
    assert (a.local / "big.bin").read_bytes() == big and not (b.local / "big.bin").exists()

    assert syncline("user", "set", USER, "--quota", "none", "--data", str(server.data)).returncode == 0
    wait_for(lambda: (b.local / "big.bin").is_file() and (b.local / "big.bin").read_bytes() == big,
             describe=a.status)
    wait_for(lambda: held() == [], describe=a.status)
