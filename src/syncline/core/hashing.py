"""Content digests (BLAKE3), read safely from files that may be changing.

A file is hashed through one file descriptor opened with ``O_NOFOLLOW``; its stat is taken before and after
reading, and when size, mtime or ctime moved the read is torn and retried. No memory map is used: a file
truncated under a map would kill the process with SIGBUS.

The stat alone cannot catch every torn read: the kernel sets mtime at the *start* of a ``write()`` call, so a
read that overlaps one long write sees the same stat before and after and mixed bytes in between. A file
written within ``RACY_WINDOW_NS`` of the read is therefore *racy* (git's racily-clean entries): it is read
under a read lease (``F_SETLEASE``), which the kernel refuses while anyone has the file open for writing and
which holds back any writer's ``open`` until the read is over; where no lease can be had (not the owner
without CAP_LEASE, NFS, a writer holding the file open), the read waits until the window has passed and is
done again. See :class:`ReadGuard`.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .chunking import Chunker
from .entry import Chunk, Entry

READ_SIZE = 1 << 20
ATTEMPTS = 3
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0) | os.O_NONBLOCK
# A file written this recently may be in the middle of a write() that began before the read: 2 s, also the
# coarsest common mtime granularity (FAT).
RACY_WINDOW_NS = 2_000_000_000
F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
F_GETLEASE = getattr(fcntl, "F_GETLEASE", 1025)
F_SETSIG = getattr(fcntl, "F_SETSIG", 10)


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


def take_read_lease(fd: int) -> bool:
    """Take a read lease on the regular file open (read-only) as ``fd``; False when the kernel refuses it:
    EAGAIN while any process has the file open for writing, EACCES when not its owner without CAP_LEASE,
    EINVAL on file systems without leases. Held until ``fd`` is closed (or a writer's ``open`` breaks it)."""
    try:
        # A writer's open makes the kernel signal the holder: SIGIO by default, which would end the process;
        # SIGURG is ignored unless handled.
        fcntl.fcntl(fd, F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
    except OSError:
        return False
    return True


class ReadGuard:
    """Whether what is read from ``fd`` between now (``st`` is its fstat at open) and :meth:`torn` is one
    version of the file.

    Not racy (last written more than ``RACY_WINDOW_NS`` ago): the stat must not move. Racy: a read lease
    taken here must still be held at the end (no writer could open the file meanwhile, none had it open);
    without a lease, :meth:`torn` waits until the window has passed since the last write and answers True,
    so that the caller's next attempt reads a settled file.
    """

    def __init__(self, fd: int, st: os.stat_result) -> None:
        self.fd = fd
        self.key = ReadKey.of(st)
        self.written_ns = max(st.st_mtime_ns, st.st_ctime_ns)
        self.racy = time.time_ns() - self.written_ns < RACY_WINDOW_NS
        self.leased = self.racy and take_read_lease(fd)

    def torn(self) -> bool:
        """True when the bytes read may mix two versions (or cannot be vouched for): read again."""
        if ReadKey.of(os.fstat(self.fd)) != self.key:
            return True
        if not self.racy:
            return False
        if self.leased:
            return fcntl.fcntl(self.fd, F_GETLEASE) != fcntl.F_RDLCK
        wait_ns = self.written_ns + RACY_WINDOW_NS - time.time_ns()
        if wait_ns > 0:
            time.sleep(min(wait_ns, RACY_WINDOW_NS) / 1e9)
        return True


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


def digest_reader(readinto: Callable[[memoryview], int]) -> bytes:
    """BLAKE3 digest of a stream read to its end by ``readinto`` (a replica's source file: fills the
    buffer it is given, returns how many bytes, 0 at the end)."""
    import blake3

    hasher = blake3.blake3()
    view = memoryview(_buffer())
    while n := readinto(view):
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
            guard = ReadGuard(fd, before)
            if chunker is not None and chunker.wants(before.st_size):
                digest, chunks = chunker.chunk_fd(fd)
            else:
                digest = digest_fd(fd, before.st_size)
            torn = guard.torn()
        finally:
            os.close(fd)
        if not torn:
            return Entry(
                kind=entry.kind,
                size=before.st_size,
                mtime_ns=before.st_mtime_ns,
                mode=before.st_mode & 0o7777,
                digest=digest,
                file_id=before.st_ino,
                ctime_ns=before.st_ctime_ns,
                chunks=chunks,
            )
    raise ChangingFileError(f"kept changing while being read ({ATTEMPTS} attempts)")
