"""Temp names that cannot destroy a user's file (issue 11, points 3 and 4).

Only the temp names of runs recorded in ``<root>/.syncline/runs`` are syncline's: a user's file with a
temp-like name is synced like any other and never removed. A version swapped out of its place is moved to
the trash by the next run after a kill -9, never deleted as a leftover.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run
from tests.conftest import write

TEMP_LIKE = [
    ".syncline-tmp-0123456789abcdef",          # the shape of earlier releases' temp names
    "d/.syncline-tmp-0123456789abcdef-0",      # the shape of this release's
    "d/.syncline-old-fedcba9876543210-1f",
]


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*")
            if p.is_file() and ".syncline" not in p.relative_to(root).parts}


def trashed(root: Path) -> list[str]:
    trash = root / ".syncline/trash"
    return sorted(p.read_text() for p in trash.rglob("*") if p.is_file()) if trash.exists() else []


def leftovers(root: Path) -> list[str]:
    from syncline.core.paths import run_temp

    return [str(p) for p in root.rglob(".syncline-*") if run_temp(p.name)]


def test_user_files_named_like_temp_files_are_synced_and_never_destroyed(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for name in TEMP_LIKE:
        write(src, name, f"source's {name}")
    write(dst, "d/.syncline-tmp-aaaaaaaaaaaaaaaa-2", "the destination's own")
    write(dst, ".syncline-tmp-bbbbbbbbbbbbbbbb", "the destination's own, old shape")
    r = run("sync", src, dst)
    assert r.returncode == 0, r.stderr
    got = files(dst)
    for name in TEMP_LIKE:
        assert got[name] == f"source's {name}"
    assert got["d/.syncline-tmp-aaaaaaaaaaaaaaaa-2"] == "the destination's own"
    assert got[".syncline-tmp-bbbbbbbbbbbbbbbb"] == "the destination's own, old shape"
    r = run("sync", "--delete", "--force", src, dst)
    assert r.returncode == 0, r.stderr
    assert files(dst) == files(src)
    assert trashed(dst) == ["the destination's own", "the destination's own, old shape"]  # kept, not unlinked


def test_two_way_syncs_temp_like_names_both_ways(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, TEMP_LIKE[0], "from a")
    write(b, TEMP_LIKE[1], "from b")
    write(b, TEMP_LIKE[2], "from b too")
    for _ in range(2):
        r = run("sync", "--two-way", a, b)
        assert r.returncode == 0, r.stderr
    assert files(a) == files(b) == {TEMP_LIKE[0]: "from a", TEMP_LIKE[1]: "from b", TEMP_LIKE[2]: "from b too"}


def test_an_archive_carries_and_apply_writes_temp_like_names(tmp_path: Path) -> None:
    home, far = tmp_path / "home", tmp_path / "far"
    for name in TEMP_LIKE:
        write(home, name, f"home's {name}")
    far.mkdir()
    assert run("index", far, "-o", tmp_path / "far.slidx").returncode == 0
    assert run("archive", home, "--against", tmp_path / "far.slidx", "-o", tmp_path / "d.slar").returncode == 0
    r = run("apply", tmp_path / "d.slar", far)
    assert r.returncode == 0, r.stderr
    assert files(far) == files(home)


def _old_and_new(src: Path, dst: Path) -> None:
    write(dst, "f.txt", "the old version", mtime=1_600_000_000)
    write(dst, "d/g.txt", "another old version", mtime=1_600_000_000)
    write(src, "f.txt", "the new version", mtime=1_700_000_000)
    write(src, "d/g.txt", "another new version", mtime=1_700_000_000)


def _after_the_kill(dst: Path) -> None:
    """Killed right after the first swap: one real name holds the new version, the old one is beside it."""
    assert "the new version" in files(dst).values() or "another new version" in files(dst).values()
    assert leftovers(dst), "the replaced version should wait under a temp name of the killed run"


def _recovered(dst: Path) -> None:
    trash = dst / ".syncline/trash"
    # Under their real names. (An apply's leftover staging folder goes to the trash too: it holds only
    # the archive's content, but an earlier release could have left a replaced version in it.)
    kept = {str(p.relative_to(trash)).split("/", 1)[1]: p.read_text() for p in trash.rglob("*")
            if p.is_file() and ".syncline-apply-" not in str(p)}
    assert kept == {"f.txt": "the old version", "d/g.txt": "another old version"}
    assert leftovers(dst) == []


def test_one_way_kill_between_the_swap_and_the_trash_loses_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _old_and_new(src, dst)
    killed = run("sync", src, dst, env={"SYNCLINE_CRASH_AT": "swapped:1"})
    assert killed.returncode == -9, killed.stderr
    _after_the_kill(dst)
    r = run("sync", src, dst)
    assert r.returncode == 0, r.stderr
    assert files(dst) == files(src)
    _recovered(dst)


def test_two_way_kill_between_the_swap_and_the_trash_loses_nothing(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "f.txt", "the old version", mtime=1_600_000_000)
    write(a, "d/g.txt", "another old version", mtime=1_600_000_000)
    b.mkdir()
    assert run("sync", "--two-way", a, b).returncode == 0
    write(a, "f.txt", "the new version", mtime=1_700_000_000)
    write(a, "d/g.txt", "another new version", mtime=1_700_000_000)
    killed = run("sync", "--two-way", a, b, env={"SYNCLINE_CRASH_AT": "swapped:1"})
    assert killed.returncode == -9, killed.stderr
    _after_the_kill(b)
    r = run("sync", "--two-way", a, b)
    assert r.returncode == 0, r.stderr
    assert files(a) == files(b) == {"f.txt": "the new version", "d/g.txt": "another new version"}
    _recovered(b)


def test_apply_kill_between_the_swap_and_the_trash_loses_nothing(tmp_path: Path) -> None:
    home, far = tmp_path / "home", tmp_path / "far"
    _old_and_new(home, far)
    assert run("index", far, "-o", tmp_path / "far.slidx").returncode == 0
    assert run("archive", home, "--against", tmp_path / "far.slidx", "-o", tmp_path / "d.slar").returncode == 0
    killed = run("apply", tmp_path / "d.slar", far, env={"SYNCLINE_CRASH_AT": "swapped:1"})
    assert killed.returncode == -9, killed.stderr
    _after_the_kill(far)
    r = run("apply", tmp_path / "d.slar", far)
    assert r.returncode == 0, r.stderr
    assert files(far) == files(home)
    _recovered(far)


@pytest.mark.timeout(180)
def test_watch_kill_between_the_swap_and_the_trash_loses_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _old_and_new(src, dst)
    env = {"SYNCLINE_CRASH_AT": "swapped:1"}
    killed = run("watch", src, dst, env=env, timeout=120)  # the catch-up replaces f.txt and dies
    assert killed.returncode == -9, killed.stderr
    _after_the_kill(dst)
    proc = subprocess.Popen([sys.executable, "-m", "syncline", "watch", str(src), str(dst)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while files(dst) != files(src) or leftovers(dst):
            assert time.monotonic() < deadline and proc.poll() is None, "the restarted watch never caught up"
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        finally:
            proc.kill()
    _recovered(dst)


def test_a_nested_pair_s_own_folder_is_never_synced_by_an_outer_pair(tmp_path: Path) -> None:
    """Point 19: ``.syncline`` at any depth (a nested pair's marker, trash and runs) is syncline's own."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "inner/a.txt", "a")
    write(src, "inner/.syncline/folder-id", "0" * 32 + "\n")
    write(src, "inner/.syncline/trash/20260101-000000/old.txt", "the inner pair's trash")
    write(dst, "other/.syncline/folder-id", "f" * 32 + "\n")  # the destination's own nested pair
    r = run("sync", "--delete", "--force", src, dst)
    # other/ holds nothing but another pair's own folder: it is not deleted, and that is said.
    assert r.returncode == 1 and "other: not deleted" in r.stderr, r.stderr
    assert files(dst) == {"inner/a.txt": "a"}
    assert not (dst / "inner/.syncline").exists()
    assert (dst / "other/.syncline/folder-id").read_text() == "f" * 32 + "\n"  # not deleted either
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "inner/.syncline/folder-id", "0" * 32 + "\n")
    write(a, "inner/x.txt", "x")
    b.mkdir()
    assert run("sync", "--two-way", a, b).returncode == 0
    assert files(b) == {"inner/x.txt": "x"} and not (b / "inner/.syncline").exists()


def test_a_forked_child_does_not_keep_a_run_s_record_alive(tmp_path: Path) -> None:
    """A scan forked beside a run must not hold the record's flock: were the run killed, the child would
    keep its record looking alive, and the next run would leave the dead run's temp files."""
    import os

    from syncline.engine.replicas.local import LocalReplica
    from syncline.engine.replicas.runs import dead_runs

    root = tmp_path / "t"
    root.mkdir()
    replica = LocalReplica(root)
    with replica.lock():
        replica.new_temp("")  # the record is made
        record = replica._run
        assert record is not None
        pid = os.fork()
        if pid == 0:  # the child: its copy of the record's descriptor is gone
            os._exit(0 if record._fd < 0 else 1)
        assert os.waitpid(pid, 0)[1] == 0
        assert dead_runs(replica.tree) == []  # the parent still holds it
        os.close(record._fd)  # as a kill -9 would: now only a child could keep it alive
        record._fd = -1
        found = dead_runs(replica.tree)
        assert [run for run, _ in found] == [record.id]
        for _, fd in found:
            os.close(fd)
    replica.close()


def test_copy_threads_share_one_run_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Copies are staged by several threads at once; the first temp name of a run makes its record. Two
    # threads making two records left one behind, never ended: a dead run's record after every such run.
    import threading

    from syncline.engine.replicas import local, runs

    real_init = runs.RunRecord.__init__

    def slow_init(self: runs.RunRecord, *args: object) -> None:
        real_init(self, *args)  # type: ignore[arg-type]
        time.sleep(0.05)  # widens the window between "no record yet" and "this is the record"

    monkeypatch.setattr(local.RunRecord, "__init__", slow_init)
    dst = tmp_path / "dst"
    dst.mkdir()
    replica = local.LocalReplica(dst)
    temps: list[str] = []
    with replica.lock():
        threads = [threading.Thread(target=lambda: temps.append(replica.new_temp(""))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    replica.close()
    assert len({run_of(t) for t in temps}) == 1
    assert not (dst / ".syncline").exists()  # the one record ended with the run


def run_of(temp: str) -> str:
    from syncline.core.paths import run_temp

    kind = run_temp(temp.rpartition("/")[2])
    assert kind is not None
    return kind[1]
