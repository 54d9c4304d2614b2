"""kill -9 of the store at each of its crash points, then reopen: no entry references a chunk without a
row, no chunk row lacks its file (or holds other bytes), a batch is all or nothing, and running the same
work again converges (a committed batch is answered from the journal, not applied twice)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from syncline.server.store import open_store

CHILD = Path(__file__).with_name("store_child.py")
POINTS = ["server-chunks-temp", "server-chunks-renamed", "server-chunks-rows", "server-commit",
          "server-chunks-rows:3", "server-commit:2", "server-gc-rows"]


def run_child(data: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNCLINE_CRASH_AT"}
    if crash_at:
        env["SYNCLINE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, str(CHILD), str(data)], env=env, capture_output=True, text=True,
                          timeout=120)


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
        for (chunk_id,) in db.execute("select chunk_id from chunks where chunk_ns = ?", (ns,)):
            path = data / "chunks" / ns / chunk_id.hex()[:2] / chunk_id.hex()
            assert path.is_file(), f"chunk row {chunk_id.hex()} without its file"
            assert blake3.blake3(path.read_bytes()).digest() == chunk_id, "a chunk file holds other bytes"
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
    again = run_child(data, None)
    assert again.returncode == 0 and "done" in again.stdout, again.stderr[-2000:]
    assert check_store(data) == 40
    store = open_store(data, min_free=0)
    try:
        user = store.users.get("anna")
        assert user is not None
        folder = store.folders.get(user.id, "Docs")
        assert folder is not None
        fs = store.folder(folder)
        assert fs.info().files == 41
        for row in fs.entries(0).rows:
            if row.kind == "file":
                data_bytes = b"".join(fs.read(row.path)[1])
                assert blake3.blake3(data_bytes).digest() == row.digest
        assert not list((data / "tmp").iterdir())
    finally:
        store.close()
