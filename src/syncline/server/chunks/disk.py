"""DiskChunkStore: chunks as plain files, ``DATA/chunks/<ns>/<id[0:2]>/<id hex>``.

Raw bytes, no container, no compression: ``b3sum`` checks a chunk, and ``cat`` of a file's chunks in order
is the file (design.md: the store is readable without syncline). A put writes every chunk to a temp file
under ``DATA/tmp/``, makes them durable with one ``syncfs`` (one flush per batch, not an fsync per chunk),
renames each into place and ``syncfs`` again, so a chunk is under its name only when its bytes are on disk.
A crash leaves temp files (``tmp/`` is emptied at start) or chunks without a database row (orphans the
collector removes): never a name with other bytes than it says.

Names never come from a client: the namespace is the server's own random name and the file name is the
hex of a 32-byte id (:func:`~.store.chunk_hex`), so no request can reach another path.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...engine.crashpoints import crash_point
from .store import Buffer, check_namespace, chunk_hex, verify

_libc = ctypes.CDLL(None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)


class DiskChunkStore:
    """Chunks under ``root`` (``DATA/chunks``), temp files under ``tmp`` (``DATA/tmp``, same file system)."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp
        root.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)

    def path(self, ns: str, chunk_id: bytes) -> Path:
        """Where chunk ``chunk_id`` of namespace ``ns`` lives (``ValueError`` for a bad id or namespace)."""
        name = chunk_hex(chunk_id)
        return self.root / check_namespace(ns) / name[:2] / name

    def put_many(self, ns: str, chunks: Iterable[tuple[bytes, Buffer]]) -> int:
        pending = []
        for chunk_id, data in chunks:
            verify(chunk_id, data)
            pending.append((chunk_id, data))
        # Written even when a file of that name is there: without a row it is no chunk yet (the caller asks
        # only for those), and the bytes in hand are verified, what is on disk may not be any more.
        todo = list(dict(pending).items())
        if not todo:
            return 0
        work = self.tmp / uuid.uuid4().hex
        work.mkdir()
        try:
            temps = []
            for n, (cid, data) in enumerate(todo):
                temp = work / str(n)
                with open(temp, "xb") as fh:
                    fh.write(data)
                temps.append((temp, self.path(ns, cid)))
            self._sync(work)
            crash_point("server-chunks-temp")
            for temp, final in temps:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, final)  # same bytes as any earlier copy: the name is the content
            self._sync(self.root)
            crash_point("server-chunks-renamed")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return len(todo)

    def read(self, ns: str, chunk_id: bytes, offset: int = 0, length: int = -1) -> bytes:
        with open(self.path(ns, chunk_id), "rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    def has(self, ns: str, chunk_id: bytes) -> bool:
        return self.path(ns, chunk_id).is_file()

    def delete_many(self, ns: str, ids: Iterable[bytes]) -> None:
        for chunk_id in ids:
            try:
                self.path(ns, chunk_id).unlink()
            except FileNotFoundError:
                pass

    def ids(self, ns: str) -> Iterator[bytes]:
        base = self.root / check_namespace(ns)
        if not base.is_dir():
            return
        for sub in sorted(base.iterdir()):
            for f in sorted(sub.iterdir()) if sub.is_dir() else ():
                try:
                    chunk_id = bytes.fromhex(f.name)
                except ValueError:
                    continue
                if len(chunk_id) == 32 and f.name[:2] == sub.name:
                    yield chunk_id

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def empty_tmp(self) -> None:
        """Remove what a killed put left in ``tmp`` (called when the server starts, before any put)."""
        for p in self.tmp.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    @staticmethod
    def _sync(where: Path) -> None:
        """Everything written on ``where``'s file system is on disk (``OSError`` when it could not be)."""
        if _syncfs is None:  # pragma: no cover - every Linux has syncfs
            os.sync()
            return
        fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _syncfs(fd) != 0:
                err = ctypes.get_errno() or errno.EIO
                raise OSError(err, f"the chunk store could not write everything to disk ({os.strerror(err)})")
        finally:
            os.close(fd)
