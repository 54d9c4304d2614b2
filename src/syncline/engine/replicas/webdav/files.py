"""A WebDAV replica's files in flight: a staged upload (:class:`DavStaged`) and a file open for reading
(:class:`DavSource`, a ``GET`` answer's body as a stream)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import httpx

from ....core.entry import Entry
from ..errors import NotFound, ReplicaError
from ..remote.client import transport_error
from .multistatus import etag_key
from .statedb import Item

if TYPE_CHECKING:
    from .replica import WebdavReplica


@dataclass
class DavStaged:
    """A staged copy: uploaded complete at ``tmp`` (in ``.syncline/tmp``), with the ``mtime_ns`` and
    BLAKE3 ``digest`` of what was read. On an OC server (``tmp`` ""): the bytes in the local ``spool``
    with their ``sha1``, or already in the chunked ``upload`` (its URL) for a big file."""

    replica: WebdavReplica
    path: str
    size: int
    tmp: str
    mtime_ns: int
    digest: bytes
    discarded: bool = False
    spool: IO[bytes] | None = None
    sha1: str = ""
    upload: str = ""

    def discard(self) -> None:
        if self.discarded:
            return
        self.discarded = True
        if self.spool is not None:
            self.spool.close()
        if self.upload:
            self.replica.oc().drop(self.upload)
        if not self.tmp:
            return
        try:
            self.replica.ops.delete(self.tmp)
        except ReplicaError:
            pass  # the next run of this owner removes it (``lock``)


class DavSource:
    """An open file: the ``GET`` answer's body as a stream. ``changed()`` asks the server again."""

    def __init__(self, replica: WebdavReplica, path: str, item: Item, entry: Entry, response: httpx.Response) -> None:
        self.replica = replica
        self.path = path
        self.item = item
        self.entry = entry
        self._chunks = response.iter_bytes()
        self._pending = memoryview(b"")
        self._read = 0
        self._ended = False
        sent = etag_key(response.headers.get("etag"))
        self._other = bool(sent and item.etag and sent != etag_key(item.etag))

    def readinto(self, buffer: memoryview) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                self._ended = True
                return 0
            except httpx.HTTPError as exc:
                raise transport_error(exc, self.replica.dav.server, False, self.path) from exc
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._read += n
        return n

    def changed(self) -> bool:
        """Whether what was read may not be the version :attr:`entry` describes (read it again)."""
        if self._other or (self._ended and self._read != self.item.size):
            return True
        try:
            now = self.replica.ops.lookup(self.path)
        except NotFound:
            return True
        return now is None or now.tag != self.item.tag or now.size != self.item.size
