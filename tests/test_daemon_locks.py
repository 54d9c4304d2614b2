"""File locks end to end (issue 14): ``syncline lock`` on one device, another device's daemon editing the
locked file: its edit waits (listed by its status) and goes once the lock ends, or becomes a conflict copy
when the holder changed the file meanwhile; two devices racing for one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from .daemonserver import Device, Server, serving, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "data") as s:
        yield s


def _in_sync(device: Device) -> bool:
    status = device.status()
    return status is not None and status["state"] == "in sync"


def _pair(tmp_path: Path, server: Server) -> tuple[Device, Device]:
    laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
    phone = Device(tmp_path / "phone", server, "Docs", "anna-phone")
    (laptop.local / "report.txt").write_text("v1\n")
    laptop.start()
    phone.start()
    wait_for(lambda: (phone.local / "report.txt").read_text() == "v1\n")
    wait_for(lambda: _in_sync(laptop) and _in_sync(phone))
    return laptop, phone


def _files(device: Device) -> list[str]:
    return sorted(p.name for p in device.local.iterdir() if not p.name.startswith("."))


def _waiting(device: Device) -> list[str]:
    return [i["why"] for i in (device.status() or {}).get("not_synced", []) if "waiting for its lock" in i["why"]]


def test_an_edit_of_a_locked_file_waits_then_goes_when_the_lock_ends(tmp_path: Path, server: Server) -> None:
    laptop, phone = _pair(tmp_path, server)
    try:
        done = laptop.cli("lock", str(laptop.local / "report.txt"), "--for", "10m", "--note", "rewriting it")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("locked report.txt in Docs until ") and "(you, on anna-laptop)" in done.stdout
        listed = phone.cli("locks")
        assert "Docs  report.txt  anna on anna-laptop  until " in listed.stdout and "rewriting it" in listed.stdout

        (phone.local / "report.txt").write_text("the phone's edit\n")
        why = wait_for(lambda: _waiting(phone), describe=phone.status)
        assert "locked by anna on anna-laptop" in why[0] and "rewriting it" in why[0]
        time.sleep(1)
        assert (laptop.local / "report.txt").read_text() == "v1\n", "nothing reached the holder meanwhile"
        assert "waiting for its lock to end" in phone.status_text()

        done = laptop.cli("unlock", str(laptop.local / "report.txt"))
        assert done.returncode == 0 and done.stdout == "unlocked report.txt in Docs\n", done
        wait_for(lambda: (laptop.local / "report.txt").read_text() == "the phone's edit\n")
        wait_for(lambda: _in_sync(phone) and not _waiting(phone), describe=phone.status)
        assert _files(laptop) == ["report.txt"], "no conflict copy"
    finally:
        phone.stop()
        laptop.stop()


def test_when_the_holder_changed_it_too_both_versions_are_kept(tmp_path: Path, server: Server) -> None:
    laptop, phone = _pair(tmp_path, server)
    try:
        assert laptop.cli("lock", str(laptop.local / "report.txt")).returncode == 0
        (phone.local / "report.txt").write_text("the phone's edit\n")
        wait_for(lambda: _waiting(phone), describe=phone.status)
        (laptop.local / "report.txt").write_text("the holder's edit\n")
        wait_for(lambda: (phone.local / "report.txt").read_text() == "the holder's edit\n",
                 describe=phone.status)
        assert laptop.cli("unlock", str(laptop.local / "report.txt")).returncode == 0
        for device in (laptop, phone):
            wait_for(lambda device=device: sorted((device.local / name).read_text() for name in _files(device))
                     == ["the holder's edit\n", "the phone's edit\n"], describe=device.status)
        assert (laptop.local / "report.txt").read_text() == "the holder's edit\n"
    finally:
        phone.stop()
        laptop.stop()


def test_two_devices_racing_for_one_lock(tmp_path: Path, server: Server) -> None:
    laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
    phone = Device(tmp_path / "phone", server, "Docs", "anna-phone")
    (laptop.local / "report.txt").write_text("v1\n")
    laptop.start()
    try:
        wait_for(lambda: _in_sync(laptop))
    finally:
        laptop.stop()
    results: dict[str, CompletedProcess[str]] = {}
    go = threading.Barrier(2)

    def take(device: Device) -> None:
        go.wait()
        results[device.name] = device.cli("lock", "--folder", "Docs", "report.txt")

    threads = [threading.Thread(target=take, args=(d,)) for d in (laptop, phone)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    codes = sorted(r.returncode for r in results.values())
    assert codes == [0, 2], results
    loser = next(r for r in results.values() if r.returncode == 2)
    [line] = loser.stderr.splitlines()
    assert line.startswith("syncline: error: report.txt is locked by anna on anna-") and "wait for the lock" in line
    for bad in (["lock", "--folder", "Docs", "nothing.txt"], ["lock", str(tmp_path), "--for", "1h"],
                ["lock", "--folder", "Docs", "report.txt", "--for", "30s"], ["unlock", "--folder", "Docs", "x.txt"]):
        done = phone.cli(*bad)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, (bad, done)
