"""Files in and out of a folder store without HTTP: staging (chunk, upload into the store) and reading.

A staged file is a list of chunks already durable in the folder's chunk store (with an upload lease, so the
collector keeps them until a commit references them), plus the entry it is to have: nothing of it is in
the tree until a ``put`` names it. A file read is the stream of one committed version's chunks, which
never change: it is never torn, and ``changed()`` says whether the path moved on since it was opened.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import blake3

from ..core.chunking import Chunker
from ..core.entry import Entry
from ..engine.replicas.replica import SourceFile
from ..formats.wire.limits import MAX_INLINE_CHUNKS, MAX_PACK_BYTES, MAX_PACK_FRAMES
from ..formats.wire.manifest import manifest_pieces
from ..formats.wire.ops import ChunkRef, Expect, Op, OpEntry, new_op_id
from .store.folder import FolderStore

READ_BLOCK = 1 << 20


@dataclass(eq=False)
class ServerStaged:
    """A file whose chunks are in the folder's store, waiting to become ``path``."""

    path: str
    size: int
    digest: bytes
    chunks: tuple[ChunkRef, ...]
    mtime_ns: int
    mode: int
    on_discard: Callable[[ServerStaged], None]
    discarded: bool = False
    manifest: tuple[ChunkRef, ...] = ()  # past MAX_INLINE_CHUNKS chunks: the manifest the put names

    def put_op(self, expect: Expect | None) -> Op:
        """The ``put`` item that commits this copy at its path over ``expect``: its chunks inline, or past
        MAX_INLINE_CHUNKS its manifest alone (the store refuses an item naming both)."""
        return Op(new_op_id(), "put", self.path, expect, OpEntry(self.mtime_ns, self.mode, self.size, self.digest),
                  () if self.manifest else self.chunks, manifest=self.manifest)

    def discard(self) -> None:
        """Forget the staged copy (its chunks stay until the collector finds them unreferenced)."""
        if not self.discarded:
            self.discarded = True
            self.on_discard(self)


class _Batch:
    """Chunks gathered for one upload, sent when a pack would be full."""

    def __init__(self, folder: FolderStore, device: str) -> None:
        self.folder = folder
        self.device = device
        self.frames: list[tuple[bytes, bytes]] = []
        self.size = 0

    def add(self, data: bytes) -> ChunkRef:
        chunk_id = blake3.blake3(data).digest()
        if len(self.frames) >= MAX_PACK_FRAMES or self.size + len(data) > MAX_PACK_BYTES:
            self.flush()
        self.frames.append((chunk_id, data))
        self.size += len(data)
        return ChunkRef(chunk_id, len(data))

    def flush(self) -> None:
        if self.frames:
            self.folder.put_chunks(self.frames, self.device)
            self.frames, self.size = [], 0


def stage(folder: FolderStore, device: str, chunker: Chunker, path: str, source: SourceFile, spool_dir: str,
          on_discard: Callable[[ServerStaged], None], inline_most: int = MAX_INLINE_CHUNKS) -> ServerStaged:
    """Read ``source`` to its end, chunk it as the server's chunker does (a file under ``min_file_size`` is
    one chunk) and put the chunks in ``folder``'s store; past ``inline_most`` chunks, their manifest too. A
    big file is spooled to a temp file first (the chunker reads a descriptor), so memory stays bounded."""
    whole = blake3.blake3()
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        buffer = bytearray(READ_BLOCK)
        view = memoryview(buffer)
        size = 0
        while n := source.readinto(view):
            whole.update(view[:n])
            spool.write(view[:n])
            size += n
        spool.flush()
        e = source.entry
        return stage_spooled(folder, device, chunker, path, spool, size, whole.digest(), e.mtime_ns, e.mode,
                             on_discard, inline_most)


def stage_spooled(folder: FolderStore, device: str, chunker: Chunker, path: str, spool: BinaryIO, size: int,
                  digest: bytes, mtime_ns: int, mode: int, on_discard: Callable[[ServerStaged], None],
                  inline_most: int = MAX_INLINE_CHUNKS) -> ServerStaged:
    """:func:`stage` of bytes already in the file ``spool`` (``size`` bytes, BLAKE3 ``digest``, both
    computed by the server as it wrote them), read from its start."""
    batch = _Batch(folder, device)
    refs: list[ChunkRef] = []
    spool.seek(0)
    if not chunker.wants(size):
        data = spool.read()
        if data:
            refs.append(batch.add(data))
    else:
        for piece in chunker.pieces_fd(spool.fileno()):
            refs.append(batch.add(bytes(piece)))
    manifest = [batch.add(piece) for piece in manifest_pieces(refs)] if len(refs) > inline_most else []
    batch.flush()
    return ServerStaged(path, size, digest, tuple(refs), mtime_ns, mode & 0o7777, on_discard,
                        manifest=tuple(manifest))


@dataclass
class ServerSourceFile:
    """One committed version of a file, read as a stream (no ``fileno``)."""

    entry: Entry
    _pieces: Iterator[bytes]
    _still: Callable[[], bool]
    _left: bytes = field(default=b"")

    def readinto(self, buffer: memoryview) -> int:
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._left = piece
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def changed(self) -> bool:
        """Whether the path holds another version now (the bytes read are still the opened version's)."""
        return not self._still()


