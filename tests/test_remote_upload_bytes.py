"""What the second upload of an edited big file costs on the wire, every request counted (bodies and
answers, through ``Wire``): the content (packs of the changed chunks) and the metadata around it
(``chunks/missing``, the manifest's pieces, ``ops``, the listing). The basis tells the device which chunks
it already sent; a server that collected some of them since is mended at commit."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.engine.oneway import sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import ChunkBasis, RemoteReplica
from syncline.server.store.gc import collect
from syncline.server.store.retention import Policy

from .conftest import write
from .remotehelp import Served, Wire, replica, served
from .test_remote_transfers import MOST, T0, edit

MiB = 1 << 20


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def kinds(wire: Wire, start: int) -> Counter[str]:
    """Bytes (request body and answer) per request kind, of the requests from ``start`` on."""
    out: Counter[str] = Counter()
    for request in wire.seen[start:]:
        kind = request.url.path.split("/", 4)[-1] if "/folders/" in request.url.path else request.url.path
        out[f"{request.method} {kind}"] += len(request.content) + wire.answered[id(request)]
    return out


def uploaded(tmp_path: Path, server: Served, seed: int, size: int, inline: int) -> tuple[
        Path, bytes, Wire, ChunkBasis, RemoteReplica, LocalReplica]:
    """A random ``big.bin`` of ``size`` uploaded once through a replica with a basis, ``inline`` chunks
    a put lists."""
    src = tmp_path / "src"
    data = random.Random(seed).randbytes(size)
    write(src, "big.bin", data, mtime=T0)
    wire = Wire(server)
    basis = ChunkBasis(tmp_path / "basis.sqlite", src)
    remote = replica(server, wire, "Big", basis=basis)
    remote.inline_chunks = inline
    remote.create_root()
    local = LocalReplica(src)
    assert sync_replicas(local, remote).exit_code == 0
    return src, data, wire, basis, remote, local


def test_an_edited_big_file_sends_little_more_than_its_changed_bytes(tmp_path: Path, server: Served) -> None:
    # ~4,000 chunks over 1,000 a put lists: a manifest, as a 1 GiB file has
    src, data, wire, basis, remote, local = uploaded(tmp_path, server, 11, 64 * MiB, 1000)

    edited, changed = edit(data, 12)
    write(src, "big.bin", edited, mtime=T0 + 10)
    start = len(wire.seen)
    second = sync_replicas(local, remote)
    assert second.exit_code == 0 and second.copied == 1, second.problems
    spent = kinds(wire, start)
    total = sum(spent.values())
    print(f"second upload: {total} bytes for {changed} changed ({total / changed:.3f}x):",
          dict(spent.most_common()))
    assert server.tree("Big").read("big.bin") == edited
    assert total <= MOST * changed, f"{total / changed:.3f}x the changed bytes: {dict(spent.most_common())}"
    local.close()
    remote.close()
    basis.close()


def test_chunks_the_basis_names_but_the_server_collected_are_sent_again_at_commit(
        tmp_path: Path, server: Served) -> None:
    # a manifest too: its pieces are collected as well
    src, data, _, basis, remote, local = uploaded(tmp_path, server, 13, 16 * MiB, 200)

    # Another device deletes the file; its kept version and every lease run out, and the collector takes
    # all of its chunks and pieces, which this device's basis still names.
    server.tree("Big").remove("big.bin")
    far = time.time_ns() + 400 * 86_400 * 10**9
    collect(server.store, now_ns=far, policy=Policy(0, 0, 0, 0))  # the kept version goes; its chunks an hour later
    assert collect(server.store, now_ns=far + 2 * 3600 * 10**9, policy=Policy(0, 0, 0, 0)).chunks_removed > 500
    edited, _ = edit(data, 14)
    write(src, "big.bin", edited, mtime=T0 + 10)
    before = remote.transfers.pack_bytes
    again = sync_replicas(local, remote)
    assert again.exit_code == 0 and again.copied == 1, again.problems
    assert server.tree("Big").read("big.bin") == edited, "the whole file, none of it torn or missing"
    assert remote.transfers.pack_bytes - before > len(edited), "refused once, then all of it sent from the basis"
    local.close()
    remote.close()
    basis.close()


def test_a_collected_chunk_whose_local_file_changed_fails_the_item_until_the_next_run(
        tmp_path: Path, server: Served) -> None:
    src = tmp_path / "src"
    data = random.Random(15).randbytes(8 * MiB)
    write(src, "big.bin", data, mtime=T0)
    write(src, "copy.bin", data, mtime=T0)
    basis = ChunkBasis(tmp_path / "basis.sqlite", src)
    remote = server.replica("Big", basis=basis)
    remote.create_root()
    local = LocalReplica(src)
    assert sync_replicas(local, remote).exit_code == 0
    server.tree("Big").remove("big.bin")
    server.tree("Big").remove("copy.bin")
    collect(server.store, now_ns=time.time_ns() + 400 * 86_400 * 10**9, policy=Policy(0, 0, 0, 0))
    # copy.bin is staged from the basis's word about big.bin's chunks, but big.bin changed since.
    basis.record("big.bin", local.stat("big.bin"), basis.chunks_of("copy.bin"))  # type: ignore[arg-type]
    basis.record("copy.bin", local.stat("copy.bin"), [])  # type: ignore[arg-type]
    write(src, "big.bin", random.Random(16).randbytes(8 * MiB), mtime=T0 + 10)
    first = sync_replicas(local, remote)
    assert server.tree("Big").read("big.bin") == (src / "big.bin").read_bytes()
    if first.exit_code != 0:  # the item failed rather than commit what the server lacks
        assert sync_replicas(local, remote).exit_code == 0
    assert server.tree("Big").read("copy.bin") == data
    local.close()
    remote.close()
