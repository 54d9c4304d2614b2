"""Folders, symlinks and metadata go to a server in ``ops`` batches (``BatchWrite``), held by the executor
until something must follow them: a tree of many folders is a few requests, not two per folder, and
every folder, symlink and mtime arrives as a one-by-one run would leave it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syncline.engine.oneway import SyncOptions, sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import WritePolicy

from .conftest import write
from .remotehelp import Served, Wire, replica, served

T0 = 1_700_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def tree(root: Path, folders: int = 60) -> None:
    for d in range(folders):
        for f in range(3):
            write(root, f"top{d % 3}/d{d}/f{f}.txt", b"%d-%d" % (d, f), mtime=T0 + d)
        os.symlink("f0.txt", root / f"top{d % 3}/d{d}/link")
        os.chmod(root / f"top{d % 3}/d{d}", 0o750)
        os.utime(root / f"top{d % 3}/d{d}", (T0 + 1000 + d, T0 + 1000 + d))
    (root / "empty-folder").mkdir()


def test_a_tree_of_many_folders_is_a_few_batches(server: Served, tmp_path: Path) -> None:
    src = tmp_path / "src"
    tree(src)
    server.store.folders.create(server.owner(), "F")
    wire = Wire(server)
    r = replica(server, wire)
    report = sync_replicas(LocalReplica(src), r)
    assert report.exit_code == 0, report.problems
    assert report.dirs_created == 64 and report.symlinks == 60
    ops = wire.paths("POST").count("ops")
    assert ops <= 6, f"{ops} ops requests for 64 folders, 60 symlinks and 180 files"
    # As a one-by-one run leaves it: every folder with its mode and mtime (set after its files), every
    # symlink and file, and a second run finds nothing to do.
    back = tmp_path / "back"
    assert sync_replicas(r, LocalReplica(back)).exit_code == 0
    for d in range(60):
        here, there = src / f"top{d % 3}/d{d}", back / f"top{d % 3}/d{d}"
        assert there.stat().st_mtime_ns == here.stat().st_mtime_ns and there.stat().st_mode == here.stat().st_mode
        assert os.readlink(there / "link") == "f0.txt"
    again = sync_replicas(LocalReplica(src), r)
    assert again.exit_code == 0 and again.copied == 0 and again.dirs_created == 0 and again.meta_updated == 0
    r.close()


def test_one_refused_item_of_a_batch_leaves_the_others_done(server: Served, tmp_path: Path) -> None:
    """Another device made a file where this run makes a folder: that folder is kept back (its files
    cannot go in), everything else of the batch is done."""
    src = tmp_path / "src"
    for name in ("a", "b", "c"):
        write(src, f"{name}/x.txt", name.encode(), mtime=T0)
    server.store.folders.create(server.owner(), "F")
    wire = Wire(server)
    made: list[str] = []

    def meanwhile(request: httpx.Request) -> None:  # after the scan, before the run's first write
        if request.url.path.endswith("/ops") and not made:
            made.append("b")
            server.tree("F").write("b", b"a file where the run makes a folder")

    wire.before = meanwhile
    r = replica(server, wire, policy=WritePolicy.two_way())
    report = sync_replicas(LocalReplica(src), r)
    assert made and report.exit_code != 0
    assert report.problems and all(p.path.startswith("b") for p in report.problems), report.problems
    assert server.tree("F").read("a/x.txt") == b"a" and server.tree("F").read("c/x.txt") == b"c"
    assert server.tree("F").read("b") == b"a file where the run makes a folder"
    r.close()


def test_deletes_go_in_batches_and_one_refused_leaves_the_others_done(server: Served, tmp_path: Path) -> None:
    """Deleting 20 folders and 40 loose files on the server is a request or two, not one per item; a file
    another device changed after the scan is kept (its delete expected the old version), the rest go."""
    src = tmp_path / "src"
    tree(src)
    for i in range(40):
        write(src, f"loose/f{i}.txt", b"%d" % i, mtime=T0)
    server.store.folders.create(server.owner(), "F")
    wire = Wire(server)
    r = replica(server, wire, policy=WritePolicy.two_way())
    assert sync_replicas(LocalReplica(src), r).exit_code == 0
    gone = [f"top{d % 3}/d{d}" for d in range(0, 60, 3)]
    for folder in gone:
        shutil.rmtree(src / folder)
    for i in range(40):
        (src / f"loose/f{i}.txt").unlink()
    changed: list[str] = []

    def meanwhile(request: httpx.Request) -> None:  # after the scan, before the run's first write
        if request.url.path.endswith("/ops") and not changed:
            changed.append("loose/f7.txt")
            server.tree("F").write("loose/f7.txt", b"changed by another device", T0 * 10**9 + 5)

    wire.seen.clear()
    wire.before = meanwhile
    report = sync_replicas(LocalReplica(src), r, SyncOptions(delete=True, force=True))
    assert changed and report.exit_code != 0
    assert [p.path for p in report.problems] == ["loose/f7.txt"], report.problems
    assert report.deleted == 20 * 5 + 39, report.deleted  # a folder: itself, its 3 files and its symlink
    ops = wire.paths("POST").count("ops")
    assert ops <= 2, f"{ops} ops requests for 140 deletes"
    back = tmp_path / "back"
    assert sync_replicas(r, LocalReplica(back)).exit_code == 0
    assert sorted(p.name for p in (back / "loose").iterdir()) == ["f7.txt"]
    assert (back / "loose/f7.txt").read_bytes() == b"changed by another device"
    assert not any((back / folder).exists() for folder in gone)
    assert all((back / f"top{d % 3}/d{d}/f0.txt").exists() for d in range(60) if d % 3)
    r.close()
