"""The container both portable file formats share: index files (``.slidx``) and archives (``.slar``).

::

    magic    8 bytes   (the format's own)
    version  u16 BE
    flags    u16 BE
    body     exactly one zstd frame holding a msgpack stream
    trailer  32 bytes  BLAKE3 of every byte before the trailer

This module holds the parts that do not depend on what the msgpack stream means: a writer that hashes what
it writes, a reader of the body that decompresses in small steps (so a hostile frame cannot expand into
much memory in one call) while hashing everything that is not the trailer, a type-byte peek for msgpack
containers, and the translation of decoder exceptions into the format's own error.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

import blake3
import msgpack
import zstandard

from ..core.errors import SynclineError
from ..core.paths import new_temp_name

PREAMBLE = struct.Struct(">8sHH")
TRAILER_SIZE = 32
ZSTD_LEVEL = 3
MAX_WINDOW = 8 << 20  # zstd window a reader accepts (level 3 uses 2 MiB)
_FEED = 256  # compressed bytes per decompress call: bounds the output of one call to ~8 MiB
BLOCK = 1 << 16

Corrupt = Callable[[str], SynclineError]  # "what is wrong" -> the format's error
Opener = Callable[[Path], contextlib.AbstractContextManager[BinaryIO]]  # path -> an all-or-nothing file


class HashingWriter:
    """A write-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hasher = blake3.blake3()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class Body:
    """The bytes between preamble and trailer, as decompressed data for the msgpack unpacker.

    Reads the file in blocks, hashes every byte that is not (yet) known to be the trailer, and feeds the
    zstd decompressor ``_FEED`` bytes at a time so that one call cannot expand into much memory. Knows
    whether the zstd frame ended and how many bytes followed it. ``unreadable`` makes the error for a
    failing read.
    """

    def __init__(self, raw: BinaryIO, preamble: bytes, unreadable: Callable[[OSError], SynclineError]) -> None:
        self._raw = raw
        self._unreadable = unreadable
        self.hasher = blake3.blake3(preamble)
        self._dobj = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).decompressobj()
        self._tail = b""  # the last TRAILER_SIZE bytes read: the trailer if the file ends here
        self._in = memoryview(b"")
        self._in_pos = 0
        self._out = bytearray()
        self.frame_done = False
        self.extra = 0  # bytes between the end of the zstd frame and the trailer
        self.compressed = 0  # body bytes read so far

    def _more(self) -> bool:
        """Read the next block of body bytes into ``_in``; False at the end of the file."""
        try:
            block = self._raw.read(BLOCK)
        except OSError as exc:
            raise self._unreadable(exc) from None
        if not block:
            return False
        data = self._tail + block
        cut = max(0, len(data) - TRAILER_SIZE)
        body, self._tail = data[:cut], data[cut:]
        self.hasher.update(body)
        self.compressed += len(body)
        self._in = memoryview(body)
        self._in_pos = 0
        return True

    def read(self, n: int = -1) -> bytes:
        want = n if n > 0 else BLOCK
        out = self._out
        while len(out) < want and not self.frame_done:
            if self._in_pos >= len(self._in) and not self._more():
                break
            piece = self._in[self._in_pos : self._in_pos + _FEED]
            self._in_pos += len(piece)
            out += self._dobj.decompress(piece)
            if self._dobj.eof:
                self.frame_done = True
                self.extra += len(self._dobj.unused_data) + len(self._in) - self._in_pos
        give = bytes(out[:want])
        del out[:want]
        return give

    def trailer(self) -> bytes:
        """After the frame ended: read to the end of the file, count extra bytes, return the trailer."""
        while self._more():
            self.extra += len(self._in)
        return self._tail

    def verify_end(self, corrupt: Corrupt) -> None:
        """After the last msgpack value: the frame is complete, nothing follows it, the checksum holds."""
        trailer = self.trailer()
        if not self.frame_done:
            raise corrupt("the compressed body is truncated")
        if self.extra:
            raise corrupt(f"{self.extra} bytes after the compressed body")
        if len(trailer) != TRAILER_SIZE:
            raise corrupt("truncated checksum")
        if trailer != self.hasher.digest():
            raise corrupt("checksum mismatch")


def container(u: msgpack.Unpacker) -> tuple[str, int]:
    """Read one msgpack type byte (and length): ("array" | "map", length), ("nil", 0) or ("other", 0).

    Only for places where the next value must be one of these: an "other" value is left half read.
    """
    first = u.read_bytes(1)
    if not first:
        raise msgpack.OutOfData
    t = first[0]
    if 0x90 <= t <= 0x9F:
        return "array", t & 0x0F
    if 0x80 <= t <= 0x8F:
        return "map", t & 0x0F
    if t == 0xC0:
        return "nil", 0
    width = {0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4}.get(t)
    if width is None:
        return "other", 0
    raw = u.read_bytes(width)
    if len(raw) != width:
        raise msgpack.OutOfData
    return ("array" if t in (0xDC, 0xDD) else "map"), int.from_bytes(raw, "big")


class Decoding:
    """Turns the decoders' exceptions raised inside the block into the format's error (``corrupt``)."""

    def __init__(self, what: str, corrupt: Corrupt, max_object: int) -> None:
        self.what = what
        self.corrupt = corrupt
        self.max_object = max_object

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if typ is None or issubclass(typ, SynclineError):
            return
        if issubclass(typ, msgpack.OutOfData):
            raise self.corrupt(f"truncated in the {self.what}") from None
        if issubclass(typ, zstandard.ZstdError):
            raise self.corrupt(f"compressed data is damaged ({exc})") from None
        if issubclass(typ, msgpack.BufferFull):
            raise self.corrupt(f"a value in the {self.what} is larger than {self.max_object} bytes") from None
        if issubclass(typ, (ValueError, msgpack.UnpackException, TypeError, OverflowError)):
            raise self.corrupt(f"undecodable {self.what} ({exc})") from None
        if issubclass(typ, (MemoryError, RecursionError)):
            raise self.corrupt(f"undecodable {self.what} ({typ.__name__})") from None


@contextlib.contextmanager
def atomic_file(path: Path, tmp: Path | None = None) -> Iterator[BinaryIO]:
    """Write ``path`` all or nothing: into a temp file beside it (``tmp``, which must not exist, or a new
    temp name), fsynced, renamed into place, the directory fsynced. On any error the temp file is removed
    and ``path`` is as it was."""
    directory = path.parent
    if tmp is None:
        tmp = directory / new_temp_name()
    try:
        with open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
