"""What the download of a big file edited elsewhere costs on the wire, every request counted (bodies and
answers, through ``Wire``): with a basis recording the old version's chunk list, the device reads the
new version's manifest pieces (``file/manifest``), takes the pieces it holds from the old list and fetches
only the other pieces' ranges of the list (``file/chunks?from=&limit=``), each checked against its piece's
id; then only the chunks it lacks. A server without ``file/manifest`` gets the whole list, as before."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from syncline.engine.oneway import sync_replicas
from syncline.engine.replicas.errors import ReplicaError
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import ChunkBasis, RemoteReplica
from syncline.engine.replicas.remote.client import code_of

from .conftest import write
from .remotehelp import Served, Wire, replica, served
from .test_remote_transfers import MOST, T0, edit
from .test_remote_upload_bytes import kinds

MiB = 1 << 20
INLINE = 1_000  # lowered: ~4,000 chunks of a 64 MiB file are a big list, as a 1 GiB file's 65,000 are


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


class Edited:
    """``big.bin`` (64 MiB) uploaded from ``here`` through ``mine`` (a basis records its chunks), then
    edited (1 MiB overwritten, 4 KiB inserted) and uploaded by another device: ``mine`` is to download
    it."""

    def __init__(self, tmp_path: Path, server: Served, seed: int) -> None:
        self.here, there = tmp_path / "here", tmp_path / "there"
        self.data = random.Random(seed).randbytes(64 * MiB)
        write(self.here, "big.bin", self.data, mtime=T0)
        self.wire = Wire(server)
        self.basis = ChunkBasis(tmp_path / "basis.sqlite", self.here)
        self.mine = replica(server, self.wire, "Big", basis=self.basis)
        self.mine.inline_chunks = INLINE
        self.mine.create_root()
        assert sync_replicas(LocalReplica(self.here), self.mine).exit_code == 0
        self.edited, self.changed = edit(self.data, seed + 1)
        write(there, "big.bin", self.edited, mtime=T0 + 10)
        self.theirs: RemoteReplica = server.replica("Big")
        assert sync_replicas(LocalReplica(there), self.theirs).exit_code == 0

    def close(self) -> None:
        self.mine.close()
        self.theirs.close()
        self.basis.close()


@pytest.fixture
def edited(tmp_path: Path, server: Served) -> Iterator[Edited]:
    e = Edited(tmp_path, server, 21)
    yield e
    e.close()


def test_the_download_of_an_edited_big_file_reads_only_the_changed_part_of_its_list(edited: Edited) -> None:
    start = len(edited.wire.seen)
    down = sync_replicas(edited.mine, LocalReplica(edited.here))
    assert down.exit_code == 0 and down.copied == 1, down.problems
    assert (edited.here / "big.bin").read_bytes() == edited.edited
    spent = kinds(edited.wire, start)
    total = sum(spent.values())
    print(f"download: {total} bytes for {edited.changed} changed ({total / edited.changed:.3f}x):",
          dict(spent.most_common()))
    assert spent["GET file/manifest"] > 0
    assert total <= MOST * edited.changed, f"{total / edited.changed:.3f}x: {dict(spent.most_common())}"


def _swapped(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
    value = answer.json()
    value["chunks"][:2] = value["chunks"][1::-1]  # the right chunks, in another order
    return httpx.Response(answer.status_code, json=value)


def _shifted(server: Served) -> Callable[[httpx.Request, httpx.Response], httpx.Response]:
    def shift(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        params = dict(request.url.params)
        params["from"] = str(int(params["from"]) + 1)  # the range one chunk further on
        r = server.http.get(request.url.path, params=params, headers=request.headers)
        return httpx.Response(r.status_code, content=r.content, headers={"content-type": "application/json"})
    return shift


@pytest.mark.parametrize("lie", ["swapped", "shifted"])
def test_a_range_of_the_list_that_is_not_its_piece_is_refused(edited: Edited, server: Served, lie: str) -> None:
    mangle = _swapped if lie == "swapped" else _shifted(server)

    def wrong_range(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/file/chunks") and "limit" in request.url.params:
            return mangle(request, answer)
        return answer

    before = sorted(p.name for p in edited.here.iterdir())
    edited.wire.mangle = wrong_range
    with pytest.raises(ReplicaError) as caught, edited.mine.open_file("big.bin"):
        pass
    assert code_of(caught.value) == "bad_response"
    down = sync_replicas(edited.mine, LocalReplica(edited.here))
    assert down.exit_code != 0 and down.copied == 0
    assert (edited.here / "big.bin").read_bytes() == edited.data, "nothing written"
    assert sorted(p.name for p in edited.here.iterdir()) == before


def test_a_server_without_file_manifest_gives_the_whole_list(edited: Edited, server: Served) -> None:
    def older(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/file/manifest"):  # the real answer to an endpoint it does not have
            r = server.http.get(request.url.path + "-unknown", headers=request.headers)
            assert r.status_code == 404
            return httpx.Response(404, content=r.content, headers={"content-type": "application/json"})
        return answer

    edited.wire.mangle = older
    start = len(edited.wire.seen)
    down = sync_replicas(edited.mine, LocalReplica(edited.here))
    assert down.exit_code == 0 and down.copied == 1, down.problems
    assert (edited.here / "big.bin").read_bytes() == edited.edited
    asked = [r for r in edited.wire.seen[start:] if r.url.path.endswith("/file/chunks")]
    assert asked and all("limit" not in r.url.params for r in asked)


def test_a_file_that_moves_on_during_the_download_is_changed(edited: Edited, tmp_path: Path) -> None:
    there = tmp_path / "there"
    moved: list[bool] = []

    def commit_another(request: httpx.Request) -> None:
        if request.url.path.endswith("/file/chunks") and not moved:
            moved.append(True)
            write(there, "big.bin", edited.edited[::-1], mtime=T0 + 20)
            assert sync_replicas(LocalReplica(there), edited.theirs).exit_code == 0

    edited.wire.before = commit_another
    with pytest.raises(ReplicaError) as caught, edited.mine.open_file("big.bin"):
        pass
    assert moved and code_of(caught.value) == "changed"
