"""``server check --repair`` (issue 14 point 6) on a store with a damaged chunk: a chunk's
bytes overwritten in the chunk store and a chunk whose row stayed while its bytes went. The check names
both and the files they cost; the repair keeps the evidence, takes the chunks out of the index and marks
the versions damaged without deleting any entry; downloads of those answer ``422 damaged``; uploading the
chunks again heals them at the next check; a kill between the evidence and the rows is finished by the
next repair; a device keeps its copy when the server's version is damaged."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest
import sqlalchemy as sa

from syncline.engine.replicas.errors import ReplicaError
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote.client import code_of
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.twoway.run import sync_two_way_replicas
from syncline.formats.wire.ops import ChunkRef, Expect, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store, open_store
from syncline.server.store import schema as t
from syncline.server.store.check import check
from syncline.server.store.folder import FolderStore

from ..remotehelp import Served, served
from .apphelp import PACK_HEADERS, World, cheap_auth, make_app, pack
from .test_server_check_cli import syncline

P0, P1, P2 = b"0" * 1000, os.urandom(2000), b"2" * 1500  # big.bin; P1's bytes get overwritten
Q0, R0 = os.urandom(500), b"new kept.txt"  # kept.txt's old version, whose chunk goes; its new one
S0 = b"good and alone"  # good.txt shares no chunk with the others


def cid(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


def commit(fs: FolderStore, path: str, *pieces: bytes) -> None:
    """Upload ``pieces`` and commit them as the file at ``path`` (over what is there)."""
    fs.put_chunks([(cid(p), p) for p in pieces], "D1")
    row = fs.stat_many([path])[1][0]
    assert not isinstance(row, Exception)
    data = b"".join(pieces)
    op = Op(new_op_id(), "put", path, Expect.of(row.entry()) if row is not None else None,
            OpEntry(1_700_000_000 * 10**9, 0o644, len(data), cid(data)),
            tuple(ChunkRef(cid(p), len(p)) for p in pieces))
    _, [result] = fs.apply_ops([op], WirePolicy(), "D1")
    assert result.error is None, result


@dataclass
class Damaged:
    data: Path
    store: Store
    fs: FolderStore
    kept_id: int  # kept.txt's old version
    altered: bytes  # what P1's chunk holds now


def damage(data: Path) -> Damaged:
    """anna's folder Docs with big.bin (P0 P1 P2), kept.txt (Q0, then R0) and good.txt (S0); then P1's
    bytes altered in the chunk store and Q0's removed from it, its row left."""
    store = open_store(data, min_free=0)
    owner = store.users.add("anna", "hash").id
    fs = store.folder(store.folders.create(owner, "Docs")[0])
    commit(fs, "big.bin", P0, P1, P2)
    commit(fs, "kept.txt", Q0)
    commit(fs, "kept.txt", R0)
    commit(fs, "good.txt", S0)
    [kept] = fs.versions("kept.txt", 10)[1]
    altered = bytes(b ^ 0x55 for b in P1)
    store.chunks.close()
    with sqlite3.connect(store.chunks.db_path(fs.ns)) as db:  # damage done behind the store's back
        db.execute("UPDATE chunks SET data = ? WHERE id = ?", (altered, cid(P1)))
        db.execute("DELETE FROM chunks WHERE id = ?", (cid(Q0),))
    db.close()
    return Damaged(data, store, fs, kept.version_id, altered)


@pytest.fixture
def damaged(tmp_path: Path) -> Iterator[Damaged]:
    d = damage(tmp_path / "data")
    yield d
    d.store.close()


def marks(store: Store) -> dict[str, int | None]:
    """Each content version's ``damaged_ns``, by ``path@id`` (a kept version's path, or the live path)."""
    c, e = t.contents.c, t.entries.c
    with store.db.read() as conn:
        live = {int(r.content_id): r.path for r in conn.execute(sa.select(e.path, e.content_id).where(
            e.content_id.is_not(None)))}
        return {f"{live.get(int(r.id), r.trash_path)}@{r.id}": r.damaged_ns
                for r in conn.execute(sa.select(c.id, c.trash_path, c.damaged_ns))}


def tree_rows(store: Store) -> list[tuple[Any, ...]]:
    with store.db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t.entries).order_by(t.entries.c.path))]


def test_check_names_both_chunks_and_the_files_they_cost(damaged: Damaged) -> None:
    report = check(damaged.store, read_data=True)
    text = "\n".join(report.problems)
    assert len(report.problems) == 2, text
    assert f"chunk {cid(P1).hex()} of folder Docs (user anna) holds other bytes" in text
    assert f"chunk {cid(Q0).hex()} of folder Docs (user anna) is recorded but missing" in text
    losses = {(x.path, x.live, x.ranges, x.marked) for x in report.losses}
    assert losses == {("big.bin", True, ((1000, 2999),), False), ("kept.txt", False, ((0, 499),), False)}
    assert [x.version_id for x in report.losses if not x.live] == [damaged.kept_id]
    without = check(damaged.store)
    assert [x.path for x in without.losses] == ["kept.txt"], "without reading, altered bytes are not seen"
    assert all(v is None for v in marks(damaged.store).values()), "a check without repair marks nothing"


def test_repair_keeps_the_evidence_marks_the_versions_and_deletes_no_entry(damaged: Damaged) -> None:
    s, ns = damaged.store, damaged.fs.ns
    tree = tree_rows(s)
    report = check(s, repair=True, now_ns=123)
    assert report.removed == 2 and report.marked == 2 and report.read == 5  # the sixth is gone
    evidence = s.data_dir / "chunks-damaged" / ns
    assert report.quarantined == [evidence / cid(P1).hex()], "no bytes to keep of the chunk that went"
    assert (evidence / cid(P1).hex()).read_bytes() == damaged.altered
    assert sorted(os.listdir(evidence)) == [cid(P1).hex()]
    assert not s.chunks.has(ns, cid(P1))
    assert damaged.fs.chunk_lengths([cid(P0), cid(P1), cid(P2), cid(Q0), cid(S0)]) == {
        cid(P0): 1000, cid(P2): 1500, cid(S0): len(S0)}
    assert tree_rows(s) == tree, "a repair deletes no entry and changes none"
    marked = {k: v for k, v in marks(s).items() if v is not None}
    assert sorted(marked.values()) == [123, 123] and f"kept.txt@{damaged.kept_id}" in marked
    assert [k for k in marked if k.startswith("big.bin@")], "the live version is marked; good.txt, new kept.txt not"
    assert {(x.path, x.live, x.ranges, x.marked) for x in report.losses} == {
        ("big.bin", True, ((1000, 2999),), True), ("kept.txt", False, ((0, 499),), True)}
    assert damaged.fs.missing([cid(P1), cid(Q0), cid(P0)], "D1") == [cid(P1), cid(Q0)], \
        "chunks/missing says a removed chunk is missing"
    assert b"".join(damaged.fs.read("good.txt")[1]) == S0
    live = damaged.fs.stat_many(["kept.txt"])[1][0]
    assert live is not None and not isinstance(live, Exception)
    _, [restored] = damaged.fs.apply_ops([Op(new_op_id(), "restore", "kept.txt", Expect.of(live.entry()),
                                             version_id=damaged.kept_id)], WirePolicy(), "D1")
    assert restored.error is not None and restored.error.code == "damaged", restored
    assert b"".join(damaged.fs.read("kept.txt")[1]) == R0, "a damaged version is not restored over a whole one"

    again = check(s, repair=True, now_ns=456)
    assert (again.removed, again.marked, again.quarantined, again.healed) == (0, 0, [], 0)
    assert len(again.problems) == 2 and all("marked damaged" in p for p in again.problems), again.problems
    assert {(x.path, x.ranges) for x in again.losses} == {("big.bin", ((1000, 2999),)), ("kept.txt", ((0, 499),))}
    assert max(v or 0 for v in marks(s).values()) == 123, "a mark keeps when the damage was first found"
    assert sorted(os.listdir(evidence)) == [cid(P1).hex()]


def reopen(data: Path, tokens: dict[str, str]) -> World:
    """The app over a store made before (its users and their device tokens as they were)."""
    from syncline.server.notify import InProcessNotifier

    store = open_store(data, min_free=0)
    auth = cheap_auth(store)
    notifier = InProcessNotifier()
    return World(store, auth, make_app(store, auth, notifier), notifier, tokens)


def test_downloads_of_a_damaged_version_answer_422_and_uploads_heal_it(tmp_path: Path) -> None:
    from .apphelp import make_world, run

    w = make_world(tmp_path / "data")
    anna = w.store.users.get("anna")
    assert anna is not None
    fs = w.store.folder(w.store.folders.create(anna.id, "Docs")[0])
    commit(fs, "big.bin", P0, P1, P2)
    commit(fs, "good.txt", S0)
    w.store.chunks.close()
    with sqlite3.connect(w.store.chunks.db_path(fs.ns)) as db:
        db.execute("UPDATE chunks SET data = ? WHERE id = ?", (b"x" * 2000, cid(P1)))
    db.close()
    assert check(w.store, repair=True).removed == 1

    async def damaged_reads() -> None:
        async with w.client() as c:
            r = await c.get("/v1/folders/Docs/file", params={"path": "big.bin"})
            assert r.status_code == 422, r.text
            err = r.json()["error"]
            assert err["code"] == "damaged" and err["retryable"] is False and err["details"] == {"path": "big.bin"}
            assert "big.bin" in err["message"] and err["hint"]
            for endpoint in ("file/chunks", "file/manifest"):
                r = await c.get(f"/v1/folders/Docs/{endpoint}", params={"path": "big.bin"})
                assert r.status_code == 422 and r.json()["error"]["code"] == "damaged", endpoint
            r = await c.get("/v1/folders/Docs/file", params={"path": "good.txt"})
            assert r.status_code == 200 and r.content == S0
            missing = await c.post("/v1/folders/Docs/chunks/missing", json={"ids": [cid(P0).hex(), cid(P1).hex()]})
            assert missing.json() == {"missing": [cid(P1).hex()]}
            up = await c.post("/v1/folders/Docs/chunks", content=pack(P1), headers=PACK_HEADERS)
            assert up.status_code == 200 and up.json() == {"stored": 1, "present": 0}, up.text

    run(damaged_reads())
    assert all(v is None for v in marks(w.store).values()), "the upload that brought the chunk back healed it"

    async def whole() -> None:
        async with w.client() as c:
            r = await c.get("/v1/folders/Docs/file", params={"path": "big.bin"})
            assert r.status_code == 200 and r.content == P0 + P1 + P2

    run(whole())  # at once: no check needed in between
    after = check(w.store, read_data=True)
    assert after.clean and after.healed == 0, after
    w.store.close()


def test_the_cli_checks_repairs_and_heals(damaged: Damaged) -> None:
    damaged.store.close()
    data, ns = damaged.data, damaged.fs.ns
    found = syncline("server", "check", "--data", data, "--read-data")
    assert found.returncode == 1, found.stderr
    assert cid(P1).hex() in found.stdout and cid(Q0).hex() in found.stdout
    assert "lost content: folder Docs (user anna): big.bin, live file, bytes 1000-2999" in found.stdout
    assert f"lost content: folder Docs (user anna): kept.txt, kept version {damaged.kept_id}, bytes 0-499" \
        in found.stdout
    assert "2 problems, 2 file versions lost content" in found.stderr

    repaired = syncline("server", "check", "--data", data, "--repair")
    assert repaired.returncode == 1, repaired.stderr
    assert "repaired: 2 damaged chunks taken out of the index (1 kept in" in repaired.stdout
    assert "2 versions newly marked damaged; nothing deleted" in repaired.stdout
    assert "big.bin, live file, bytes 1000-2999 (marked damaged)" in repaired.stdout
    assert "checked 6 chunks, 5 read and hashed" in repaired.stderr, "--repair reads every chunk"
    assert (data / "chunks-damaged" / ns / cid(P1).hex()).read_bytes() == damaged.altered

    store = open_store(data, min_free=0)
    try:
        store.folder(damaged.fs.folder).put_chunks([(cid(P1), P1), (cid(Q0), Q0)], "D1")
        assert all(v is None for v in marks(store).values()), "healed by the upload"
        with store.db.write() as conn:  # a mark left on versions whole again (chunk rows back another way)
            marked = conn.execute(t.contents.update().values(damaged_ns=1)).rowcount
    finally:
        store.close()
    clean = syncline("server", "check", "--data", data)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"healed: {marked} damaged versions whole again" in clean.stdout and "no problems" in clean.stdout


def test_a_kill_between_the_evidence_and_the_rows_is_finished_by_the_next_repair(damaged: Damaged) -> None:
    damaged.store.close()
    data, ns = damaged.data, damaged.fs.ns
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SYNCLINE_CRASH_AT": "server-repair-rows"}
    killed = subprocess.run([sys.executable, "-m", "syncline", "server", "check", "--data", str(data), "--repair"],
                            capture_output=True, text=True, timeout=120, env=env, check=False)
    assert killed.returncode == -9, killed.stderr
    evidence = data / "chunks-damaged" / ns
    assert (evidence / cid(P1).hex()).read_bytes() == damaged.altered, "the evidence is kept before the rows go"
    store = open_store(data, min_free=0)
    try:
        assert all(v is None for v in marks(store).values()), "nothing marked: the transaction never ran"
        assert len(store.folder(damaged.fs.folder).chunk_lengths([cid(P1), cid(Q0)])) == 2
    finally:
        store.close()

    again = syncline("server", "check", "--data", data, "--repair")
    assert again.returncode == 1 and "repaired: 2 damaged chunks" in again.stdout, again.stdout + again.stderr
    assert "(0 kept in" in again.stdout, "the evidence the killed run kept is not written twice"
    assert sorted(os.listdir(evidence)) == [cid(P1).hex()]
    store = open_store(data, min_free=0)
    try:
        assert len([v for v in marks(store).values() if v is not None]) == 2
        assert not store.chunks.has(ns, cid(P1))
    finally:
        store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def test_a_device_keeps_its_copy_when_the_servers_version_is_damaged(server: Served, tmp_path: Path) -> None:
    """The server's newer version of a file is damaged: the device's run fails that item with ``damaged``
    (not retryable) and leaves its own copy as it was; the other files sync."""
    server.store.folders.create(server.owner(), "F")
    tree = server.tree("F")
    tree.write("doc.txt", b"the device has this", 1_700_000_000 * 10**9)
    local = tmp_path / "device"
    local.mkdir()
    policy = WritePolicy.two_way()

    def sync() -> Any:
        return sync_two_way_replicas(LocalReplica(local, policy=policy), server.replica("F", policy=policy))

    assert sync().exit_code == 0
    newer = os.urandom(3000)
    tree.write("doc.txt", newer, 1_700_000_100 * 10**9)
    tree.write("other.txt", b"fine", 1_700_000_100 * 10**9)
    fs = tree.fs
    server.store.chunks.delete_many(fs.ns, [cid(newer)])  # the chunk store lost it
    assert check(server.store, repair=True).marked == 1

    with pytest.raises(ReplicaError) as caught, server.replica("F").open_file("doc.txt") as source:
        source.read()
    assert code_of(caught.value) == "damaged" and not caught.value.retryable

    report = sync()
    assert [p.path for p in report.errors] == ["doc.txt"], report.errors
    assert "lost part of doc.txt" in str(report.errors[0])
    assert not report.errors[0].retryable
    assert (local / "doc.txt").read_bytes() == b"the device has this"
    assert (local / "other.txt").read_bytes() == b"fine"
