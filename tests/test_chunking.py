"""Chunker.pieces_reader cuts a stream as chunk_fd cuts the same bytes from a file."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.core.chunking import Chunker
from syncline.core.entry import Chunk


def _reader(data: bytes, sizes: list[int]) -> Callable[[memoryview], int]:
    """A readinto over ``data`` whose reads are at most the next of ``sizes`` bytes (short reads)."""
    pos = 0
    turn = 0

    def readinto(view: memoryview) -> int:
        nonlocal pos, turn
        n = min(len(view), len(data) - pos, sizes[turn % len(sizes)] if sizes else len(view))
        turn += 1
        view[:n] = data[pos:pos + n]
        pos += n
        return n

    return readinto


def _chunks_of_reader(chunker: Chunker, data: bytes, sizes: list[int]) -> tuple[Chunk, ...]:
    return tuple(Chunk(len(v), blake3.blake3(v).digest()) for v in chunker.pieces_reader(_reader(data, sizes)))


def _chunks_of_fd(chunker: Chunker, path: Path, data: bytes) -> tuple[Chunk, ...]:
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        return chunker.chunk_fd(fd)[1]
    finally:
        os.close(fd)


@pytest.mark.parametrize("size", [0, 1, 5000, 3 << 20])
def test_same_chunks_as_chunk_fd(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    chunker = Chunker()
    want = _chunks_of_fd(chunker, tmp_path / "f", data)
    assert _chunks_of_reader(chunker, data, []) == want
    assert _chunks_of_reader(chunker, data, [1, 7, 65536, 3]) == want
    if size > 1 << 20:
        assert len(want) > 10


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=6000), st.lists(st.integers(1, 3000), min_size=1, max_size=5))
def test_any_short_reads_cut_the_same(tmp_path_factory: pytest.TempPathFactory, data: bytes, sizes: list[int]) -> None:
    chunker = Chunker(avg_size=256)
    want = _chunks_of_fd(chunker, tmp_path_factory.mktemp("c") / "f", data)
    got = _chunks_of_reader(chunker, data, sizes)
    assert got == want
    assert sum(c.length for c in got) == len(data)


def test_reader_errors_pass_through() -> None:
    def broken(view: memoryview) -> int:
        raise OSError(5, "I/O error")

    with pytest.raises(OSError):
        list(Chunker().pieces_reader(broken))
