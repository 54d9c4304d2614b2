"""kill -9 at the two-way crash points (``base``, ``barrier``, ``commit``) during a scoped run
(``sync_two_way_replicas(..., dirs=...)``), then the same scoped run again: it sees that the last run did
not finish and runs in full (the killed run may have made a folder it did not fill, which a scoped run
would not look into), and the pair ends exactly as an uninterrupted scoped run followed by a full run
leaves it: nothing lost, no second conflict copy, no temp file, the move out of the scope a move."""

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
from .test_twoway_kill import T0, _put, crash_env
from .test_twoway_kill import _run as _full_run

# The scoped run, in a child that may be killed: the scope is argv[3] (JSON), the report's counts go to stdout.
_SCOPED = """
import json, sys
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.twoway.run import TwoWaySyncOptions, sync_two_way_replicas
policy = WritePolicy.two_way(trash=True)
a, b = LocalReplica(sys.argv[1], policy=policy), LocalReplica(sys.argv[2], policy=policy)
dirs = [tuple(d) for d in json.loads(sys.argv[3])]
r = sync_two_way_replicas(a, b, TwoWaySyncOptions(force=True), dirs=dirs)
print(json.dumps({"copied": r.to_a.copied + r.to_b.copied, "deleted": r.to_a.deleted + r.to_b.deleted,
                  "conflicts": len(r.conflicts), "errors": [str(p) for p in r.problems if p.error],
                  "notices": r.notices}))
"""
# d0 and d1 are asked for; "new-a" was made inside d1, so it is listed from there and taken whole.
SCOPE = [("d0", False), ("d1", False)]


def _scoped(a: Path, b: Path, state: Path, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _SCOPED, str(a), str(b), json.dumps(SCOPE)], capture_output=True,
                          text=True, env=crash_env(state, crash), timeout=120, check=False)


def prepare(base: Path) -> tuple[Path, Path, Path]:
    """A synced pair, then changes on both sides in and out of the scope (the same every time)."""
    rng = random.Random(11)
    a, b, state = base / "a", base / "b", base / "state"
    a.mkdir()
    b.mkdir()
    for i in range(240):
        _put(a, f"d{i % 4}/f{i:03d}.bin", rng.randbytes(rng.choice([50, 3000])), T0 + i)
    assert _full_run(a, b, state).returncode == 0
    for i in range(0, 60):  # A edits d0..d3; d2, d3 are outside the scope
        _put(a, f"d{i % 4}/f{i:03d}.bin", b"A" + rng.randbytes(500 + i), T0 + 10_000 + i)
    for i in range(40, 90):  # B edits; 40..59 are edited on both sides: conflicts
        _put(b, f"d{i % 4}/f{i:03d}.bin", b"B" + rng.randbytes(700 + i), T0 + 20_000 + i)
    for i in range(20):
        _put(a, f"d1/new-a/n{i:02d}.txt", rng.randbytes(300), T0 + 30_000)
    for i in range(120, 160):
        (a if i % 8 < 4 else b).joinpath(f"d{i % 4}/f{i:03d}.bin").unlink()
    os.rename(a / "d0/f200.bin", a / "d2/moved-out.bin")  # a move out of the scope: never a delete
    return a, b, state


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], int]:
    """What an uninterrupted scoped run then a full run leave, and how many conflict copies they make."""
    a, b, state = prepare(tmp_path_factory.mktemp("reference"))
    proc = _scoped(a, b, state)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert not data["errors"] and data["deleted"] > 0
    _check_scope(contents(a), contents(b))
    full = _full_run(a, b, state)
    assert full.returncode == 0, full.stderr
    assert json.loads(full.stdout)["moved"] == 1
    assert contents(a) == contents(b)
    return contents(a), data["conflicts"] + len(json.loads(full.stdout)["conflicts"])


def _check_scope(got_a: dict[str, bytes], got_b: dict[str, bytes]) -> None:
    """What a scoped run over SCOPE must leave: its folders equal, the moved file at both its ends, the
    edits outside the scope not carried over yet."""
    in_scope = ("d0/", "d1/")
    assert {p: v for p, v in got_a.items() if p.startswith(in_scope) and p != "d0/f200.bin"} \
        == {p: v for p, v in got_b.items() if p.startswith(in_scope) and p != "d0/f200.bin"}
    assert "d2/moved-out.bin" in got_a and "d0/f200.bin" in got_b and got_b["d0/f200.bin"] == got_a["d2/moved-out.bin"]
    assert "d2/moved-out.bin" not in got_b
    assert got_a["d2/f002.bin"] != got_b["d2/f002.bin"]  # an edit outside the scope waits for a full run


@pytest.mark.parametrize("crash", ["base:1", "base:2", "barrier:1", "barrier:2", "commit:1", "commit:40"])
def test_kill_during_a_scoped_run_then_a_scoped_run_converges(
        tmp_path: Path, crash: str, reference: tuple[dict[str, bytes], int]) -> None:
    want, conflicts = reference
    a, b, state = prepare(tmp_path)
    killed = _scoped(a, b, state, crash)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    again = _scoped(a, b, state)

    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert not data["errors"] and data["notices"] == ["the last run of this pair did not finish: synced in full, "
                                                      "not only the folders asked for"]
    got_a, got_b = contents(a), contents(b)
    assert got_a == got_b == want  # nothing lost, no second conflict copy, no leftovers
    assert "d2/moved-out.bin" in got_b and "d0/f200.bin" not in got_b  # moved, never deleted
    assert sum(1 for p in got_a if is_conflict_name(os.path.basename(p))) == conflicts
    for root in (a, b):
        assert not [n for _, _, files in os.walk(root) for n in files if run_temp(n)]
    settled = json.loads(_scoped(a, b, state).stdout)
    assert settled == {"copied": 0, "deleted": 0, "conflicts": 0, "errors": [], "notices": []}
