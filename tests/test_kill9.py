"""kill -9 at random moments of a large sync: every destination file is old or new, never torn; the next
run converges, removes the temp files, and copies only what was not done."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncline.core.paths import run_temp

TRIALS = 20
T0 = 1_600_000_000


def make_trees(base: Path, rng: random.Random) -> tuple[Path, Path]:
    """SRC holds new versions; OLD is the destination's starting state (old versions, extras)."""
    src, old = base / "src", base / "old"
    for i in range(1500):
        rel = f"d{i % 30:02d}/s{i // 300}/f{i:04d}.bin"
        size = rng.choice([100, 2000, 20_000, 60_000])
        new = rng.randbytes(size)
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(new)
        os.utime(src / rel, (T0 + i, T0 + i))
        if i % 3:  # two thirds exist at the destination in an older version
            (old / rel).parent.mkdir(parents=True, exist_ok=True)
            (old / rel).write_bytes(b"old:" + rng.randbytes(size // 2))
            os.utime(old / rel, (T0 - i, T0 - i))
    for i in range(3):
        (src / f"big{i}.bin").write_bytes(rng.randbytes(6 << 20))
        (old / f"big{i}.bin").write_bytes(b"old big " + rng.randbytes(3 << 20))
    for i in range(200):
        (old / "extra" / f"x{i:03d}").parent.mkdir(parents=True, exist_ok=True)
        (old / "extra" / f"x{i:03d}").write_bytes(b"extra " + rng.randbytes(500))
    return src, old


def contents(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != ".syncline"]
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def sync_cmd(src: Path, dst: Path, state: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "SYNCLINE_STATE_DIR": str(state)}
    return [sys.executable, "-m", "syncline", "sync", "--delete", "--force", "--json", str(src), str(dst)], env


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill9_leaves_every_file_old_or_new_and_rerun_converges(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    src, old = make_trees(tmp_path, rng)
    new_files = contents(src)
    old_files = contents(old)
    state = tmp_path / "state"
    dst = tmp_path / "dst"

    # Calibrate: how long does a whole run take on this machine?
    shutil.copytree(old, dst, symlinks=True)
    cmd, env = sync_cmd(src, dst, state)
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    full = time.monotonic() - started
    assert contents(dst) == new_files

    kills = 0
    for trial in range(TRIALS):
        shutil.rmtree(dst)
        shutil.copytree(old, dst, symlinks=True)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, full * 1.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)

        # 1. Every file under a real name is the old or the new version; temp files are recognisable.
        after_kill = contents(dst)
        for rel, data in after_kill.items():
            name = rel.rsplit("/", 1)[-1]
            if run_temp(name):
                continue
            assert data in (old_files.get(rel), new_files.get(rel)), f"trial {trial}: {rel} is torn"
        # 2. Nothing the destination held is lost: in place or in the trash.
        trash = dst / ".syncline"
        everything = set(after_kill.values()) | (set(contents(trash).values()) if trash.exists() else set())
        for rel, data in old_files.items():
            assert data in everything, f"trial {trial}: lost {rel}"

        # 3. The next run converges and copies only what was not yet done.
        undone = sum(1 for rel, data in new_files.items() if after_kill.get(rel) != data)
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        summary = json.loads(rerun.stdout)
        assert summary["copied"] == undone, f"trial {trial}: re-copied work that was done"
        final = contents(dst)
        assert final == new_files
        leftovers = [p for p in dst.rglob(".syncline-*") if run_temp(p.name)]
        assert leftovers == []
        runs = dst / ".syncline/runs"  # every record ended: the killed run's finished, the rerun's own closed
        assert not runs.exists() or not list(runs.iterdir()), f"trial {trial}: records left"
    assert kills >= TRIALS // 2, "most trials must really kill a running sync"
