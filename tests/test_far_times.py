"""mtimes far from 1970: every mode handles any time the file system can hold (issue 11, point 11).

Python gives ``st_mtime_ns`` as an unbounded int; past 2262-04-11 (and before 1677-09-21) it no longer fits
the signed 64-bit integers of SQLite and msgpack. ext4 holds 1901-12-13 to 2446-05-10; tmpfs holds any
signed 64-bit count of seconds, so nanoseconds up to about 9.2e27. The on-disk tests here use the machine's
file system (``tmp_path``); the tmpfs extremes are checked in a private mount namespace when running as
root, and through the formats directly everywhere.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

import syncline
from syncline.core.conflicts import conflict_name, is_conflict_name
from syncline.core.entry import DIR, FILE, Entry
from syncline.core.index import Index, IndexHeader
from syncline.core.reconcile import BaseEntry
from syncline.engine.twoway.pairstate import PairState
from syncline.formats.indexfile import load_index, write_index

from .conftest import write
from .tmpfs import needs_root, run_with_tmpfs

pytestmark = pytest.mark.timeout(120)

NS = 1_000_000_000
Y2400 = 13_569_465_600 * NS  # 2400-01-01T00:00:00Z, past int64 nanoseconds
EXT4_MAX = 15_032_385_535 * NS  # 2446-05-10, ext4's latest time (its last second has no nanoseconds)
EXT4_MIN = -2_147_483_648 * NS  # 1901-12-13, ext4's earliest time
TMPFS_MAX = (2**63 - 1) * NS + 999_999_999  # the last timespec (tmpfs keeps any signed 64-bit time_t)
TMPFS_MIN = -(2**63) * NS
FAR = [Y2400, EXT4_MAX, EXT4_MIN, -1, -NS - 1]


def _set_mtime(p: Path, ns: int) -> None:
    os.utime(p, ns=(ns, ns), follow_symlinks=False)
    if os.lstat(p).st_mtime_ns != ns:
        pytest.skip(f"the file system of {p} cannot hold the time {ns} ns")


def _mtime(p: Path) -> int:
    return os.lstat(p).st_mtime_ns


@pytest.mark.parametrize("when", FAR, ids=["2400", "ext4-max", "ext4-min", "minus-1ns", "before-1970"])
def test_two_way_syncs_files_dated_far_from_1970_and_keeps_running(tmp_path: Path, when: int) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _set_mtime(write(a, "far.txt", "far"), when)
    (a / "sub").mkdir()
    _set_mtime(a / "sub", when)
    report = syncline.sync(a, b, two_way=True)
    assert report.exit_code == 0, report.problems
    assert (b / "far.txt").read_text() == "far" and _mtime(b / "far.txt") == when
    assert _mtime(b / "sub") == when
    # The base holds the far time: the next run finds nothing to do, and other changes still flow.
    again = syncline.sync(a, b, two_way=True)
    assert again.exit_code == 0 and not again.to_a.copied and not again.to_b.copied
    write(b, "later.txt", "later")
    (a / "far.txt").write_text("edited")
    edited = when - NS if when > 0 else when + NS
    _set_mtime(a / "far.txt", edited)
    third = syncline.sync(a, b, two_way=True)
    assert third.exit_code == 0, third.problems
    assert (a / "later.txt").read_text() == "later"
    assert (b / "far.txt").read_text() == "edited" and _mtime(b / "far.txt") == edited


@pytest.mark.parametrize("when", FAR, ids=["2400", "ext4-max", "ext4-min", "minus-1ns", "before-1970"])
def test_index_snapshot_archive_and_apply_keep_far_mtimes(tmp_path: Path, when: int) -> None:
    src, far = tmp_path / "src", tmp_path / "far"
    write(src, "old.txt", "old", mtime=1_700_000_000)
    shutil.copytree(src, far)
    _set_mtime(write(src, "new.txt", "new"), when)
    idx = syncline.index(src, tmp_path / "src.slidx")
    assert load_index(tmp_path / "src.slidx").entries["new.txt"].mtime_ns == when == idx.entries["new.txt"].mtime_ns
    syncline.snapshot(src, "far")
    assert not syncline.diff(f"{src}@far", src).changes
    syncline.index(far, tmp_path / "far.slidx")
    syncline.archive(src, tmp_path / "far.slidx", tmp_path / "d.slar")
    report = syncline.apply(tmp_path / "d.slar", far)
    assert report.exit_code == 0, report.problems
    assert (far / "new.txt").read_text() == "new" and _mtime(far / "new.txt") == when


def test_index_files_round_trip_every_time_tmpfs_can_hold(tmp_path: Path) -> None:
    entries = {
        "a": Entry(DIR, 0, TMPFS_MAX, 0o755, file_id=1, ctime_ns=TMPFS_MAX),
        "a/b": Entry(FILE, 1, TMPFS_MIN, 0o644, file_id=2, ctime_ns=TMPFS_MIN),
        "c": Entry(FILE, 2, Y2400, 0o644, file_id=2**64 - 1, ctime_ns=-(2**63) - 1),
        "d": Entry(FILE, 3, 2**63 - 1, 0o644, ctime_ns=-(2**63)),
    }
    idx = Index(entries, IndexHeader(root="/r", host="h"), root=Entry(DIR, 0, TMPFS_MIN, 0o700, ctime_ns=TMPFS_MAX))
    write_index(idx, tmp_path / "x.slidx")
    back = load_index(tmp_path / "x.slidx")
    assert dict(back.entries) == entries and back.root == idx.root


def test_index_show_prints_every_time_tmpfs_can_hold(tmp_path: Path) -> None:
    """The C library cannot give a local time past year 2^31: such a time prints as @<seconds>."""
    from .cli_helpers import run

    entries = {"far": Entry(FILE, 1, TMPFS_MAX, 0o644), "near": Entry(FILE, 1, Y2400, 0o644),
               "past": Entry(FILE, 1, TMPFS_MIN, 0o644)}
    write_index(Index(entries, IndexHeader(root="/r", host="h")), tmp_path / "x.slidx")
    shown = run("index", "show", tmp_path / "x.slidx")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert f"@{TMPFS_MAX // 10**9}" in shown.stdout and "2400-01-01" in shown.stdout


def test_the_base_stores_every_time_tmpfs_can_hold(tmp_path: Path) -> None:
    rows = {f"f{i}": BaseEntry(Entry(FILE, 1, t, 0o644, b"d" * 32), 5, 6)
            for i, t in enumerate((TMPFS_MAX, TMPFS_MIN, Y2400, 2**63 - 1, -(2**63), 0, 2**63, -(2**63) - 1))}
    state = PairState(tmp_path / "x", tmp_path / "y")
    try:
        with state.transaction():
            state.put(rows.items())
        assert state.load() == rows
        with state.transaction():
            state.put([("f0", BaseEntry(Entry(FILE, 1, 7, 0o644), 1, 2)), ("f2", None)])
        assert state.load() == {**{p: r for p, r in rows.items() if p != "f2"},
                                "f0": BaseEntry(Entry(FILE, 1, 7, 0o644), 1, 2)}
    finally:
        state.close()


@pytest.mark.parametrize("when", [TMPFS_MAX, TMPFS_MIN, Y2400, EXT4_MIN])
def test_a_conflict_copy_of_a_file_dated_anywhere_has_a_valid_name(when: int) -> None:
    name = conflict_name("docs/f.txt", when, "laptop")
    assert is_conflict_name(name.rpartition("/")[2]) and name.startswith("docs/f.sync-conflict-")


def test_a_base_of_schema_v1_is_upgraded_in_place(tmp_path: Path) -> None:
    x, y = tmp_path / "x", tmp_path / "y"
    state = PairState(x, y)
    path = state.path
    state.close()
    path.unlink()
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE base (
            path BLOB PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
            mode INTEGER NOT NULL, digest BLOB, target BLOB, inode_a INTEGER NOT NULL, inode_b INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta VALUES ('schema', '1'), ('folder_id', 'f00d'), ('finished_ns', '1');
        INSERT INTO base VALUES (X'6b656570', 0, 4, 1700000000000000000, 420, NULL, NULL, 7, 8);
    """)
    db.commit()
    db.close()
    state = PairState(x, y)
    try:
        assert not state.notice and state.folder_id() == "f00d" and state.synced_before()
        keep = BaseEntry(Entry(FILE, 4, 1_700_000_000_000_000_000, 0o644), 7, 8)
        assert state.load() == {"keep": keep}
        far = BaseEntry(Entry(FILE, 1, Y2400, 0o644), 1, 2)
        with state.transaction():
            state.put([("far", far)])
        assert state.load() == {"keep": keep, "far": far}
    finally:
        state.close()


_IN_TMPFS = """
import os, sys
from pathlib import Path
import syncline
from syncline.formats.indexfile import load_index
top = Path(sys.argv[1])
NS = 10**9
# tmpfs keeps any time_t; at the very last second Linux drops the nanoseconds.
ext = {"max": (2**63 - 1) * NS, "min": -(2**63) * NS, "ns": 2**62 * NS + 123_456_789}
src, far, a, b = top / "src", top / "far", top / "a", top / "b"
for d in (src, far, a, b):
    d.mkdir()
for name, t in ext.items():
    for root in (src, a):
        p = root / name
        p.write_text(name)
        os.utime(p, ns=(t, t))
assert (src / "max").stat().st_mtime_ns == ext["max"], "tmpfs did not keep the time"
r = syncline.sync(a, b, two_way=True)
assert r.exit_code == 0, r.problems
assert syncline.sync(a, b, two_way=True).exit_code == 0
idx = syncline.index(src, top / "src.slidx")
assert {p: e.mtime_ns for p, e in load_index(top / "src.slidx").entries.items()} == ext
syncline.snapshot(src)
syncline.index(far, top / "far.slidx")
syncline.archive(src, top / "far.slidx", top / "d.slar")
assert syncline.apply(top / "d.slar", far).exit_code == 0
r = syncline.sync(src, top / "mirror")
assert r.exit_code == 0, r.problems
for root in (b, far, top / "mirror"):
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir() if p.name != ".syncline"} == ext, root
# Both sides edit the same file, keeping the extreme time: a conflict copy, named and synced.
for root, text in ((a, "edit a"), (b, "edit b!")):
    (root / "max").write_text(text)
    os.utime(root / "max", ns=(ext["max"], ext["max"]))
r = syncline.sync(a, b, two_way=True)
assert r.exit_code == 0 and len(r.conflicts) == 1, (r.problems, r.conflicts)
assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
print("ok")
"""


@needs_root
def test_every_mode_handles_the_extreme_times_of_tmpfs(tmp_path: Path) -> None:
    assert run_with_tmpfs(tmp_path / "tmpfs", "16m", _IN_TMPFS, tmp_path / "tmpfs").strip() == "ok"
