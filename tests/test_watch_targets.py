"""The real-time mirror's targets: any Replica plugs in, a read-only or full target is retried while the
others carry on, and the deletion guards stop what looks like an unmounted source, not a user's deletes."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from syncline.core.entry import Compare, CompareMode
from syncline.core.ignore import Rules
from syncline.engine.oneway import SyncOptions
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import Features

from .conftest import private_mounts, write
from .test_watch import FAST, kernel_overflow, mirroring, same, wait_until  # FAST keeps the default --max-delete (50%)


def messages(m: Any) -> list[str]:
    return [msg for msg, _ in m.messages]


class Remote:
    """A target that is not a local folder as far as the mirror can tell (as a server or a WebDAV share
    will be): every call goes through here, is counted, and fails like a network does while ``online`` is
    False. It keeps its files in a local folder, so the test can look at them."""

    def __init__(self, root: Path) -> None:
        self.inner = LocalReplica(root)
        self.online = True
        self.calls: Counter[str] = Counter()

    def describe(self) -> str:
        return f"remote:{self.inner.root.name}"

    def features(self) -> Features:
        return Features()  # not scanned in a forked child: a client session must not be shared

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if not self.online:
                raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
            return method(*args, **kwargs)

        return call


def test_a_target_of_another_kind_plugs_in_and_is_retried_while_unreachable(tmp_path: Path) -> None:
    src, local, far = tmp_path / "src", tmp_path / "local", tmp_path / "far"
    write(src, "docs/a.txt", b"a")
    remote = Remote(far)
    with mirroring(src, local, remote) as m:  # type: ignore[arg-type]
        assert same(src, far) and same(src, local)
        remote.online = False  # the server went away
        write(src, "docs/b.txt", b"b")
        os.rename(src / "docs", src / "papers")
        assert wait_until(lambda: same(src, local))
        # The local target is synced before the remote one is tried in the same push: wait for the try.
        assert wait_until(lambda: any(msg == "target unavailable; retrying with back-off"
                                      and f["target"] == "remote:far" and "Connection refused" in str(f["error"])
                                      for msg, f in list(m.messages)))  # type: ignore[attr-defined]
        assert (far / "docs/a.txt").exists() and not (far / "papers").exists()
        remote.online = True
        assert wait_until(lambda: same(src, far))
        assert wait_until(lambda: "target back" in messages(m))  # said once the sync that mended it ends
    assert remote.calls["stage_file"] >= 2 and remote.calls["scan_dirs"] + remote.calls["scan"] >= 2


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small file system of its own (root only), unmounted at the end; mounted in the test process's own
    mount namespace, so no other program sees it, and it goes with the process even if never unmounted."""
    private_mounts()
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=30)


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True, timeout=30)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a tmpfs (in a mount namespace)")


@needs_root
def test_a_read_only_target_is_retried_while_the_other_carries_on(tmp_path: Path) -> None:
    src, other = tmp_path / "src", tmp_path / "other"
    write(src, "a.txt", b"a")
    write(src, "old/gone.txt", b"gone")
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        dst = mnt / "dst"
        with mirroring(src, dst, other) as m:
            assert same(src, dst)
            remount(mnt, "ro")
            try:
                write(src, "new/b.txt", b"b")
                (src / "a.txt").write_bytes(b"changed")
                shutil.rmtree(src / "old")
                assert wait_until(lambda: same(src, other))
                assert wait_until(lambda: "target cannot take every change; retrying with back-off" in messages(m))
                assert (dst / "a.txt").read_bytes() == b"a" and (dst / "old/gone.txt").exists()
                assert not m.targets[0].ok and "Read-only file system" in m.targets[0].error
            finally:
                remount(mnt, "rw")
            assert wait_until(lambda: same(src, dst))
            assert wait_until(lambda: "target back" in messages(m))


@needs_root
def test_a_full_target_is_retried_and_left_without_temp_files(tmp_path: Path) -> None:
    src, other = tmp_path / "src", tmp_path / "other"
    write(src, "docs/a.txt", b"a")
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        dst = mnt / "dst"
        with mirroring(src, dst, other) as m:
            assert same(src, dst)
            write(src, "docs/big.bin", os.urandom(3 << 20))
            write(src, "docs/small.txt", b"small")
            assert wait_until(lambda: same(src, other))
            assert wait_until(lambda: "No space left on device" in m.targets[0].error)
            assert (dst / "docs/a.txt").read_bytes() == b"a"
            (src / "docs/big.bin").unlink()  # space is made at the source's end: the next retry goes through
            assert wait_until(lambda: m.targets[0].ok)  # the retry found nothing left to do
            assert same(src, dst)  # also: no temp file left behind


def test_deletes_made_while_watching_pass_the_default_guard(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(20):
        write(src, f"f{i}.txt", str(i).encode())
    with mirroring(src, dst, options=FAST) as m:
        for i in range(12):  # 60% of the files: over --max-delete, but seen happening
            (src / f"f{i}.txt").unlink()
        assert wait_until(lambda: same(src, dst))
        real = m.collector.add_batch
        monkeypatch.setattr(m.collector, "add_batch", lambda *args, **kw: None)  # events lost...
        for i in range(12, 17):  # ...while 5 of the 8 files left go
            (src / f"f{i}.txt").unlink()
        time.sleep(0.3)  # read (and dropped) before the reader gets the collector back
        monkeypatch.setattr(m.collector, "add_batch", real)
        kernel_overflow(m)
        assert wait_until(lambda: same(src, dst))
        assert not any("safety" in msg for msg in messages(m))


def test_a_catch_up_that_would_delete_most_files_waits_for_force(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(20):
        write(src, f"f{i}.txt", str(i).encode())
    with mirroring(src, dst, options=FAST):
        assert same(src, dst)
    for i in range(15):  # while syncline is not running (or the source is only half mounted)
        (src / f"f{i}.txt").unlink()
    with mirroring(src, dst, options=FAST) as m:
        assert wait_until(lambda: any(msg.startswith("stopped by a safety check") for msg in messages(m)))
        time.sleep(0.5)
        assert len(list(dst.glob("*.txt"))) == 20
        assert "--max-delete" in m.targets[0].error
    forced = replace(FAST, sync=SyncOptions(delete=True, force=True))
    with mirroring(src, dst, options=forced):
        assert wait_until(lambda: same(src, dst))


def test_an_emptied_source_never_empties_the_target(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(20):
        write(src, f"d{i % 4}/f{i}.txt", str(i).encode())
    with mirroring(src, dst, options=FAST) as m:
        for d in list(src.iterdir()):
            shutil.rmtree(d)  # what an unmounted source looks like
        assert wait_until(lambda: "the source is empty" in m.targets[0].error)
        time.sleep(0.5)
        assert len(list(dst.rglob("*.txt"))) == 20
        write(src, "one.txt", b"1")  # one file back does not make the other 20 go
        time.sleep(1.5)
        assert len(list(dst.rglob("*.txt"))) == 20
        assert "--max-delete" in m.targets[0].error


def test_a_replaced_source_folder_is_watched_anew(tmp_path: Path) -> None:
    src, dst, old = tmp_path / "src", tmp_path / "dst", tmp_path / "old"
    write(src, "a.txt", b"a")
    write(src, "b.txt", b"b")
    with mirroring(src, dst) as m:
        os.rename(src, old)
        shutil.copytree(old, src)  # what a restore from a backup does
        write(src, "c.txt", b"c")
        assert wait_until(lambda: "the source folder was replaced or remounted" in " ".join(messages(m)))
        assert wait_until(lambda: same(src, dst))
        write(old, "stale.txt", b"written to the folder that went away")
        write(src, "d.txt", b"d")  # a live change in the new folder: seen without waiting for a rescan
        assert wait_until(lambda: same(src, dst))
        time.sleep(0.3)
        assert not (dst / "stale.txt").exists()


@needs_root
def test_an_empty_disk_mounted_over_the_source_never_empties_the_target(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(10):
        write(src, f"d{i % 2}/f{i}.txt", str(i).encode())
    private_mounts()  # before the mirror's threads start: they share the namespace
    with mirroring(src, dst) as m:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(src)], check=True, timeout=30)
        try:
            assert wait_until(lambda: "the source is empty" in m.targets[0].error)
            assert len(list(dst.rglob("*.txt"))) == 10
        finally:
            subprocess.run(["umount", "-l", str(src)], check=True, timeout=30)
        assert wait_until(lambda: m.targets[0].ok)
        write(src, "d0/new.txt", b"new")
        assert wait_until(lambda: same(src, dst))


def test_a_target_holding_another_sources_mirror_is_left_alone(tmp_path: Path) -> None:
    src, other_src, dst, away = tmp_path / "src", tmp_path / "other-src", tmp_path / "dst", tmp_path / "away"
    other_dst = tmp_path / "other-dst"
    write(src, "a.txt", b"a")
    for i in range(10):
        write(other_src, f"o{i}.txt", b"other")
    with mirroring(other_src, other_dst):
        assert same(other_src, other_dst)
    with mirroring(src, dst) as m:
        os.rename(dst, away)  # this disk unplugged...
        os.rename(other_dst, dst)  # ...and another mirror's disk mounted in its place
        write(src, "b.txt", b"b")
        assert wait_until(lambda: "holds a mirror of" in m.targets[0].error)
        time.sleep(1.0)
        assert sorted(p.name for p in dst.glob("*.txt")) == [f"o{i}.txt" for i in range(10)]
    fresh = tmp_path / "fresh"
    with mirroring(src, dst) as m:  # also when it was never synced before
        assert wait_until(lambda: "holds a mirror of" in m.targets[0].error)
        assert not (dst / "a.txt").exists()
    assert not fresh.exists()


def test_a_permanent_error_is_logged_once_and_does_not_hold_up_the_target(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "x/keep.txt", b"k")
    write(src, "other.txt", b"o")
    options = replace(FAST, sync=SyncOptions(delete=True, rules=Rules(excludes=("*.tmp",))))
    with mirroring(src, dst, options=options) as m:
        write(dst, "x/local.tmp", b"excluded, so never deleted")
        shutil.rmtree(src / "x")  # x cannot go from dst: it holds an entry the scan does not see
        assert wait_until(lambda: any(msg == "error" for msg in messages(m)))
        for i in range(5):
            write(src, f"new{i}.txt", b"n")
            assert wait_until(lambda i=i: (dst / f"new{i}.txt").exists())
        assert m.targets[0].ok and not m.targets[0].retry  # not put behind a back-off by the error
        assert messages(m).count("error") == 1
        assert (dst / "x/local.tmp").exists()


def test_a_target_inside_the_source_or_given_twice_is_refused(tmp_path: Path) -> None:
    from syncline.core.errors import UsageError
    from syncline.services.watch import Mirror

    write(tmp_path, "src/a.txt", b"a")
    with pytest.raises(UsageError, match="nested"):
        Mirror(tmp_path / "src", [LocalReplica(tmp_path / "src/backup")])
    with pytest.raises(UsageError, match="given twice"):
        Mirror(tmp_path / "src", [tmp_path / "t", LocalReplica(tmp_path / "t")])


def test_what_was_in_flight_goes_before_the_catch_up(tmp_path: Path) -> None:
    from syncline.services.watch.journal import Journal

    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "d/a.txt", b"a")
    with mirroring(src, dst):
        pass
    write(src, "d/a.txt", b"changed while down", mtime=1_800_000_000)
    journal = Journal(src.resolve())
    journal.add([("d", False)])  # as a killed run left it
    journal.close()
    with mirroring(src, dst) as m:
        assert wait_until(lambda: same(src, dst))
        said = messages(m)
        assert said.index("resuming") < said.index("synced") < said.index("catch-up")
        catch_up = next(f for msg, f in m.messages if msg == "catch-up")  # type: ignore[attr-defined]
        assert catch_up["changed"] == 0  # the journaled folder had already brought the change
    journal = Journal(src.resolve())
    assert journal.pending() == []
    journal.close()


_LEASE_RACE = """
import os, sys, threading
from syncline.core.entry import Compare, CompareMode
from syncline.core.ignore import Rules
from syncline.engine.replicas.local import LocalReplica
root, name = sys.argv[1], sys.argv[2]
path = os.path.join(root, name)
real_close = os.close
def close(fd):
    # A writer opens the file just while the lease is held: the kernel signals the lease holder.
    try:
        os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except BlockingIOError:
        pass
    import time; time.sleep(0.2)
    real_close(fd)
os.close = close
LocalReplica(root).being_written(name)
os.close = real_close
print("alive")
"""


def test_a_writer_opening_a_file_during_the_lease_test_does_not_kill_syncline(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", b"x")
    done = subprocess.run([sys.executable, "-c", _LEASE_RACE, str(tmp_path), "f.txt"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "alive", (done.returncode, done.stderr)


def test_permission_and_time_changes_are_pushed(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "f.txt", b"f", mode=0o644)
    with mirroring(src, dst):
        os.chmod(src / "f.txt", 0o600)
        os.utime(src / "f.txt", (1_000_000_000, 1_000_000_000))  # no open, no write: only IN_ATTRIB
        assert wait_until(lambda: same(src, dst))


def test_renames_without_delete_keep_the_old_name_and_never_enter_excluded_names(tmp_path: Path) -> None:
    src, dst, kept = tmp_path / "src", tmp_path / "dst", tmp_path / "kept"
    write(src, "a.txt", b"a")
    write(src, "data/d.txt", b"d")
    with mirroring(src, kept, options=replace(FAST, sync=SyncOptions())):  # no --delete: rsync keeps old names
        os.rename(src / "a.txt", src / "b.txt")
        assert wait_until(lambda: (kept / "b.txt").exists())
        assert (kept / "a.txt").exists()
    options = replace(FAST, sync=SyncOptions(delete=True, rules=Rules(excludes=("*.tmp", "cache/"))))
    with mirroring(src, dst, options=options):
        os.rename(src / "b.txt", src / "b.tmp")
        os.rename(src / "data", src / "cache")
        write(src, "c.txt", b"c")
        assert wait_until(lambda: (dst / "c.txt").exists() and not (dst / "b.txt").exists()
                          and not (dst / "data").exists())
        assert not (dst / "b.tmp").exists() and not (dst / "cache").exists()


def test_a_file_open_for_writing_is_held_by_the_catch_up_too(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    with open(src / "upload.bin", "wb") as fh:
        fh.write(b"part one ")
        fh.flush()
        with mirroring(src, dst):
            assert (dst / "a.txt").exists() and not (dst / "upload.bin").exists()
            fh.write(b"part two")
            fh.close()
            assert wait_until(lambda: same(src, dst))


def test_pushes_compare_by_hash_when_asked(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "f.txt", b"AAAA", mtime=1_600_000_000)
    options = replace(FAST, sync=SyncOptions(delete=True, compare=Compare(CompareMode.CHECKSUM)))
    with mirroring(src, dst, options=options):
        write(src, "f.txt", b"BBBB", mtime=1_600_000_000)  # same size and mtime: only a hash tells
        assert wait_until(lambda: (dst / "f.txt").read_bytes() == b"BBBB")


def test_a_state_directory_inside_the_source_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncline.core.errors import UsageError
    from syncline.services.watch import Mirror

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(tmp_path / "home/.local/state/syncline"))
    with pytest.raises(UsageError, match="inside the source"):
        Mirror(tmp_path / "home", [tmp_path / "backup"])


def test_a_target_whose_disk_is_not_mounted_at_start_waits_while_the_other_goes(tmp_path: Path) -> None:
    src, one, two = tmp_path / "src", tmp_path / "one", tmp_path / "usb/two"
    write(src, "a.txt", b"a")
    with mirroring(src, one, two) as m:
        assert same(src, one)
        assert wait_until(lambda: "does not exist (not mounted?)" in m.targets[1].error)
        (tmp_path / "usb").mkdir()  # the disk is mounted
        assert wait_until(lambda: same(src, two))


def test_a_second_watcher_of_the_same_source_is_refused(tmp_path: Path) -> None:
    from syncline.core.errors import BusyError
    from syncline.services.watch import Mirror

    write(tmp_path, "src/a.txt", b"a")
    with mirroring(tmp_path / "src", tmp_path / "one"), pytest.raises(BusyError, match="already mirroring"):
        Mirror(tmp_path / "src", [tmp_path / "two"])
    with mirroring(tmp_path / "src", tmp_path / "two") as m:  # free again once the first has stopped
        assert same(tmp_path / "src", tmp_path / "two") and m.targets[0].ok
