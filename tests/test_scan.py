"""Scanning real trees: kinds, digests and their reuse, ignore rules, odd names, unreadable parts."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import blake3
import pytest

from syncline.core import scan as scan_module
from syncline.core.entry import DIR, FILE, SYMLINK
from syncline.core.index import Index
from syncline.core.scan import RACY_WINDOW_NS, find_inodes, scan, scan_dirs

from .conftest import write

OLD = 1_500_000_000


def test_kinds_sizes_modes_and_digests(tmp_path: Path) -> None:
    write(tmp_path, "d/f.txt", "hello", mtime=OLD, mode=0o640)
    os.symlink("d/f.txt", tmp_path / "l")
    idx = scan(tmp_path)
    assert idx["d"].kind == DIR and idx["l"].kind == SYMLINK and idx["l"].target == "d/f.txt"
    e = idx["d/f.txt"]
    assert (e.kind, e.size, e.mtime_ns, e.mode) == (FILE, 5, OLD * 10**9, 0o640)
    assert e.digest == blake3.blake3(b"hello").digest()
    assert list(idx) == ["d", "d/f.txt", "l"]


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    write(tmp_path, "real/inside.txt", "x")
    os.symlink("real", tmp_path / "to_dir")
    os.symlink("loop", tmp_path / "loop")
    os.symlink(".", tmp_path / "real/self")
    idx = scan(tmp_path)
    assert sorted(idx) == ["loop", "real", "real/inside.txt", "real/self", "to_dir"]
    assert idx["to_dir"].kind == SYMLINK and idx["loop"].target == "loop"


def test_special_files_are_skipped_and_reported(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        write(tmp_path, "f", "x")
        idx = scan(tmp_path)
    finally:
        sock.close()
    assert list(idx) == ["f"]
    notes = sorted((p.path, p.message, p.error) for p in idx.problems)
    assert notes == [("fifo", "skipped fifo", False), ("sock", "skipped socket", False)]


def test_digests_are_reused_when_the_stat_key_matches(tmp_path: Path) -> None:
    write(tmp_path, "old.txt", "old", mtime=OLD)
    first = scan(tmp_path)
    # A marker digest proves the second scan took it from the previous index instead of hashing.
    marker = b"\xaa" * 32
    fake = Index({"old.txt": first["old.txt"]._replace(digest=marker)}, first.header)
    assert scan(tmp_path, previous=fake)["old.txt"].digest == marker
    write(tmp_path, "old.txt", "new", mtime=OLD)  # same size and mtime, but ctime moved
    assert scan(tmp_path, previous=fake)["old.txt"].digest == blake3.blake3(b"new").digest()


def test_racily_clean_files_are_rehashed(tmp_path: Path) -> None:
    write(tmp_path, "fresh.txt", "v1")
    first = scan(tmp_path)
    assert first["fresh.txt"].mtime_ns > first.header.scanned_ns - RACY_WINDOW_NS
    marker = b"\xbb" * 32
    fake = Index({"fresh.txt": first["fresh.txt"]._replace(digest=marker)}, first.header)
    assert scan(tmp_path, previous=fake)["fresh.txt"].digest == blake3.blake3(b"v1").digest()


def test_temp_files_of_recorded_runs_and_meta_dirs_at_any_depth_are_not_entries(tmp_path: Path) -> None:
    run = "0123456789abcdef"
    write(tmp_path, f".syncline/runs/{run}", "")
    write(tmp_path, f".syncline-tmp-{run}-0", "partial")
    write(tmp_path, f"sub/.syncline-old-{run}-1a", "a replaced version on its way to the trash")
    write(tmp_path, ".syncline/trash/x", "trashed")
    write(tmp_path, "sub/.syncline/folder-id", "a nested pair's own folder: never an outer pair's file")
    # Names of that shape whose run is not recorded are a user's files like any other.
    write(tmp_path, ".syncline-tmp-fedcba9876543210-0", "a user's file")
    write(tmp_path, ".syncline-tmp-0123456789abcdef", "a user's file in the old temp shape")
    write(tmp_path, "sub/.syncline-tmp-nothex", "a user's file")
    idx = scan(tmp_path)
    assert not [p for p in idx.entries if ".syncline" in p.split("/")]
    assert f".syncline-tmp-{run}-0" not in idx and f"sub/.syncline-old-{run}-1a" not in idx
    assert {".syncline-tmp-fedcba9876543210-0", ".syncline-tmp-0123456789abcdef",
            "sub/.syncline-tmp-nothex"} <= set(idx.entries)
    assert sorted(idx.temp_files) == [f".syncline-tmp-{run}-0", f"sub/.syncline-old-{run}-1a"]
    assert set(scan_dirs(tmp_path, [("sub", True)]).entries) == {"sub", "sub/.syncline-tmp-nothex"}


def test_non_utf8_and_long_names(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.txt"
    with open(raw, "wb") as fh:
        fh.write(b"latin-1 name")
    long_name = "n" * 255
    write(tmp_path, long_name, "long")
    idx = scan(tmp_path)
    assert os.fsdecode(b"caf\xe9-\xff.txt") in idx and long_name in idx


def test_ignore_files_nest_and_negate(tmp_path: Path) -> None:
    write(tmp_path, ".synclineignore", "*.tmp\nbuild/\n")
    write(tmp_path, "a.tmp", "x")
    write(tmp_path, "build/x.o", "x")
    write(tmp_path, "sub/.synclineignore", "!keep.tmp\n")
    write(tmp_path, "sub/keep.tmp", "x")
    write(tmp_path, "sub/drop.tmp", "x")
    idx = scan(tmp_path)
    assert "a.tmp" not in idx and "build" not in idx
    assert "sub/keep.tmp" in idx and "sub/drop.tmp" not in idx
    assert ".synclineignore" in idx  # ignore files themselves are synced, as .gitignore is


def test_missing_root_is_a_usage_error(tmp_path: Path) -> None:
    from syncline.core.errors import UsageError

    with pytest.raises(UsageError, match="no such directory"):
        scan(tmp_path / "nope")
    write(tmp_path, "file", "x")
    with pytest.raises(UsageError, match="not a directory"):
        scan(tmp_path / "file")


def test_scan_time_is_recorded(tmp_path: Path) -> None:
    before = time.time_ns()
    idx = scan(tmp_path)
    assert before <= idx.header.scanned_ns <= time.time_ns()
    assert idx.root is not None and idx.root.kind == DIR


def test_a_damaged_previous_index_is_never_trusted(tmp_path: Path) -> None:
    from syncline.engine.offline.indexing import make_index

    tree = tmp_path / "tree"
    write(tree, "a.txt", "aaa", mtime=OLD)
    out = tmp_path / "t.slidx"
    make_index(tree, out)
    data = bytearray(out.read_bytes())
    data[-1] ^= 0xFF  # the checksum no longer matches: every record may be bogus
    out.write_bytes(bytes(data))
    again = make_index(tree, out)
    assert again["a.txt"].digest == blake3.blake3(b"aaa").digest()
    assert any("not reusing digests" in p.message and not p.error for p in again.problems)


def test_find_inodes_gives_every_path_of_the_inodes_asked_for(tmp_path: Path) -> None:
    write(tmp_path, "a/b/c/deep.txt", b"d")
    write(tmp_path, "top.txt", b"t")
    os.link(tmp_path / "top.txt", tmp_path / "a/twin.txt")
    write(tmp_path, ".syncline/trash/top.txt", b"t")
    os.link(tmp_path / "top.txt", tmp_path / ".syncline/trash/linked.txt")  # syncline's own: never a path
    (tmp_path / "a/b/empty").mkdir()
    os.symlink("top.txt", tmp_path / "link")
    ino = {p: os.lstat(tmp_path / p).st_ino for p in ("a/b/c/deep.txt", "top.txt", "a/b/empty", "link", "a/b")}

    found = find_inodes(tmp_path, [*ino.values(), 999_999_999])

    assert found is not None
    assert {i: sorted(paths) for i, paths in found.items()} == {
        ino["a/b/c/deep.txt"]: ["a/b/c/deep.txt"], ino["top.txt"]: ["a/twin.txt", "top.txt"],
        ino["a/b/empty"]: ["a/b/empty"], ino["link"]: ["link"], ino["a/b"]: ["a/b"]}
    assert find_inodes(tmp_path, []) == {}
    assert find_inodes(tmp_path / "missing", [ino["top.txt"]]) is None


def test_find_inodes_cannot_tell_where_listings_number_entries_apart(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An overlay file system may give a listing's entries other inodes than a stat does: then a path
    could be missed, so the answer is None (the caller scans)."""
    write(tmp_path, "d/f.txt", b"f")
    ino = os.lstat(tmp_path / "d/f.txt").st_ino
    real = os.scandir

    class Renumbered:
        def __init__(self, entry: os.DirEntry[str]) -> None:
            self._entry = entry
            self.name = entry.name

        def inode(self) -> int:
            return self._entry.inode() + 1

        def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
            return self._entry.stat(follow_symlinks=follow_symlinks)

        def is_dir(self, *, follow_symlinks: bool = True) -> bool:
            return self._entry.is_dir(follow_symlinks=follow_symlinks)

    class Listing:
        def __init__(self, path: str) -> None:
            self._it = real(path)

        def __enter__(self) -> list[Renumbered]:
            return [Renumbered(e) for e in self._it]

        def __exit__(self, *exc: object) -> None:
            self._it.close()

    assert find_inodes(tmp_path, [ino]) == {ino: ["d/f.txt"]}
    monkeypatch.setattr(scan_module.os, "scandir", Listing)
    assert find_inodes(tmp_path, [ino]) is None
