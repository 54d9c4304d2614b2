"""Apply, pass 1: verify the whole archive and stage the files it brings.

Each incoming file is rebuilt into a staging folder in ``DIR/.syncline`` (whole, or a delta over the
version DIR holds) and checked against its digest before anything in DIR changes; a file DIR already holds
(same size and digest) is not staged again. Contract of :func:`verify_and_stage`: it reads the archive to
its end (the reader checks the format, the paths and the checksum), so nothing may be acted on unless it
returns; it writes only inside the staging folder. The staged files never change afterwards, and
:class:`StagedSource` hands them to the executor as its source.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ....core.entry import Entry
from ....core.errors import ArchiveFormatError, Problem, UsageError
from ....core.hashing import digest_fd
from ....core.paths import META_DIR
from ....formats.archivefile import WHOLE, ArchiveOp, ArchiveReader, Piece
from ...crashpoints import crash_point
from ...replicas.confined import Confined, write_all
from ...replicas.local import LocalReplica, entry_of_stat, open_regular_in
from .planner import SETID

STAGING_PREFIX = "apply-"
BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class StagedFile:
    """An incoming file rebuilt at ``temp`` (a path in DIR's tree), with the entry it brings."""

    temp: str
    entry: Entry


@dataclass
class Verified:
    """Pass 1's outcome: the archive's ``ops`` in order; the files ``staged`` (by op path); the paths
    ``in_place`` that already held the incoming content (with the stat they had then); and the files that
    cannot be rebuilt (``unbuildable``: a delta over a version DIR no longer holds)."""

    ops: list[ArchiveOp]
    staged: dict[str, StagedFile]
    in_place: dict[str, Entry]
    unbuildable: list[Problem]


def staging_dir(target: LocalReplica, dry_run: bool) -> str | None:
    """A fresh staging folder in DIR/.syncline, as a path in the tree (the caller holds DIR's lock). What
    interrupted applies left there goes to the trash: a kill between the swap of a file into place and the
    move of the replaced version to the trash could leave that version there, so it is not removed."""
    try:
        meta = target.tree.lstat(META_DIR)
    except FileNotFoundError:
        meta = None
    if meta is not None and not stat.S_ISDIR(meta.st_mode):
        raise UsageError(f"{target.root / META_DIR} is not a directory",
                         "move it away and run again; nothing was changed")
    if dry_run:
        return None
    target.ensure_meta_dir()
    with target.tree.listing(META_DIR) as it:
        leftovers = sorted(d.name for d in it if d.name.startswith(STAGING_PREFIX) and d.is_dir(follow_symlinks=False))
    for old in leftovers:
        target.trash.adopt(f"{META_DIR}/{old}", f"{META_DIR}-{old}")
    staging = f"{META_DIR}/{STAGING_PREFIX}{os.urandom(8).hex()}"
    target.tree.mkdir(staging, 0o700)
    return staging


def remove_staging(target: LocalReplica, staging: str | None) -> None:
    """Remove the staging folder, on every exit path (what cannot be removed, the next apply trashes)."""
    if staging is not None:
        with contextlib.suppress(OSError):
            target.tree.rmtree(staging)


def verify_and_stage(reader: ArchiveReader, target: LocalReplica, staging: str | None) -> Verified:
    """Read the whole archive, staging the files it brings into ``staging`` (a folder in DIR's tree; None:
    check only). Raises ``ArchiveFormatError`` for anything wrong with the archive itself,
    :class:`UsageError` when the staging folder cannot be written."""
    ops: list[ArchiveOp] = []
    in_place: dict[str, Entry] = {}
    staged: dict[str, StagedFile] = {}
    unbuildable: list[Problem] = []
    tree = target.tree
    try:
        for n, (op, pieces) in enumerate(reader):
            ops.append(op)
            if pieces is None:
                continue
            assert op.entry is not None
            held = _holds(tree, op.path, op.entry)
            if held is not None:
                in_place[op.path] = held
                continue  # already in place: the pieces are checked by the reader's checksum alone
            temp = f"{staging}/{n:09d}" if staging is not None else None
            problem = _stage_one(tree, op, pieces, temp)
            if problem is not None:
                unbuildable.append(problem)
            elif temp is not None:
                staged[op.path] = StagedFile(temp, op.entry)
                crash_point("stage")
    except OSError as exc:
        raise UsageError(f"cannot stage the archive's files in {target.abspath(staging or META_DIR)}: "
                         f"{exc.strerror or exc}",
                         "free some space or fix the permissions, then run again; nothing was changed") from None
    return Verified(ops, staged, in_place, unbuildable)


def _holds(tree: Confined, path: str, entry: Entry) -> Entry | None:
    """The stat of the file at ``path`` when it already has ``entry``'s content (same size and digest: two
    writes in one timestamp tick can leave equal size and mtime over different content), else None."""
    try:
        fd, st = open_regular_in(tree, path)
    except OSError:
        return None
    try:
        if st.st_size != entry.size or digest_fd(fd, entry.size) != entry.digest:
            return None
        after = entry_of_stat(os.fstat(fd))
        return after if after is not None and after.unchanged_since(entry_of_stat(st) or after) else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _stage_one(tree: Confined, op: ArchiveOp, pieces: Iterator[Piece], temp: str | None) -> Problem | None:
    """Write one file's content to ``temp`` (None: only check it). Returns a problem when a delta cannot be
    rebuilt because the local version is not the one the archive was made against; raises
    ``ArchiveFormatError`` when whole content does not match its digest."""
    import blake3

    assert op.entry is not None
    hasher = blake3.blake3()
    basis_fd = -1
    out = tree.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600) if temp is not None else -1
    try:
        for piece in pieces:
            if isinstance(piece, bytes):
                hasher.update(piece)
                if out >= 0:
                    write_all(out, piece)
                continue
            if basis_fd < 0:
                basis_fd = _open_basis(tree, op)
                if basis_fd < 0:
                    return _not_rebuilt(op)
            if not _copy_range(basis_fd, piece, hasher, out):
                return _not_rebuilt(op)
        if hasher.digest() != op.entry.digest:
            if op.content == WHOLE:
                raise ArchiveFormatError(f"corrupt archive: the content of {op.path!r} does not match its digest",
                                         "ask for the archive again; nothing was changed")
            return _not_rebuilt(op)
        if out >= 0:
            os.fchmod(out, op.entry.mode & ~SETID)
            os.utime(out, ns=(op.entry.mtime_ns, op.entry.mtime_ns))
        return None
    finally:
        if out >= 0:
            os.close(out)
        if basis_fd >= 0:
            os.close(basis_fd)


def _not_rebuilt(op: ArchiveOp) -> Problem:
    return Problem(op.path, "not updated: the local file is not the version the archive was made against, and "
                            "the archive carries only the parts that differ from that version (make a new "
                            "index and archive)", "destination")


def _open_basis(tree: Confined, op: ArchiveOp) -> int:
    """The local file a delta builds on, opened (-1 when it cannot be)."""
    try:
        fd, _ = open_regular_in(tree, op.path)
    except OSError:
        return -1
    return fd


def _copy_range(basis_fd: int, piece: tuple[int, int], hasher: Any, out: int) -> bool:
    """Copy ``piece`` (offset, length) of the basis into the hash and ``out``, a block at a time; False when
    the basis ends too soon."""
    offset, length = piece
    while length:
        data = os.pread(basis_fd, min(BLOCK, length), offset)
        if not data:
            return False
        hasher.update(data)
        if out >= 0:
            write_all(out, data)
        offset += len(data)
        length -= len(data)
    return True


class StagedOpen:
    """A staged file seen as a source file: it never changes (only this run writes the staging folder)."""

    def __init__(self, staged: StagedFile, fd: int) -> None:
        self.staged = staged
        self.entry = staged.entry
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def readinto(self, buffer: memoryview) -> int:
        return os.readv(self.fd, [buffer])

    def changed(self) -> bool:
        return False


class StagedSource:
    """The executor's source: the files staged from the archive (in DIR's tree), by the path they go to."""

    def __init__(self, staged: dict[str, StagedFile], tree: Confined) -> None:
        self.staged = staged
        self.tree = tree

    def describe(self) -> str:
        return "archive"

    @contextmanager
    def open_file(self, path: str) -> Iterator[StagedOpen]:
        s = self.staged.get(path)
        if s is None:
            raise FileNotFoundError(path)
        fd = self.tree.open(s.temp, os.O_RDONLY)
        try:
            yield StagedOpen(s, fd)
        finally:
            os.close(fd)
