"""The server's collector thread (``server/collector.py``) and the upload leases it respects: chunks nothing
references go once their lease ran out, what a file or an upload still needs stays, a failed collection is
tried again, and ``stop`` ends the thread."""

from __future__ import annotations

import logging
import time

import blake3
import pytest
import sqlalchemy as sa

from syncline.server import collector as collector_module
from syncline.server.collector import Collector
from syncline.server.store import Store, schema
from syncline.server.store.folder import FolderStore
from syncline.server.store.gc import collect

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures
from .test_store_gc import DAY, files, write

DEADLINE = 30.0


def _until(what: object, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not what():  # type: ignore[operator]
        assert time.monotonic() < end, "not so in time"
        time.sleep(0.02)


def test_the_thread_collects_what_nothing_needs_and_keeps_what_a_file_needs(store: tuple[Store, int],
                                                                          fs: FolderStore) -> None:
    s = store[0]
    write(fs, "keep", b"kept content")
    stray, _ = put_bytes(fs, b"uploaded, never committed")
    c = Collector(s, every_s=0.05, first_s=0.0, clock=lambda: time.time_ns() + 2 * DAY)  # past the 24 h lease
    c.start()
    try:
        _until(lambda: stray not in files(s, fs))
    finally:
        c.stop()
    assert files(s, fs) == {blake3.blake3(b"kept content").digest()}
    assert b"".join(fs.read("keep")[1]) == b"kept content"
    runs = c.runs
    time.sleep(0.2)
    assert c.runs == runs, "the thread goes on after stop"


def test_a_failed_collection_is_said_and_tried_again(store: tuple[Store, int], monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(collector_module, "collect", broken)
    c = Collector(store[0], every_s=0.02, first_s=0.0)
    with caplog.at_level(logging.ERROR, logger="syncline.server"):
        c.start()
        try:
            _until(lambda: c.runs >= 2)
        finally:
            c.stop()
    assert "collection of unused chunks" in caplog.text and "disk gone" in caplog.text


def test_the_first_collection_waits_after_the_start(store: tuple[Store, int]) -> None:
    c = Collector(store[0], every_s=0.01, first_s=60.0)
    c.start()
    time.sleep(0.2)
    c.stop(timeout=5)
    assert c.runs == 0


def test_a_chunk_sent_again_gets_a_new_lease(store: tuple[Store, int], fs: FolderStore) -> None:
    """A chunk already there, whose lease from an older upload ran out, is sent again for a commit to come:
    the collector must keep it until then."""
    s = store[0]
    data = b"sent once, long ago, and again now"
    chunk = blake3.blake3(data).digest()
    put_bytes(fs, data)
    with s.db.write() as conn:
        conn.execute(sa.update(schema.chunks).where(schema.chunks.c.chunk_id == chunk).values(lease_until_ns=1))
    assert fs.put_chunks([(chunk, data)], "D1") == (0, 1)
    collect(s)
    assert chunk in files(s, fs), "a chunk sent for a commit to come was collected"


def test_a_clock_far_ahead_of_the_last_collection_drops_no_version(store: tuple[Store, int], fs: FolderStore,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """After a collection that ran retention, a clock a year ahead (set wrong, or a server off that long)
    would make every version look old: the thread keeps them all, says so once, and collects the rest."""
    s = store[0]
    write(fs, "f", b"old version")
    write(fs, "f", b"new version")
    collect(s)  # the reference: retention ran now
    stray, _ = put_bytes(fs, b"uploaded, never committed")
    c = Collector(s, every_s=0.05, first_s=0.0, clock=lambda: time.time_ns() + 365 * DAY)
    with caplog.at_level(logging.WARNING, logger="syncline.server"):
        c.start()
        try:
            _until(lambda: stray not in files(s, fs) and c.skipped >= 2)
        finally:
            c.stop()
    assert len(fs.versions("f", 10)[1]) == 1, "the replaced version stays"
    assert sum("clock" in r.getMessage() for r in caplog.records) == 1, "said once"
