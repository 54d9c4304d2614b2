"""RemoteReplica against the real app in process: the listing cache and its delta, answers that are not
trusted, batches resent after a cut connection, chunks the server lost, the lock's renewal, the batch
bounds. (The conformance suite is ``test_remote_replica_conformance.py``.)"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import blake3 as b3
import httpx
import pytest
import sqlalchemy as sa

from syncline.core.entry import DIR, FILE, Entry
from syncline.core.errors import BusyError
from syncline.core.ignore import Rules
from syncline.engine.replicas.errors import Locked, ReplicaError, Unreachable
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import ChunkBasis, RemoteReplica
from syncline.engine.replicas.remote.cache import ListingCache
from syncline.engine.replicas.remote.client import code_of
from syncline.engine.replicas.remote.lease import Holder, LeaseRecord, Left, is_running, this_process
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.twoway.run import sync_two_way_replicas
from syncline.formats.wire.entries import Row
from syncline.server.store import schema as t
from syncline.testing.memory import MemoryReplica

from .conftest import calls_of
from .remotehelp import Served, Wire, replica, served

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def put(r: RemoteReplica, path: str, data: bytes, expect: Entry | None = None, mtime: int = T0) -> None:
    src = MemoryReplica()
    src.put_file("x", data, mtime)
    with src.open_file("x") as source:
        staged = r.stage_file(path, source)
    r.barrier()
    assert r.commit(staged, expect).done


def json_answer(answer: httpx.Response, value: object) -> httpx.Response:
    return httpx.Response(answer.status_code, json=value)


# -- the listing cache ------------------------------------------------------------------------------------
def test_a_scan_of_an_unchanged_folder_asks_only_for_the_delta(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    tree = server.tree("F")
    for i in range(30):
        tree.write(f"d/f{i}", b"x%d" % i)
    first = replica(server, wire).scan(Rules(), True, "source")
    assert len(first) == 31
    wire.seen.clear()
    again = replica(server, wire)  # a new run: the cache is on disk
    second = again.scan(Rules(), True, "source")
    assert dict(second.items()) == dict(first.items())
    entries = [r for r in wire.seen if r.url.path.endswith("/entries")]
    assert len(entries) == 1 and entries[0].url.params["since"] != "0"
    assert not [r for r in wire.seen if r.url.path.endswith("/file")], "no ignore file to read"

    tree.remove("d/f3")
    tree.write("d/f4", b"edited")
    third = again.scan(Rules(), True, "source")
    assert "d/f3" not in third and third["d/f4"].size == 6, "tombstones and changes of the delta applied"
    again.close()


def test_catch_up_pages_the_changes_so_that_the_next_scan_has_none_to_page(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    r = replica(server, wire)
    r.scan(Rules(), False, "source")
    for i in range(5):
        put(r, f"f{i}", b"x%d" % i)
    rows: list[int] = []

    def count(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/entries"):
            rows.append(len(answer.json()["rows"]))
        return answer

    wire.mangle = count
    r.catch_up()
    assert sum(rows) == 5, "the run's own commits paged by catch_up"
    rows.clear()
    assert sorted(r.scan(Rules(), False, "source")) == [f"f{i}" for i in range(5)]
    assert rows == [0], "the next scan only looks at the feed's position"
    r.close()


def test_history_gone_lists_the_folder_again_from_nothing(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    server.tree("F").write("a", b"a")
    r = replica(server, wire)
    r.scan(Rules(), False, "source")
    server.tree("F").write("b", b"b")

    def gone(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/entries") and request.url.params["since"] != "0":
            return httpx.Response(410, json={"error": {"code": "history_gone", "message": "pruned",
                                                       "details": {"horizon": 99}}})
        return answer

    wire.mangle = gone
    assert list(r.scan(Rules(), False, "source")) == ["a", "b"]
    sinces = [q.url.params["since"] for q in wire.seen if q.url.path.endswith("/entries")]
    assert sinces[-1] == "0"
    r.close()


def test_the_cache_of_another_folder_or_server_is_not_used(tmp_path: Path) -> None:
    cache = ListingCache(tmp_path / "c.sqlite")
    assert cache.seq("S1/u1") == 0
    cache.apply([Row("a", Entry(FILE, 1, T0, 0o644, b"d" * 32, None, "F1", 3), 3)], 3, complete=True)
    cache.close()
    cache = ListingCache(tmp_path / "c.sqlite")
    assert cache.seq("S1/u1") == 3 and list(cache.listing().entries) == ["a"]
    assert cache.seq("S1/u2") == 0 and cache.listing().entries == {}, "a folder made again under its name"
    cache.close()
    (tmp_path / "c.sqlite").write_bytes(b"not a database")
    cache = ListingCache(tmp_path / "c.sqlite")
    assert cache.seq("S1/u1") == 0, "a damaged cache is dropped"
    cache.close()


def test_the_listing_kept_in_memory_is_what_the_database_holds(tmp_path: Path) -> None:
    def row(path: str, version: int, kind: str = FILE) -> Row:
        return Row(path, Entry(kind, 1 if kind == FILE else 0, T0, 0o644, b"d" * 32 if kind == FILE else None, None,
                               f"F{path}", version), version)

    def fresh() -> tuple[dict[str, Entry], dict[str, dict[str, None]]]:
        other = ListingCache(tmp_path / "c.sqlite")
        listing = other.listing()
        other.close()
        return listing.entries, listing.children

    cache = ListingCache(tmp_path / "c.sqlite")
    assert cache.seq("S/u") == 0
    cache.apply([row("d", 1, DIR), row("d/a", 2), row("d/b", 3), row("c", 4)], 4, complete=True)
    kept = cache.listing()
    cache.apply([row("d/a", 5), Row("d/b", None, 6), Row("c", None, 6), row("e", 6)], 6, complete=True)
    assert cache.listing() is kept  # updated in place, not read again
    assert (kept.entries, kept.children) == fresh()
    assert set(kept.children) == {"", "d"} and list(kept.children["d"]) == ["d/a"]
    # Another process (a one-shot sync with the same state directory) moves the database on: read again.
    other = ListingCache(tmp_path / "c.sqlite")
    assert other.seq("S/u") == 6
    other.apply([row("f", 7)], 7, complete=True)
    other.close()
    assert cache.seq("S/u") == 7 and "f" in cache.listing().entries
    cache.close()


# -- answers that are not trusted ---------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "bad"), [(0, "../escape"), (0, "a/.syncline/x"), (1, "socket"),
                                             (5, "not-hex"), (2, -1), (8, 0)])
def test_a_listing_with_a_bad_row_is_refused(server: Served, column: int, bad: object) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    server.tree("F").write("a", b"a")

    def corrupt(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/entries"):
            value = answer.json()
            value["rows"][0][value["columns"].index(["path", "kind", "size", "mtime_ns", "mode", "digest",
                                                     "target", "file_id", "version"][column])] = bad
            return json_answer(answer, value)
        return answer

    wire.mangle = corrupt
    with pytest.raises(ReplicaError) as caught:
        replica(server, wire).scan(Rules(), False, "source")
    assert code_of(caught.value) == "bad_response" and not caught.value.retryable


def test_a_download_that_is_not_the_file_is_refused(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    server.tree("F").write("a", b"the content")

    def flip(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/file"):
            return httpx.Response(200, headers=answer.headers, content=b"THE content")
        return answer

    wire.mangle = flip
    r = replica(server, wire)
    with pytest.raises(ReplicaError, match="not the file its entry describes"), r.open_file("a") as source:
        while source.readinto(memoryview(bytearray(4))):
            pass


def test_a_bad_pack_from_chunks_read_is_refused(server: Served, tmp_path: Path) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    data = bytes(range(256)) * (12 << 10)  # 3 MiB: chunked
    server.tree("F").write("big", data)

    def corrupt(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/chunks/read"):
            body = bytearray(answer.content)
            body[100] ^= 1
            return httpx.Response(200, content=bytes(body))
        return answer

    wire.mangle = corrupt
    r = replica(server, wire, basis=ChunkBasis(tmp_path / "b.sqlite", tmp_path))
    with pytest.raises(ReplicaError) as caught, r.open_file("big") as source:
        source.readinto(memoryview(bytearray(1 << 20)))
    assert code_of(caught.value) == "bad_response"
    r.basis.close()  # type: ignore[union-attr]


def test_a_missing_answer_naming_chunks_never_asked_for_is_refused(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    wire.mangle = lambda request, answer: json_answer(answer, {"missing": ["ab" * 32]}) \
        if request.url.path.endswith("/chunks/missing") else answer
    r = replica(server, wire)
    src = MemoryReplica()
    src.put_file("x", b"data", T0)
    with src.open_file("x") as source:
        r.stage_file("a", source)
    with pytest.raises(ReplicaError, match="not asked for"):
        r.barrier()


# -- resends and lost chunks ---------------------------------------------------------------------------------
def test_a_batch_whose_answer_was_lost_is_replayed_not_applied_twice(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    r = replica(server, wire)
    cut = {"ops": 0}

    def lose_the_first_answer(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/ops") and cut["ops"] == 0:
            cut["ops"] += 1
            raise httpx.ReadError("connection reset after the server applied it")
        return answer

    wire.mangle = lose_the_first_answer
    put(r, "a", b"once")
    ops = [q for q in wire.seen if q.url.path.endswith("/ops")]
    assert len(ops) == 2 and ops[0].content == ops[1].content, "the same batch, the same op ids"
    folder = server.store.folders.get(server.owner(), "F")
    assert folder is not None
    changes = server.store.folder(folder).changes(0).changes
    assert [(c.op, c.path) for c in changes] == [("put", "a")], "applied once"
    assert server.tree("F").trashed() == []


def test_a_connection_cut_twice_fails_each_item_with_unreachable(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    r = replica(server, wire)

    def cut(request: httpx.Request) -> None:
        if request.url.path.endswith("/ops"):
            raise httpx.ConnectError("refused")

    src = MemoryReplica()
    src.put_file("x", b"data", T0)
    staged = []
    for name in ("a", "b"):
        with src.open_file("x") as source:
            staged.append(r.stage_file(name, source))
    r.barrier()
    wire.before = cut
    results = r.commit_many([(s, None) for s in staged])
    assert all(isinstance(x, Unreachable) for x in results) and all(s.discarded for s in staged)  # type: ignore[attr-defined]


def test_chunks_the_server_lost_are_sent_again_once(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    # The server says it has every chunk (a lease it then lost): the commit finds them missing.
    wire.mangle = lambda request, answer: json_answer(answer, {"missing": []}) \
        if request.url.path.endswith("/chunks/missing") else answer
    r = replica(server, wire)
    put(r, "a", b"content the server lost")
    assert server.tree("F").read("a") == b"content the server lost"
    assert len([q for q in wire.seen if q.url.path.endswith("/ops")]) == 2


# -- the lock, batches ----------------------------------------------------------------------------------------
def quickly_renewed(server: Served) -> tuple[RemoteReplica, Wire]:
    """A replica of a new folder whose lock is renewed every 20 ms, and the wire in front of it."""
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    r = replica(server, wire)
    r.renew_every = 0.02
    return r, wire


def test_the_lock_is_renewed_while_held_and_released_after(server: Served) -> None:
    r, wire = quickly_renewed(server)
    renewed = threading.Event()
    wire.before = lambda request: renewed.set() if request.method == "PUT" and "/locks/" in request.url.path \
        else None
    with r.lock():
        assert renewed.wait(30), "no renewal while the lock was held"
        with pytest.raises(BusyError), replica(server, wire).lock():
            pass
    assert wire.seen[-1].method == "DELETE" and "/locks/" in wire.seen[-1].url.path
    with r.lock():
        pass


def test_a_lease_that_could_not_be_renewed_stops_the_writes(server: Served) -> None:
    r, wire = quickly_renewed(server)
    failed = threading.Event()

    def refuse(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.method == "PUT" and "/locks/" in request.url.path:
            failed.set()
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such lease"}})
        return answer

    wire.mangle = refuse
    with r.lock():
        assert failed.wait(30)
        for _ in range(100):
            try:
                r.make_dir("d", Entry(DIR, 0, T0, 0o755), None)
            except Locked:
                break
            failed.wait(0.05)
        else:
            raise AssertionError("writes went on without the lease")


def _left_behind(server: Served) -> tuple[Wire, LeaseRecord]:
    """A run whose release did not reach the server: its lease stays there, its record is marked as held
    by no run."""
    r, wire = quickly_renewed(server)

    def server_gone(request: httpx.Request) -> None:
        if request.method == "DELETE" and "/locks/" in request.url.path:
            raise httpx.ConnectError("the server went away", request=request)

    wire.before = server_gone
    with r.lock():
        pass
    wire.before = None
    r.close()
    return wire, LeaseRecord(server.state, r.address())


def test_a_lease_not_released_is_taken_over_by_the_next_run(server: Served) -> None:
    wire, record = _left_behind(server)
    left = record.read()
    assert left is not None and left.holder is None, "marked as held by no run"
    with pytest.raises(BusyError), replica(server, wire, state_dir=None).lock():
        pass  # the lease is still held on the server
    with replica(server, wire).lock():  # the same process's next run takes it over
        held = record.read()
        assert held is not None and held.holder == this_process() and held.lease != left.lease
        with pytest.raises(BusyError, match="pid"), replica(server, wire).lock():
            pass  # this run holds it: the next is refused
    assert record.read() is None


def test_a_lease_whose_answer_was_lost_is_taken_over_at_once(server: Served) -> None:
    """The server granted the lease and its answer never arrived (the server killed just then): the run
    proposed the lease's id and recorded it before asking, so the next run takes it over instead of waiting
    a minute for it to lapse."""
    r, wire = quickly_renewed(server)
    lost: list[str] = []

    def answer_lost(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/locks") and not lost:
            lost.append(json.loads(request.read())["lock"])
            raise httpx.ReadError("the server went away", request=request)
        return answer

    wire.mangle = answer_lost
    with contextlib.suppress(OSError, BusyError), r.lock():
        pass  # the answer is lost: this run may fail (or its client ask again, the same request)
    wire.mangle = None
    folder = server.store.folders.get(server.owner(), "F")
    assert folder is not None and lost
    with replica(server, wire).lock():  # at once: not refused while the lost lease is still held
        record = LeaseRecord(server.state, r.address()).read()
        assert record is not None and record.holder == this_process()
        with server.store.db.read() as conn:
            held = list(conn.execute(sa.select(t.locks.c.lock_id).where(t.locks.c.folder_id == folder.id)).scalars())
        assert held == [record.lease], "one lease, this run's"


def test_a_record_naming_a_process_still_running_is_never_taken_over(server: Served) -> None:
    wire, record = _left_behind(server)
    left = record.read()
    assert left is not None
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as other:
        try:
            stat = Path(f"/proc/{other.pid}/stat").read_text()
            alive = Holder(other.pid, int(stat.rsplit(")", 1)[1].split()[19]))
            assert is_running(alive)
            record.path.write_text(json.dumps({"address": record.address, "lease": left.lease,
                                               "pid": alive.pid, "start": alive.start}))
            with pytest.raises(BusyError, match=f"pid {other.pid}"), replica(server, wire).lock():
                pass  # no replaces sent: the lease it names stays the server's
            assert b"replaces" not in [r.read() for r in wire.seen if r.method == "POST"][-1]
            folder = server.store.folders.get(server.owner(), "F")
            assert folder is not None
            server.store.folder(folder).release(left.lease)
            with replica(server, wire).lock():  # that process holds nothing now: an ordinary lease
                held = record.read()
                assert held is not None and held.holder == this_process()
        finally:
            other.communicate(b"", timeout=60)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"lease": "L/x", "pid": null}', '{"lease": 5, "pid": null}',
                                  '{"lease": "Lx", "pid": "1"}', '{"lease": "Lx", "pid": 1, "start": "2"}',
                                  '{"lease": "LEASE", "pid": null, "address": "http://127.0.0.1:8765/Other"}'])
def test_a_lease_record_that_cannot_be_read_is_no_record(server: Served, text: str) -> None:
    wire, record = _left_behind(server)
    record.path.write_text(text.replace("LEASE", (record.read() or Left("", None)).lease))
    assert record.read() is None
    with pytest.raises(BusyError), replica(server, wire).lock():
        pass  # no takeover: the server's lease holds
    with pytest.raises(BusyError), replica(server, wire, state_dir=None).lock():
        pass


def test_a_process_is_known_by_its_pid_and_start_time() -> None:
    me = this_process()
    assert is_running(me)
    if me.start is not None:
        assert not is_running(Holder(me.pid, me.start + 1)), "a pid used again by another process"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        child.wait(timeout=60)
    assert not is_running(Holder(child.pid, None)) or Path(f"/proc/{child.pid}").exists(), "the pid went again"
    assert not is_running(Holder(0, None)) and not is_running(Holder(-1, None))


def test_a_killed_process_not_yet_reaped_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(f"/proc/{child.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert not is_running(Holder(child.pid, None))
    finally:
        child.wait(timeout=60)


def test_a_big_batch_is_split_at_a_thousand_items(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    r = replica(server, wire)
    src = MemoryReplica()
    staged = []
    for i in range(1001):
        src.put_file("x", b"%d" % i, T0)
        with src.open_file("x") as source:
            staged.append(r.stage_file(f"f{i:04}", source))
    r.barrier()
    results = r.commit_many([(s, None) for s in staged])
    assert all(not isinstance(x, Exception) and x.done for x in results)
    ops = [q for q in wire.seen if q.url.path.endswith("/ops")]
    assert len(ops) == 2
    assert len(r.scan(Rules(), False, "source")) == 1001


def test_small_files_past_the_spools_bound_are_sent_before_the_barrier(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    r = replica(server, wire, spool_bound=100)
    src = MemoryReplica()
    staged = []
    for i in range(3):
        src.put_file("x", bytes([i]) * 60, T0)
        with src.open_file("x") as source:
            staged.append(r.stage_file(f"f{i}", source))
    assert [q.url.path.rsplit("/", 1)[-1] for q in wire.seen if q.method == "POST"] == ["missing", "chunks"], \
        "the second file took the spool past 100 bytes: both sent then"
    staged[2].discard()
    r.barrier()
    assert len([q for q in wire.seen if q.url.path.endswith("/chunks")]) == 1, "a discarded copy is not sent"
    assert all(r.commit(s, None).done for s in staged[:2])


def test_the_basis_is_a_hint_verified_by_hash(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"aaaabbbb")
    basis = ChunkBasis(tmp_path / "b.sqlite", root)
    a, b = blake3(b"aaaa"), blake3(b"bbbb")
    basis.record("f", Entry(FILE, 8, T0, 0o644), [(a, 4), (b, 4)])
    assert basis.find(b) == ("f", 4) and basis.read(b, 4) == b"bbbb"
    (root / "f").write_bytes(b"aaaaBBBB")
    assert basis.read(b, 4) is None and basis.read(a, 4) == b"aaaa", "a changed file is not believed"
    basis.record("../outside", Entry(FILE, 4, T0, 0o644), [(a, 4)])
    basis.record("f", Entry(FILE, 4, T0, 0o644), [])
    assert basis.read(a, 4) is None, "a path out of the root is never read"
    basis.close()


def blake3(data: bytes) -> bytes:
    return bytes(b3.blake3(data).digest())


def test_a_download_cut_while_streaming_is_unreachable(server: Served) -> None:
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    server.tree("F").write("a", b"x" * 100_000)

    class Cut(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"x" * 1000
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    wire.mangle = lambda request, answer: httpx.Response(200, headers=answer.headers, stream=Cut()) \
        if request.url.path.endswith("/file") else answer
    r = replica(server, wire)
    with pytest.raises(Unreachable), r.open_file("a") as source:
        while source.readinto(memoryview(bytearray(4096))):
            pass
        raise AssertionError("the read should not end normally")


def test_a_first_two_way_run_over_equal_files_asks_for_no_digest_file_by_file(server: Served,
                                                                               tmp_path: Path) -> None:
    # A device joining a server folder that already holds its files: the planner must compare contents,
    # and the server's listing brings every digest (verified at commit), so nothing is asked per file.
    from syncline.engine.replicas.local import LocalReplica
    from syncline.engine.replicas.replica import WritePolicy
    from syncline.engine.twoway.run import sync_two_way_replicas

    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    tree = server.tree("F")
    local = tmp_path / "device"
    for i in range(40):
        tree.write(f"d/f{i}", b"same %d" % i, T0)
        (local / "d").mkdir(parents=True, exist_ok=True)
        (local / "d" / f"f{i}").write_bytes(b"same %d" % i)  # another mtime: only the content says "equal"
    report = sync_two_way_replicas(LocalReplica(local, policy=WritePolicy.two_way()),
                                   replica(server, wire, policy=WritePolicy.two_way()))
    assert not report.conflicts and not report.errors
    assert not report.to_a.copied and not report.to_b.copied
    per_file = [r for r in wire.seen if r.url.path.endswith(("/stat", "/file"))]
    assert len(per_file) < 5, [str(r.url) for r in per_file]


def test_the_folders_answer_is_reused_only_inside_one_run_and_until_a_write(server: Served) -> None:
    """A run asks whether the folder is empty and for the root's entry within milliseconds: one ``GET``.
    Between runs other devices write, so a run never sees the last run's answer (a stale "empty" would
    stop it as an emptied folder)."""
    wire = Wire(server)
    server.store.folders.create(server.owner(), "F")
    r = replica(server, wire)

    def gets() -> int:
        return sum(1 for q in wire.seen if q.method == "GET" and q.url.path.endswith("/folders/F"))

    assert r.is_empty() and r.is_empty() and gets() == 2, "outside a run every question is asked"
    with r.lock():
        assert r.is_empty() and r.is_empty() and gets() == 3
        put(r, "a", b"written in the run")
        assert not r.is_empty() and gets() == 4, "a write makes it ask again"
    server.tree("F").remove("a")
    with r.lock():
        assert r.is_empty() and gets() == 5, "the next run asks afresh"
    r.close()


def test_a_scoped_run_tells_a_delete_from_a_move_out_of_its_folders_by_the_listing(
        server: Served, tmp_path: Path) -> None:
    """A file deleted on the server is deleted on the device by a run over its folder without a scan of the
    whole server folder (the listing in memory says the file is nowhere else); one moved out of the
    folders is not deleted, and the full run that follows moves it."""
    server.store.folders.create(server.owner(), "F")
    tree = server.tree("F")
    for path in ("in/f.txt", "in/gone.txt", "out/keep.txt"):
        tree.write(path, path.encode() * 10, 1_700_000_000 * 10**9)
    (tmp_path / "local").mkdir()
    policy = WritePolicy.two_way()
    local, remote = LocalReplica(tmp_path / "local", policy=policy), server.replica("F", policy=policy)
    assert sync_two_way_replicas(local, remote).exit_code == 0
    tree.remove("in/gone.txt")
    with calls_of(RemoteReplica, "scan") as full_scans:
        deleted = sync_two_way_replicas(local, remote, dirs=[("in", False)])
    assert deleted.to_a.deleted == 1 and not (tmp_path / "local/in/gone.txt").exists()
    assert full_scans == []

    tree.move("in/f.txt", "out/f.txt")
    left = sync_two_way_replicas(local, remote, dirs=[("in", False)])
    assert left.exit_code == 0 and left.to_a.deleted == 0
    assert (tmp_path / "local/in/f.txt").read_bytes() == b"in/f.txt" * 10
    moved = sync_two_way_replicas(local, remote)
    assert moved.moved == 1 and moved.to_a.copied == 0
    assert (tmp_path / "local/out/f.txt").read_bytes() == b"in/f.txt" * 10
    assert not (tmp_path / "local/in/f.txt").exists()
    remote.close()
    local.close()


def test_an_upload_past_the_owners_quota_is_kept_on_the_device_and_goes_once_there_is_room(
        server: Served, tmp_path: Path) -> None:
    """The server refuses a file that would take the folder's owner past their quota (``over_quota``, an item
    error): the run says so for that file, uploads the rest, and keeps the file on the device untouched; once
    the quota is raised, the next run uploads it."""
    from syncline.engine.replicas.local import LocalReplica

    server.store.folders.create(server.owner(), "F")
    server.store.users.set_quota("anna", 10_000)
    local = tmp_path / "device"
    local.mkdir()
    (local / "small.txt").write_bytes(b"s" * 1_000)
    (local / "big.bin").write_bytes(os.urandom(20_000))
    big = (local / "big.bin").read_bytes()

    def run() -> object:
        return sync_two_way_replicas(LocalReplica(local, policy=WritePolicy.two_way()),
                                     server.replica("F", policy=WritePolicy.two_way()))

    report = run()
    assert [p.path for p in report.errors] == ["big.bin"]  # type: ignore[attr-defined]
    assert "quota" in str(report.errors[0])  # type: ignore[attr-defined]
    assert (local / "big.bin").read_bytes() == big
    assert {r.path for r in server.tree("F").fs.entries().rows} == {"small.txt"}
    server.store.users.set_quota("anna", None)
    again = run()
    assert not again.errors  # type: ignore[attr-defined]
    assert server.tree("F").read("big.bin") == big
