"""kill -9 at named points of a two-way run (``SYNCLINE_CRASH_AT``), then a normal run: the pair ends
exactly as an uninterrupted run leaves it, with no lost change, no second conflict copy, no temp file,
and nothing copied again that was done before the kill."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from syncline.core.conflicts import is_conflict_name
from syncline.core.paths import run_temp

from .test_kill9 import contents

T0 = 1_650_000_000


def _put(root: Path, rel: str, data: bytes, mtime: int) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    os.utime(p, (mtime, mtime))


def crash_env(state: Path, crash: str | None) -> dict[str, str]:
    """The environment of a child run with its own state directory, killed at ``crash`` (None: not)."""
    env = {**os.environ, "SYNCLINE_STATE_DIR": str(state)}
    env.pop("SYNCLINE_CRASH_AT", None)
    if crash is not None:
        env["SYNCLINE_CRASH_AT"] = crash
    return env


def _run(a: Path, b: Path, state: Path, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncline", "sync", "--two-way", "--force", "--json", str(a),
                           str(b)], capture_output=True, text=True, env=crash_env(state, crash), timeout=120,
                          check=False)


def prepare(base: Path) -> tuple[Path, Path, Path]:
    """A synced pair, then changes on both sides (the same every time: the seed is fixed)."""
    rng = random.Random(7)
    a, b, state = base / "a", base / "b", base / "state"
    a.mkdir()
    b.mkdir()
    for i in range(400):
        _put(a, f"d{i % 8}/f{i:03d}.bin", rng.randbytes(rng.choice([50, 3000, 40_000])), T0 + i)
    for i in range(60):
        _put(a, f"album/p{i:02d}.jpg", rng.randbytes(2000), T0)
    assert _run(a, b, state).returncode == 0
    for i in range(0, 120):  # A edits
        _put(a, f"d{i % 8}/f{i:03d}.bin", b"A" + rng.randbytes(1000 + i), T0 + 10_000 + i)
    for i in range(100, 180):  # B edits; 100..119 are edited on both sides: conflicts
        _put(b, f"d{i % 8}/f{i:03d}.bin", b"B" + rng.randbytes(2000 + i), T0 + 20_000 + i)
    for i in range(50):
        _put(a, f"new-a/n{i:02d}.txt", rng.randbytes(500), T0 + 30_000)
        _put(b, f"new-b/n{i:02d}.txt", rng.randbytes(700), T0 + 30_000)
    for i in range(200, 230):
        (a / f"d{i % 8}/f{i:03d}.bin").unlink()
    for i in range(230, 250):
        (b / f"d{i % 8}/f{i:03d}.bin").unlink()
    os.rename(a / "album", a / "album-2026")
    return a, b, state


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], int]:
    """What an uninterrupted run leaves, and how many files it copies."""
    a, b, state = prepare(tmp_path_factory.mktemp("reference"))
    proc = _run(a, b, state)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["moved"] == 1 and len(data["conflicts"]) == 20
    assert contents(a) == contents(b)
    return contents(a), data["to_a"]["copied"] + data["to_b"]["copied"]


@pytest.mark.parametrize("crash", ["move:1", "commit:1", "commit:60", "commit:170", "barrier:1", "barrier:3",
                                   "direct:3", "direct:40", "base:1", "base:2"])
def test_kill_then_rerun_converges_to_the_same_result(tmp_path: Path, crash: str,
                                                      reference: tuple[dict[str, bytes], int]) -> None:
    want, copies = reference
    a, b, state = prepare(tmp_path)
    killed = _run(a, b, state, crash)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = _run(a, b, state)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    got_a, got_b = contents(a), contents(b)
    assert got_a == got_b == want  # nothing lost, no second conflict copy, no leftovers
    assert sum(1 for p in got_a if is_conflict_name(os.path.basename(p))) == 20
    for root in (a, b):
        assert not [n for _, _, files in os.walk(root) for n in files if run_temp(n)]
    recopied = data["to_a"]["copied"] + data["to_b"]["copied"]
    name, _, count = crash.partition(":")
    if name == "commit":
        assert recopied <= copies - int(count)  # what was committed before the kill is not copied again
    assert recopied <= copies
    final = _run(a, b, state)
    assert json.loads(final.stdout)["to_a"]["copied"] == json.loads(final.stdout)["to_b"]["copied"] == 0
