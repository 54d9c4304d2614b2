"""A device heals what the server lost (issue 14, ``server check --repair``): the server's copy of a file
loses a chunk, the repair marks the version damaged (downloads answer ``422 damaged``, the devices keep
their copies), and a daemon that has the file whole sends its chunks at its next full run, which makes
the version whole on the server: it downloads again, and ``server check`` finds nothing wrong."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import httpx

from syncline.server.store import open_store

from .daemonserver import Device, serving, syncline, wait_for
from .server.storetree import user_folder


def test_a_daemon_sends_the_chunks_the_server_lost(tmp_path: Path) -> None:
    data = tmp_path / "data"
    payload = os.urandom(3 << 20)  # a few chunks: one of them is lost
    with serving(data) as server:
        laptop = Device(tmp_path / "laptop", server, "Docs", "anna-laptop")
        (laptop.local / "big.bin").write_bytes(payload)
        (laptop.local / "small.txt").write_text("untouched\n")
        laptop.start()
        try:
            wait_for(lambda: laptop.state_of() == "in sync")
        finally:
            laptop.stop()
        server.stop()

        store = open_store(data, min_free=0)
        try:
            fs = user_folder(store)
            big = fs.stat_many(["big.bin"])[1][0]
            assert big is not None and not isinstance(big, Exception) and big.content_id is not None
            from syncline.server.store.contents import chunk_list

            with store.db.read() as conn:
                chunks = chunk_list(conn, big.content_id)
            assert len(chunks) > 1
            store.chunks.close()
            with sqlite3.connect(store.chunks.db_path(fs.ns)) as db:  # a chunk's bytes rot on the server's disk
                db.execute("UPDATE chunks SET data = ? WHERE id = ?", (b"rotten", chunks[1].id))
            db.close()
        finally:
            store.close()
        repaired = syncline("server", "check", "--repair", "--data", str(data))
        assert repaired.returncode == 1 and "big.bin, live file" in repaired.stdout, repaired

        server.start()
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {laptop.token}"}) as http:
            r = http.get("/v1/folders/Docs/file", params={"path": "big.bin"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "damaged", r.text
            assert http.get("/v1/folders/Docs").json()["damaged"] == 1
            laptop.start()  # a daemon's first run is a full one: it heals
            try:
                wait_for(lambda: http.get("/v1/folders/Docs").json()["damaged"] == 0)
                got = http.get("/v1/folders/Docs/file", params={"path": "big.bin"})
                assert got.status_code == 200 and got.content == payload
                assert (laptop.local / "big.bin").read_bytes() == payload, "the device's copy never changed"
            finally:
                laptop.stop()
        server.stop()
        clean = syncline("server", "check", "--read-data", "--data", str(data))
        assert clean.returncode == 0 and "no problems" in clean.stderr + clean.stdout, clean
