"""A two-way base that cannot be opened or written is left alone; only a corrupt one is set aside (issue 11,
point 12).

A full disk under the state directory is real here: a small tmpfs in a private mount namespace (root only),
with the pair's roots on the ordinary disk.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import syncline
from syncline.core.errors import StateError
from syncline.engine.twoway.pairstate import PairState

from .cli_helpers import run
from .conftest import write
from .tmpfs import needs_root, run_with_tmpfs

pytestmark = pytest.mark.timeout(120)

_COMMON = """
import errno, os, subprocess, sys
from pathlib import Path
state, work = Path(sys.argv[1]), Path(sys.argv[2])
os.environ["SYNCLINE_STATE_DIR"] = str(state)
a, b = work / "a", work / "b"
for root in (a, b):
    root.mkdir()
(a / "keep.txt").write_text("keep")
(a / "other.txt").write_text("other")

def cli():
    return subprocess.run([sys.executable, "-m", "syncline", "sync", "--two-way", str(a), str(b)],
                          capture_output=True, text=True, timeout=60)

def fill():
    # Fill the state's file system to the last block: a real ENOSPC for every later write.
    fd = os.open(state / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # unbuffered: nothing left to flush
    try:
        while True:
            os.write(fd, b"\\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)

def state_files():
    return sorted(p.name for p in (state / "pairs").iterdir())

r = cli()
assert r.returncode == 0, r.stderr
(a / "keep.txt").unlink()  # the user deletes a file; the base knows it was on both sides
"""

_FULL_AT_OPEN = _COMMON + """
files = state_files()
base = {n: (state / "pairs" / n).read_bytes() for n in files}
fill()
r = cli()
assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
lines = r.stderr.strip().splitlines()
assert len(lines) == 1 and lines[0].startswith("syncline: error: ") and "state" in lines[0], r.stderr
# Nothing moved aside, the base untouched (SQLite may leave its empty -wal and -shm files).
assert {n: (state / "pairs" / n).read_bytes() for n in files} == base
assert not any(".corrupt-" in n for n in state_files()), state_files()
assert (b / "keep.txt").read_text() == "keep" and not (a / "keep.txt").exists()  # nothing changed
os.unlink(state / "filler")
r = cli()
assert r.returncode == 0, r.stderr
assert not (b / "keep.txt").exists() and not (a / "keep.txt").exists(), "a deleted file came back"
assert "first run" not in r.stdout + r.stderr
print("ok")
"""

_FULL_DURING_RUN = _COMMON + """
import syncline
from syncline.core.errors import SynclineError
from syncline.engine.twoway.pairstate import PairState

(b / "new.txt").write_text("new")
calls = 0
real = PairState.transaction

def filling(self):
    # The disk fills up after the run opened its base and began writing items.
    global calls
    calls += 1
    if calls == 2:
        fill()
    return real(self)

PairState.transaction = filling
try:
    syncline.sync(a, b, two_way=True)
except SynclineError as exc:
    assert "state" in str(exc) and "\\n" not in str(exc), str(exc)
else:
    raise AssertionError("a base that cannot be written must stop the run")
PairState.transaction = real
os.unlink(state / "filler")
assert not any(".corrupt-" in n for n in state_files()), state_files()
report = syncline.sync(a, b, two_way=True)
assert report.exit_code == 0 and not report.first_run, (report.problems, report.notices)
assert not (b / "keep.txt").exists() and not (a / "keep.txt").exists(), "a deleted file came back"
assert (a / "new.txt").read_text() == "new"
print("ok")
"""


@needs_root
def test_a_full_disk_under_the_state_dir_stops_the_run_and_keeps_the_base(tmp_path: Path) -> None:
    out = run_with_tmpfs(tmp_path / "state", "2m", _FULL_AT_OPEN, tmp_path / "state", tmp_path)
    assert out.strip() == "ok"


@needs_root
def test_a_disk_that_fills_up_during_the_run_stops_it_and_the_next_run_converges(tmp_path: Path) -> None:
    out = run_with_tmpfs(tmp_path / "state", "2m", _FULL_DURING_RUN, tmp_path / "state", tmp_path)
    assert out.strip() == "ok"


def _db() -> Path:
    return next((Path(os.environ["SYNCLINE_STATE_DIR"]) / "pairs").glob("*.sqlite"))


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "keep.txt", "keep")
    b.mkdir()
    syncline.sync(a, b, two_way=True)
    return a, b


def test_a_base_from_a_newer_syncline_is_left_alone(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    db = sqlite3.connect(_db())
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    (a / "keep.txt").unlink()
    with pytest.raises(StateError, match="newer syncline"):
        syncline.sync(a, b, two_way=True)
    assert [p.name for p in _db().parent.iterdir() if ".corrupt-" in p.name] == []
    assert (b / "keep.txt").exists()
    done = run("sync", "--two-way", a, b)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "upgrade syncline" in done.stderr


def test_an_unreadable_base_file_is_left_alone(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    db = _db()
    db.unlink()
    db.mkdir()  # an I/O error of another kind: the path cannot be opened as a file at all
    with pytest.raises(StateError, match="cannot open"):
        PairState(a, b)
    assert db.is_dir() and [p.name for p in db.parent.iterdir() if ".corrupt-" in p.name] == []


def test_only_a_corrupt_base_is_set_aside(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    db = _db()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    state = PairState(a, b)
    try:
        assert "moved it to" in state.notice and state.load() == {}
    finally:
        state.close()
    assert len([p for p in db.parent.iterdir() if ".corrupt-" in p.name]) == 1
