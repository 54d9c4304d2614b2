"""Versions and restore end to end (issue 14): a file's versions listed by ``syncline versions``, one
brought back by ``syncline restore`` on one device, and another device's daemon getting it like any change."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemonserver import Device, Server, serving, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "data") as s:
        yield s


def test_restore_on_one_device_reaches_the_other(tmp_path: Path, server: Server) -> None:
    laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
    phone = Device(tmp_path / "phone", server, "Docs", "anna-phone")
    report = laptop.local / "report.txt"
    report.write_text("first draft\n")
    laptop.start()
    phone.start()
    try:
        wait_for(lambda: (phone.local / "report.txt").read_text() == "first draft\n")
        report.write_text("second draft, longer\n")
        wait_for(lambda: (phone.local / "report.txt").read_text() == "second draft, longer\n")

        listed = laptop.cli("versions", str(report))
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0] == "report.txt in Docs: 1 kept version" and lines[1].startswith("  current  ")
        assert "(replaced by anna-laptop " in lines[2]
        version = lines[2].split()[0]

        done = laptop.cli("restore", str(report), "--version", version)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("restored report.txt to its version of ") and f"({version})" in done.stdout
        wait_for(lambda: (phone.local / "report.txt").read_text() == "first draft\n")
        wait_for(lambda: report.read_text() == "first draft\n")
        again = laptop.cli("versions", str(report)).stdout.splitlines()
        assert again[0] == "report.txt in Docs: 1 kept version", "the restored one is live; what it replaced is kept"

        [kept] = again[2:]
        done = phone.cli("restore", "--folder", "Docs", "report.txt", "--as", "report-second.txt")
        assert done.returncode == 0 and " as report-second.txt " in done.stdout, done
        wait_for(lambda: (laptop.local / "report-second.txt").read_text() == "second draft, longer\n")
        assert kept.split()[0] != version

        for bad in (["restore", str(report), "--version", "999999"], ["restore", "--folder", "Docs", "never.txt"],
                    ["versions", str(tmp_path / "elsewhere.txt")]):
            refused = laptop.cli(*bad)
            assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, (bad, refused)
    finally:
        phone.stop()
        laptop.stop()


def test_a_deleted_file_is_listed_in_the_trash_and_brought_back(tmp_path: Path, server: Server) -> None:
    laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
    phone = Device(tmp_path / "phone", server, "Docs", "anna-phone")
    (laptop.local / "notes.txt").write_text("my notes\n")
    (laptop.local / "keep.txt").write_text("kept\n")
    laptop.start()
    phone.start()
    try:
        wait_for(lambda: (phone.local / "notes.txt").read_text() == "my notes\n")
        (phone.local / "notes.txt").unlink()
        wait_for(lambda: not (laptop.local / "notes.txt").exists())
        listed = laptop.cli("trash", "list", str(laptop.local))
        assert listed.returncode == 0, listed.stderr
        [line] = listed.stdout.splitlines()
        assert line.endswith("  notes.txt  by anna-phone"), line
        done = laptop.cli("trash", "restore", "Docs", "notes.txt")
        assert done.returncode == 0 and done.stdout.startswith("restored notes.txt to its version of "), done
        for device in (laptop, phone):
            wait_for(lambda device=device: (device.local / "notes.txt").read_text() == "my notes\n")
        assert laptop.cli("trash", "list", "Docs").stdout == "nothing deleted in Docs\n"
        refused = laptop.cli("trash", "restore", "Docs", "never.txt")
        assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused
    finally:
        phone.stop()
        laptop.stop()



def test_a_deleted_folder_comes_back_in_one_command_and_the_trash_is_purged(tmp_path: Path, server: Server) -> None:
    """A folder of 1,200 files (more than one batch) deleted on the phone: ``trash list Docs project``
    lists its files, ``trash restore Docs project`` brings all back on both devices (one of them brought
    back before by itself: the command brings back only what is still deleted), exactly as they were; then
    ``trash purge`` empties the rest of the trash for good, only with --yes when nobody can be asked."""
    laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
    phone = Device(tmp_path / "phone", server, "Docs", "anna-phone")
    for device in (laptop, phone):  # nearly every file goes: past the mass-delete guard of each
        device.config.write_text(device.config.read_text().replace(
            "[[folder]]", '[defaults]\nmax_delete = "100%"\n\n[[folder]]', 1))
    files = {f"project/{'sub/' if n % 3 else ''}f{n:04}.txt": f"file {n}\n" for n in range(1200)}
    for rel, text in files.items():
        (laptop.local / rel).parent.mkdir(parents=True, exist_ok=True)
        (laptop.local / rel).write_text(text)
    (laptop.local / "old.txt").write_text("old\n")
    (laptop.local / "stays.txt").write_text("a folder never left empty\n")
    laptop.start()
    phone.start()
    try:
        wait_for(lambda: all((phone.local / rel).is_file() for rel in files), 120)
        shutil.rmtree(phone.local / "project")
        (phone.local / "old.txt").unlink()
        wait_for(lambda: not (laptop.local / "project").exists() and not (laptop.local / "old.txt").exists(),
                 120, lambda: (laptop.status_text(), phone.status_text()))
        listed = laptop.cli("trash", "list", "Docs", "project")
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1200, listed.stderr
        one = laptop.cli("trash", "restore", "Docs", "project/f0000.txt")
        assert one.returncode == 0, one.stderr
        done = laptop.cli("trash", "restore", "Docs", "project")
        assert done.returncode == 0 and done.stdout == "restored 1,199 files of project\n", done
        for device in (laptop, phone):
            wait_for(lambda device=device: all((device.local / rel).is_file() for rel in files), 120)
            assert {rel: (device.local / rel).read_text() for rel in files} == files
        again = laptop.cli("trash", "restore", "Docs", "project")
        assert again.returncode == 2 and "nothing deleted at project in Docs" in again.stderr, again

        refused = laptop.cli("trash", "purge", "Docs")  # stdin is not a terminal: nobody to ask
        assert refused.returncode == 2 and "add --yes" in refused.stderr, refused
        assert "old.txt" in laptop.cli("trash", "list", "Docs").stdout
        purged = laptop.cli("trash", "purge", "Docs", "--yes")
        assert purged.returncode == 0 and purged.stdout.startswith("purged the trash of Docs: "), purged
        assert laptop.cli("trash", "list", "Docs").stdout == "nothing deleted in Docs\n"
        assert laptop.cli("versions", "--folder", "Docs", "old.txt").stdout.startswith("old.txt in Docs: 0 kept")
    finally:
        phone.stop()
        laptop.stop()
