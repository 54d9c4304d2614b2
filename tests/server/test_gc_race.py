"""The collector racing uploads and commits of the same chunks: devices keep putting files made of a pool
of shared chunks (each chunk in several files, often unreferenced a moment before),
deleting some, while the collector runs with its clock two days ahead, so that no upload lease protects
anything: the commit's checks of its chunk rows, and the collector's look again before it removes a chunk
an upload may have stored again, are what keep them. No file that was committed ever lacks a chunk, and
the store checks clean at the end (a collector that removed a re-uploaded chunk fails this in every run).
The window between a put's check and its commit, too narrow to hit at random, has a test of its own."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import replace

import blake3
import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import ChunkRef, Expect, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store
from syncline.server.store.check import check
from syncline.server.store.folder import FolderStore
from syncline.server.store.gc import collect

from .storetree import fs_fixture, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
DAY = 24 * 3600 * 10**9
NO_TRASH = WirePolicy(trash=False)  # a replaced or deleted version's chunks lose their reference at once
RACE_S = 5.0
POOL = [os.urandom(random.Random(i).randint(200, 3000)) for i in range(200)]
IDS = [blake3.blake3(p).digest() for p in POOL]


def _device(fs: FolderStore, n: int, stop: threading.Event, kept: dict[str, bytes], trouble: list[str]) -> None:
    """Put files of 1-4 pool chunks under names of its own and delete some, until ``stop``; ``kept``: what
    each of its paths holds now (as the server answered)."""
    rng = random.Random(n)
    device = f"D{n}"
    while not stop.is_set():
        path = f"d{n}-f{rng.randrange(8)}"
        found = fs.stat_many([path])[1][0]
        assert not isinstance(found, WireError)
        expect = Expect.of(found.entry()) if found else None
        if found is not None and rng.random() < 0.25:
            _, [r] = fs.apply_ops([Op(new_op_id(), "delete", path, expect)], NO_TRASH, device)
            if r.done:
                kept.pop(path, None)
            else:
                trouble.append(f"delete {path}: {r}")
            continue
        pick = rng.sample(range(len(POOL)), rng.randint(1, 4))
        data = b"".join(POOL[i] for i in pick)
        refs = tuple(ChunkRef(IDS[i], len(POOL[i])) for i in pick)
        for _ in range(50):
            fs.put_chunks([(IDS[i], POOL[i]) for i in pick], device)
            _, [r] = fs.apply_ops([Op(new_op_id(), "put", path, expect,
                                      OpEntry(T0, 0o644, len(data), blake3.blake3(data).digest()), refs)],
                                  NO_TRASH, device)
            if r.done:
                kept[path] = data
                break
            if r.error is None or r.error.code != "missing_chunks":  # the collector took some: send again
                trouble.append(f"put {path}: {r}")
                break
        else:
            trouble.append(f"put {path}: its chunks were taken 50 times over")


def test_the_collector_never_takes_a_chunk_a_committed_file_needs(store: tuple[Store, int], fs: FolderStore) -> None:
    s = store[0]
    stop = threading.Event()
    kept: list[dict[str, bytes]] = [{} for _ in range(4)]
    trouble: list[str] = []
    sweeps = [0]

    def collector() -> None:
        while not stop.is_set():
            collect(s, now_ns=time.time_ns() + 2 * DAY)
            sweeps[0] += 1

    threads = [threading.Thread(target=_device, args=(fs, n, stop, kept[n], trouble)) for n in range(4)]
    threads.append(threading.Thread(target=collector))
    for th in threads:
        th.start()
    time.sleep(RACE_S)
    stop.set()
    for th in threads:
        th.join(60)
    assert not any(th.is_alive() for th in threads)
    assert not trouble, trouble[:5]
    assert sweeps[0] > 3, "the collector hardly ran"

    collect(s, now_ns=time.time_ns() + 2 * DAY)
    report = check(s, read_data=True)
    assert not report.problems, report.problems[:5]
    held = {path: data for k in kept for path, data in k.items()}
    assert held, "nothing was committed"
    page = fs.entries()
    assert not page.more
    assert {r.path for r in page.rows} == set(held), "the server holds what the devices were told it holds"
    for path, data in held.items():
        assert b"".join(fs.read(path)[1]) == data, f"{path} does not read back whole"


def test_a_chunk_taken_between_the_check_and_the_commit_refuses_the_commit(
        store: tuple[Store, int], fs: FolderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector's transaction lands after a put's content was checked (outside the write lock) and
    before its commit: the commit sees the chunk gone and is refused (``missing_chunks``), nothing is
    committed without its content, and the same put after the chunk is sent again goes through."""
    s = store[0]
    data = POOL[0] + POOL[1]
    refs = (ChunkRef(IDS[0], len(POOL[0])), ChunkRef(IDS[1], len(POOL[1])))
    op = Op(new_op_id(), "put", "f", None, OpEntry(T0, 0o644, len(data), blake3.blake3(data).digest()), refs)
    checked = FolderStore._check_contents

    def check_then_collect(self: FolderStore, ops: list[Op]) -> list[WireError | None]:
        out = checked(self, ops)
        collect(s, now_ns=time.time_ns() + 2 * DAY)  # past every lease: the chunks nothing references go
        return out

    fs.put_chunks([(IDS[0], POOL[0]), (IDS[1], POOL[1])], "D1")
    with monkeypatch.context() as m:
        m.setattr(FolderStore, "_check_contents", check_then_collect)
        _, [r] = fs.apply_ops([op], NO_TRASH, "D1")
    assert r.error is not None and r.error.code == "missing_chunks", r
    assert fs.stat_many(["f"])[1][0] is None and not check(s, read_data=True).problems

    fs.put_chunks([(IDS[0], POOL[0]), (IDS[1], POOL[1])], "D1")
    _, [r] = fs.apply_ops([replace(op, id=new_op_id())], NO_TRASH, "D1")
    assert r.done, r
    assert b"".join(fs.read("f")[1]) == data
