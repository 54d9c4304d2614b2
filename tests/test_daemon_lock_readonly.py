"""``lock_makes_readonly`` end to end (issue 14): a file locked on one device is read-only on the others
while the lock lasts, gets exactly its mode back when the lock ends (released, expired, or while the
daemon was killed), and the read-only mode never reaches the server."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.core.errors import UsageError
from syncline.services.config import load_daemon_config
from syncline.services.daemon.configfile import set_server_url

from .daemonserver import SYNCLINE, Device, Server, journal, serving, wait_for
from .test_daemon_locks import _in_sync

MODE = 0o640
READ_ONLY = 0o440


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "data") as s:
        yield s


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _read_only_on(device: Device) -> None:
    device.config.write_text("lock_makes_readonly = true\n\n" + device.config.read_text())


def _pair(tmp_path: Path, server: Server, readonly: bool = True) -> tuple[Device, Device]:
    """The laptop (which locks) and the phone (``lock_makes_readonly`` unless ``readonly`` is False),
    both holding report.txt with mode 0640."""
    laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
    phone = Device(tmp_path / "phone", server, "Docs", "anna-phone")
    _read_only_on(laptop)
    if readonly:
        _read_only_on(phone)
    (laptop.local / "report.txt").write_text("v1\n")
    (laptop.local / "report.txt").chmod(MODE)
    laptop.start()
    phone.start()
    wait_for(lambda: (phone.local / "report.txt").read_text() == "v1\n")
    wait_for(lambda: _in_sync(laptop) and _in_sync(phone))
    assert _mode(phone.local / "report.txt") == MODE
    return laptop, phone


def _lock(device: Device, *extra: str) -> None:
    done = device.cli("lock", str(device.local / "report.txt"), *extra)
    assert done.returncode == 0, done.stderr


def _unlock(device: Device) -> None:
    done = device.cli("unlock", str(device.local / "report.txt"))
    assert done.returncode == 0, done.stderr


def test_a_file_locked_elsewhere_is_read_only_until_the_lock_ends(tmp_path: Path, server: Server) -> None:
    laptop, phone = _pair(tmp_path, server)
    try:
        changes = journal(server, laptop.token, "Docs")
        _lock(laptop)
        wait_for(lambda: _mode(phone.local / "report.txt") == READ_ONLY)
        assert _mode(laptop.local / "report.txt") == MODE, "the holder keeps its write bits"
        (phone.local / "other.txt").write_text("an edit elsewhere runs the folder\n")
        wait_for(lambda: (laptop.local / "other.txt").exists())
        _unlock(laptop)
        wait_for(lambda: _mode(phone.local / "report.txt") == MODE)
        wait_for(lambda: _in_sync(laptop) and _in_sync(phone))
        time.sleep(1)  # a mode change, had one been sent, would be in the journal by now
        after = journal(server, laptop.token, "Docs")
        assert [c for c in after if c not in changes and "report.txt" in str(c)] == [], "no mode change sent"
        assert _mode(laptop.local / "report.txt") == MODE
        assert _mode(phone.local / "report.txt") == MODE
    finally:
        phone.stop()
        laptop.stop()


def test_without_the_option_modes_are_left_alone(tmp_path: Path, server: Server) -> None:
    laptop, phone = _pair(tmp_path, server, readonly=False)
    try:
        _lock(laptop)
        (laptop.local / "seen.txt").write_text("after the lock\n")
        wait_for(lambda: (phone.local / "seen.txt").exists())
        time.sleep(2)  # the phone's daemon heard the locks event long ago
        assert _mode(phone.local / "report.txt") == MODE
        assert not (phone.state / "daemon" / "readonly.json").exists()
    finally:
        phone.stop()
        laptop.stop()


def test_the_holders_edit_arrives_and_the_file_stays_read_only(tmp_path: Path, server: Server) -> None:
    laptop, phone = _pair(tmp_path, server)
    try:
        _lock(laptop)
        wait_for(lambda: _mode(phone.local / "report.txt") == READ_ONLY)
        (laptop.local / "report.txt").write_text("the holder's edit\n")
        wait_for(lambda: (phone.local / "report.txt").read_text() == "the holder's edit\n", describe=phone.status)
        assert _mode(phone.local / "report.txt") == READ_ONLY
        wait_for(lambda: _in_sync(phone))
        _unlock(laptop)
        wait_for(lambda: _mode(phone.local / "report.txt") == MODE)
        wait_for(lambda: _in_sync(laptop) and _in_sync(phone))
        time.sleep(1)
        assert _mode(laptop.local / "report.txt") == MODE, "no read-only mode came back to the holder"
        assert sorted(p.name for p in phone.local.iterdir() if not p.name.startswith(".")) == ["report.txt"]
    finally:
        phone.stop()
        laptop.stop()


def test_a_mode_the_user_sets_meanwhile_is_theirs(tmp_path: Path, server: Server) -> None:
    laptop, phone = _pair(tmp_path, server)
    try:
        _lock(laptop)
        wait_for(lambda: _mode(phone.local / "report.txt") == READ_ONLY)
        (phone.local / "report.txt").chmod(0o600)
        time.sleep(2)
        assert _mode(phone.local / "report.txt") == 0o600, "not made read-only again"
        _unlock(laptop)
        wait_for(lambda: _mode(laptop.local / "report.txt") == 0o600, describe=phone.status)
        assert _mode(phone.local / "report.txt") == 0o600
    finally:
        phone.stop()
        laptop.stop()


@pytest.mark.slow
def test_an_expired_lock_gives_the_mode_back(tmp_path: Path, server: Server) -> None:
    laptop, phone = _pair(tmp_path, server)
    try:
        _lock(laptop, "--for", "1m")
        wait_for(lambda: _mode(phone.local / "report.txt") == READ_ONLY)
        wait_for(lambda: _mode(phone.local / "report.txt") == MODE, deadline=150)
        assert "report.txt" not in phone.cli("locks").stdout
    finally:
        phone.stop()
        laptop.stop()


def _daemon_process(device: Device) -> subprocess.Popen[bytes]:
    return subprocess.Popen([SYNCLINE, "daemon", "-q", "--config", str(device.config), "--state", str(device.state)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "SYNCLINE_STATE_DIR": str(device.state)})


def test_a_daemon_killed_while_a_file_is_read_only_puts_it_back_at_start(tmp_path: Path, server: Server) -> None:
    laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
    phone = Device(tmp_path / "phone", server, "Docs", "anna-phone")
    _read_only_on(phone)
    (laptop.local / "report.txt").write_text("v1\n")
    (laptop.local / "report.txt").chmod(MODE)
    laptop.start()
    proc = _daemon_process(phone)
    try:
        wait_for(lambda: (phone.local / "report.txt").read_text() == "v1\n")
        wait_for(lambda: _in_sync(phone))
        _lock(laptop)
        wait_for(lambda: _mode(phone.local / "report.txt") == READ_ONLY)
        assert (phone.state / "daemon" / "readonly.json").exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        _unlock(laptop)
        assert _mode(phone.local / "report.txt") == READ_ONLY
        proc = _daemon_process(phone)
        wait_for(lambda: _mode(phone.local / "report.txt") == MODE)
        wait_for(lambda: _in_sync(phone))
        assert _mode(laptop.local / "report.txt") == MODE
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        laptop.stop()


def test_the_option_is_checked_and_kept_by_config_edits(tmp_path: Path) -> None:
    config = tmp_path / "daemon.toml"
    config.write_text('lock_makes_readonly = "yes"\n')
    with pytest.raises(UsageError) as err:
        load_daemon_config(config)
    assert "lock_makes_readonly must be true or false" in str(err.value) and "\n" not in str(err.value)
    config.write_text("lock_makes_readonly = true\n\n[[folder]]\nlocal = \"/tmp/x\"\nremote = \"X\"\n")
    assert set_server_url(config, "https://host:8765") is None
    loaded = load_daemon_config(config)
    assert loaded.lock_makes_readonly and loaded.server_url == "https://host:8765" and len(loaded.folders) == 1
