"""Attacks on ``lock_makes_readonly`` (ModeMask and STATE/daemon/readonly.json), from a reviewer's session:
each test states what must hold; its "Defect" note names where it once failed (fixed since)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from syncline.engine.replicas.modemask import ModeMask
from syncline.services.daemon.readonly import FILE_NAME, ReadOnlyFiles

MODE, READ_ONLY = 0o640, 0o440


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_hostile_readonly_json_chmods_nothing_outside_the_synced_folders(tmp_path: Path) -> None:
    """STATE/daemon/readonly.json names folder roots and modes that are used as they are: at the daemon's
    start (Daemon._reload -> ReadOnlyFiles.put_back_all) every root not masked now is "put back", so a
    record for any directory, here a private key outside every synced folder, chmods it to any mode,
    set-user-ID included. Defect: readonly._load / put_back_all (services/daemon/readonly.py) trust the
    roots (not checked against the config's folders) and the modes (not limited to 0o777 / to the given
    mode plus write bits)."""
    home = tmp_path / "state" / "daemon"
    home.mkdir(parents=True)
    secret_dir = tmp_path / "ssh"
    secret_dir.mkdir()
    key = secret_dir / "id_ed25519"
    key.write_text("PRIVATE\n")
    key.chmod(0o600)
    tool = secret_dir / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o700)
    (home / FILE_NAME).write_text(json.dumps({"version": 1, "folders": {
        str(secret_dir): {"id_ed25519": [0o666, 0o600, False], "tool": [0o4777, 0o700, False]}}}))
    ReadOnlyFiles(home).put_back_all(but=[])  # what a daemon start does with no folder masked
    assert (_mode(key), _mode(tool)) == (0o600, 0o700), \
        f"files outside every synced folder chmodded to {_mode(key):o} and {_mode(tool):o}"


def _masked_folder(tmp_path: Path) -> tuple[Path, ReadOnlyFiles, ModeMask]:
    root = tmp_path / "Docs"
    root.mkdir()
    (root / "a.txt").write_text("v1\n")
    (root / "a.txt").chmod(MODE)
    home = tmp_path / "state" / "daemon"
    book = ReadOnlyFiles(home)
    masks = book.folder(str(root))
    masks.settle({"a.txt"})  # a.txt locked by someone else
    assert _mode(root / "a.txt") == READ_ONLY
    return root, book, ModeMask(root, masks)


def test_a_metadata_change_from_the_server_keeps_a_locked_file_read_only(tmp_path: Path) -> None:
    """The lock holder changes a.txt's mode (0600): the change arrives as a set-meta, which
    ModeMask passes to LocalReplica.set_meta, so a.txt gets its write bits back while the lock lasts; the
    next settle then takes that for the user's own chmod (``left``) and never makes it read-only again
    until the lock ends. Expected: written read-only and remembered with its own mode, as a new version
    is (ModeMask.stage_file/commit). Defect: ModeMask (engine/replicas/modemask.py) has no set_meta."""
    root, book, mm = _masked_folder(tmp_path)
    seen = mm.stat("a.txt")
    assert seen is not None and seen.mode == MODE, "the mask shows the file's own mode"
    assert mm.set_meta("a.txt", seen._replace(mode=0o600), seen).done  # the holder's chmod 0600 arriving
    book.folder(str(root)).settle({"a.txt"})  # the lock still held: the loop's next look
    assert _mode(root / "a.txt") == 0o400, "a file locked by someone else became writable"
    shown = mm.stat("a.txt")
    assert shown is not None and shown.mode == 0o600


def test_making_a_hard_linked_file_read_only_leaks_no_mode_to_its_other_name(tmp_path: Path) -> None:
    """a.txt and b.txt are two names of one file (a hard link). Locking a.txt elsewhere takes the write
    bits of the inode, so b.txt, which nobody locks, turns read-only too, and ModeMask shows b.txt's
    actual mode: the next run uploads b.txt's mode change (0440) to the server and every device. Expected:
    a file with more than one link is left writable (or every name of it masked). Defect:
    modemask.read_only_record (engine/replicas/modemask.py) does not look at st_nlink."""
    root = tmp_path / "Docs"
    root.mkdir()
    (root / "a.txt").write_text("v1\n")
    (root / "a.txt").chmod(MODE)
    os.link(root / "a.txt", root / "b.txt")
    book = ReadOnlyFiles(tmp_path / "state" / "daemon")
    masks = book.folder(str(root))
    masks.settle({"a.txt"})
    shown = ModeMask(root, masks).stat("b.txt")
    assert shown is not None and shown.mode == MODE, \
        f"b.txt, locked by nobody, would sync to the server with mode {shown.mode if shown else None:o}"


def test_e2e_the_holders_mode_change_arrives_and_the_file_stays_read_only(tmp_path: Path) -> None:
    """End to end (real server, two daemons): the laptop locks report.txt (0640), the phone makes it
    read-only; the holder then changes its mode to 0600. The phone applies that as a set-meta (chmod 0600)
    and report.txt turns writable on the phone for the rest of the lock."""
    import time

    from .daemonserver import serving, wait_for
    from .test_daemon_lock_readonly import _lock, _pair, _unlock

    with serving(tmp_path / "data") as server:
        laptop, phone = _pair(tmp_path, server)
        try:
            _lock(laptop)
            wait_for(lambda: _mode(phone.local / "report.txt") == READ_ONLY)
            (laptop.local / "report.txt").chmod(0o600)
            wait_for(lambda: _mode(phone.local / "report.txt") != READ_ONLY, 20, describe=phone.status)
            time.sleep(2)  # the phone's loop looked at the locks again meanwhile
            assert _mode(phone.local / "report.txt") == 0o400, \
                f"mode {_mode(phone.local / 'report.txt'):o} on the phone while report.txt is locked elsewhere"
            _unlock(laptop)
        finally:
            phone.stop()
            laptop.stop()


def test_a_crash_right_after_a_masked_files_new_version_leaks_no_read_only_mode(tmp_path: Path) -> None:
    """The holder's new version of a.txt (mode 0600) arrives while a.txt is masked (0640 shown, 0440 on
    disk): ModeMask.stage_file writes it 0400, commit renames it into place, then records its own mode
    (Masks.rewritten). A crash between the rename and the record (here: rewritten raising) leaves 0400 on
    disk and the old record (0640/0440): after the restart the mask shows 0400, which the next run uploads
    to the server (the read-only mode leaks to every device), and when the lock ends put_back refuses (0400
    is not the given 0440): the file stays read-only for good. Defect: ModeMask.commit
    (engine/replicas/modemask.py) records the new mode only after the rename."""
    import pytest

    from syncline.engine.replicas.local import LocalReplica

    root, _book, mm = _masked_folder(tmp_path)
    src = tmp_path / "incoming"
    src.mkdir()
    (src / "a.txt").write_text("the holder's v2\n")
    (src / "a.txt").chmod(0o600)
    seen = mm.stat("a.txt")
    with LocalReplica(src).open_file("a.txt") as f:
        staged = mm.stage_file("a.txt", f)

    def crash(path: str, mode: int) -> None:
        raise RuntimeError("killed here")

    mm.masks.rewritten = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        mm.commit(staged, seen)
    assert (root / "a.txt").read_text() == "the holder's v2\n"
    again = ReadOnlyFiles(tmp_path / "state" / "daemon").folder(str(root))  # the daemon started again
    shown = ModeMask(root, again).stat("a.txt")
    assert shown is not None and shown.mode == 0o600, f"the next run would upload mode {shown.mode if shown else 0:o}"
    again.settle(set())  # the lock ended
    assert _mode(root / "a.txt") == 0o600, "read-only for good after the lock ended"


def test_a_malformed_readonly_json_neither_stops_the_daemon_nor_sets_special_bits(tmp_path: Path) -> None:
    """readonly.json's docstring: "An unreadable record file is taken as empty (logged)". A record whose
    mode is out of range is read as it is: 2**40 makes put_back_all raise OverflowError (not an OSError:
    nothing catches it; Daemon._run -> _reload dies at every start until the file is removed); -1 chmods
    the file 07777 (set-user-ID, set-group-ID, sticky, writable by all). Defect: readonly._load
    (services/daemon/readonly.py) checks no range."""
    root = tmp_path / "Docs"
    root.mkdir()
    for name in ("big", "neg"):
        (root / name).write_text(name)
        (root / name).chmod(0o600)
    home = tmp_path / "state" / "daemon"
    home.mkdir(parents=True)
    (home / FILE_NAME).write_text(json.dumps({"version": 1, "folders": {
        str(root): {"neg": [-1, 0o600, False], "big": [2**40, 0o600, False]}}}))
    try:
        ReadOnlyFiles(home).put_back_all(but=[])
    except OverflowError as exc:
        raise AssertionError(f"a daemon start would die: {exc!r}") from None
    finally:
        assert _mode(root / "neg") == 0o600, f"chmodded {_mode(root / 'neg'):o}"
