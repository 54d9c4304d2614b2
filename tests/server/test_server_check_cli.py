"""``syncline server check``: exit 0 on a clean store, 1 with one line per problem, a one-line error for
a directory without server data or one a running server holds."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from syncline.server.store import open_store

from ..cli_helpers import assert_one_line_error
from .storetree import random_files


def syncline(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "syncline", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


def test_server_check_finds_a_damaged_chunk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data, min_free=0)
    owner = store.users.add("anna", "hash").id
    fs = store.folder(store.folders.create(owner, "Docs")[0])
    ids = random_files(fs, 3, 200)
    ns, db_path = fs.ns, store.chunks.db_path(fs.ns)
    altered = bytes(b ^ 1 for b in store.chunks.read(ns, ids[1]))
    store.close()

    clean = syncline("server", "check", "--data", data, "--read-data")
    assert clean.returncode == 0, clean.stderr
    assert "checked 3 chunks, 3 read and hashed: no problems" in clean.stdout

    with sqlite3.connect(db_path) as db:  # damage done behind the server's back
        db.execute("UPDATE chunks SET data = ? WHERE id = ?", (altered, ids[1]))
    db.close()
    assert syncline("server", "check", "--data", data).returncode == 0, "lengths alone do not see altered bytes"
    found = syncline("server", "check", "--data", data, "--read-data")
    assert found.returncode == 1
    assert ids[1].hex() in found.stdout and "1 problem" in found.stderr


def test_server_check_errors_in_one_line(tmp_path: Path) -> None:
    assert_one_line_error(syncline("server", "check", "--data", tmp_path / "none"), "no server data in")
    data = tmp_path / "data"
    store = open_store(data, min_free=0)  # holds the lock, as a running server does
    try:
        assert_one_line_error(syncline("server", "check", "--data", data), "a syncline server is using")
    finally:
        store.close()
