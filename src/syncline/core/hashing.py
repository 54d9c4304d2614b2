"""Content digests (BLAKE3), read safely from files that may be changing.

A file is hashed through one file descriptor opened with ``O_NOFOLLOW``; its stat is taken before and after
reading, and when size, mtime or ctime moved the read is torn and retried. No memory map is used: a file
truncated under a map would kill the process with SIGBUS.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .chunking import Chunker
from .entry import Chunk, Entry

READ_SIZE = 1 << 20
ATTEMPTS = 3
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)


class ChangingFileError(OSError):
    """The file kept changing while it was read; its content could not be captured whole."""


@dataclass(frozen=True, slots=True)
class ReadKey:
    """What must stay put across a read for the bytes read to be one version of the file."""

    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> ReadKey:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def open_regular(path: str | bytes | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open a regular file for reading without following a symlink; returns (fd, fstat).

    Raises ``OSError`` (ELOOP for a symlink, or EISDIR/EINVAL-like for a non-regular file) when the path
    is not a regular file any more.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not (st.st_mode & 0o170000 == 0o100000):
            raise IsADirectoryError(f"not a regular file: {os.fsdecode(path)}")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


_local = threading.local()


def _buffer() -> bytearray:
    """One read buffer per thread, reused for every large file (a fresh 1 MiB per file costs more than
    hashing a small one)."""
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(READ_SIZE)
    return buf


def digest_fd(fd: int, size_hint: int = READ_SIZE) -> bytes:
    """BLAKE3 digest of everything readable from ``fd`` (from its current offset).

    ``size_hint`` is the expected size: a small file is read in one call without touching the buffer.
    """
    import blake3  # imported on first use: a sync that does not hash never pays for it

    hasher = blake3.blake3()
    if size_hint < READ_SIZE:
        data = os.read(fd, size_hint + 1)
        hasher.update(data)
        if len(data) <= size_hint:
            more = os.read(fd, 1) if data else b""
            if not more:
                return hasher.digest()
            hasher.update(more)
    buf = _buffer()
    view = memoryview(buf)
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        hasher.update(view[:n])
    return hasher.digest()


def hash_file(path: str, entry: Entry, chunker: Chunker | None = None) -> Entry:
    """Return ``entry`` updated with the digest and the stat the digest belongs to (and its chunk list,
    when ``chunker`` wants one for a file of this size).

    Retries a torn read up to ``ATTEMPTS`` times, then raises :class:`ChangingFileError`. Other ``OSError``
    (permission denied, vanished) propagate for the caller to record as a per-item problem.
    """
    for _ in range(ATTEMPTS):
        fd, before = open_regular(path)
        chunks: tuple[Chunk, ...] | None = None
        try:
            if chunker is not None and chunker.wants(before.st_size):
                digest, chunks = chunker.chunk_fd(fd)
            else:
                digest = digest_fd(fd, before.st_size)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if ReadKey.of(before) == ReadKey.of(after):
            return Entry(
                kind=entry.kind,
                size=before.st_size,
                mtime_ns=before.st_mtime_ns,
                mode=before.st_mode & 0o7777,
                digest=digest,
                inode=before.st_ino,
                ctime_ns=before.st_ctime_ns,
                chunks=chunks,
            )
    raise ChangingFileError(f"kept changing while being read ({ATTEMPTS} attempts)")
