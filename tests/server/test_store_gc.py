"""The collector: trash past retention, history past its window (``history_gone`` below the horizon),
unreferenced chunks after their lease, orphan chunk files; never a chunk a version still references."""

from __future__ import annotations

import time
from pathlib import Path

import blake3
import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import Expect, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store
from syncline.server.store.folder import FolderStore
from syncline.server.store.gc import ORPHAN_AGE_S, collect, unlink_unrecorded
from syncline.server.store.retention import Policy

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
DAY = 24 * 3600 * 10**9
POLICY = WirePolicy()
FLAT_30 = Policy(keep_all_s=30 * 86400, keep_daily_s=0, keep_weekly_s=0)  # every version for 30 days, then none


def write(fs: FolderStore, path: str, data: bytes, policy: WirePolicy = POLICY) -> None:
    found = fs.stat_many([path])[1][0]
    assert not isinstance(found, WireError)
    digest, chunks = put_bytes(fs, data)
    _, [r] = fs.apply_ops([Op(new_op_id(), "put", path, Expect.of(found.entry()) if found else None,
                              OpEntry(T0, 0o644, len(data), digest), chunks)], policy, "D1")
    assert r.done, r


def files(store: Store, fs: FolderStore) -> set[bytes]:
    return set(store.chunks.ids(fs.ns))


def test_live_chunks_stay_and_unreferenced_ones_go_after_their_lease(store: tuple[Store, int],
                                                                     fs: FolderStore) -> None:
    s = store[0]
    write(fs, "keep", b"kept content")
    write(fs, "gone", b"first", WirePolicy(trash=False))
    write(fs, "gone", b"second", WirePolicy(trash=False))  # "first" is no trash, but a kept version
    stray, _ = put_bytes(fs, b"uploaded, never committed")
    first = blake3.blake3(b"first").digest()
    assert collect(s).chunks_removed == 0, "every lease is still running"
    later = time.time_ns() + 2 * DAY  # past the upload lease (24 h) and the drop lease (1 h)
    report = collect(s, now_ns=later)
    assert report.chunks_removed == 1, "the stray upload goes; the replaced version stays a version"
    assert fs.missing([first, stray], "D1") == [stray]
    collect(s, now_ns=later + 31 * DAY, policy=FLAT_30)  # past retention: its row goes, its chunks a lease later
    collect(s, now_ns=later + 33 * DAY, policy=FLAT_30)
    assert files(s, fs) == {blake3.blake3(b"kept content").digest(), blake3.blake3(b"second").digest()}
    assert fs.missing([first, stray], "D1") == [first, stray]
    assert b"".join(fs.read("keep")[1]) == b"kept content"


def test_trash_past_retention_is_dropped(store: tuple[Store, int], fs: FolderStore) -> None:
    s = store[0]
    write(fs, "f", b"old version")
    write(fs, "f", b"new version")
    assert len(fs.trash().items) == 1
    collect(s, now_ns=time.time_ns() + 10 * DAY, policy=FLAT_30)
    assert len(fs.trash().items) == 1, "within 30 days: kept"
    report = collect(s, now_ns=time.time_ns() + 31 * DAY, policy=FLAT_30)
    assert report.trash_dropped == 1 and fs.trash().items == []
    assert len(files(s, fs)) == 2, "a dropped version's chunks keep an hour's lease (a download under way)"
    collect(s, now_ns=time.time_ns() + 32 * DAY, policy=FLAT_30)
    assert files(s, fs) == {blake3.blake3(b"new version").digest()}


def test_history_is_pruned_and_older_deltas_are_refused(store: tuple[Store, int], fs: FolderStore) -> None:
    s = store[0]
    for i in range(5):
        write(fs, f"f{i}", b"%d" % i)
    found = fs.stat_many(["f0"])[1][0]
    assert found is not None and not isinstance(found, WireError)
    fs.apply_ops([Op(new_op_id(), "delete", "f0", Expect.of(found.entry()))], WirePolicy(), "D1")
    report = collect(s, now_ns=time.time_ns() + 31 * DAY, history_min=2)
    assert report.changes_pruned == 4 and report.tombstones_pruned == 0
    with pytest.raises(WireError) as gone:
        fs.changes(3)
    assert gone.value.code == "history_gone" and gone.value.details["horizon"] == 4
    with pytest.raises(WireError):
        fs.entries(3)
    assert [c.seq for c in fs.changes(4).changes] == [5, 6]
    assert [r.path for r in fs.entries(0).rows] == ["f1", "f2", "f3", "f4"], "a full listing always works"
    collect(s, now_ns=time.time_ns() + 31 * DAY, history_min=0)
    assert fs.entries(6).rows == [] and fs.changes(6).changes == []


def test_orphan_files_of_a_killed_upload_are_removed_when_old(tmp_path: Path, store: tuple[Store, int],
                                                              fs: FolderStore) -> None:
    s = store[0]
    orphan = b"renamed into place, killed before its row"
    orphan_id = blake3.blake3(orphan).digest()
    s.chunks.put_many(fs.ns, [(orphan_id, orphan)])
    write(fs, "live", b"live")
    assert collect(s).orphans_removed == 0, "young: it may be an upload in flight"
    assert collect(s, now_ns=time.time_ns() + (ORPHAN_AGE_S + 60) * 10**9).orphans_removed == 1
    assert files(s, fs) == {blake3.blake3(b"live").digest()}


def test_a_chunk_uploaded_again_between_its_rows_deletion_and_the_unlink_keeps_its_file(
        store: tuple[Store, int], fs: FolderStore) -> None:
    s = store[0]
    data = b"collected, then uploaded again"
    chunk_id, _ = put_bytes(fs, data)
    with s.db.write() as conn:  # what the collector's transaction did
        conn.exec_driver_sql("DELETE FROM chunks WHERE chunk_id = ?", (chunk_id,))
    put_bytes(fs, data)  # an upload in between: a new row, the file written again
    assert unlink_unrecorded(s, fs.ns, [chunk_id]) == 0
    assert s.chunks.read(fs.ns, chunk_id) == data and fs.missing([chunk_id], "D1") == []
    with s.db.write() as conn:
        conn.exec_driver_sql("DELETE FROM chunks WHERE chunk_id = ?", (chunk_id,))
    assert unlink_unrecorded(s, fs.ns, [chunk_id]) == 1 and not s.chunks.has(fs.ns, chunk_id)
