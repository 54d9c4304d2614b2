"""Chunked uploads in progress (ownCloud/Nextcloud "chunking NG", issue 15): each a folder of chunk files
under ``DATA/dav-uploads/<user id>/<upload id>/``, named by the client, until the upload's ``MOVE .file``
reads them in order into one file of a folder. Nothing of an upload is in any folder until then.

Every name is checked before it becomes a file name: an upload id is 1-100 of ``A-Z a-z 0-9 _ . -``
starting with a letter or digit, a chunk name 1-20 digits. Bounds: :data:`MAX_UPLOADS` uploads a user,
:data:`MAX_CHUNKS` chunks an upload, each at most :data:`MAX_CHUNK` bytes; a chunk is written to a temp
name and renamed, so a cut chunk PUT leaves no chunk. A user with a quota holds in all their uploads at
most the room it leaves (what a chunk PUT passes as ``room``). The collector's sweep (:meth:`Spools.sweep`) removes
uploads untouched for :data:`MAX_AGE_S` (a client resumes within that; the desktop clients do, from their
journal).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..formats.wire.errors import WireError, clip

MAX_UPLOADS = 100
MAX_CHUNKS = 10_000
MAX_CHUNK = 1 << 30
MAX_AGE_S = 24 * 3600
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_CHUNK = re.compile(r"[0-9]{1,20}")


def spool_root(data_dir: Path) -> Path:
    """Where a server's chunked uploads wait: ``DATA/dav-uploads``."""
    return data_dir / "dav-uploads"


def check_upload_id(text: str) -> str:
    if not _ID.fullmatch(text) or ".." in text:
        raise WireError("bad_request", f"{clip(text, 40)!r} is not an upload id", "name it with letters and digits")
    return text


def check_chunk_name(text: str) -> str:
    if not _CHUNK.fullmatch(text):
        raise WireError("bad_request", f"{clip(text, 40)!r} is not a chunk name", "name chunks by number")
    return text


def _gone(upload: str) -> WireError:
    return WireError("not_found", f"no upload {clip(upload, 40)}", "start the upload again (MKCOL)")


class ChunkFile:
    """A chunk's bytes going to disk, bounded by :data:`MAX_CHUNK`, the free space to keep and ``room``
    (the bytes its user may still spool; None: no bound)."""

    def __init__(self, out: BinaryIO, where: Path, min_free: int, room: int | None = None) -> None:
        self.out, self.where, self.min_free, self.room, self.size = out, where, min_free, room, 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_CHUNK:
            raise WireError("too_large", f"a chunk is at most {MAX_CHUNK} bytes", "send smaller chunks",
                            {"limit": MAX_CHUNK})
        if self.room is not None and self.size > self.room:
            raise WireError("over_quota", "the chunks uploaded do not fit in your quota",
                            "delete files or uploads in progress, or ask the server's administrator for more",
                            {"limit": max(self.room, 0)})
        if shutil.disk_usage(self.where).free - len(data) < self.min_free:
            raise WireError("no_space", "the server's disk is full", "free space on the server")
        self.out.write(data)


class Spools:
    """The chunked uploads under ``root`` (``DATA/dav-uploads``), keeping ``min_free`` bytes free."""

    def __init__(self, root: Path, min_free: int = 0) -> None:
        self.root = root
        self.min_free = min_free

    def _dir(self, user_id: int, upload: str) -> Path:
        return self.root / str(int(user_id)) / check_upload_id(upload)

    def exists(self, user_id: int, upload: str) -> bool:
        return self._dir(user_id, upload).is_dir()

    def make(self, user_id: int, upload: str) -> bool:
        """Make the upload (False: it was there). ``too_large`` past :data:`MAX_UPLOADS` of the user's."""
        where = self._dir(user_id, upload)
        if where.is_dir():
            return False
        mine = self.root / str(int(user_id))
        mine.mkdir(parents=True, exist_ok=True, mode=0o700)
        if sum(1 for _ in mine.iterdir()) >= MAX_UPLOADS:
            raise WireError("too_large", f"{MAX_UPLOADS} uploads are in progress already",
                            "finish or cancel some first", {"limit": MAX_UPLOADS})
        where.mkdir(mode=0o700)
        return True

    def chunks(self, user_id: int, upload: str) -> list[tuple[str, int]]:
        """The upload's chunks (name, bytes), in their numeric order; ``not_found`` for no such upload."""
        where = self._dir(user_id, upload)
        try:
            names = [p.name for p in where.iterdir() if _CHUNK.fullmatch(p.name)]
            return [(n, (where / n).stat().st_size) for n in sorted(names, key=int)]
        except FileNotFoundError:
            raise _gone(upload) from None

    def spooled(self, user_id: int) -> int:
        """The bytes of every chunk of the user's uploads (what counts against their quota's room)."""
        total = 0
        for upload in (self.root / str(int(user_id))).glob("*/*"):
            try:
                total += upload.stat().st_size
            except FileNotFoundError:  # renamed or removed meanwhile
                continue
        return total

    @contextmanager
    def chunk(self, user_id: int, upload: str, name: str, room: int | None = None) -> Iterator[ChunkFile]:
        """A chunk being written: it becomes chunk ``name`` (replacing one of that name) when the block
        ends, and is nothing when it raises (a cut PUT; ``not_found`` when the upload was removed
        meanwhile). ``room``: the bytes the user may hold in all their uploads (None: no bound), past which
        the chunk is ``over_quota``."""
        where = self._dir(user_id, upload)
        check_chunk_name(name)
        replaced = where / name
        try:
            if any(n != name and int(n) == int(name) for n in os.listdir(where) if _CHUNK.fullmatch(n)):
                raise WireError("bad_request", f"chunk {clip(name, 24)} has the number of another chunk",
                                "name each chunk by a number of its own")
            again = replaced.is_file()  # a chunk sent again replaces its own: it never passes the bound
            if not again and sum(1 for n in os.listdir(where) if _CHUNK.fullmatch(n)) >= MAX_CHUNKS:
                raise WireError("too_large", f"an upload has at most {MAX_CHUNKS} chunks", "send bigger chunks",
                                {"limit": MAX_CHUNKS})
            if room is not None:
                room -= self.spooled(user_id) - (replaced.stat().st_size if again else 0)
            fd, tmp = tempfile.mkstemp(dir=where, prefix=".part-")
        except FileNotFoundError:
            raise _gone(upload) from None
        try:
            with os.fdopen(fd, "wb") as out:
                yield ChunkFile(out, where, self.min_free, room)
            os.replace(tmp, replaced)
            os.utime(where)  # touched: the sweep keeps uploads in use
        except FileNotFoundError:  # the upload was removed while the chunk came
            Path(tmp).unlink(missing_ok=True)
            raise _gone(upload) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open_chunks(self, user_id: int, upload: str) -> Iterator[bytes]:
        """The upload's bytes, chunk after chunk in numeric order, a MiB at a time; ``not_found`` when the
        upload goes meanwhile (another ``MOVE .file`` of it finished first, or a ``DELETE``)."""
        where = self._dir(user_id, upload)
        for name, _ in self.chunks(user_id, upload):
            try:
                f = open(where / name, "rb")  # noqa: SIM115 - closed by the block below
            except FileNotFoundError:
                raise _gone(upload) from None
            with f:
                while block := f.read(1 << 20):
                    yield block

    def remove(self, user_id: int, upload: str) -> bool:
        """Remove the upload; False when it was not there (or another remover got there first)."""
        try:
            shutil.rmtree(self._dir(user_id, upload))
        except FileNotFoundError:
            return False
        return True

    def sweep(self, now: float | None = None, max_age_s: float = MAX_AGE_S) -> int:
        """Remove uploads untouched for ``max_age_s``; how many went."""
        now = time.time() if now is None else now
        gone = 0
        for user in self.root.iterdir() if self.root.is_dir() else ():
            for upload in user.iterdir() if user.is_dir() else ():
                try:
                    if now - upload.stat().st_mtime > max_age_s:
                        shutil.rmtree(upload)
                        gone += 1
                except FileNotFoundError:
                    continue
        return gone
