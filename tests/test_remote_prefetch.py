"""Small files downloaded in packs (``RemoteReplica.prefetch``, ``remote/prefetch.py``): a download of many
small files is a few ``chunks/read`` requests, not one request per file; what comes is checked; whatever
goes wrong with a pack, each file is then opened on its own, and nothing wrong is ever written."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import blake3
import httpx
import pytest

from syncline.core.ignore import Rules
from syncline.engine.oneway import sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import prefetch as prefetch_mod
from syncline.engine.replicas.remote.prefetch import Prefetch
from syncline.formats.wire.packs import read_pack, write_pack

from .remotehelp import Served, Wire, replica, served

FILES = 300


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def small_tree(server: Served, name: str = "F", files: int = FILES) -> dict[str, bytes]:
    """``files`` small files in a few folders on the server, two of them the same bytes, one empty."""
    server.store.folders.create(server.owner(), name)
    tree = server.tree(name)
    want: dict[str, bytes] = {}
    for d in range(3):
        tree.mkdir(f"d{d}")
    for i in range(files):
        want[f"d{i % 3}/f{i}.txt"] = b"file %d " % i * (1 + i % 50)
    want["d0/same-a"] = want["d1/same-b"] = b"the same bytes in two files"
    want["d2/empty"] = b""
    for path, data in want.items():
        tree.write(path, data)
    return want


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_download_of_many_small_files_is_a_few_packs(server: Served, tmp_path: Path) -> None:
    want = small_tree(server)
    wire = Wire(server)
    r = replica(server, wire)
    report = sync_replicas(r, LocalReplica(tmp_path / "here"))
    assert report.exit_code == 0, report.problems
    assert local_files(tmp_path / "here") == want
    reads = wire.paths("POST").count("chunks/read")
    assert 1 <= reads <= 2, wire.paths()
    assert not [p for p in wire.paths("GET") if p == "file"], "no file was asked for alone"
    assert r.transfers.fetched_bytes == sum(map(len, want.values())) and r.transfers.whole_bytes == 0
    r.close()


@pytest.mark.parametrize("answer", ["missing", "corrupt", "cut"])
def test_a_pack_that_fails_leaves_each_file_to_be_opened_alone(server: Served, tmp_path: Path, answer: str) -> None:
    want = small_tree(server, files=40)
    wire = Wire(server)

    def spoil(request: httpx.Request, got: httpx.Response) -> httpx.Response:
        if not request.url.path.endswith("/chunks/read"):
            return got
        if answer == "missing":  # the folder no longer holds a version: its chunk was collected
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no chunk", "hint": ""}})
        if answer == "corrupt":  # a frame whose bytes are not its id's
            body = bytearray(got.content)
            body[60] ^= 1
            return httpx.Response(200, headers=got.headers, content=bytes(body))
        raise httpx.ReadError("connection cut")

    wire.mangle = spoil
    r = replica(server, wire)
    report = sync_replicas(r, LocalReplica(tmp_path / "here"))
    assert report.exit_code == 0, report.problems
    assert local_files(tmp_path / "here") == want
    alone = [p for p in wire.paths("GET") if p == "file"]
    assert len(alone) == len([d for d in want.values() if d]), "every non-empty file was opened on its own"
    assert r.transfers.fetched_bytes == 0
    r.close()


def test_a_pack_of_other_bytes_under_the_right_ids_is_never_written(server: Served, tmp_path: Path) -> None:
    """A hostile server answering a well-formed pack whose frames hash to the ids asked for, but in another
    order: refused as a whole, and the files are then opened (and verified) one by one."""
    want = small_tree(server, files=10)
    wire = Wire(server)

    def shuffle(request: httpx.Request, got: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/chunks/read"):
            frames = read_pack(got.content)
            return httpx.Response(200, headers=got.headers,
                                  content=b"".join(write_pack([(f.id, f.data) for f in reversed(frames)])))
        return got

    wire.mangle = shuffle
    r = replica(server, wire)
    report = sync_replicas(r, LocalReplica(tmp_path / "here"))
    assert report.exit_code == 0, report.problems
    assert local_files(tmp_path / "here") == want
    r.close()


def test_a_file_changed_after_the_plan_is_copied_as_the_plan_read_it(server: Served) -> None:
    """The hinted version is a committed one: its bytes and its entry go together, whatever the server
    holds now (the next run brings the new version)."""
    small_tree(server, files=5)
    r = replica(server, Wire(server))
    index = r.scan(rules=Rules(), digests=False, side="")
    entry = index.entries["d0/f0.txt"]
    r.prefetch([("d0/f0.txt", entry)])
    server.tree("F").write("d0/f0.txt", b"changed meanwhile")
    with r.open_file("d0/f0.txt") as source:
        buf = bytearray(1 << 16)
        n = source.readinto(memoryview(buf))
        assert source.entry == entry and blake3.blake3(bytes(buf[:n])).digest() == entry.digest
    with r.open_file("d0/f0.txt") as source:  # handed out once: the next open is of the version now
        n = source.readinto(memoryview(buf))
        assert bytes(buf[:n]) == b"changed meanwhile"
    r.close()


def test_threads_opening_files_of_one_group_fetch_it_once(server: Served) -> None:
    want = small_tree(server, files=64)
    wire = Wire(server)
    r = replica(server, wire)
    index = r.scan(rules=Rules(), digests=False, side="")
    paths = [p for p in want if want[p]]
    r.prefetch([(p, index.entries[p]) for p in paths])
    start = threading.Barrier(8)
    got: dict[str, bytes] = {}

    def opener(mine: list[str]) -> None:
        start.wait()
        for p in mine:
            with r.open_file(p) as source:
                buf = bytearray(1 << 16)
                got[p] = bytes(buf[:source.readinto(memoryview(buf))])

    threads = [threading.Thread(target=opener, args=(paths[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got == {p: want[p] for p in paths}
    assert wire.paths("POST").count("chunks/read") == 1
    r.close()


def test_held_groups_are_bounded_and_a_dropped_one_is_opened_alone(server: Served,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefetch_mod, "GROUP_FILES", 4)
    want = small_tree(server, files=40)
    wire = Wire(server)
    r = replica(server, wire)
    index = r.scan(rules=Rules(), digests=False, side="")
    paths = sorted(p for p in want if want[p])  # 41 files: 11 groups
    ahead = Prefetch(r._client, "F")
    ahead.hint([(p, index.entries[p]) for p in paths], 1 << 20)
    groups = [paths[i:i + 4] for i in range(0, len(paths), 4)]
    for g in groups:  # one file of each group: every group fetched, only the last KEEP_GROUPS held
        assert ahead.take(g[0]) == (index.entries[g[0]], want[g[0]])
    held = sum(1 for g in groups if ahead._files.get(g[1], (None, None))[1].data is not None)  # type: ignore[union-attr]
    assert held == min(len(groups), prefetch_mod.KEEP_GROUPS)
    assert ahead.take(groups[0][1]) is None, "the oldest group was dropped: its files are opened alone"
    assert ahead.take(groups[-1][1]) == (index.entries[groups[-1][1]], want[groups[-1][1]])
    assert ahead.take("not/hinted") is None
    r.close()
