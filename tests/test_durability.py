"""A durability barrier that fails (``syncfs`` returns EIO) fails the run, and nothing after the last good
barrier is taken as done: no staged file is renamed into place, and two-way's base does not advance
(issue 11, point 13). Also: the root of a destination may be a symlink to a folder, followed as rsync
follows ``DST/`` (point 21)."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

import syncline
from syncline.core.paths import run_temp
from syncline.engine.replicas import local
from tests.cli_helpers import run
from tests.conftest import write


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*")
            if p.is_file() and ".syncline" not in p.relative_to(root).parts}


class FailingSyncfs:
    """``syncfs`` that fails with ``error`` (EIO) from its ``after``-th call on (0: at once)."""

    def __init__(self, after: int = 0, error: int = errno.EIO) -> None:
        self.after = after
        self.error = error
        self.calls = 0

    def __call__(self, fd: int) -> int:
        self.calls += 1
        if self.calls > self.after:
            ctypes.set_errno(self.error)
            return -1
        return 0


def test_a_failed_barrier_fails_the_run_and_puts_nothing_in_place(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(20):
        write(src, f"d/f{i}.txt", f"new {i}")
    write(dst, "d/f0.txt", "old 0", mtime=1_600_000_000)
    monkeypatch.setattr(local, "_syncfs", FailingSyncfs())
    report = syncline.sync(src, dst)
    assert report.exit_code == 1
    assert any("error while writing to disk" in p.message for p in report.errors)
    assert files(dst) == {"d/f0.txt": "old 0"}  # nothing renamed over a real name after the failure
    assert not [p for p in dst.rglob("*") if run_temp(p.name)]
    monkeypatch.undo()
    assert syncline.sync(src, dst).exit_code == 0
    assert files(dst) == files(src)


def test_a_barrier_out_of_space_says_so_and_promises_no_loss_it_cannot_see(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", "new")
    monkeypatch.setattr(local, "_syncfs", FailingSyncfs(error=errno.ENOSPC))
    report = syncline.sync(src, dst)
    assert report.exit_code == 1
    [problem] = [p for p in report.errors if p.errno == errno.ENOSPC]
    assert problem.message.startswith("no space left on ") and "free space" in problem.message
    assert "may be lost" not in problem.message and problem.retryable
    assert not (dst / "a.txt").exists()
    monkeypatch.undo()
    assert syncline.sync(src, dst).exit_code == 0 and files(dst) == files(src)


def test_a_failed_barrier_does_not_advance_the_two_way_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "x.txt", "a's file")
    b.mkdir()
    assert syncline.sync(a, b, two_way=True).exit_code == 0
    for i in range(5):
        write(a, f"new/{i}.txt", f"new {i}")
    # The barrier before the renames passes, the one after them fails: the files are in place, but
    # nothing says they are durable, so the base must not record them.
    monkeypatch.setattr(local, "_syncfs", FailingSyncfs(after=1))
    report = syncline.sync(a, b, two_way=True)
    assert report.exit_code == 1
    monkeypatch.undo()
    # Whatever the failed run left on B, a normal run must bring the pair together and delete nothing.
    for name in list(files(b)):
        if name.startswith("new/"):
            (b / name).unlink()  # as a power cut could have left them: the renames were not durable
    report = syncline.sync(a, b, two_way=True)
    assert report.exit_code == 0, [str(p) for p in report.errors]
    assert files(a) == files(b) and len(files(a)) == 6  # had the base advanced, a's new files would be deleted


@pytest.mark.parametrize("mode", ["sync", "two-way", "apply"])
def test_a_destination_that_is_a_symlink_to_a_folder_is_followed_like_rsync(tmp_path: Path, mode: str) -> None:
    src, real = tmp_path / "src", tmp_path / "real"
    write(src, "sub/a.txt", "a")
    write(src, "b.txt", "b")
    real.mkdir()
    link = tmp_path / "link"
    os.symlink(real, link)
    if mode == "sync":
        r = run("sync", "--delete", src, link)
    elif mode == "two-way":
        r = run("sync", "--two-way", src, link)
    else:
        assert run("index", link, "-o", tmp_path / "far.slidx").returncode == 0
        assert run("archive", src, "--against", tmp_path / "far.slidx", "-o", tmp_path / "d.slar").returncode == 0
        r = run("apply", tmp_path / "d.slar", link)
    assert r.returncode == 0, r.stderr
    assert files(real) == files(src)
    assert link.is_symlink()
    again = run("sync", "--two-way", "-n", src, link) if mode == "two-way" else run("sync", "--delete", "-n", src, link)
    assert again.returncode == 0, again.stderr
    assert "dry run: would copy 0 files (0 B)" in again.stdout, again.stdout  # nothing left to copy
