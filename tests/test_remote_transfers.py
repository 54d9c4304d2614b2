"""What goes over the wire: an edited big file sends exactly the chunks the server lacks (counted as pack
bytes), and a download through the chunk basis fetches exactly the chunks the device does not hold. The
app runs in process; sizes stay small for CI (64 MiB; the benchmark measures 1 GiB).

How many bytes that is depends on where the chunk boundaries fall around each edit. The issue's bound is
1.2x the changed bytes for a 1 MiB overwrite plus a 4 KiB insert; the server's chunker (16 KiB chunks on
average, 64 KiB at most) gives about 1.05x (at most 1.06x over six random files); the former one (64 KiB,
up to 256 KiB) gave 1.2x to 1.55x, and this test fails with it. The tests hold the client to the
chunker's best (only new chunks), to the chunk geometry's bound and to the issue's 1.2x."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from syncline.core.chunking import SERVER_CHUNKER
from syncline.engine.oneway import sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import ChunkBasis
from syncline.engine.replicas.remote.basis import basis_path, open_basis
from syncline.formats.wire.packs import pack_size

from .conftest import write
from .remotehelp import Served, served

MiB = 1 << 20
MOST = 1.2  # the bound: bytes sent for an edit, over the bytes changed
T0 = 1_700_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def edit(data: bytes, seed: int) -> tuple[bytes, int]:
    """``data`` with 1 MiB overwritten in the middle and 4 KiB inserted further on; the changed bytes."""
    rnd = random.Random(seed)
    new = bytearray(data)
    at = len(data) // 4
    new[at:at + MiB] = rnd.randbytes(MiB)
    insert = 3 * len(data) // 4
    new[insert:insert] = rnd.randbytes(4096)
    return bytes(new), MiB + 4096


def new_chunks(old: bytes, new: bytes) -> list[int]:
    """The lengths of the distinct chunks of ``new`` that ``old`` does not have (the server's chunker)."""
    def cut(data: bytes) -> dict[bytes, int]:
        stream = io.BytesIO(data)
        return {blake3.blake3(p).digest(): len(p) for p in SERVER_CHUNKER.pieces_reader(stream.readinto)}

    before = cut(old)
    return [n for i, n in cut(new).items() if i not in before]


def test_an_edited_big_file_sends_only_its_changed_chunks(tmp_path: Path, server: Served) -> None:
    src = tmp_path / "src"
    data = random.Random(1).randbytes(64 * MiB)
    write(src, "big.bin", data, mtime=T0)
    local = LocalReplica(src)
    remote = server.replica("Big")
    remote.create_root()
    first = sync_replicas(local, remote)
    assert first.exit_code == 0, first.problems
    assert 64 * MiB <= remote.transfers.pack_bytes < 65 * MiB, "the first upload sends the file once"

    edited, changed = edit(data, 2)
    write(src, "big.bin", edited, mtime=T0 + 10)
    before = remote.transfers.pack_bytes
    second = sync_replicas(local, remote)
    assert second.exit_code == 0 and second.copied == 1, second.problems
    sent = remote.transfers.pack_bytes - before
    print(f"edited 64 MiB file: {sent} pack bytes for {changed} changed bytes ({sent / changed:.3f}x)")
    least = pack_size(new_chunks(data, edited))
    # Exactly the chunks the server lacks: one pack per 16 MiB read that holds any of them.
    assert least <= sent <= least + 4 * pack_size(()), (sent, least)
    assert sent < changed + 4 * SERVER_CHUNKER.max_size, "at most a chunk more on each side of each edit"
    assert sent <= MOST * changed, f"{sent / changed:.3f}x the changed bytes"
    assert server.tree("Big").read("big.bin") == edited
    local.close()
    remote.close()


def test_a_download_through_the_basis_fetches_only_the_changed_chunks(tmp_path: Path, server: Served) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    data = random.Random(3).randbytes(16 * MiB)
    write(here, "big.bin", data, mtime=T0)
    basis = ChunkBasis(tmp_path / "basis.sqlite", here)
    mine = server.replica("Big", basis=basis)
    mine.create_root()
    assert sync_replicas(LocalReplica(here), mine).exit_code == 0

    # Another device edits the file on the server.
    edited, changed = edit(data, 4)
    write(there, "big.bin", edited, mtime=T0 + 10)
    theirs = server.replica("Big")
    assert sync_replicas(LocalReplica(there), theirs).exit_code == 0

    down = sync_replicas(mine, LocalReplica(here))
    assert down.exit_code == 0 and down.copied == 1, down.problems
    assert (here / "big.bin").read_bytes() == edited
    fetched = mine.transfers.fetched_bytes
    print(f"download through the basis: {fetched} chunk bytes fetched for {changed} changed bytes")
    assert fetched == sum(new_chunks(data, edited)) and mine.transfers.whole_bytes == 0
    assert fetched < changed + 4 * SERVER_CHUNKER.max_size
    assert fetched <= MOST * changed, f"{fetched / changed:.3f}x the changed bytes"

    # A basis whose file changed under it is not trusted: every chunk is verified, the rest fetched.
    (here / "big.bin").write_bytes(os.urandom(len(edited)))
    os.utime(here / "big.bin", (T0, T0))
    again = sync_replicas(mine, LocalReplica(here))
    assert again.exit_code == 0 and (here / "big.bin").read_bytes() == edited
    assert mine.transfers.fetched_bytes - fetched >= len(edited) - 2 * MiB
    mine.close()
    theirs.close()
    basis.close()


def test_a_closed_replica_leaves_its_basis_open_for_the_next_run(tmp_path: Path, server: Served) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    data = random.Random(5).randbytes(8 * MiB)
    write(there, "big.bin", data, mtime=T0)
    theirs = server.replica("Big")
    theirs.create_root()
    assert sync_replicas(LocalReplica(there), theirs).exit_code == 0
    here.mkdir()
    basis = open_basis(server.state, here)  # the folder's, as the daemon's loop holds it
    mine = server.replica("Big", basis=basis)
    assert sync_replicas(mine, LocalReplica(here)).exit_code == 0
    mine.close()  # a run ends: its connections and listing cache close, the basis stays open

    edited, _ = edit(data, 6)
    write(there, "big.bin", edited, mtime=T0 + 10)
    assert sync_replicas(LocalReplica(there), theirs).exit_code == 0
    before = mine.transfers.fetched_bytes
    down = sync_replicas(mine, LocalReplica(here))  # the next run of the same replica
    assert down.exit_code == 0 and (here / "big.bin").read_bytes() == edited, down.problems
    assert mine.transfers.fetched_bytes - before == sum(new_chunks(data, edited))
    assert mine.transfers.whole_bytes == 0
    mine.close()
    theirs.close()
    basis.close()


def test_a_damaged_basis_starts_empty(tmp_path: Path) -> None:
    root = tmp_path / "here"
    where = basis_path(tmp_path / "state", root)
    where.parent.mkdir(parents=True)
    where.write_bytes(b"not a database, " * 1000)
    basis = open_basis(tmp_path / "state", root)
    try:
        assert basis.find(b"\0" * 32) is None
    finally:
        basis.close()
    assert basis.find(b"\0" * 32) is None, "a closed basis finds nothing (its chunks are then fetched)"


def test_a_copy_made_before_the_folder_was_bound_is_cut_once_and_downloads_only_changes(
        tmp_path: Path, server: Served) -> None:
    """Both devices had the file before they were set up (copied by hand): the downloading device's basis
    knows nothing of its copy, so the download cuts the local file once (``ChunkBasis.learn``) and then
    fetches only the changed chunks; what it learned is never taken for chunks the server holds."""
    here, there = tmp_path / "here", tmp_path / "there"
    data = random.Random(5).randbytes(16 * MiB)
    write(here, "big.bin", data, mtime=T0)
    write(there, "big.bin", data, mtime=T0)
    theirs = server.replica("Big")
    theirs.create_root()
    assert sync_replicas(LocalReplica(there), theirs).exit_code == 0
    edited, changed = edit(data, 6)
    write(there, "big.bin", edited, mtime=T0 + 10)
    assert sync_replicas(LocalReplica(there), theirs).exit_code == 0

    basis = ChunkBasis(tmp_path / "basis.sqlite", here)
    assert basis.chunks_of("big.bin") == []
    mine = server.replica("Big", basis=basis)
    down = sync_replicas(mine, LocalReplica(here))
    assert down.exit_code == 0 and (here / "big.bin").read_bytes() == edited
    assert mine.transfers.whole_bytes == 0
    assert mine.transfers.fetched_bytes == sum(new_chunks(data, edited)), "only the chunks the copy lacked"
    assert mine.transfers.fetched_bytes <= MOST * changed
    # After the download the file's chunks are recorded as received: known to be on the server.
    recorded = [i for i, _ in basis.chunks_of("big.bin")]
    assert basis.known(recorded) == set(recorded)

    # Learned chunks are not taken for chunks the server holds (an upload still asks about them).
    write(here, "other.bin", random.Random(7).randbytes(3 * MiB), mtime=T0)
    basis.learn("other.bin", SERVER_CHUNKER)
    learned = [i for i, _ in basis.chunks_of("other.bin")]
    assert learned and basis.known(learned) == set()
    for bad in ("", "../escape", "/etc/passwd", "missing.bin"):
        basis.learn(bad, SERVER_CHUNKER)
        assert basis.chunks_of(bad) == []
    mine.close()
    theirs.close()
    basis.close()


def test_the_basis_never_reads_through_a_folder_swapped_for_a_symlink(tmp_path: Path) -> None:
    """A chunk recorded in ``d/big.bin``, then ``d`` replaced by a symlink to a folder outside the tree
    holding the same bytes: the basis neither reads nor learns through it."""
    here, outside = tmp_path / "here", tmp_path / "outside"
    data = random.Random(8).randbytes(3 * MiB)
    write(here, "d/big.bin", data, mtime=T0)
    write(outside, "big.bin", data, mtime=T0)
    basis = ChunkBasis(tmp_path / "basis.sqlite", here)
    basis.learn("d/big.bin", SERVER_CHUNKER)
    chunks = basis.chunks_of("d/big.bin")
    assert chunks and basis.read(*chunks[0]) == data[:chunks[0][1]]
    basis.close()

    (here / "d" / "big.bin").unlink()
    (here / "d").rmdir()
    (here / "d").symlink_to(outside)
    basis = ChunkBasis(tmp_path / "basis.sqlite", here)
    assert basis.read(*chunks[0]) is None, "not read through the symlink"
    basis.record("d/big.bin", None, [])  # forget it, then try to learn it through the symlink
    basis.learn("d/big.bin", SERVER_CHUNKER)
    assert basis.chunks_of("d/big.bin") == []
    basis.close()
