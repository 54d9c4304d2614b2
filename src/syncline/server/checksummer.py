"""SHA1 and MD5 for the files devices uploaded natively (issue 15): WebDAV clients compare files by the
``oc:checksums`` the server lists (content, not mtimes, decides a conflict), and the native protocol
hashes with BLAKE3 only. A WebDAV upload is hashed every way as it streams; every other live file gets its
sums here, in a thread of its own, a bounded number of bytes per pass, read back from the chunk store.

A file's bytes are checked against its BLAKE3 digest as they are hashed, so a SHA1 is recorded only for
bytes that are the file (``content_sums`` is keyed by that digest; a damaged or changed file is skipped
and its SHA1 left unknown, which clients take as "compare by size and time"). The pass walks the files in
(folder, path) order from where the last one stopped, so files that cannot be read never hold up the rest.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

import blake3
import sqlalchemy as sa

from ..formats.wire.errors import WireError
from .store import Store
from .store.davstate import add_sums
from .store.raw import Raw
from .worker import Worker

EVERY_S = 30.0
BUDGET_BYTES = 256 << 20  # read per pass: a big store is filled in over many passes, never in one go
_PAGE = 500
log = logging.getLogger("syncline.server")


@dataclass
class Pass:
    """One pass's outcome: SHA1s recorded, bytes read, and where the next pass goes on (``None``: from the
    start; the walk came to the end)."""

    recorded: int = 0
    read_bytes: int = 0
    after: tuple[int, str] | None = None


def fill_sha1(store: Store, after: tuple[int, str] | None = None, budget: int = BUDGET_BYTES,
              stop: threading.Event | None = None) -> Pass:
    """Record the SHA1 of live files without one, in (folder, path) order past ``after``, until about
    ``budget`` bytes were read, the walk ends or ``stop`` is set."""
    out = Pass(after=after)
    while out.read_bytes < budget and not (stop is not None and stop.is_set()):
        start = out.after or (0, "")
        with store.db.read() as conn:
            page = Raw(conn).all(
                "SELECT e.folder_id, e.path, e.digest FROM entries e LEFT JOIN content_sums s ON s.digest = e.digest"
                " WHERE e.kind = 'file' AND s.digest IS NULL AND (e.folder_id > :f OR (e.folder_id = :f AND"
                " e.path > :p)) ORDER BY e.folder_id, e.path LIMIT :n", {"f": start[0], "p": start[1], "n": _PAGE})
        if not page:
            out.after = None
            return out
        for folder_id, path, digest in page:
            out.after = (int(folder_id), str(path))
            out.read_bytes += _one(store, int(folder_id), str(path), bytes(digest), out)
            if out.read_bytes >= budget or (stop is not None and stop.is_set()):
                break
    return out


def _one(store: Store, folder_id: int, path: str, digest: bytes, out: Pass) -> int:
    """Hash one file both ways; record its SHA1 when its bytes are the digest's. Returns the bytes read."""
    folder = store.folders.by_id(folder_id)
    if folder is None:
        return 0
    try:
        row, chunks = store.folder(folder).read(path)
        if row.digest != digest:
            return 0  # replaced since the page was read: the next pass sees the new one
        sha1, md5 = hashlib.sha1(usedforsecurity=False), hashlib.md5(usedforsecurity=False)
        b3, read = blake3.blake3(), 0
        for piece in chunks:
            sha1.update(piece)
            md5.update(piece)
            b3.update(piece)
            read += len(piece)
    except (WireError, OSError):  # changed, damaged or unreadable now: left unknown, tried again later
        return 0
    if b3.digest() != digest:
        log.warning("the bytes of %s in folder %d do not match their digest: run `syncline server check`",
                    path, folder_id)
        return read
    with store.db.write() as conn:
        add_sums(Raw(conn), digest, sha1.digest(), md5.digest())
    out.recorded += 1
    return read


class Checksummer(Worker):
    """:func:`fill_sha1` every ``every_s`` seconds in a thread of its own while the server runs."""

    def __init__(self, store: Store, every_s: float = EVERY_S, budget: int = BUDGET_BYTES) -> None:
        super().__init__("checksummer")
        self.store, self.every_s, self.budget = store, every_s, budget
        self.passes = 0
        self._after: tuple[int, str] | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.every_s if self.passes else 1.0):
            try:
                done = fill_sha1(self.store, self._after, self.budget, self._stop)
                self._after = done.after
            except (OSError, sa.exc.SQLAlchemyError):  # a busy or broken store: said, and tried again
                log.exception("computing SHA1s for WebDAV clients failed")
            self.passes += 1
