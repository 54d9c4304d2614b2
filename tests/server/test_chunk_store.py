"""The chunk store's databases: reads and writes, reads from many threads while puts run, a full disk
leaving nothing, the bound on open databases, and the move from the first layout (one file per chunk),
killed or not."""

from __future__ import annotations

import errno
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import Op, OpEntry, WirePolicy, new_op_id
from syncline.server.chunks import BadChunk, DiskChunkStore, sqlitedb
from syncline.server.store import Store, open_store
from syncline.server.store.check import check
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

NS = "namespace01"


def frames(n: int, seed: int = 0, size: tuple[int, int] = (100, 8000)) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    data = [rng.randbytes(rng.randint(*size)) for _ in range(n)]
    return [(blake3.blake3(d).digest(), d) for d in data]


@pytest.fixture
def chunks(tmp_path: Path) -> Iterator[DiskChunkStore]:
    store = DiskChunkStore(tmp_path / "chunks", tmp_path / "tmp")
    yield store
    store.close()


def test_a_put_is_read_back_whole_and_in_ranges(chunks: DiskChunkStore) -> None:
    [(cid, data)] = frames(1, size=(5000, 5000))
    assert not chunks.has(NS, cid) and list(chunks.ids(NS)) == []
    assert not chunks.db_path(NS).exists(), "a read makes no database"
    with pytest.raises(FileNotFoundError):
        chunks.read(NS, cid)
    assert chunks.put_many(NS, [(cid, memoryview(data)), (cid, data)]) == 1
    assert chunks.read(NS, cid) == data and chunks.length(NS, cid) == 5000 and chunks.has(NS, cid)
    assert chunks.read(NS, cid, 100, 50) == data[100:150]
    assert chunks.read(NS, cid, 4990) == data[4990:] and chunks.read(NS, cid, 4990, 100) == data[4990:]
    assert chunks.read(NS, cid, 0, 0) == b"" and chunks.read(NS, cid, 6000, 10) == b""
    assert list(chunks.ids(NS)) == [cid] and list(chunks.ids("othernamespace")) == []
    chunks.delete_many(NS, [cid, blake3.blake3(b"never stored").digest()])
    assert not chunks.has(NS, cid)
    with pytest.raises(FileNotFoundError):
        chunks.length(NS, cid)


def test_a_bad_chunk_or_name_stores_nothing(chunks: DiskChunkStore) -> None:
    good = frames(3)
    with pytest.raises(BadChunk):
        chunks.put_many(NS, [*good, (good[0][0], b"other bytes")])
    assert list(chunks.ids(NS)) == []
    for bad_ns in ("../x", "UPPER", "a" * 65, "short", "a/b/cdefgh"):
        with pytest.raises(ValueError):
            chunks.put_many(bad_ns, good)
        with pytest.raises(ValueError):
            chunks.read(bad_ns, good[0][0])
    with pytest.raises(ValueError):
        chunks.read(NS, b"x" * 31)


def test_ids_stored_before_a_time(chunks: DiskChunkStore) -> None:
    first = frames(2, seed=1)
    chunks.put_many(NS, first)
    with sqlite3.connect(chunks.db_path(NS)) as db:
        db.execute("UPDATE chunks SET stored_ns = 5")
    db.close()
    chunks.put_many(NS, frames(2, seed=2))
    assert sorted(chunks.ids(NS, stored_before=10)) == sorted(i for i, _ in first)
    assert len(list(chunks.ids(NS))) == 4


def test_reads_from_many_threads_while_puts_run(chunks: DiskChunkStore) -> None:
    held = frames(1000, seed=3)
    chunks.put_many(NS, held)
    errors: list[BaseException] = []
    stop = threading.Event()

    def put() -> None:
        try:
            for n in range(5):
                chunks.put_many(NS, frames(500, seed=100 + n))
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def read(seed: int) -> None:
        try:
            order = list(held)
            random.Random(seed).shuffle(order)
            while True:
                for cid, data in order:
                    assert chunks.read(NS, cid) == data
                    assert chunks.read(NS, cid, 10, 20) == data[10:30]
                if stop.is_set():
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put)] + [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert errors == []
    assert len(list(chunks.ids(NS))) == 1000 + 5 * 500


def test_at_most_max_open_databases_keep_connections(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path / "chunks", tmp_path / "tmp", max_open=2)
    try:
        names = [f"namespace{n:02d}" for n in range(5)]
        for n, ns in enumerate(names):
            store.put_many(ns, frames(3, seed=n))
            assert len(store.dbs._open) <= 2
        for n, ns in enumerate(names):
            assert [store.read(ns, i) for i, _ in frames(3, seed=n)] == [d for _, d in frames(3, seed=n)]
        assert list(store.dbs._open) == names[-2:]
    finally:
        store.close()


def test_a_namespace_keeps_one_write_lock_when_its_connections_are_closed(tmp_path: Path) -> None:
    """A put still running on a namespace whose connections were closed (too many namespaces open) and a
    put on the same namespace after must queue on one lock, not in SQLite's busy loop."""
    store = DiskChunkStore(tmp_path / "chunks", tmp_path / "tmp", max_open=1)
    try:
        first = store.dbs.get("namespacea", make=True)
        store.dbs.get("namespaceb", make=True)  # retires namespacea's
        again = store.dbs.get("namespacea", make=True)
        assert again is not first and again.write_lock is first.write_lock
    finally:
        store.close()


def _full_after(pages: int) -> object:
    real = sqlitedb.connect

    def connect(path: Path) -> sqlite3.Connection:
        conn = real(path)
        used = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {used + pages}")
        return conn

    return connect


def test_a_put_on_a_full_disk_fails_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch, store: tuple[Store, int],
                                                      fs: FolderStore) -> None:
    s = store[0]
    put_bytes(fs, b"before the disk filled")
    s.chunks.close()  # new connections, each on a disk with a few pages left
    monkeypatch.setattr(sqlitedb, "connect", _full_after(8))
    big = frames(200, seed=4, size=(7000, 7000))
    with pytest.raises(OSError) as full:
        s.chunks.put_many(fs.ns, big)
    assert full.value.errno == errno.ENOSPC
    with pytest.raises(WireError) as refused:
        fs.put_chunks(big, "D1")
    assert refused.value.code == "no_space"
    assert [i for i, _ in big if s.chunks.has(fs.ns, i)] == []
    assert fs.missing([i for i, _ in big], "D1") == [i for i, _ in big]
    s.chunks.close()
    monkeypatch.undo()
    assert fs.put_chunks(big, "D1") == (200, 0), "once space is free the same upload goes in"


# -- the move from one file per chunk ---------------------------------------------------------------------
def make_old_store(data: Path, files: int) -> dict[str, bytes]:
    """A data dir as the file layout left it: the metadata of ``files`` files, their chunks as files."""
    store = open_store(data, min_free=0)
    user = store.users.add("anna", "hash")
    fs = store.folder(store.folders.create(user.id, "Docs")[0])
    written = {}
    for n in range(files):
        content = random.Random(n).randbytes(100 + 37 * n)
        digest, refs = put_bytes(fs, content)
        fs.apply_ops([Op(new_op_id(), "put", f"f{n:03d}", None, OpEntry(1, 0o644, len(content), digest), refs)],
                     WirePolicy(), "D1")
        written[f"f{n:03d}"] = content
    ns = fs.ns
    held = {i: store.chunks.read(ns, i) for i in store.chunks.ids(ns)}
    store.close()
    for suffix in ("", "-wal", "-shm"):
        (data / "chunks" / f"{ns}.sqlite{suffix}").unlink(missing_ok=True)
    for cid, content in held.items():
        path = data / "chunks" / ns / cid.hex()[:2] / cid.hex()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return written


def docs(store: Store) -> FolderStore:
    user = store.users.get("anna")
    assert user is not None
    folder = store.folders.get(user.id, "Docs")
    assert folder is not None
    return store.folder(folder)


def test_chunk_files_of_the_first_layout_move_into_the_database(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    written = make_old_store(data, 30)
    ns_dir = next(p for p in (data / "chunks").iterdir() if p.is_dir())
    damaged = sorted(ns_dir.rglob("*"))[-1]
    damaged.write_bytes(b"lost content")
    store = open_store(data, min_free=0)
    try:
        assert not ns_dir.exists(), "every file moved in (or aside), its folders removed"
        assert (data / "chunks-damaged" / ns_dir.name / damaged.name).read_bytes() == b"lost content"
        assert damaged.name in caplog.text
        fs = docs(store)
        lost = [p for p, c in written.items() if blake3.blake3(c).hexdigest() == damaged.name]
        assert len(lost) == 1
        for path, content in written.items():
            if path not in lost:
                assert b"".join(fs.read(path)[1]) == content
        problems = check(store, read_data=True).problems
        assert len(problems) == 1 and damaged.name in problems[0] and "missing from the chunk store" in problems[0]
    finally:
        store.close()


CHILD = """
import sys
from collections.abc import Iterator
from pathlib import Path
from syncline.server.chunks import legacy
from syncline.server.store import open_store
legacy.BATCH_FILES = 4
open_store(Path(sys.argv[1]), min_free=0).close()
"""


def test_a_kill_during_the_move_loses_nothing_and_a_rerun_finishes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    written = make_old_store(data, 20)
    env = {**os.environ, "SYNCLINE_CRASH_AT": "server-chunks-migrated:2"}
    killed = subprocess.run([sys.executable, "-c", CHILD, str(data)], env=env, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    ns_dir = next(p for p in (data / "chunks").iterdir() if p.is_dir())
    left = [p for p in ns_dir.rglob("*") if p.is_file()]
    assert 0 < len(left) <= 20 - 4, "the first batch's files are gone, the rest still there"
    store = open_store(data, min_free=0)
    try:
        assert not ns_dir.exists()
        fs = docs(store)
        for path, content in written.items():
            assert b"".join(fs.read(path)[1]) == content
        assert check(store, read_data=True).problems == []
    finally:
        store.close()
