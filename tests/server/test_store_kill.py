"""kill -9 of the store at each of its crash points, then reopen: no entry references a chunk without a
row, no chunk row lacks its chunk in the chunk store (or holds other bytes), a batch is all or nothing, and
running the same work again converges (a committed batch is answered from the journal, not applied
twice)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from syncline.server.store import open_store

from .storetree import user_folder

CHILD = Path(__file__).with_name("store_child.py")
POINTS = ["server-chunks-temp", "server-chunks-renamed", "server-chunks-rows", "server-commit",
          "server-chunks-rows:3", "server-commit:2", "server-gc-rows"]


def run_child(data: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNCLINE_CRASH_AT"}
    if crash_at:
        env["SYNCLINE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, str(CHILD), str(data)], env=env, capture_output=True, text=True,
                          timeout=120)


def chunk_db(data: Path, ns: str) -> dict[bytes, bytes]:
    """What the chunk store holds in ``ns``, read with the ``sqlite3`` module alone."""
    path = data / "chunks" / f"{ns}.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        return {bytes(i): bytes(d) for i, d in db.execute("select id, data from chunks")}
    finally:
        db.close()


def check_store(data: Path) -> int:
    """The invariants after any crash; returns how many of the batch's files are there."""
    db = sqlite3.connect(data / "meta.db")
    try:
        (ns,) = db.execute("select chunk_ns from folders").fetchone()
        dangling = db.execute(
            "select count(*) from content_chunks cc join contents c on c.id = cc.content_id "
            "where not exists (select 1 from chunks k where k.chunk_ns = ? and k.chunk_id = cc.chunk_id)",
            (ns,)).fetchone()[0]
        assert dangling == 0, "an entry references a chunk the store has no row for"
        stored = chunk_db(data, ns)
        for (chunk_id,) in db.execute("select chunk_id from chunks where chunk_ns = ?", (ns,)):
            assert chunk_id in stored, f"chunk row {chunk_id.hex()} without its chunk"
            assert blake3.blake3(stored[chunk_id]).digest() == chunk_id, "a chunk holds other bytes"
        batch = db.execute("select count(*) from entries where path like 'batch/%' and kind = 'file'").fetchone()[0]
        journal = db.execute("select count(*) from changes where op_id like 'put-%'").fetchone()[0]
    finally:
        db.close()
    assert batch in (0, 40), f"a torn batch: {batch} of 40 files"
    assert journal == batch
    return int(batch)


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_a_crash_point_leaves_a_consistent_store(tmp_path: Path, point: str) -> None:
    data = tmp_path / "data"
    killed = run_child(data, point)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    check_store(data)
    if point in ("server-chunks-temp", "server-chunks-renamed"):  # the first upload: the batch's chunks
        db = sqlite3.connect(data / "meta.db")
        try:
            (ns,) = db.execute("select chunk_ns from folders").fetchone()
            assert db.execute("select count(*) from chunks").fetchone()[0] == 0, "no metadata row yet"
        finally:
            db.close()
        held = len(chunk_db(data, ns))
        assert held == (0 if point == "server-chunks-temp" else 40), f"{held} chunks committed at {point}"
    again = run_child(data, None)
    assert again.returncode == 0 and "done" in again.stdout, again.stderr[-2000:]
    assert check_store(data) == 40
    store = open_store(data, min_free=0)
    try:
        fs = user_folder(store)
        assert fs.info().files == 41
        for row in fs.entries(0).rows:
            if row.kind == "file":
                data_bytes = b"".join(fs.read(row.path)[1])
                assert blake3.blake3(data_bytes).digest() == row.digest
        assert not list((data / "tmp").iterdir())
    finally:
        store.close()


@pytest.mark.parametrize("trial", range(4))
def test_a_kill_at_a_random_moment_leaves_every_batch_whole_or_absent(tmp_path: Path, trial: int) -> None:
    data = tmp_path / "data"
    rng = random.Random(trial)
    child = subprocess.Popen([sys.executable, str(CHILD), str(data), "loop"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        child.stdout.readline()  # one batch is in: the store is up and writing
        time.sleep(rng.uniform(0.0, 0.4))
    finally:
        child.kill()
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    check_store(data)
    db = sqlite3.connect(data / "meta.db")
    try:
        counts = db.execute("select parent, count(*) from entries where path like 'loop/b%/%' "
                            "group by parent").fetchall()
        batches = db.execute("select count(*) from entries where parent = 'loop'").fetchone()[0]
        (seq,) = db.execute("select seq from folders").fetchone()
        journal = db.execute("select count(*), max(seq) from changes").fetchone()
    finally:
        db.close()
    assert all(n == 200 for _, n in counts), f"a torn batch: {counts}"
    assert len(counts) == batches >= 1
    assert journal == (seq, seq), "the journal has every change, without a gap"


def _restored(data: Path) -> int:
    """How many of the 40 files hold their first version again (checked with the sqlite3 module alone);
    the batch's journal agrees."""
    db = sqlite3.connect(data / "meta.db")
    try:
        firsts = db.execute("select count(*) from entries where path like 'r%' and kind = 'file' and mtime_ns = ?",
                            (1_700_000_000_000_000_000,)).fetchone()[0]
        journal = db.execute("select count(*) from changes where op_id like 'restore-%'").fetchone()[0]
        both = db.execute("select count(*) from contents c where c.kept_ns is not null and exists "
                          "(select 1 from entries e where e.content_id = c.id)").fetchone()[0]
    finally:
        db.close()
    assert firsts in (0, 40) and journal == firsts, f"a torn restore: {firsts} files, {journal} journal rows"
    assert both == 0, "a version both live and kept"
    return int(firsts)


@pytest.mark.parametrize("point", ["server-commit:3", "server-commit:2"])
def test_a_kill_during_a_restore_leaves_it_whole_or_absent_and_running_it_again_converges(
        tmp_path: Path, point: str) -> None:
    """The third commit is the restore of 40 files (the second, their overwrite): killed there, the store
    holds all of the restore or none of it, and the same command again finishes it, each file once."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "SYNCLINE_CRASH_AT"}
    killed = subprocess.run([sys.executable, str(CHILD), str(data), "restore"], capture_output=True, text=True,
                            timeout=120, env={**env, "SYNCLINE_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    check_store(data)
    _restored(data)
    again = subprocess.run([sys.executable, str(CHILD), str(data), "restore"], capture_output=True, text=True,
                           timeout=120, env=env)
    assert again.returncode == 0 and "done" in again.stdout, again.stderr[-2000:]
    assert _restored(data) == 40

