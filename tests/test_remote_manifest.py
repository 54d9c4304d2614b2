"""A big file through the remote replica (protocol.md section 7, "Big files"): more chunks than a ``put``
lists, so its chunk list goes up as a manifest of chunks and comes down in pages. 200 MiB of the server
chunker's 16 KiB chunks are about 12,800 of them, past the 4,096 a ``put`` lists; the download pages are
lowered to 1,000 chunks so that the list comes in several."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.engine.oneway import sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import ChunkBasis
from syncline.formats.wire.limits import MAX_INLINE_CHUNKS
from syncline.formats.wire.ops import Op
from syncline.server.replica import ServerFolderReplica
from syncline.server.store.folder import FolderStore

from .conftest import write
from .remotehelp import Served, served

MiB = 1 << 20
T0 = 1_700_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def test_a_200_mib_file_goes_up_with_a_manifest_and_comes_down_in_pages(
        tmp_path: Path, server: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    src, here = tmp_path / "src", tmp_path / "here"
    data = random.Random(7).randbytes(200 * MiB)
    write(src, "big.bin", data, mtime=T0)
    up = server.replica("Big")
    up.create_root()
    first = sync_replicas(LocalReplica(src), up)
    assert first.exit_code == 0 and first.copied == 1, first.problems
    fs = server.store.folder(server.store.folders.get(server.owner(), "Big"))  # type: ignore[arg-type]
    listed = fs.chunk_list("big.bin")
    assert listed.count > MAX_INLINE_CHUNKS, "more chunks than a put lists: the commit named a manifest"
    assert 200 * MiB < up.transfers.pack_bytes < 201 * MiB, "the content once, and its manifest (~460 KiB)"

    # Edited: only the changed chunks and the manifest pieces around them are sent.
    edited = bytearray(data)
    edited[100 * MiB:100 * MiB + MiB] = random.Random(8).randbytes(MiB)
    write(src, "big.bin", bytes(edited), mtime=T0 + 10)
    before = up.transfers.pack_bytes
    second = sync_replicas(LocalReplica(src), up)
    assert second.exit_code == 0 and second.copied == 1, second.problems
    sent = up.transfers.pack_bytes - before
    print(f"edited 200 MiB file: {sent} pack bytes for {MiB} changed bytes")
    assert sent < 1.2 * MiB + 4 * 16_384 * 36, "the changed chunks and a few manifest pieces"

    # Downloaded through a basis holding the old version: the list comes in pages, the changed chunks
    # are fetched, the rest read locally.
    write(here, "big.bin", data, mtime=T0)
    monkeypatch.setattr(FolderStore, "chunks_page", 1000)
    basis = ChunkBasis(tmp_path / "basis.sqlite", here)
    basis.record("big.bin", LocalReplica(here).stat("big.bin"), [(c.id, c.length) for c in listed.chunks])  # type: ignore[arg-type]
    down = server.replica("Big", basis=basis)
    got = sync_replicas(down, LocalReplica(here))
    assert got.exit_code == 0 and got.copied == 1, got.problems
    assert (here / "big.bin").read_bytes() == bytes(edited)
    assert 0 < down.transfers.fetched_bytes < 1.2 * MiB and down.transfers.whole_bytes == 0
    for r in (up, down):
        r.close()
    basis.close()


def test_the_server_folder_replica_commits_big_files_with_a_manifest(tmp_path: Path, server: Served) -> None:
    """``ServerFolderReplica`` (no HTTP) names a manifest past its ``inline_chunks``, lowered here."""
    src = tmp_path / "src"
    data = random.Random(9).randbytes(3 * MiB)
    write(src, "big.bin", data, mtime=T0)
    replica = ServerFolderReplica(server.store, server.owner(), "Big", "Dlocal")
    replica.create_root()
    replica.inline_chunks = 10
    made: list[Op] = []
    real = FolderStore.apply_ops

    def seen(self: FolderStore, ops: list[Op], *rest: object) -> object:
        made.extend(ops)
        return real(self, ops, *rest)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FolderStore, "apply_ops", seen)
        assert sync_replicas(LocalReplica(src), replica).exit_code == 0
    [op] = [o for o in made if o.op == "put"]
    assert op.manifest and not op.chunks
    assert server.tree("Big").read("big.bin") == data
