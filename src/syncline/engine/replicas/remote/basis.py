"""The chunk basis: where this device already holds the bytes of a chunk (a file it uploaded or
downloaded, at an offset), so that downloading a new version of a big file fetches only the chunks it
does not have (protocol.md section 6, "Delta download").

:class:`ChunkBasis` is a small SQLite map ``chunk id -> (path, offset, length)`` under a local root. What
it says is a hint, never trusted: a chunk read from a local file is hashed and used only when it hashes to
its id (the file may have changed since); otherwise the chunk is fetched. :class:`ChunkedSource` is the
download stream that uses it: the engine sees an ordinary source file.

One basis per local folder, in the state directory (:func:`open_basis`), shared by every sync of that
folder with a server. Whoever opens it owns it: a replica it is given to reads and records through it and
leaves it open when the replica is closed (the daemon keeps it for a folder's life, across runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import blake3

from ....core.chunking import Chunker
from ....core.entry import Entry
from ....formats.wire import WireError
from ....formats.wire.fields import hex_id, integer, obj, opt_integer
from ....formats.wire.limits import (
    MAX_CHUNKS_PAGE,
    MAX_CHUNKS_PER_FILE,
    MAX_MANIFEST_PAGE,
    MAX_PACK_BYTES,
    MAX_READ_IDS,
)
from ....formats.wire.manifest import ENTRY_BYTES, FINE_ENTRIES, MAX_ENTRIES, reference_pieces, serialize
from ....formats.wire.ops import ChunkRef
from ....formats.wire.opsjson import chunks_of_json, ids_to_json
from ....formats.wire.packs import read_pack
from ..confined import Confined
from ..errors import ReplicaError
from .client import Client, code_of, replica_error

FETCH_BATCH = 16 << 20  # bytes of chunks asked for in one chunks/read
BASIS_DIR = "chunk-bases"  # below the state directory


class ChunkBasis:
    """Chunks of the files below ``root`` (the local side of a pair), recorded in the database at
    ``db_path``. Paths are relative to ``root``, ``/``-separated, as a replica's."""

    def __init__(self, db_path: Path, root: Path) -> None:
        self.root = Path(root)
        # Local files are opened through the tree's own descriptors, no component followed: a folder
        # swapped for a symlink since a chunk was recorded never leads a read outside the tree.
        self._tree = Confined(os.path.abspath(root))
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        # One connection for every thread of a run (its transfers), each call under the mutex.
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript("""
                CREATE TABLE IF NOT EXISTS chunks (id BLOB NOT NULL, path TEXT NOT NULL,
                                                   offset INTEGER NOT NULL, length INTEGER NOT NULL);
                CREATE INDEX IF NOT EXISTS chunks_id ON chunks (id);
                CREATE INDEX IF NOT EXISTS chunks_path ON chunks (path);
            """)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(chunks)")}
            if "learned" not in columns:  # 1: cut from a local file (:meth:`learn`), never sent or received
                self._db.execute("ALTER TABLE chunks ADD COLUMN learned INTEGER NOT NULL DEFAULT 0")
        except BaseException:
            self._db.close()
            raise
        self._mutex = threading.Lock()

    def record(self, path: str, entry: Entry | None, chunks: Sequence[tuple[bytes, int]],
               learned: bool = False) -> None:
        """The file at ``path`` (now ``entry``) is made of ``chunks`` (``(id, length)`` in order): replaces
        what was recorded for it. ``learned``: cut from the local file itself (:meth:`learn`), so the
        server may not hold them (:meth:`known` leaves them out)."""
        rows, offset = [], 0
        for chunk_id, length in chunks:
            rows.append((chunk_id, path, offset, length, int(learned)))
            offset += length
        with self._mutex:
            try:
                self._db.execute("BEGIN")
                self._db.execute("DELETE FROM chunks WHERE path = ?", (path,))
                self._db.executemany("INSERT INTO chunks (id, path, offset, length, learned) VALUES (?, ?, ?, ?, ?)",
                                     rows)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                # A hint not kept (a full disk, a lock held too long, a closed basis) costs a later
                # download some bytes; failing the transfer it describes would cost the file.
                with contextlib.suppress(sqlite3.Error):
                    self._db.rollback()

    def find(self, chunk_id: bytes) -> tuple[str, int] | None:
        """Where a chunk may be read locally: (path, offset), or None (also when the database cannot be
        read: the chunk is then fetched)."""
        with self._mutex:
            try:
                row = self._db.execute("SELECT path, offset FROM chunks WHERE id = ? LIMIT 1",
                                       (chunk_id,)).fetchone()
            except sqlite3.Error:
                return None
        return (row[0], row[1]) if row else None

    def known(self, ids: Sequence[bytes]) -> set[bytes]:
        """Of ``ids``, those recorded (this device sent or received them through the folder's server: a
        hint, none when the database cannot be read)."""
        out: set[bytes] = set()
        with self._mutex:
            try:
                for start in range(0, len(ids), 500):
                    part = list(ids[start:start + 500])
                    marks = ",".join("?" * len(part))
                    out.update(bytes(r[0]) for r in self._db.execute(
                        f"SELECT DISTINCT id FROM chunks WHERE learned = 0 AND id IN ({marks})", part))
            except sqlite3.Error:
                return set()
        return out

    def chunks_of(self, path: str) -> list[tuple[bytes, int]]:
        """The chunks recorded for ``path`` (``(id, length)`` in order; none when the database cannot be
        read)."""
        with self._mutex:
            try:
                rows = self._db.execute("SELECT id, length FROM chunks WHERE path = ? ORDER BY offset",
                                        (path,)).fetchall()
            except sqlite3.Error:
                return []
        return [(bytes(i), int(n)) for i, n in rows]

    def read(self, chunk_id: bytes, length: int) -> bytes | None:
        """The chunk's bytes read from a local file and verified against its id; None when it is not
        recorded, not readable, or no longer what was recorded (a hint, never trusted)."""
        found = self.find(chunk_id)
        if found is None:
            return None
        path, offset = found
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            return None
        try:
            fd = self._tree.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            data = os.pread(fd, length, offset)
        except OSError:
            return None
        finally:
            os.close(fd)
        return data if len(data) == length and blake3.blake3(data).digest() == chunk_id else None

    def learn(self, path: str, chunker: Chunker) -> None:
        """Record the chunks of the local file at ``path`` as ``chunker`` cuts it, when nothing is recorded
        for it: a device whose copy did not come through the server (copied before the folder was
        bound) then downloads a new version of a big file by its changes, not whole. Read in full once;
        a file that cannot be read (gone, a folder, a symlink) is left unrecorded. A hint like any other:
        every chunk is verified against its id when it is read for a download."""
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or self.chunks_of(path):
            return
        try:
            fd = self._tree.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            chunks = [(blake3.blake3(piece).digest(), len(piece)) for piece in chunker.pieces_fd(fd)]
        except OSError:
            return
        finally:
            os.close(fd)
        if chunks:
            self.record(path, None, chunks, learned=True)

    def close(self) -> None:
        """Close the database (its owner does, once no replica uses it); later calls find nothing and
        record nothing."""
        with self._mutex:
            self._db.close()
        self._tree.close()


def basis_path(state_dir: Path, root: Path) -> Path:
    """Where the basis of the local folder ``root`` is kept below ``state_dir``: one file per folder,
    named by its real path, as a local side's address is."""
    key = hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:32]
    return Path(state_dir) / BASIS_DIR / f"{key}.sqlite"


def open_basis(state_dir: Path, root: Path) -> ChunkBasis:
    """The basis of the local folder ``root``, kept in ``state_dir`` (:func:`basis_path`), made when it
    is not there. A file that is not a basis database (damaged, another program's) is removed and the
    basis starts empty: it holds only hints. Raises ``OSError`` or ``sqlite3.Error`` when the state
    directory cannot hold it."""
    path = basis_path(state_dir, root)
    try:
        return ChunkBasis(path, root)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):  # locked, unwritable: not the file's fault
            raise
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return ChunkBasis(path, root)


class ChunkedSource:
    """A file downloaded chunk by chunk: each chunk from the basis when it holds it (verified), the rest
    with ``chunks/read`` in batches. ``entry`` is the file's entry; the stream checks every chunk, the
    total length and the whole digest, and raises ``bad_response`` for any mismatch. ``fetched`` counts
    the chunk bytes that came over the network."""

    def __init__(self, client: Client, folder: str, path: str, entry: Entry, chunks: Sequence[tuple[bytes, int]],
                 basis: ChunkBasis | None) -> None:
        self.entry = entry
        self._client, self._folder, self._path = client, folder, path
        self._chunks = list(chunks)
        self._basis = basis
        self._next = 0  # the next chunk to hand out
        self._pending = memoryview(b"")
        self._fetched: dict[bytes, bytes] = {}
        self._hash = blake3.blake3()
        self._size = 0
        self.complete = False
        self.fetched = 0

    def changed(self) -> bool:
        """False once the whole file was read and verified: a committed version never changes, so a read
        is torn only when it was not finished."""
        return not self.complete

    def readinto(self, buffer: memoryview) -> int:
        while not self._pending:
            if self._next == len(self._chunks):
                self._finish()
                return 0
            self._pending = memoryview(self._chunk(self._next))
            self._next += 1
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._hash.update(self._pending[:n])
        self._size += n
        self._pending = self._pending[n:]
        return n

    def _finish(self) -> None:
        if self.complete:
            return
        if self._size != self.entry.size or self._hash.digest() != self.entry.digest:
            raise self._client.bad(f"{self._path}: the chunks do not add up to the file's size and digest",
                                   self._path)
        self.complete = True

    def _chunk(self, i: int) -> bytes:
        chunk_id, length = self._chunks[i]
        data = self._fetched.pop(chunk_id, None)
        if data is None and self._basis is not None:
            data = self._basis.read(chunk_id, length)
        if data is None:
            self._fetch_from(i)
            data = self._fetched.pop(chunk_id)
        if len(data) != length:
            raise self._client.bad(f"{self._path}: a chunk of another length than its list says", self._path)
        return data

    def _fetch_from(self, i: int) -> None:
        """Fetch chunk ``i`` and the next ones the basis does not hold, up to one batch."""
        want: dict[bytes, int] = {}
        total = 0
        for chunk_id, length in self._chunks[i:]:
            if len(want) == MAX_READ_IDS or (want and total + length > FETCH_BATCH):
                break
            if chunk_id in want or (want and self._basis is not None and self._basis.find(chunk_id)):
                continue
            want[chunk_id] = length
            total += length
        got = read_chunks(self._client, self._folder, want, self._path)
        self._fetched.update(got)
        self.fetched += sum(map(len, got.values()))


def read_chunks(client: Client, folder: str, want: dict[bytes, int], where: str) -> dict[bytes, bytes]:
    """The chunks ``want`` names (id -> length, at most ``MAX_READ_IDS`` and 64 MiB) in one ``chunks/read``,
    each checked: ``bad_response`` for an answer that is not a pack of exactly these chunks, in order, each
    hashing to its id and of its length; the server's ``not_found`` when the folder no longer holds one."""
    ids = list(want)
    _, raw = client.request("POST", f"folders/{folder}/chunks/read", where=where, json=ids_to_json(ids),
                            limit=MAX_PACK_BYTES + (1 << 20))
    try:
        frames = read_pack(raw)
    except WireError as err:
        raise replica_error(WireError("bad_response", f"chunks/read: {err.message}"), where) from None
    if [f.id for f in frames] != ids or not all(f.ok for f in frames):
        raise client.bad("chunks/read answered other chunks than asked, or bytes that do not hash to their ids",
                         where)
    if any(len(f.data) != want[f.id] for f in frames):
        raise client.bad("chunks/read answered a chunk of another length", where)
    return {f.id: f.data for f in frames}


def verified_chunks(client: Client, url: str, path: str, entry: Entry) -> list[tuple[bytes, int]]:
    """The chunk list of the file at ``path`` (``url``: its folder's ``file/chunks``), page by page, each
    page of ``entry``'s version and checked against it (size and digest; ``Changed`` when the file moved
    on since it was listed), the pages following on and the lengths adding up (``bad_response``)."""
    out: list[tuple[bytes, int]] = []
    start = 0
    while True:
        refs, count, after = _chunk_page(client, url, path, entry, start)
        out.extend((r.id, r.length) for r in refs)
        if after is None:
            break
        if after != len(out) or after >= count:
            raise client.bad(f"{path}: the chunk list's pages do not follow on", path)
        start = after
    return _adding_up(client, path, entry, out, count)


def delta_chunks(client: Client, url: str, path: str, entry: Entry,
                 old: Sequence[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    """The chunk list of the file at ``path`` (``url``: its folder's ``file``), reading only what changed
    since ``old`` (the list the basis records for ``path``): ``file/manifest`` gives the new version's
    pieces in the reference cut; a piece ``old`` has (the same cut of the old list, hashed here) is taken
    from it, the others' ranges are fetched with ``file/chunks?from=&limit=``, and each range's manifest
    bytes must hash to its piece's id (``bad_response`` otherwise: nothing from the server is trusted).
    Checked as :func:`verified_chunks` is (``Changed`` when the file moved on). A server without
    ``file/manifest`` (``404``, an older one): :func:`verified_chunks`."""
    held: dict[bytes, tuple[int, int]] = {}  # a piece of the old list -> (its first chunk's position, entries)
    at = 0
    for data in reference_pieces((ChunkRef(i, n) for i, n in old), len(old)):
        held.setdefault(blake3.blake3(data).digest(), (at, len(data) // ENTRY_BYTES))
        at += len(data) // ENTRY_BYTES
    try:
        pieces, count = _manifest(client, url + "/manifest", path, entry)
    except ReplicaError as exc:
        if code_of(exc) != "not_found":
            raise
        return verified_chunks(client, url + "/chunks", path, entry)
    out: list[tuple[bytes, int]] = []
    wanted: list[tuple[bytes, int]] = []  # pieces in a row the old list lacks: fetched as one range

    def fetch() -> None:
        if not wanted:
            return
        refs = _chunk_range(client, url + "/chunks", path, entry, len(out), sum(n for _, n in wanted))
        first = 0
        for piece_id, n in wanted:
            if blake3.blake3(serialize(refs[first:first + n])).digest() != piece_id:
                raise client.bad(f"{path}: a range of the chunk list does not hash to its manifest piece", path)
            first += n
        out.extend((r.id, r.length) for r in refs)
        wanted.clear()

    for piece_id, n in pieces:
        was = held.get(piece_id)
        if was is None:
            wanted.append((piece_id, n))
            continue
        if was[1] != n:
            raise client.bad(f"{path}: the manifest gives a piece another number of entries than it has", path)
        fetch()
        out.extend(old[was[0]:was[0] + n])
    fetch()
    if len(out) != count:
        raise client.bad(f"{path}: the manifest's pieces do not add up to the chunk list", path)
    return _adding_up(client, path, entry, out, count)


def _manifest(client: Client, url: str, path: str, entry: Entry) -> tuple[list[tuple[bytes, int]], int]:
    """The pieces ``(id, entries)`` of ``entry``'s version at ``path``, every page of ``file/manifest``,
    the pages following on (``bad_response``), and the number of chunks of the file."""
    pieces: list[tuple[bytes, int]] = []
    start = 0
    while True:
        value, count, after = _page(client, url, path, entry, {"from": start})
        try:
            page = chunks_of_json(value, "pieces", "bad_response", MAX_MANIFEST_PAGE // FINE_ENTRIES)
        except WireError as err:
            raise replica_error(err, path) from None
        if any(p.length > MAX_ENTRIES for p in page):
            raise client.bad(f"{path}: a manifest piece of more than {MAX_ENTRIES} entries", path)
        pieces.extend((p.id, p.length) for p in page)
        start += sum(p.length for p in page)
        if after is None:
            return pieces, count
        if after != start or after >= count or not page:
            raise client.bad(f"{path}: the manifest's pages do not follow on", path)


def _chunk_range(client: Client, url: str, path: str, entry: Entry, start: int, n: int) -> list[ChunkRef]:
    """The ``n`` chunks of ``entry``'s version from position ``start`` (``file/chunks`` with ``limit``,
    in as many pages as the server answers)."""
    out: list[ChunkRef] = []
    while len(out) < n:
        refs, _, after = _chunk_page(client, url, path, entry, start + len(out), min(n - len(out), MAX_CHUNKS_PAGE))
        out.extend(refs)
        if not refs or len(out) > n or (len(out) < n and after != start + len(out)):
            raise client.bad(f"{path}: file/chunks answered another range than asked", path)
    return out


def _chunk_page(client: Client, url: str, path: str, entry: Entry, start: int,
                limit: int = 0) -> tuple[tuple[ChunkRef, ...], int, int | None]:
    value, count, after = _page(client, url, path, entry, {"from": start, **({"limit": limit} if limit else {})})
    try:
        return chunks_of_json(value, "chunks", "bad_response", MAX_CHUNKS_PAGE), count, after
    except WireError as err:
        raise replica_error(err, path) from None


def _page(client: Client, url: str, path: str, entry: Entry, params: dict[str, int]) -> tuple[object, int, int | None]:
    """One page of ``file/chunks`` or ``file/manifest`` (``url``) of ``entry``'s version: (its list, the
    file's number of chunks, the next page's position); ``Changed`` when the file moved on since it was
    listed."""
    value = client.call("GET", url, params={"path": path, "version": entry.ctime_ns, **params}, where=path)
    try:
        o = obj(value, url.rpartition("/")[2], "bad_response")
        version = integer(o.get("version"), "version", "bad_response", 1)
        size = integer(o.get("size"), "size", "bad_response", 0)
        digest = hex_id(o.get("digest"), "digest", "bad_response")
        count = integer(o.get("count"), "count", "bad_response", 0, MAX_CHUNKS_PER_FILE)
        after = opt_integer(o.get("next"), "next", "bad_response", 1, MAX_CHUNKS_PER_FILE)
    except WireError as err:
        raise replica_error(err, path) from None
    if version != entry.ctime_ns or size != entry.size or digest != entry.digest:
        raise replica_error(WireError("changed", f"{path} changed on the server while it was opened",
                                      "sync again"), path)
    return o.get("pieces" if url.endswith("/manifest") else "chunks"), count, after


def _adding_up(client: Client, path: str, entry: Entry, out: list[tuple[bytes, int]],
               count: int) -> list[tuple[bytes, int]]:
    if len(out) != count or sum(n for _, n in out) != entry.size:
        raise client.bad(f"{path}: the chunk list does not add up to the file", path)
    return out


class StreamSource:
    """A whole file as the server streams it (``file?path=``): ``entry`` from the answer's
    ``Syncline-Entry`` header; the stream checks the length and the digest as it reads, and raises
    ``bad_response`` for a body longer or other than the entry says."""

    def __init__(self, client: Client, path: str, entry: Entry, pieces: Iterator[bytes]) -> None:
        self.entry = entry
        self._client, self._path = client, path
        self._pieces = pieces
        self._pending = memoryview(b"")
        self._hash = blake3.blake3()
        self._size = 0
        self.complete = False

    def changed(self) -> bool:
        """False once the whole file was read and verified (see :meth:`ChunkedSource.changed`)."""
        return not self.complete

    def readinto(self, buffer: memoryview) -> int:
        while not self._pending:
            piece = next(self._pieces, None)
            if piece is None:
                if self._size != self.entry.size or self._hash.digest() != self.entry.digest:
                    raise self._client.bad(f"{self._path}: the download is not the file its entry describes",
                                           self._path)
                self.complete = True
                return 0
            self._size += len(piece)
            if self._size > self.entry.size:
                raise self._client.bad(f"{self._path}: the download is longer than the file", self._path)
            self._hash.update(piece)
            self._pending = memoryview(piece)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
