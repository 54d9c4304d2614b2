"""The second scan of a sync runs in a forked child and comes back packed in columns: it must be the very
same Index as a scan in this process, and any failure of the child must fall back to such a scan."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from syncline.core.entry import Chunk
from syncline.core.index import Index, IndexHeader
from syncline.core.scan import scan
from syncline.engine.forkscan import PendingScan, scan_in_child
from syncline.formats.columns import pack_index, unpack_index

from .conftest import write

SETTLE_S = 60.0  # generous: a thread an earlier test stopped may take a while to end on a busy machine


@pytest.fixture
def alone() -> None:
    """Wait until this process runs no other thread: a child is forked only then (rightly: fork with
    threads is unsafe), so these tests mean something only then. A thread that never ends is another
    test's leak, named in the failure."""
    import time

    end = time.monotonic() + SETTLE_S
    while threading.active_count() > 1:
        if time.monotonic() > end:
            pytest.fail(f"threads left running by earlier tests: {[t.name for t in threading.enumerate()][1:]}")
        time.sleep(0.05)


def _tree(root: Path) -> None:
    write(root, "a.txt", b"alpha", mtime=1_600_000_000.123456789, mode=0o640)
    write(root, "dir/b.bin", os.urandom(5000), mode=0o755)
    write(root, "dir/sub/empty", b"")
    (root / "only-a-dir").mkdir()
    os.symlink("../a.txt", root / "dir/link")
    os.symlink("nowhere/at/all", root / "dangling")
    bad = os.fsencode(str(root / "dir")) + b"/caf\xe9-latin1.txt"  # not UTF-8
    with open(bad, "wb") as fh:
        fh.write(b"latin-1 name")
    write(root, ".syncline/runs/0123456789abcdef", b"d 646972\n")
    write(root, "dir/.syncline-tmp-0123456789abcdef-0", b"left by a kill")
    os.mkfifo(root / "pipe")


def _same(a: Index, b: Index, *, rescanned: bool = False) -> None:
    """``rescanned``: ``b`` is a second scan of the same tree, taken a moment later."""
    assert list(a.entries.items()) == list(b.entries.items())  # same entries, same order
    assert a.header == (replace(b.header, scanned_ns=a.header.scanned_ns) if rescanned else b.header)
    assert a.problems == b.problems
    assert a.unreadable == b.unreadable
    assert a.temp_files == b.temp_files
    assert a.root == b.root
    assert a.hard_links == b.hard_links


@pytest.mark.parametrize("digests", [False, True])
def test_packing_round_trips_a_real_scan(tmp_path: Path, digests: bool) -> None:
    _tree(tmp_path)
    index = scan(tmp_path, digests=digests)
    assert index.problems and index.temp_files  # the fifo and the temp file are part of what must survive
    _same(unpack_index(pack_index(index)), index)


def test_packing_keeps_owners_xattrs_and_hard_links(tmp_path: Path) -> None:
    from syncline.core.entry import Keep

    _tree(tmp_path)
    os.link(tmp_path / "a.txt", tmp_path / "dir/a-again.txt")
    try:
        os.setxattr(tmp_path / "a.txt", "user.k", b"\x00v")
    except OSError:
        pass
    index = scan(tmp_path, digests=False, keep=Keep(owner=True, group=True, xattrs=True, hard_links=True))
    assert index.root is not None and index.root.attrs is not None
    assert index.entries["a.txt"].attrs is not None and index.hard_links == {"dir/a-again.txt": "a.txt"}
    _same(unpack_index(pack_index(index)), index)


def test_packing_keeps_chunks_unreadable_paths_and_an_empty_index() -> None:
    from syncline.core.entry import FILE, Entry

    chunked = Entry(FILE, 7, 5, 0o644, b"d" * 32, None, 9, 6, (Chunk(3, b"x" * 32), Chunk(4, b"y" * 32)))
    index = Index({"f": chunked}, IndexHeader(root="/r", host="h", scanned_ns=1, digests=True,
                                              chunker={"min": 1, "avg": 2, "max": 4}),
                  unreadable=frozenset({"secret", ""}))
    _same(unpack_index(pack_index(index)), index)
    _same(unpack_index(pack_index(Index({}))), Index({}))


@pytest.mark.parametrize("data", [b"", b"\x80", b"not msgpack at all", b"\x81\xa1n\x05"])
def test_unpacking_anything_else_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a packed index"):
        unpack_index(data)


def test_a_truncated_column_is_a_value_error(tmp_path: Path) -> None:
    _tree(tmp_path)
    import msgpack

    doc = msgpack.unpackb(pack_index(scan(tmp_path, digests=False)))
    doc["mtimes"] = doc["mtimes"][:-1]
    with pytest.raises(ValueError, match="column mtimes does not have"):
        unpack_index(msgpack.packb(doc))


@pytest.mark.single_thread
def test_the_child_scans_and_its_index_is_the_same(tmp_path: Path, alone: None) -> None:
    _tree(tmp_path)
    assert threading.active_count() == 1  # else the child is (rightly) not used and this test means nothing
    with scan_in_child(lambda: scan(tmp_path, digests=True)) as pending:
        assert pending._pid  # a child was started
        got = pending.result()
    _same(got, scan(tmp_path, digests=True), rescanned=True)


@pytest.mark.single_thread
def test_a_failing_child_falls_back_to_scanning_here(tmp_path: Path, alone: None) -> None:
    _tree(tmp_path)
    parent = os.getpid()
    calls: list[int] = []

    def run() -> Index:
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        calls.append(1)
        return scan(tmp_path, digests=False)

    with scan_in_child(run) as pending:
        assert pending._pid
        got = pending.result()
    assert calls == [1]
    _same(got, scan(tmp_path, digests=False), rescanned=True)


def test_a_user_error_in_the_scan_is_raised_here(tmp_path: Path) -> None:
    from syncline.core.errors import UsageError

    with scan_in_child(lambda: scan(tmp_path / "missing")) as pending, pytest.raises(UsageError):
        pending.result()


def test_no_fork_while_other_threads_run(tmp_path: Path) -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(10,))
    t.start()
    try:
        pending = PendingScan(lambda: scan(tmp_path, digests=False))
        assert not pending._pid
        assert len(pending.result()) == 0
    finally:
        stop.set()
        t.join()


@pytest.mark.single_thread
def test_an_unwanted_child_is_killed_and_reaped(tmp_path: Path, alone: None) -> None:
    import time

    def slow() -> Index:
        time.sleep(600)
        return scan(tmp_path, digests=False)

    started = time.monotonic()
    with scan_in_child(slow) as pending:
        pid = pending._pid
        assert pid
    # Left without waiting for the child's 600 s (pytest's timeout ends the test long before that).
    assert time.monotonic() - started < 300
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped
