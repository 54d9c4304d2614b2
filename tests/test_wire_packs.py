"""Chunk packs (protocol.md section 6): written, read incrementally, and refused when hostile."""

from __future__ import annotations

import itertools
import struct

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.formats.wire import WireError
from syncline.formats.wire.packs import END, HEADER, Frame, PackReader, blocks, pack_size, read_pack, write_pack


def _id(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


CHUNKS = [b"a", b"hello world", bytes(range(256)) * 3]
PACK = b"".join(write_pack((_id(c), c) for c in CHUNKS))


def test_golden_bytes() -> None:
    one = b"".join(write_pack([(_id(b"xy"), b"xy")]))
    assert one == b"SLPK\x01" + _id(b"xy") + b"\x00\x00\x00\x02xy" + bytes(32)
    assert len(PACK) == pack_size(len(c) for c in CHUNKS)


def test_reads_back() -> None:
    assert read_pack(PACK) == [Frame(_id(c), c, True) for c in CHUNKS]
    assert read_pack(b"".join(write_pack([]))) == []


def test_truncated_at_every_byte() -> None:
    for n in range(len(PACK)):
        reader = PackReader()
        reader.feed(PACK[:n])
        with pytest.raises(WireError) as info:
            reader.finish()
        assert info.value.code == "truncated", n


def test_bytes_after_the_end() -> None:
    with pytest.raises(WireError) as info:
        read_pack(PACK + b"\0")
    assert info.value.code == "bad_pack"
    reader = PackReader()
    reader.feed(PACK)
    with pytest.raises(WireError) as info:
        reader.feed(b"x")
    assert info.value.code == "bad_pack"


@pytest.mark.parametrize(("body", "code"), [
    (b"SLPX\x01" + END, "bad_pack"),
    (b"SLPK\x02" + END, "bad_pack"),
    (HEADER + struct.pack(">32sI", b"\1" * 32, 0) + END, "bad_pack"),
    (HEADER + struct.pack(">32sI", b"\1" * 32, (1 << 20) + 1), "too_large"),
    (HEADER + struct.pack(">32sI", b"\1" * 32, 0xFFFFFFFF), "too_large"),
])
def test_refused(body: bytes, code: str) -> None:
    with pytest.raises(WireError) as info:
        read_pack(body)
    assert info.value.code == code


def test_a_chunk_of_exactly_the_limit() -> None:
    data = b"z" * (1 << 20)
    assert read_pack(b"".join(write_pack([(_id(data), data)]))) == [Frame(_id(data), data, True)]


def test_4097_frames() -> None:
    frames = [(_id(bytes([i % 251, i // 251])), bytes([i % 251, i // 251])) for i in range(4097)]
    assert len(read_pack(b"".join(write_pack(frames[:4096])))) == 4096
    body = HEADER + b"".join(struct.pack(">32sI", i, 2) + d for i, d in frames) + END
    with pytest.raises(WireError) as info:
        read_pack(body)
    assert info.value.code == "too_large" and info.value.details["limit"] == 4096
    with pytest.raises(ValueError):
        b"".join(write_pack(frames))


def test_body_over_the_byte_limit() -> None:
    with pytest.raises(WireError) as info:
        read_pack(PACK, max_bytes=len(PACK) - 1)
    assert info.value.code == "too_large"


def test_a_wrong_id_is_reported_not_raised() -> None:
    body = b"".join(write_pack([(_id(b"a"), b"a"), (_id(b"a"), b"b"), (_id(b"c"), b"c")]))
    reader = PackReader()
    frames = reader.feed(body)
    reader.finish()
    assert [f.ok for f in frames] == [True, False, True]
    assert reader.bad_ids == [_id(b"a")] and reader.frames == 3 and reader.done


@pytest.mark.parametrize(("frame", "why"), [((b"\0" * 32, b"a"), "end id"), ((b"1" * 31, b"a"), "short id"),
                                             ((b"1" * 32, b""), "empty"), ((b"1" * 32, b"a" * ((1 << 20) + 1)), "big")])
def test_writer_refuses_what_no_reader_takes(frame: tuple[bytes, bytes], why: str) -> None:
    with pytest.raises(ValueError):
        b"".join(write_pack([frame]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=6), st.lists(st.integers(0, 400), max_size=12))
def test_any_split_of_the_body_reads_the_same(chunks: list[bytes], cuts: list[int]) -> None:
    body = b"".join(write_pack((_id(c), c) for c in chunks))
    at = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    reader = PackReader()
    frames = [f for a, b in itertools.pairwise(at) for f in reader.feed(body[a:b])]
    reader.finish()
    assert frames == [Frame(_id(c), c, True) for c in chunks]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_refused_with_a_code(body: bytes) -> None:
    reader = PackReader()
    try:
        reader.feed(HEADER + body)
        reader.finish()
    except WireError as e:
        assert e.code in ("bad_pack", "too_large", "truncated")


def test_blocks_join_pieces_without_changing_the_bytes() -> None:
    frames = [(blake3.blake3(d).digest(), d) for d in (b"x" * n for n in range(1, 300))]
    pieces = list(write_pack(frames))
    joined = list(blocks(iter(pieces), 4096))
    assert b"".join(joined) == b"".join(pieces)
    assert all(len(b) >= 4096 for b in joined[:-1]) and len(joined) < len(pieces) // 10
    assert list(blocks([], 10)) == [] and list(blocks([b"ab"], 10)) == [b"ab"]
