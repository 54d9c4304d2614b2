"""ServerFolderReplica beyond the conformance suite: names a server cannot keep, leases per device, batch
commits with a failing item, notifications, and two devices converging through one server folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncline.core.entry import DIR, Entry
from syncline.core.errors import BusyError
from syncline.engine.replicas.errors import NotFound, ReplicaError
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import Outcome, WritePolicy
from syncline.engine.twoway.run import sync_two_way_replicas
from syncline.server.replica import ServerFolderReplica
from syncline.server.store import Store
from syncline.server.store.folder import FolderStore

from ..conftest import write
from ..test_twoway import T0, tree
from .storetree import fs_fixture, store_fixture  # noqa: F401 - fixtures

DIR_ENTRY = Entry(DIR, 0, T0 * 10**9, 0o755)


def staged_from(replica: ServerFolderReplica, tmp_path: Path, path: str, data: bytes) -> object:
    src = tmp_path / "staging-source"
    write(src, "f", data, mtime=T0)
    local = LocalReplica(src)
    try:
        with local.open_file("f") as source:
            return replica.stage_file(path, source)
    finally:
        local.close()


def test_a_name_that_is_not_utf8_is_refused_and_nothing_is_written(tmp_path: Path, store: tuple[Store, int],
                                                                   fs: FolderStore) -> None:
    replica = ServerFolderReplica(*store, "Docs", "D1")
    with pytest.raises(ReplicaError):
        staged_from(replica, tmp_path, "bad\udcffname", b"x")
    with pytest.raises(ReplicaError):
        replica.make_dir("bad\udcffdir", DIR_ENTRY, None)
    assert replica.is_empty() and fs.info().seq == 0


def test_a_batch_commit_reports_a_failing_item_in_its_place(tmp_path: Path, store: tuple[Store, int],
                                                            fs: FolderStore) -> None:
    replica = ServerFolderReplica(*store, "Docs", "D1")
    good = staged_from(replica, tmp_path, "good", b"good")
    replica.make_dir("dir", DIR_ENTRY, None)
    inside = staged_from(replica, tmp_path, "dir/inside", b"inside")
    entry = replica.stat("dir")
    assert entry is not None
    assert replica.delete("dir", entry).done, "a staged file is not in the tree: the folder is empty"
    results = replica.commit_many([(good, None), (inside, None)])  # type: ignore[list-item]
    assert isinstance(results[0], Outcome) and results[0].done
    assert isinstance(results[1], NotFound), "the staged file's folder is gone: a failure in its place"
    assert replica.stat("good") is not None and replica.stat("dir/inside") is None
    again = staged_from(replica, tmp_path, "again", b"again")
    gone = staged_from(replica, tmp_path, "gone", b"gone")
    gone.discard()  # type: ignore[attr-defined]
    results = replica.commit_many([(gone, None), (again, None)])  # type: ignore[list-item]
    assert isinstance(results[0], NotFound) and isinstance(results[1], Outcome) and results[1].done
    assert replica.stat("gone") is None
    assert replica.staged == set(), "every staged copy is discarded once answered"


def test_leases_are_per_device(store: tuple[Store, int], fs: FolderStore) -> None:
    one = ServerFolderReplica(*store, "Docs", "D1")
    same_device = ServerFolderReplica(*store, "Docs", "D1")
    other_device = ServerFolderReplica(*store, "Docs", "D2")
    with one.lock():
        with pytest.raises(BusyError), same_device.lock():
            pass
        with other_device.lock():  # another device writes too: its writes are conditional
            pass
    with same_device.lock():
        pass


def test_every_commit_is_published(tmp_path: Path, store: tuple[Store, int], fs: FolderStore) -> None:
    heard: list[tuple[int, int]] = []
    store[0].on_commit = lambda folder_id, seq: heard.append((folder_id, seq))
    replica = ServerFolderReplica(*store, "Docs", "D1")
    replica.commit(staged_from(replica, tmp_path, "a", b"a"), None)  # type: ignore[arg-type]
    replica.make_dir("d", DIR_ENTRY, None)
    replica.make_dir("d", DIR_ENTRY, None)  # nothing changes: nothing is said
    assert heard == [(fs.id, 1), (fs.id, 2)]


def test_two_devices_converge_through_one_server_folder(tmp_path: Path, store: tuple[Store, int]) -> None:
    ra, rb = tmp_path / "laptop", tmp_path / "desktop"
    ra.mkdir()
    rb.mkdir()
    laptop = LocalReplica(ra, policy=WritePolicy.two_way())
    desktop = LocalReplica(rb, policy=WritePolicy.two_way())
    via_a = ServerFolderReplica(*store, "Docs", "Dlaptop", policy=WritePolicy.two_way())
    via_b = ServerFolderReplica(*store, "Docs", "Ddesktop", policy=WritePolicy.two_way())
    write(ra, "notes/todo.txt", "laptop's list", mtime=T0)
    write(rb, "photos/cat.jpg", os.urandom(2 << 20), mtime=T0)  # chunked

    def round_trip() -> None:
        for local, server in ((laptop, via_a), (desktop, via_b), (laptop, via_a)):
            report = sync_two_way_replicas(local, server)
            assert report.exit_code == 0, report.problems

    round_trip()
    assert tree(ra) == tree(rb)
    write(rb, "notes/todo.txt", "desktop's edit", mtime=T0 + 50)
    os.rename(ra / "photos", ra / "pictures")
    round_trip()
    assert tree(ra) == tree(rb)
    assert (ra / "notes/todo.txt").read_text() == "desktop's edit"
    assert (rb / "pictures/cat.jpg").is_file() and not (rb / "photos").exists()
    for r in (laptop, desktop, via_a, via_b):
        r.close()
