"""A hostile writer in the destination tree: a process that keeps swapping ``DST/sub`` for a symlink to a
folder outside DST while syncline writes 1,500 files there (issue 11, points 1 and 2). Whatever the
timing, nothing may be written outside DST, and every file of the user's is old, new, in the trash or
reported. Every mode: one-way, two-way, apply and watch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli_helpers import run
from tests.conftest import write

FILES = 1500

# The swapper: exchanges DST/sub and DST/sub.swap (a symlink to OUTSIDE) with renameat2(RENAME_EXCHANGE),
# so DST/sub is a real folder and a symlink by turns, each for a few microseconds, until told to stop.
SWAPPER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
sub, swap, outside, stop = (os.fsencode(a) for a in sys.argv[1:5])
if not os.path.lexists(swap):
    os.symlink(outside, swap)
print("ready", flush=True)
n = 0
while not os.path.exists(stop):
    if libc.renameat2(-100, sub, -100, swap, 2) == 0:
        n += 1
    if n % 50 == 0:
        time.sleep(0.0005)
# Leave the real folder in place.
if os.path.islink(sub) and os.path.isdir(swap) and not os.path.islink(swap):
    libc.renameat2(-100, sub, -100, swap, 2)
if os.path.islink(swap):
    os.unlink(swap)
print(n, flush=True)
"""


@contextmanager
def swapping(root: Path, outside: Path) -> Iterator[None]:
    """Keep swapping ``root/sub`` for a symlink to ``outside`` while the block runs."""
    stop = root.parent / f"stop-{root.name}"
    proc = subprocess.Popen([sys.executable, "-c", SWAPPER, str(root / "sub"), str(root / "sub.swap"),
                             str(outside), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        stop.touch()
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        stop.unlink()
    assert int(out.strip() or 0) > 0, "the swapper never swapped"


def outside_dir(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    write(out, "owned-by-someone-else.txt", "must stay as it is")
    return out


def assert_outside_untouched(outside: Path) -> None:
    found = sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))
    assert found == ["owned-by-someone-else.txt"], f"written outside the tree: {found[:10]}"
    assert (outside / "owned-by-someone-else.txt").read_text() == "must stay as it is"


def all_contents(root: Path) -> set[bytes]:
    """Every file's content anywhere under ``root``, the trash included."""
    return {p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def user_contents(root: Path) -> set[bytes]:
    """Every file's content under ``root`` but syncline's own (markers and the like change by design)."""
    return {p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and ".syncline" not in p.relative_to(root).parts}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".syncline" not in p.relative_to(root).parts}


def make_source(src: Path) -> None:
    for i in range(FILES):
        write(src, f"sub/d{i % 30:02d}/f{i:04d}.txt", f"new {i}", mtime=1_700_000_000 + i)


def make_old_destination(dst: Path) -> set[bytes]:
    """Old versions of a third of the files and files only the destination has: what a run replaces and
    deletes. Returns the contents that must never be destroyed."""
    for i in range(0, FILES, 3):
        write(dst, f"sub/d{i % 30:02d}/f{i:04d}.txt", f"old {i}", mtime=1_600_000_000 + i)
    for i in range(100):
        write(dst, f"sub/d{i % 30:02d}/only-here-{i}.txt", f"only here {i}", mtime=1_600_000_000)
    return all_contents(dst)


def test_one_way_sync_writes_nothing_outside_while_a_folder_is_swapped_for_a_symlink(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    outside = outside_dir(tmp_path)
    make_source(src)
    precious = make_old_destination(dst)
    for delete in (False, True):  # once more with deletions: they go through the trash
        with swapping(dst, outside):
            r = run("sync", *(["--delete", "--force"] if delete else []), src, dst, timeout=300)
        assert r.returncode in (0, 1), r.stderr
        assert_outside_untouched(outside)
        assert precious <= all_contents(dst)
    r = run("sync", "--delete", src, dst, timeout=300)
    assert r.returncode == 0, r.stderr
    assert tree(dst) == tree(src)
    assert precious <= all_contents(dst)


def test_two_way_sync_writes_nothing_outside_while_a_folder_is_swapped_for_a_symlink(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    outside = outside_dir(tmp_path)
    write(a, "top.txt", "first")
    b.mkdir()
    write(b, "sub/keep.txt", "b's own")
    assert run("sync", "--two-way", a, b).returncode == 0
    make_source(a)
    precious = user_contents(b)
    with swapping(b, outside):
        r = run("sync", "--two-way", a, b, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    assert_outside_untouched(outside)
    assert precious <= all_contents(b)
    for _ in range(3):
        r = run("sync", "--two-way", a, b, timeout=300)
        if r.returncode == 0:
            break
    assert r.returncode == 0, r.stderr
    assert tree(a) == tree(b)
    assert_outside_untouched(outside)


def test_apply_writes_nothing_outside_while_a_folder_is_swapped_for_a_symlink(tmp_path: Path) -> None:
    home, far = tmp_path / "home", tmp_path / "far"
    outside = outside_dir(tmp_path)
    make_source(home)
    precious = make_old_destination(far)
    assert run("index", far, "-o", tmp_path / "far.slidx").returncode == 0
    r = run("archive", home, "--against", tmp_path / "far.slidx", "-o", tmp_path / "delta.slar", timeout=300)
    assert r.returncode == 0, r.stderr
    with swapping(far, outside):
        r = run("apply", tmp_path / "delta.slar", far, "--force", timeout=300)
    assert r.returncode in (0, 1), r.stderr
    assert_outside_untouched(outside)
    assert precious <= all_contents(far)


def _watch(src: Path, dst: Path, log: Path) -> subprocess.Popen[bytes]:
    # Its output goes to a file, shown on failure: a pipe nobody reads while the watch runs could fill up
    # with the refused pushes' error lines (one per file) and block the watch.
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "syncline", "watch", "--delete", "--json", str(src),
                                 str(dst)], stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=30)
    finally:
        proc.kill()


def test_watch_pushes_write_nothing_outside_while_a_folder_is_swapped_for_a_symlink(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    outside = outside_dir(tmp_path)
    write(src, "sub/first.txt", "first")
    log = tmp_path / "watch.log"
    proc = _watch(src, dst, log)
    try:
        deadline = time.monotonic() + 60
        while not (dst / "sub/first.txt").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the catch-up never finished"
            time.sleep(0.05)
        with swapping(dst, outside):
            make_source(src)
            time.sleep(1)
            for i in range(0, FILES, 7):
                (src / f"sub/d{i % 30:02d}/f{i:04d}.txt").unlink()  # deletions go through the trash
            time.sleep(1)
    finally:
        _stop(proc)
    assert_outside_untouched(outside)
    # What the pushes could not do while the tree was being swapped, a restart's catch-up does.
    proc = _watch(src, dst, log)
    try:
        deadline = time.monotonic() + 120
        while tree(dst) != tree(src):
            assert time.monotonic() < deadline and proc.poll() is None, \
                "the mirror never converged after the swapping stopped: " + log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        _stop(proc)
    assert_outside_untouched(outside)


def test_the_trash_of_one_run_is_never_a_path_through_another_runs_symlink(tmp_path: Path) -> None:
    """Point 2: one run trashes a symlink ``link -> /elsewhere``; a later run in the same second trashes
    ``link/file``. With a shared trash folder the file was renamed into /elsewhere."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    elsewhere = outside_dir(tmp_path)
    src.mkdir()
    write(dst, "keep.txt", "x")
    os.symlink(elsewhere, dst / "link")
    for _ in range(5):  # the two runs must fall in one second at least once
        r1 = run("sync", "--delete", "--force", src, dst)  # trashes the symlink
        assert r1.returncode == 0, r1.stderr
        write(dst, "link/file.txt", "a user's file")
        r2 = run("sync", "--delete", "--force", src, dst)  # trashes link/file.txt
        assert r2.returncode == 0, r2.stderr
        assert_outside_untouched(elsewhere)
        trashed = list((dst / ".syncline/trash").rglob("file.txt"))
        assert [p.read_text() for p in trashed if not p.is_symlink()].count("a user's file") >= 1
        os.symlink(elsewhere, dst / "link")
        write(dst, "keep.txt", "x")
    folders = [p.name for p in (dst / ".syncline/trash").iterdir()]
    assert len(folders) == len(set(folders)) == 10  # one trash folder per run


def test_a_library_write_through_a_swapped_parent_is_refused(tmp_path: Path) -> None:
    """The confinement layer itself: a parent that is a symlink at the moment of use is never followed."""
    from syncline.engine.replicas.confined import Confined

    root = tmp_path / "root"
    outside = outside_dir(tmp_path)
    (root / "sub").mkdir(parents=True)
    tree_ = Confined(str(root))
    fd = tree_.open("sub/a.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
    (root / "sub").rename(root / "sub.real")
    os.symlink(outside, root / "sub")
    tree_.forget("")  # a fresh walk: the cached descriptor would still be the real folder
    for attempt in (
        lambda: tree_.open("sub/b.txt", os.O_WRONLY | os.O_CREAT, 0o644),
        lambda: tree_.mkdir("sub/d"),
        lambda: tree_.symlink("x", "sub/l"),
        lambda: tree_.rename("sub.real/a.txt", "sub/a.txt"),
        lambda: tree_.utime("sub/owned-by-someone-else.txt", 0),
        lambda: tree_.chmod("sub/owned-by-someone-else.txt", 0o777),
        lambda: tree_.unlink("sub/owned-by-someone-else.txt"),
        lambda: tree_.open("../outside/x", os.O_WRONLY | os.O_CREAT, 0o644),
    ):
        with pytest.raises(OSError):
            attempt()
    with pytest.raises(OSError):
        tree_.chmod("sub", 0o777)  # the symlink itself: never followed
    assert_outside_untouched(outside)
    assert (outside.stat().st_mode & 0o777) != 0o777
    tree_.close()


def test_json_output_is_parsable_after_an_attack(tmp_path: Path) -> None:
    """What the swapped runs report stays one parsable JSON document (the errors name paths, not tracebacks)."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    outside = outside_dir(tmp_path)
    for i in range(300):
        write(src, f"sub/f{i:03d}.txt", f"new {i}")
    (dst / "sub").mkdir(parents=True)
    with swapping(dst, outside):
        r = run("sync", "--json", src, dst, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert "Traceback" not in r.stderr and isinstance(doc, dict)
    assert_outside_untouched(outside)


@pytest.mark.parametrize("planted", [".syncline", ".syncline/snapshots", ".syncline/trash", ".syncline/runs"])
def test_syncline_s_own_folders_planted_as_symlinks_lead_nowhere(tmp_path: Path, planted: str) -> None:
    """A hostile writer points DIR/.syncline (or a folder in it) at a folder outside: snapshot, a sync
    that trashes, two-way's markers, apply's staging never write there."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    outside = outside_dir(tmp_path)
    write(src, "a.txt", "new", mtime=1_700_000_000)
    write(dst, "a.txt", "old", mtime=1_600_000_000)
    write(dst, "gone.txt", "to be trashed")
    (dst / planted).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, dst / planted)
    results = [run("snapshot", dst), run("sync", "--delete", "--force", src, dst),
               run("sync", "--two-way", src, dst), run("index", dst, "-o", tmp_path / "d.slidx")]
    assert run("archive", src, "--against", tmp_path / "d.slidx", "-o", tmp_path / "x.slar").returncode == 0
    results.append(run("apply", tmp_path / "x.slar", dst))
    for r in results:
        assert "Traceback" not in r.stderr, r.stderr
        assert r.returncode in (0, 1, 2), r.stderr
    assert_outside_untouched(outside)
    assert {b"old", b"to be trashed"} <= all_contents(dst)  # in place, or in a trash inside DST


@pytest.mark.parametrize("cached", [2, 3, 64])
def test_the_descriptor_cache_follows_syncline_s_own_moves_and_removals(tmp_path: Path, cached: int) -> None:
    """Random folder makes, renames and removals through one Confined tree: every file made through it
    afterwards lands exactly at its path (a stale cached descriptor would put it in a moved folder)."""
    import random

    from syncline.engine.replicas.confined import Confined

    rng = random.Random(cached)
    root = tmp_path / "root"
    root.mkdir()
    tree_ = Confined(str(root), cached_dirs=cached)
    dirs = [""]
    try:
        for n in range(400):
            op = rng.random()
            if op < 0.35 or len(dirs) < 3:
                new = f"{rng.choice(dirs)}/d{n}".lstrip("/")
                tree_.mkdir(new)
                dirs.append(new)
            elif op < 0.6:
                old = rng.choice(dirs[1:])
                new = f"{rng.choice([d for d in dirs if d != old and not d.startswith(old + '/')])}/m{n}".lstrip("/")
                tree_.rename(old, new)
                dirs = [new + d[len(old):] if d == old or d.startswith(old + "/") else d for d in dirs]
            elif op < 0.7:
                leaves = [d for d in dirs[1:] if not any(o.startswith(d + "/") for o in dirs)]
                gone = rng.choice(leaves)
                for f in os.listdir(root / gone):
                    tree_.unlink(f"{gone}/{f}")
                tree_.rmdir(gone)
                dirs.remove(gone)
            else:
                where = rng.choice(dirs)
                path = f"{where}/f{n}".lstrip("/")
                os.close(tree_.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                assert (root / path).is_file(), f"step {n}: {path} landed elsewhere"
        on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())
        assert on_disk == sorted(dirs[1:])
    finally:
        tree_.close()
