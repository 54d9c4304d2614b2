"""Chunk packs (protocol.md section 6): the body of ``POST .../chunks`` and the answer of ``chunks/read``.

::

    pack  = "SLPK" u8(version = 1) frame* end
    frame = id (32 bytes) | length (u32 big-endian, 1..max_chunk) | data (length bytes)
    end   = 32 zero bytes

:class:`PackReader` reads a pack as it arrives (``feed`` what came, get the frames it completed;
``finish`` at the end of the body), holding at most one frame's bytes beyond the piece fed. It refuses
with one :class:`~.errors.WireError` each: ``bad_pack`` (a wrong magic or version, a length of 0, bytes
after the end), ``too_large`` (a length over the chunk limit, more frames or bytes than allowed),
``truncated`` (the body ended before the end marker). A frame whose data does not hash to its id is
**reported** (``Frame.ok`` False, ``bad_ids``), not raised: the server reads the whole pack, then refuses
all of it with ``bad_chunk``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .errors import WireError
from .limits import MAX_CHUNK, MAX_PACK_BYTES, MAX_PACK_FRAMES

MAGIC = b"SLPK"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])
END = bytes(32)
ID_SIZE = 32
_FRAME_HEAD = struct.Struct(">32sI")
CONTENT_TYPE = "application/x-syncline-pack"


class Frame(NamedTuple):
    """One chunk read from a pack: ``ok`` whether ``data`` hashes (BLAKE3-256) to ``id``."""

    id: bytes
    data: bytes
    ok: bool


def pack_size(lengths: Iterable[int]) -> int:
    """The size in bytes of a pack of chunks of these lengths (its ``Content-Length``)."""
    return len(HEADER) + sum(_FRAME_HEAD.size + n for n in lengths) + len(END)


def write_pack(frames: Iterable[tuple[bytes, bytes | memoryview]], *, max_frames: int = MAX_PACK_FRAMES,
               max_chunk: int = MAX_CHUNK) -> Iterator[bytes]:
    """The bytes of a pack of ``(id, data)`` frames, as pieces to stream. Raises ``ValueError`` for what no
    reader accepts (an id not of 32 bytes or all zero, data of 0 bytes or over ``max_chunk``, more than
    ``max_frames`` frames): the caller splits its packs, it never sends a bad one. The ids are not checked
    against the data (a reader does that)."""
    yield HEADER
    for n, (chunk_id, data) in enumerate(frames, 1):
        if n > max_frames:
            raise ValueError(f"more than {max_frames} frames in one pack")
        if len(chunk_id) != ID_SIZE or chunk_id == END:
            raise ValueError("a chunk id is 32 bytes, not all zero")
        if not 1 <= len(data) <= max_chunk:
            raise ValueError(f"a chunk of {len(data)} bytes (1 to {max_chunk})")
        yield _FRAME_HEAD.pack(chunk_id, len(data))
        yield bytes(data)
    yield END


def blocks(pieces: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """``pieces`` joined into blocks of at least ``size`` bytes (the last one shorter): a pack of small chunks
    streamed as a few big writes, not two per chunk (each a socket write, or a worker-thread hop in a
    streamed answer)."""
    block = bytearray()
    for piece in pieces:
        block += piece
        if len(block) >= size:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


def _digest(data: bytes) -> bytes:
    import blake3

    return bytes(blake3.blake3(data).digest())


class PackReader:
    """Reads one pack incrementally (see the module). ``frames`` and ``bytes_read`` count what was read,
    ``bad_ids`` the ids whose data did not match, in order; ``done`` is True once the end marker is read."""

    def __init__(self, *, max_frames: int = MAX_PACK_FRAMES, max_bytes: int = MAX_PACK_BYTES,
                 max_chunk: int = MAX_CHUNK) -> None:
        self.max_frames, self.max_bytes, self.max_chunk = max_frames, max_bytes, max_chunk
        self._buf = bytearray()
        self._header = False
        self._want: tuple[bytes, int] | None = None  # the frame whose data is being read
        self.done = False
        self.frames = 0
        self.bytes_read = 0
        self.bad_ids: list[bytes] = []

    def feed(self, data: bytes | memoryview) -> list[Frame]:
        """The frames completed by ``data`` (the next bytes of the body), in order."""
        if not data:
            return []
        if self.done:
            raise WireError("bad_pack", "bytes after the end of the pack", "send one pack per request")
        self.bytes_read += len(data)
        if self.bytes_read > self.max_bytes:
            raise WireError("too_large", f"a pack over {self.max_bytes} bytes", "send smaller packs",
                            {"limit": self.max_bytes})
        buf = self._buf
        buf += data
        out: list[Frame] = []
        while True:
            if not self._header:
                if len(buf) < len(HEADER):
                    break
                if bytes(buf[:4]) != MAGIC:
                    raise WireError("bad_pack", "not a syncline pack", "send an application/x-syncline-pack body")
                if buf[4] != VERSION:
                    raise WireError("bad_pack", f"pack version {buf[4]}, this server reads {VERSION}",
                                    "update the server or the client")
                del buf[:len(HEADER)]
                self._header = True
            elif self._want is None:
                if len(buf) >= ID_SIZE and bytes(buf[:ID_SIZE]) == END:
                    del buf[:ID_SIZE]
                    self.done = True
                    if buf:
                        raise WireError("bad_pack", "bytes after the end of the pack", "send one pack per request")
                    break
                if len(buf) < _FRAME_HEAD.size:
                    break
                chunk_id, length = _FRAME_HEAD.unpack_from(buf)
                if length == 0:
                    raise WireError("bad_pack", "a frame of 0 bytes", "a chunk holds 1 byte or more")
                if length > self.max_chunk:
                    raise WireError("too_large", f"a chunk of {length} bytes, over the limit of {self.max_chunk}",
                                    "cut files into smaller chunks", {"limit": self.max_chunk})
                if self.frames >= self.max_frames:
                    raise WireError("too_large", f"more than {self.max_frames} frames in one pack",
                                    "send smaller packs", {"limit": self.max_frames})
                self.frames += 1
                del buf[:_FRAME_HEAD.size]
                self._want = (chunk_id, length)
            else:
                chunk_id, length = self._want
                if len(buf) < length:
                    break
                chunk = bytes(buf[:length])
                del buf[:length]
                self._want = None
                ok = _digest(chunk) == chunk_id
                if not ok:
                    self.bad_ids.append(chunk_id)
                out.append(Frame(chunk_id, chunk, ok))
        return out

    def finish(self) -> None:
        """Call at the end of the body: ``truncated`` unless the end marker was read."""
        if not self.done:
            raise WireError("truncated", f"the pack ended after {self.bytes_read} bytes, before its end",
                            "send it again", {"bytes": self.bytes_read})


def read_pack(body: bytes | memoryview, **limits: int) -> list[Frame]:
    """Every frame of a whole pack held in memory (a client reading a ``chunks/read`` answer, tests)."""
    reader = PackReader(**limits)
    frames = reader.feed(body)
    reader.finish()
    return frames
