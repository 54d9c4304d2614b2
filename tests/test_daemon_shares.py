"""Shared folders end to end (issue 14): ``syncline share`` on a real server, two users' daemons syncing one
folder, and a revocation that stops the member's sync and leaves their copy alone."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .daemonserver import Device, Server, serving, syncline, wait_for

BOB_PASSWORD = "bob-long-enough-password"


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes (what "left alone" compares)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "data") as s:
        s.add_user("bob", BOB_PASSWORD)
        yield s


def test_share_accept_sync_both_ways_then_revoke(tmp_path: Path, server: Server) -> None:
    anna = Device(tmp_path / "anna", server, "Photos", "anna-laptop")
    (anna.local / "a.txt").write_text("anna's first\n")
    bob = Device(tmp_path / "bob", server, None, "bob-laptop", user="bob", password=BOB_PASSWORD)
    anna.start()
    bob.start()
    try:
        wait_for(lambda: anna.status() and anna.status()["state"] == "in sync")  # type: ignore[index]
        done = anna.cli("share", "Photos", "--with", "bob")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "shared Photos with bob (read-write); bob's devices get it once bob accepts it\n"

        listed = bob.cli("share", "list")
        assert listed.returncode == 0 and "anna/Photos  offered to you (read-write)" in listed.stdout, listed

        target = tmp_path / "bob" / "shared" / "Photos"
        done = bob.cli("share", "accept", "anna/Photos", "--local", str(target))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"accepted anna/Photos as Photos, synced in {target}\n"
        wait_for(lambda: (target / "a.txt").read_text() == "anna's first\n", describe=lambda: bob.status(target))

        (target / "b.txt").write_text("bob's\n")  # a read-write member's change reaches the owner
        wait_for(lambda: (anna.local / "b.txt").read_text() == "bob's\n")
        (anna.local / "a.txt").write_text("anna's second\n")
        wait_for(lambda: (target / "a.txt").read_text() == "anna's second\n")
        wait_for(lambda: bob.status(target) and bob.status(target)["state"] == "in sync")  # type: ignore[index]
        listed = anna.cli("share", "list")
        assert "Photos  you share it with bob (read-write)" in listed.stdout, listed

        before = _tree(target)
        done = anna.cli("share", "revoke", "Photos", "bob")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "bob no longer has Photos; bob's copies are left as they are\n"
        (anna.local / "c.txt").write_text("after the revocation\n")
        (anna.local / "a.txt").unlink()
        status = wait_for(lambda: (s := bob.status(target)) and s["state"] == "stopped" and s,
                          describe=lambda: bob.status(target))
        assert "no longer shared with you" in status["why"], status
        wait_for(lambda: anna.status() and anna.status()["state"] == "in sync")  # type: ignore[index]
        assert _tree(target) == before, "the member's copy is left exactly as it was"
        listed = bob.cli("share", "list")
        assert "anna's Photos, no longer shared with you since" in listed.stdout, listed
    finally:
        bob.stop()
        anna.stop()
    assert not (target / "c.txt").exists() and (target / "a.txt").read_text() == "anna's second\n"


def test_share_commands_refuse_in_one_line(tmp_path: Path, server: Server) -> None:
    anna = Device(tmp_path / "anna", server, "Photos", "anna-laptop")
    bob = Device(tmp_path / "bob", server, "Mine", "bob-laptop", user="bob", password=BOB_PASSWORD)
    (bob.local / "x.txt").write_text("bob's own\n")

    def refused(device: Device, *args: str) -> str:
        done = device.cli(*args)
        assert done.returncode == 2 and done.stdout == "", (args, done)
        [line] = done.stderr.splitlines()
        assert line.startswith("syncline: error: "), line
        return line

    assert "no user nobody" in refused(anna, "share", "Photos", "--with", "nobody")
    assert "no folder Nothing" in refused(anna, "share", "Nothing", "--with", "bob")
    assert "not a folder this device syncs" in refused(anna, "share", str(tmp_path), "--with", "bob")
    assert "no share anna/Photos offered to you" in refused(bob, "share", "accept", "anna/Photos")
    assert anna.cli("share", "Photos", "--with", "bob", "--read-only").returncode == 0
    line = refused(bob, "share", "accept", "anna/Photos", "--local", str(bob.local))
    assert "is not empty" in line and "--local" in line
    inside = bob.local / "empty-sub"
    inside.mkdir()
    line = refused(bob, "share", "accept", "anna/Photos", "--local", str(inside))
    assert "in or around a folder this device syncs" in line, "an empty folder inside a synced one is synced twice"
    inside.rmdir()
    listed = bob.cli("share", "list")
    assert "anna/Photos  offered to you (read-only)" in listed.stdout, "a refused accept accepts nothing"
    assert "this device syncs a folder named Mine already" in refused(bob, "share", "accept", "anna/Photos", "--as",
                                                                      "Mine")
    assert syncline("folder", "remove", str(bob.local), "--config", str(bob.config)).returncode == 0
    assert "you have a folder named Mine already" in refused(bob, "share", "accept", "anna/Photos", "--as", "Mine")
    done = bob.cli("share", "accept", "anna/Photos", "--no-sync")
    assert done.returncode == 0 and done.stdout == "accepted anna/Photos as Photos\n", done
    assert "only the folder's owner can share it" in refused(bob, "share", "Photos", "--with", "anna")
    assert "only the folder's owner can end" in refused(bob, "share", "revoke", "Photos", "anna")
    done = bob.cli("share", "leave", "Photos")
    assert done.returncode == 0 and done.stdout == "left anna/Photos\n", done
    assert "anna's Photos, no longer shared with you" in bob.cli("share", "list").stdout
    assert anna.cli("share", "Photos", "--with", "bob").returncode == 0  # offered anew
    done = bob.cli("share", "decline", "anna/Photos")
    assert done.returncode == 0 and done.stdout == "declined anna/Photos\n", done
    assert bob.cli("share", "list").stdout == "no shares\n"
    assert _tree(bob.local) == {"x.txt": hashlib.sha256(b"bob's own\n").hexdigest()}


def _shares_table(device: Device, accept: str, where: Path) -> None:
    with open(device.config, "a", encoding="utf-8") as out:
        out.write(f'\n[shares]\naccept = "{accept}"\ndir = "{where}"\n')


def test_daemons_that_accept_shares_bind_them_only_to_empty_folders(tmp_path: Path, server: Server) -> None:
    """bob's two devices accept by themselves: each syncs anna's folder into its [shares] dir, the first
    beside a full folder of the same name (never into it), and a change reaches all three devices."""
    anna = Device(tmp_path / "anna", server, "Photos", "anna-laptop")
    (anna.local / "a.txt").write_text("anna's\n")
    laptop = Device(tmp_path / "laptop", server, None, "bob-laptop", user="bob", password=BOB_PASSWORD)
    phone = Device(tmp_path / "phone", server, None, "bob-phone", user="bob", password=BOB_PASSWORD)
    for device in (laptop, phone):
        _shares_table(device, "auto", device.base / "Shared")
    full = laptop.base / "Shared" / "Photos"
    full.mkdir(parents=True)
    (full / "mine.txt").write_text("bob's own, not to be shared\n")
    devices = (anna, laptop, phone)
    for device in devices:
        device.start()
    try:
        assert anna.cli("share", "Photos", "--with", "bob").returncode == 0
        on_laptop, on_phone = laptop.base / "Shared" / "Photos-2", phone.base / "Shared" / "Photos"
        for where in (on_laptop, on_phone):
            wait_for(lambda where=where: (where / "a.txt").read_text() == "anna's\n")
        (on_phone / "p.txt").write_text("from bob's phone\n")
        wait_for(lambda: (anna.local / "p.txt").read_text() == "from bob's phone\n")
        wait_for(lambda: (on_laptop / "p.txt").read_text() == "from bob's phone\n")
        status = laptop.status_text()
        assert f"{on_laptop} <-> Photos" in status, status
    finally:
        for device in devices:
            device.stop()
    assert _tree(full) == {"mine.txt": hashlib.sha256(b"bob's own, not to be shared\n").hexdigest()}
    assert not (anna.local / "mine.txt").exists()


def test_a_daemon_that_asks_lists_offers_in_its_status(tmp_path: Path, server: Server) -> None:
    anna = Device(tmp_path / "anna", server, "Photos", "anna-laptop")
    bob = Device(tmp_path / "bob", server, None, "bob-laptop", user="bob", password=BOB_PASSWORD)
    bob.start()
    try:
        assert anna.cli("share", "Photos", "--with", "bob", "--read-only").returncode == 0
        wait_for(lambda: "offered to you: anna/Photos (read-only): `syncline share accept anna/Photos`"
                 in bob.status_text(), describe=bob.status_text)
        assert bob.cli("share", "accept", "anna/Photos", "--no-sync").returncode == 0
        wait_for(lambda: "shared with you, not synced on this device: Photos" in bob.status_text(),
                 describe=bob.status_text)
        assert not (tmp_path / "bob" / "Shared").exists(), "asking, nothing is bound by itself"
    finally:
        bob.stop()


@contextmanager
def _read_only_share(tmp_path: Path, server: Server, files: dict[str, str]) -> Iterator[tuple[Device, Device, Path]]:
    """anna's folder Photos holding ``files``, shared read-only with bob, whose daemon syncs it into
    ``bob/Photos``: both daemons running, bob holding the files; stopped on the way out."""
    anna = Device(tmp_path / "anna", server, "Photos", "anna-laptop")
    for name, text in files.items():
        (anna.local / name).write_text(text)
    bob = Device(tmp_path / "bob", server, None, "bob-laptop", user="bob", password=BOB_PASSWORD)
    target = tmp_path / "bob" / "Photos"
    anna.start()
    bob.start()
    try:
        wait_for(lambda: anna.status() and anna.status()["state"] == "in sync")  # type: ignore[index]
        assert anna.cli("share", "Photos", "--with", "bob", "--read-only").returncode == 0
        assert bob.cli("share", "accept", "anna/Photos", "--local", str(target)).returncode == 0
        for name, text in files.items():
            wait_for(lambda name=name, text=text: (target / name).read_text() == text,
                     describe=lambda: bob.status(target))
        yield anna, bob, target
    finally:
        bob.stop()
        anna.stop()


def test_a_read_only_member_s_changes_are_held_and_the_copy_comes_back(tmp_path: Path, server: Server) -> None:
    """bob may only read anna's folder: his edit is kept as a conflict copy and anna's version comes back,
    his new file stays on his device, his delete is undone; the server (and anna) see none of it, and
    bob's status lists what was not taken. Made read-write, his daemon uploads what it kept at once."""
    with _read_only_share(tmp_path, server, {"a.txt": "anna's\n", "b.txt": "keep me\n"}) as (anna, bob, target):
        wait_for(lambda: bob.status(target) and bob.status(target)["state"] == "in sync")  # type: ignore[index]
        server_before = _tree(anna.local)

        (target / "a.txt").write_text("bob's edit\n")
        (target / "new.txt").write_text("bob's new file\n")
        (target / "b.txt").unlink()
        wait_for(lambda: (target / "b.txt").exists() and (target / "a.txt").read_text() == "anna's\n",
                 describe=lambda: (sorted(p.name for p in target.iterdir()), bob.status(target)))
        copies = [p for p in target.iterdir() if p.name.startswith("a.sync-conflict-")]
        assert len(copies) == 1 and copies[0].read_text() == "bob's edit\n"
        assert (target / "new.txt").read_text() == "bob's new file\n"
        # Both held, once a run has seen both (on a busy machine the two may come in two runs).
        wait_for(lambda: {i["path"] for i in (bob.status(target) or {}).get("not_synced", [])}
                 == {"new.txt", copies[0].name}, describe=lambda: bob.status(target))
        assert "may only read" in bob.status_text()
        time.sleep(1)  # anything that leaked would reach anna meanwhile
        assert _tree(anna.local) == server_before, "the server took nothing from a read-only member"

        # Made read-write: what bob kept goes up at once, none of it touched again.
        assert anna.cli("share", "Photos", "--with", "bob").returncode == 0
        wait_for(lambda: (anna.local / "new.txt").read_text() == "bob's new file\n",
                 describe=lambda: (sorted(p.name for p in anna.local.iterdir()), bob.status(target)))
        wait_for(lambda: (anna.local / copies[0].name).read_text() == "bob's edit\n")
        wait_for(lambda: not (bob.status(target) or {}).get("not_synced"), describe=lambda: bob.status(target))


def test_a_held_file_uploaded_after_a_promotion_leaves_the_status(tmp_path: Path, server: Server) -> None:
    """A file a read-only member held leaves ``syncline status`` once it is uploaded: the owner makes the
    member read-write, the member changes the held file, a run uploads it, and the status stops saying it
    is "not synced, kept here" (not only at the next full run, up to ``check_every`` later)."""
    with _read_only_share(tmp_path, server, {"a.txt": "anna's\n"}) as (anna, bob, target):

        def held() -> list[str]:
            return [i["path"] for i in (bob.status(target) or {}).get("not_synced", [])]

        (target / "new.txt").write_text("bob's, held\n")
        wait_for(lambda: held() == ["new.txt"], describe=lambda: bob.status(target))
        assert anna.cli("share", "Photos", "--with", "bob").returncode == 0  # bob may write now
        (target / "new.txt").write_text("bob's, for anna now\n")  # a change of it: the next run takes it
        wait_for(lambda: (anna.local / "new.txt").read_text() == "bob's, for anna now\n",
                 describe=lambda: bob.status(target))
        wait_for(lambda: (s := bob.status(target)) and s["state"] == "in sync" and held() == [],
                 describe=lambda: bob.status(target))
