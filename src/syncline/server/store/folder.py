"""FolderStore: one folder's transactional core (design.md "The server's folder store is itself a Replica").

Reads (``entries``, ``stat_many``, ``changes``, content) each run in one read transaction, so a page and
its ``seq`` agree. Writes (``apply_ops``, ``put_chunks``, ``missing``'s leases, meta, locks) are write
transactions: a batch of items is all or nothing on a crash, and each item on its own when refused (a
savepoint per item). Everything a caller hands in is checked here again (paths, sizes, ids, bounds), as
if it came straight from the network: the HTTP layer's own checks are a first line, not the only one.

Crash points: ``server-chunks-temp`` and ``server-chunks-renamed`` (in the chunk store),
``server-chunks-rows`` (after an upload's rows committed), ``server-commit`` (after a batch's ``COMMIT``,
before the answer).
"""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import blake3
import sqlalchemy as sa

from ...engine.crashpoints import crash_point
from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import (
    DEFAULT_CHANGES_PAGE,
    DEFAULT_ENTRIES_PAGE,
    MAX_CHUNK,
    MAX_CHUNKS_PAGE,
    MAX_CHUNKS_PER_FILE,
    MAX_FILE_SIZE,
    MAX_INLINE_CHUNKS,
    MAX_MANIFEST_CHUNKS,
    MAX_MANIFEST_PAGE,
    MAX_MISSING_IDS,
    MAX_OPS,
    MAX_PACK_BYTES,
    MAX_PACK_FRAMES,
    MAX_PAGE,
    MAX_READ_IDS,
    MAX_STAT_PATHS,
    MAX_TRASH_PAGE,
    OP_ID_RE,
    UPLOAD_LEASE_S,
)
from ...formats.wire.manifest import ENTRY_BYTES, reference_pieces
from ...formats.wire.ops import ChunkRef, ItemResult, Op, WirePolicy
from ...formats.wire.paths import check_wire_path
from . import contents, davprops, filelocks
from . import schema as t
from .apply import Applier
from .contents import missing_chunks
from .davstate import ROOT_FILE_ID, DavRow, add_sums, dav_rows
from .filelocks import LockGuard, locks_key
from .meta import Folder, rights_of
from .raw import Raw
from .repair import heal
from .rows import Row, Rows, below, row_of
from .state import FolderState

_T = TypeVar("_T")

if TYPE_CHECKING:
    from . import Store

_EMPTY = blake3.blake3(b"").digest()
_ROOT_FILE_ID = "ROOT"


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a listing: rows in increasing (version, path) order; ``next`` the last version in it and,
    when ``more``, ``next_path`` its last path: the next page is what comes after (next, next_path)."""

    seq: int
    rows: list[Row]
    next: int
    more: bool
    next_path: str | None = None


@dataclass(frozen=True, slots=True)
class ChunkPage:
    """A page of a file's chunk list: the file's version, size, digest and number of chunks, the chunks
    from the position asked, and ``next``, the position of the next page (None: this is the last)."""

    version: int
    size: int
    digest: bytes
    count: int
    chunks: list[ChunkRef]
    next: int | None


@dataclass(frozen=True, slots=True)
class ManifestPage:
    """A page of a file's manifest in the reference cut: the file's version, size, digest and number of
    chunks, the pieces from the position asked (``(id, entries)``, in order) and ``next``, the chunk
    position of the next page's first piece (None: this is the last)."""

    version: int
    size: int
    digest: bytes
    count: int
    pieces: list[tuple[bytes, int]]
    next: int | None


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    op: str
    path: str
    from_path: str | None
    device: str


@dataclass(frozen=True, slots=True)
class ChangesPage:
    seq: int
    changes: list[Change]
    next: int
    more: bool


@dataclass(frozen=True, slots=True)
class KeptVersion:
    """A version no longer live: the entry it had, when it was kept, its id (``file?trash_id=``), why
    (``replaced``/``deleted``) and the device whose write did it."""

    row: Row
    kept_ns: int
    version_id: int
    reason: str
    by_device: str


@dataclass(frozen=True, slots=True)
class TrashItem:
    """A version kept as trash: the row it had (at its path then), when, and its id for downloads."""

    row: Row
    trashed_ns: int
    trash_id: int


@dataclass(frozen=True, slots=True)
class TrashPage:
    items: list[TrashItem]
    next: int
    more: bool


@dataclass(frozen=True, slots=True)
class FolderInfo:
    seq: int
    files: int
    bytes: int
    root_mode: int
    root_mtime_ns: int
    empty: bool
    lock_seq: int = 0  # raised by every change of its file locks
    damaged: int = 0  # versions marked damaged (``server check --repair``), live or kept


def _limit(limit: int, default: int, most: int) -> int:
    if limit is None or limit <= 0:
        return default
    return min(limit, most)


def _check_position(start: int) -> None:
    if not isinstance(start, int) or not 0 <= start <= MAX_CHUNKS_PER_FILE:
        raise WireError("bad_request", f"a chunk position is 0 to {MAX_CHUNKS_PER_FILE}", "a client bug")


def _history_gone(since: int, horizon: int) -> WireError:
    return WireError("history_gone", f"the server no longer keeps the history since {since}",
                     "list the folder again from 0", {"horizon": horizon})


def _op_digest(op: Op) -> bytes:
    """What an item asked, as bytes: the same op id with another item is ``op_reused``."""
    fields: tuple[object, ...] = (op.op, op.path, op.expect, op.entry, op.chunks, op.to, op.manifest)
    if op.tree_version is not None:
        fields = (*fields, op.version_id, op.tree_version)
    elif op.version_id is not None:
        fields = (*fields, op.version_id)
    text = repr(fields)  # the fields of earlier releases alone when the later ones are unset: their digests hold
    return blake3.blake3(text.encode("utf-8", "backslashreplace")).digest()


class FolderStore:
    """One folder of a :class:`~syncline.server.store.Store`, used by user ``user_id`` (None: the server
    itself). A user's rights are checked in each write transaction, as its first step (:meth:`guard`):
    rights taken away after the request resolved the folder refuse the whole write, nothing of it done."""

    chunks_page = MAX_CHUNKS_PAGE  # chunks in a file/chunks answer (tests lower it to see pages)

    def __init__(self, store: Store, folder: Folder, user_id: int | None = None) -> None:
        self.store = store
        self.folder = folder
        self.id = folder.id
        self.ns = folder.chunk_ns
        self.user_id = user_id
        self.state = FolderState(store.db, folder.id, self.guard)

    def guard(self, conn: sa.Connection, write: bool) -> None:
        """In a write transaction: ``not_found`` when the user has no right to the folder now (as a folder
        that does not exist, protocol section 4), ``share_revoked`` when their share was taken back,
        ``read_only`` when ``write`` and they may only read."""
        if self.user_id is None:
            return
        rights = rights_of(conn, self.id, self.user_id)
        if rights is None:
            raise WireError("not_found", f"no folder {clip(self.folder.name)} on the server",
                            "list your folders with `syncline folder list`", {"folder": clip(self.folder.name)})
        if write and rights != t.RW:
            raise WireError("read_only", f"you can only read the folder {clip(self.folder.name)}",
                            "ask its owner for the right to write", {"folder": clip(self.folder.name)})

    # -- reading ----------------------------------------------------------------------------------------
    def info(self) -> FolderInfo:
        with self.store.db.read() as conn:
            f = conn.execute(sa.select(t.folders).where(t.folders.c.id == self.id)).one()
            files, size = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(t.entries.c.size), 0))
                                       .where(t.entries.c.folder_id == self.id, t.entries.c.kind == t.FILE)).one()
            empty = not Rows(conn, self.id).has_children("")
            c = t.contents.c
            damaged = conn.execute(sa.select(sa.func.count()).where(  # the partial index: nothing when none
                c.folder_id == self.id, c.damaged_ns.is_not(None))).scalar_one()
        return FolderInfo(int(f.seq), int(files), int(size), int(f.root_mode), int(f.root_mtime_ns), empty,
                          int(f.lock_seq), int(damaged))

    def damaged_files(self, limit: int) -> list[Row]:
        """The live files whose version is marked damaged (a device that has one whole heals it by uploading
        its chunks), in path order, at most ``limit``."""
        c, e = t.contents.c, t.entries.c
        with self.store.db.read() as conn:
            ids = [int(i) for i in conn.execute(sa.select(c.id).where(
                c.folder_id == self.id, c.damaged_ns.is_not(None))).scalars()]
            rows = [row_of(r) for start in range(0, len(ids), 500) for r in conn.execute(
                sa.select(t.entries).where(e.folder_id == self.id, e.kind == t.FILE,
                                           e.content_id.in_(ids[start : start + 500])))]
        return sorted(rows, key=lambda r: r.path)[:limit]

    def _seq(self, conn: sa.Connection) -> int:
        return int(conn.execute(sa.select(t.folders.c.seq).where(t.folders.c.id == self.id)).scalar_one())

    def root_row(self, conn: sa.Connection) -> Row:
        f = conn.execute(sa.select(t.folders.c.root_mode, t.folders.c.root_mtime_ns)
                         .where(t.folders.c.id == self.id)).one()
        return Row("", t.DIR, 0, int(f.root_mtime_ns), int(f.root_mode), None, None, _ROOT_FILE_ID, 0)

    def entries(self, since: int = 0, dir: str | None = None, deep: bool = True,
                limit: int = DEFAULT_ENTRIES_PAGE, after: str | None = None) -> Page:
        """Entries past the cursor (``since``, ``after``) in increasing (version, path) order (protocol
        section 5): those whose version is past ``since``, and with ``after``, those of version ``since``
        whose path is past it. ``since`` 0 lists the live tree, past 0 tombstones too. ``dir``: only it and
        what is below it (``deep``) or its children. A page may end inside a version (a folder move gives
        every entry below it one version): its ``next_path`` says where the next one goes on.
        ``history_gone`` when ``since`` is older than the kept history."""
        limit = _limit(limit, DEFAULT_ENTRIES_PAGE, MAX_PAGE)
        _check_since(since)
        if dir is not None:
            check_wire_path(dir, root_ok=True)
        if after is not None:
            check_wire_path(after)
        e = t.entries.c
        with self.store.db.read() as conn:
            seq = self._seq(conn)
            if since > 0:
                horizon = self.state.horizon(conn)
                if since < horizon:
                    raise _history_gone(since, horizon)
            past = e.version > since
            if after is not None:
                past = sa.or_(past, sa.and_(e.version == since, e.path > after))
            q = sa.select(t.entries).where(e.folder_id == self.id, past)
            if since <= 0:
                q = q.where(e.kind != t.DELETED)
            if dir is not None:
                inside = below(dir) if deep else e.parent == dir
                q = q.where(sa.or_(e.path == dir, inside) if dir else inside)
            rows = [row_of(r) for r in conn.execute(q.order_by(e.version, e.path).limit(limit + 1))]
        more = len(rows) > limit
        rows = rows[:limit]
        if not rows:
            return Page(seq, rows, max(since, 0), False)
        return Page(seq, rows, rows[-1].version, more, rows[-1].path if more else None)

    def stat_many(self, paths: Sequence[str]) -> tuple[int, list[Row | WireError | None]]:
        """Each path's row (``""``: the root, as a folder), None when absent, or ``not_a_dir`` when a
        folder on the way is a file or symlink; with the folder's ``seq``."""
        if len(paths) > MAX_STAT_PATHS:
            raise WireError("too_large", f"more than {MAX_STAT_PATHS} paths", "ask in parts",
                            {"limit": MAX_STAT_PATHS})
        for p in paths:
            check_wire_path(p, root_ok=True)
        out: list[Row | WireError | None] = []
        with self.store.db.read() as conn:
            rows = Rows(conn, self.id)
            for p in paths:
                if not p:
                    out.append(self.root_row(conn))
                    continue
                row = rows.get(p)
                if row is None:
                    blocker = rows.blocker(p)
                    if blocker is not None:
                        out.append(WireError("not_a_dir", f"{clip(blocker.path)} is not a folder on the server",
                                             "sync again", {"path": clip(p)}))
                        continue
                out.append(row)
            return self._seq(conn), out

    def dav_list(self, path: str, depth: int) -> list[DavRow]:
        """``path`` itself first (``""``: the folder's root), then with ``depth`` 1 and a folder there its
        live children in path order, all read in one transaction (:mod:`.davstate`: ETags, numeric ids,
        SHA1). ``not_found`` when nothing lives at ``path``."""
        check_wire_path(path, root_ok=True)
        with self.store.db.read() as conn:
            self.guard(conn, False)
            found = dav_rows(Raw(conn), self.id, path, 1 if depth else 0, self.root_row(conn), self._seq(conn))
        if found is None:
            raise WireError("not_found", f"no {clip(path)} on the server", "list the folder again",
                            {"path": clip(path)})
        return found

    def dav_fileid(self, file_id: str) -> int | None:
        """The WebDAV number of this folder's ``file_id`` (None: none was made)."""
        with self.store.db.read() as conn:
            got = Raw(conn).one("SELECT id FROM dav_ids WHERE folder_id = :f AND file_id = :i",
                                {"f": self.id, "i": file_id})
        return int(got[0]) if got is not None else None

    def record_sums(self, digest: bytes, sha1: bytes, md5: bytes) -> None:
        """Keep the SHA1 and MD5 of bytes whose BLAKE3 is ``digest``; all computed by the server from them."""
        with self.store.db.write() as conn:
            add_sums(Raw(conn), digest, sha1, md5)

    def dav_props(self, path: str) -> list[davprops.DeadProp]:
        """The dead properties of the resource at ``path`` (``""``: the folder's root); ``not_found``."""
        check_wire_path(path, root_ok=True)
        with self.store.db.read() as conn:
            self.guard(conn, False)
            return davprops.read(Raw(conn), self.id, self._file_id(conn, path))

    def dav_proppatch(self, path: str, changes: Sequence[davprops.DeadProp | tuple[str, str]], device: str,
                      tokens: frozenset[str] = frozenset()) -> None:
        """Set (a ``DeadProp``) and remove (``(ns, name)``) dead properties of ``path`` in the order given,
        all or none (``WireError``: ``read_only``,
        ``locked`` by another device's lock, ``not_found``, ``too_large``). No version changes: a property
        is not the resource's content, so no ETag moves."""
        check_wire_path(path, root_ok=True)
        with self.store.db.write() as conn:
            self.guard(conn, True)
            LockGuard(conn, self.id, device, user_id=self.user_id, tokens=tokens).check((path,))  # the root too
            davprops.patch(Raw(conn), self.id, self._file_id(conn, path), changes)

    def dav_copy_props(self, source: FolderStore, file_id: str, to_file_id: str) -> None:
        """Give this folder's resource ``to_file_id`` the dead properties of ``source``'s ``file_id``
        (WebDAV's COPY, and a MOVE between folders)."""
        with self.store.db.write() as conn:
            self.guard(conn, True)
            davprops.copy(Raw(conn), source.id, file_id, self.id, to_file_id)

    def _file_id(self, conn: sa.Connection, path: str) -> str:
        if not path:
            return ROOT_FILE_ID
        row = Rows(conn, self.id).get(path)
        if row is None:
            raise WireError("not_found", f"no {clip(path)} on the server", "list the folder again",
                            {"path": clip(path)})
        return row.file_id

    def changes(self, since: int, limit: int = DEFAULT_CHANGES_PAGE) -> ChangesPage:
        """The journal past ``since`` (protocol section 9), oldest first."""
        limit = _limit(limit, DEFAULT_CHANGES_PAGE, MAX_PAGE)
        _check_since(since)
        c = t.changes.c
        with self.store.db.read() as conn:
            seq = self._seq(conn)
            horizon = self.state.horizon(conn)
            if since < horizon:
                raise _history_gone(since, horizon)
            found = [Change(int(r.seq), r.op, r.path, r.from_path, r.device_id) for r in conn.execute(
                sa.select(c.seq, c.op, c.path, c.from_path, c.device_id)
                .where(c.folder_id == self.id, c.seq > since).order_by(c.seq).limit(limit + 1))]
        more = len(found) > limit
        found = found[:limit]
        return ChangesPage(seq, found, found[-1].seq if found else since, more)

    def _file_row(self, conn: sa.Connection, path: str, version: int | None) -> Row:
        check_wire_path(path)
        row = Rows(conn, self.id).get(path)
        if row is None or row.kind != t.FILE or row.content_id is None:
            raise WireError("not_found", f"no file {clip(path)} on the server", "sync again", {"path": clip(path)})
        if version is not None and row.version != version:
            raise WireError("changed", f"{clip(path)} is no longer version {version}", "read it again",
                            {"path": clip(path), "version": row.version})
        _refuse_damaged(conn, row.content_id, path)
        return row

    def chunk_list(self, path: str, version: int | None = None, start: int = 0, limit: int = 0) -> ChunkPage:
        """At most ``limit`` (0: :attr:`chunks_page`; up to 65,536) chunks of the file at ``path`` from
        position ``start`` (protocol section 6): ``version``, only that one (else ``changed``), as a client
        paging through a big list asks, so that every page is of one version."""
        limit = _limit(limit, self.chunks_page, MAX_CHUNKS_PAGE)
        _check_position(start)
        with self.store.db.read() as conn:
            row = self._file_row(conn, path, version)
            assert row.content_id is not None and row.digest is not None
            count = contents.chunk_count(conn, row.content_id)
            chunks = contents.chunk_list(conn, row.content_id, start, limit)
        end = start + len(chunks)
        return ChunkPage(row.version, row.size, row.digest, count, chunks, end if end < count else None)

    def manifest(self, path: str, version: int | None = None, start: int = 0) -> ManifestPage:
        """The pieces of the file's chunk list in the reference cut (``reference_pieces``, the one the
        reference client uploads), from chunk position ``start`` (0, or the ``next`` of a page: a piece
        boundary), covering at most ``MAX_MANIFEST_PAGE`` chunks; ``version`` as for :meth:`chunk_list`.
        Computed from the stored list, read in pages in one transaction: bounded memory for any file."""
        _check_position(start)
        with self.store.db.read() as conn:
            row = self._file_row(conn, path, version)
            assert row.content_id is not None and row.digest is not None
            content_id = row.content_id
            count = contents.chunk_count(conn, content_id)
            end = min(count, start + MAX_MANIFEST_PAGE)

            def listed() -> Iterator[ChunkRef]:
                for at in range(start, end, MAX_CHUNKS_PAGE):
                    yield from contents.chunk_list(conn, content_id, at, min(MAX_CHUNKS_PAGE, end - at))

            pieces = [(blake3.blake3(p).digest(), len(p) // ENTRY_BYTES) for p in reference_pieces(listed(), count)]
        if end < count and pieces:
            pieces.pop()  # the page's end may have cut it short: the next page starts with it
        taken = start + sum(n for _, n in pieces)
        return ManifestPage(row.version, row.size, row.digest, count, pieces, taken if taken < count else None)

    def read(self, path: str, version: int | None = None,
             span: tuple[int, int] | None = None) -> tuple[Row, Iterator[bytes]]:
        """The file at ``path`` (``version``: only that one, else ``changed``) and its bytes as a stream;
        ``span`` (first, last byte, inclusive) for one range (``bad_range`` when it is outside)."""
        with self.store.db.read() as conn:
            row = self._file_row(conn, path, version)
            assert row.content_id is not None
            chunks = contents.chunk_list(conn, row.content_id)
        return row, self._stream(chunks, row.size, span)

    def read_trashed(self, trash_id: int) -> tuple[Row, Iterator[bytes]]:
        """A version kept in the trash, or any kept version (``not_found`` when retention removed it)."""
        with self.store.db.read() as conn:
            c = t.contents.c
            r = conn.execute(sa.select(t.contents).where(c.id == trash_id, c.folder_id == self.id, sa.or_(
                c.trashed_ns.is_not(None), c.kept_ns.is_not(None)))).first()
            if r is None:
                raise WireError("not_found", f"no trashed version {trash_id}", "list the trash again")
            row = _trash_row(r)
            _refuse_damaged(conn, trash_id, row.path)
            chunks = contents.chunk_list(conn, trash_id)
        return row, self._stream(chunks, int(r.size), None)

    def versions(self, path: str, limit: int) -> tuple[Row | None, list[KeptVersion]]:
        """The live entry at ``path`` (None: none) and the versions kept of what was there, newest first
        (at most ``limit``)."""
        check_wire_path(path)
        c = t.contents.c
        with self.store.db.read() as conn:
            current = Rows(conn, self.id).get(path)
            found = conn.execute(sa.select(t.contents).where(c.folder_id == self.id, c.trash_path == path,
                                                             c.kept_ns.is_not(None))
                                 .order_by(c.kept_ns.desc(), c.id.desc()).limit(limit)).all()
        return current, [_kept(r) for r in found]

    def deleted(self, before_ns: int, limit: int, under: str = "") -> list[KeptVersion]:
        """The files deleted from the folder that nothing took the place of since (the newest kept version
        of each path with no live entry now, kept for a delete), newest first: those kept before
        ``before_ns`` (0: all), at ``under`` or below it ("": anywhere), at most ``limit``."""
        c = t.contents.c
        q = sa.select(t.contents).where(c.folder_id == self.id, c.kept_ns.is_not(None), c.reason == "deleted",
                                        ~sa.exists(self._live_at_trash_path()), ~sa.exists(_newer_kept()),
                                        _at_or_below(c.trash_path, under))
        if before_ns:
            q = q.where(c.kept_ns < before_ns)
        with self.store.db.read() as conn:
            found = conn.execute(q.order_by(c.kept_ns.desc(), c.id.desc()).limit(limit)).all()
        return [_kept(r) for r in found]

    def purge(self, under: str, now_ns: int | None = None) -> int:
        """Empty the trash at ``under`` or below it ("": the whole folder), for good: every version kept of
        a deleted file (no live entry now, its last version kept for a delete: what :meth:`deleted`
        lists). The folder's owner only (``forbidden`` for anyone else). Versions
        of live files stay. One transaction: all or nothing; their chunks go at a later collection, after
        the lease a dropped version gives (a download under way finishes). Returns how many versions went."""
        now = time.time_ns() if now_ns is None else now_ns
        c = t.contents.c
        with self.store.db.write() as conn:
            self.guard(conn, write=False)
            if self.user_id is not None and self.folder.owner_id != self.user_id:  # a read-only member too
                raise WireError("forbidden", "only the folder's owner can empty its trash",
                                "ask its owner", {"folder": clip(self.folder.name)})
            rows = conn.execute(sa.select(c.id, c.trash_path, c.kept_ns, c.reason).where(
                c.folder_id == self.id, c.kept_ns.is_not(None), ~sa.exists(self._live_at_trash_path()),
                _at_or_below(c.trash_path, under))).all()
            newest: dict[str, tuple[int, int, str]] = {}
            for r in rows:
                key = (int(r.kept_ns), int(r.id), str(r.reason))
                if key > newest.get(str(r.trash_path), (-1, -1, "")):
                    newest[str(r.trash_path)] = key
            # Only the trash: paths whose last version went by a delete. A path left by a rename keeps the
            # history it had (its versions belong to the file under its new name).
            ids = [int(r.id) for r in rows if newest[str(r.trash_path)][2] == "deleted"]
            for start in range(0, len(ids), 500):
                contents.drop(conn, self.ns, ids[start : start + 500], now)
        return len(ids)

    def _live_at_trash_path(self) -> sa.Select[tuple[str]]:
        e, c = t.entries.c, t.contents.c
        return sa.select(e.path).where(e.folder_id == self.id, e.path == c.trash_path, e.kind != t.DELETED)

    def _stream(self, chunks: list[ChunkRef], size: int, span: tuple[int, int] | None) -> Iterator[bytes]:
        first, last = span if span is not None else (0, size - 1)
        if span is not None and not (0 <= first <= last < size):
            raise WireError("bad_range", f"bytes {first}-{last} are outside the file's {size}", "")
        return self._chunks_between(chunks, first, last)

    def _chunks_between(self, chunks: list[ChunkRef], first: int, last: int) -> Iterator[bytes]:
        offset = 0
        for c in chunks:
            end = offset + c.length
            if end > first and offset <= last:
                start = max(first - offset, 0)
                yield self.store.chunks.read(self.ns, c.id, start, min(last + 1, end) - offset - start)
            offset = end
            if offset > last:
                return

    def chunk_lengths(self, ids: Sequence[bytes]) -> dict[bytes, int]:
        """Of ``ids``, those the folder holds (recorded, verified, durable), with their lengths."""
        _check_ids(ids)
        with self.store.db.read() as conn:
            return contents.lengths(Raw(conn), self.ns, ids)

    def read_chunks(self, ids: Sequence[bytes]) -> Iterator[tuple[bytes, bytes]]:
        """The chunks ``ids`` in order (``not_found`` naming the first the folder does not hold; at most
        4,096 ids and 64 MiB)."""
        if len(ids) > MAX_READ_IDS:
            raise WireError("too_large", f"more than {MAX_READ_IDS} ids", "ask in parts", {"limit": MAX_READ_IDS})
        _check_ids(ids)
        with self.store.db.read() as conn:
            have = contents.lengths(Raw(conn), self.ns, ids)
        missing = [i for i in ids if i not in have]
        if not missing and sum(have[i] for i in ids) > MAX_PACK_BYTES:
            raise WireError("too_large", "more than 64 MiB of chunks", "ask in parts", {"limit": MAX_PACK_BYTES})
        if missing:
            raise WireError("not_found", f"the folder holds no chunk {missing[0].hex()}", "",
                            {"missing": [m.hex() for m in missing[:100]]})
        return ((i, self.store.chunks.read(self.ns, i)) for i in ids)

    def trash(self, after: int = 0, limit: int = MAX_TRASH_PAGE) -> TrashPage:
        """Versions kept as trash, newest first; ``after``: only those trashed before that time (ns)."""
        limit = _limit(limit, MAX_TRASH_PAGE, MAX_TRASH_PAGE)
        c = t.contents.c
        q = sa.select(t.contents).where(c.folder_id == self.id, c.trashed_ns.is_not(None))
        if after > 0:
            q = q.where(c.trashed_ns < after)
        with self.store.db.read() as conn:
            found = list(conn.execute(q.order_by(c.trashed_ns.desc(), c.id.desc()).limit(limit + 1)))
        items = [TrashItem(_trash_row(r), int(r.trashed_ns), int(r.id)) for r in found[:limit]]
        return TrashPage(items, items[-1].trashed_ns if items else after, len(found) > limit)

    # -- chunks -----------------------------------------------------------------------------------------
    def missing(self, ids: Sequence[bytes], device: str) -> list[bytes]:
        """Of ``ids``, those the folder lacks (in the order asked); each it has gets an upload lease of
        24 h, so the collector keeps it until a commit can reference it."""
        if len(ids) > MAX_MISSING_IDS:
            raise WireError("too_large", f"more than {MAX_MISSING_IDS} ids", "ask in parts",
                            {"limit": MAX_MISSING_IDS})
        _check_ids(ids)
        with self.store.db.write() as conn:
            self.guard(conn, True)
            have = contents.lengths(Raw(conn), self.ns, ids)
            self._lease(list(have), conn)
        return [i for i in ids if i not in have]

    def _lease(self, ids: Sequence[bytes], conn: sa.Connection) -> None:
        """Give the recorded chunks ``ids`` an upload lease of 24 h from now, in ``conn``'s write
        transaction (the one that found them recorded), so the collector keeps them until a commit can
        reference them."""
        lease = time.time_ns() + UPLOAD_LEASE_S * 10**9
        for start in range(0, len(ids), 500):
            conn.execute(t.chunks.update().where(
                t.chunks.c.chunk_ns == self.ns, t.chunks.c.chunk_id.in_(ids[start : start + 500]),
                t.chunks.c.lease_until_ns < lease).values(lease_until_ns=lease))

    def put_chunks(self, frames: Sequence[tuple[bytes, bytes]], device: str) -> tuple[int, int]:
        """Store chunks ``(id, bytes)``: each is verified (``bad_chunk`` naming the first that does not
        hash to its id; nothing stored), made durable, then recorded with an upload lease. Returns
        (stored, present: already there)."""
        if len(frames) > MAX_PACK_FRAMES:
            raise WireError("too_large", f"more than {MAX_PACK_FRAMES} chunks", "send them in parts",
                            {"limit": MAX_PACK_FRAMES})
        total = 0
        for chunk_id, data in frames:
            _check_ids([chunk_id])
            if not 1 <= len(data) <= MAX_CHUNK:
                raise WireError("too_large", f"a chunk of {len(data)} bytes", "", {"limit": MAX_CHUNK})
            total += len(data)
            if blake3.blake3(data).digest() != chunk_id:
                raise WireError("bad_chunk", f"chunk {chunk_id.hex()} does not match its bytes",
                                "upload it again", {"id": chunk_id.hex()})
        if total > MAX_PACK_BYTES:
            raise WireError("too_large", f"{total} bytes of chunks in one upload", "", {"limit": MAX_PACK_BYTES})
        with self.store.gate.upload():
            with self.store.db.write() as conn:
                self.guard(conn, True)
                have = contents.lengths(Raw(conn), self.ns, [i for i, _ in frames])
                # Sent again: the commit that follows needs them as much as the new ones, and a lease from
                # an older upload may have run out (the collector would take them before that commit).
                self._lease(list(have), conn)
            todo = list({i: d for i, d in frames if i not in have}.items())
            if todo and self.store.chunks.free_bytes() < self.store.min_free + total:
                raise WireError("no_space", "the server's disk is (nearly) full", "free space on the server")
            if not todo:
                return 0, len(frames)
            try:
                self.store.chunks.put_many(self.ns, todo)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise WireError("no_space", "the server's disk is full", "free space on the server") from None
                raise
            now = time.time_ns()
            with self.store.db.write() as conn:
                self.guard(conn, True)
                already = contents.lengths(Raw(conn), self.ns, [i for i, _ in todo])
                fresh = [(i, d) for i, d in todo if i not in already]
                if fresh:
                    conn.execute(t.chunks.insert(), [
                        {"chunk_ns": self.ns, "chunk_id": i, "length": len(d), "stored_ns": now,
                         "lease_until_ns": now + UPLOAD_LEASE_S * 10**9} for i, d in fresh])
                    heal(conn, self.folder)  # a version damaged by a lost chunk is whole again with it
        crash_point("server-chunks-rows")
        return len(fresh), len(frames) - len(fresh)

    # -- writing ----------------------------------------------------------------------------------------
    def apply_ops(self, ops: Sequence[Op], policy: WirePolicy, device: str,
                  tokens: frozenset[str] = frozenset(), atomic: bool = False,
                  sums: Sequence[tuple[bytes, bytes, bytes]] = ()) -> tuple[int, list[ItemResult]]:
        """Apply a batch (protocol section 7) as one durable transaction: items in order, each on its own
        (a refused item does not stop the next, and a later one sees what the earlier did); an item whose
        id this folder already applied is answered with its first result (``replayed``). Returns the
        folder's ``seq`` after the batch and one result per item. ``tokens``: the WebDAV lock tokens the
        request submitted (its user's locks with those tokens let its writes through). ``atomic`` (the
        server's own batches, WebDAV's MOVE with ``Overwrite``): every item done, or nothing written and the
        results are the first item not done alone. ``sums``: (BLAKE3, SHA1, MD5) of contents the server
        hashed (a WebDAV upload's), recorded in the same transaction (one commit a file, not two)."""
        if len(ops) > MAX_OPS:
            raise WireError("too_large", f"more than {MAX_OPS} items", "send them in parts", {"limit": MAX_OPS})
        checked = self._check_contents(ops)
        results: list[ItemResult] = []
        try:
            with self.store.db.write() as conn:
                self.guard(conn, True)
                start = int(conn.execute(t.folders.update().where(t.folders.c.id == self.id)
                                         .values(seq=t.folders.c.seq).returning(t.folders.c.seq)).scalar_one())
                locks = LockGuard(conn, self.id, device, user_id=self.user_id, tokens=tokens)
                applier = Applier(conn, self.folder, policy, start, self.store.chunks, locks, device)
                raw = applier.rows.raw
                for digest, sha1, md5 in sums:
                    add_sums(raw, digest, sha1, md5)
                for op, problem in zip(ops, checked, strict=True):
                    if atomic and results and not results[-1].done:
                        raise _Abort(results[-1])
                    if not isinstance(op.id, str) or not OP_ID_RE.fullmatch(op.id):
                        results.append(ItemResult.failed(WireError(
                            "bad_request", "an op id is 1-64 of A-Z, a-z, 0-9, '_' and '-'", "a client bug")))
                        continue
                    digest = _op_digest(op)
                    seen = raw.one("SELECT op_digest, result FROM changes WHERE folder_id = :f AND op_id = :i",
                                   {"f": self.id, "i": op.id})
                    if seen is not None:
                        results.append(_replayed(op, digest, seen[0], seen[1]))
                        continue
                    if problem is not None:
                        results.append(ItemResult.failed(problem))
                        continue
                    raw.run("SAVEPOINT item")
                    try:
                        done = applier.apply(op)
                    except WireError as exc:
                        raw.run("ROLLBACK TO SAVEPOINT item")
                        raw.run("RELEASE SAVEPOINT item")
                        results.append(ItemResult.failed(exc))
                        continue
                    raw.run("RELEASE SAVEPOINT item")
                    result = done.result
                    if done.change is not None:
                        change_op, path, from_path = done.change
                        applier.seq += 1
                        raw.run("INSERT INTO changes (folder_id, seq, op, path, from_path, device_id, op_id, "
                                "op_digest, result, made_ns) VALUES (:f, :s, :op, :p, :fp, :d, :i, :od, :r, :m)",
                                {"f": self.id, "s": applier.seq, "op": change_op, "p": path,
                                 "fp": from_path, "d": device, "i": op.id, "od": digest,
                                 "r": _result_json(result), "m": time.time_ns()})
                    results.append(result)
                if atomic and results and not results[-1].done:
                    raise _Abort(results[-1])
                end = applier.seq
                if end != start:
                    applier.finish()
                    conn.execute(t.folders.update().where(t.folders.c.id == self.id).values(seq=end))
                lock_seq = filelocks.bump(conn, self.id) if locks.changed else None
        except _Abort as abort:  # the transaction rolled back: nothing of the batch was written
            return start, [abort.result]
        except sa.exc.OperationalError as exc:
            if "full" in str(exc.orig):
                raise WireError("no_space", "the server's disk is full", "free space on the server") from None
            raise
        crash_point("server-commit")
        if end != start:
            self.store.published(self.id, end)
        if lock_seq is not None:
            self.store.published(locks_key(self.id), lock_seq)
        return end, results

    def _check_contents(self, ops: Sequence[Op]) -> list[WireError | None]:
        """Each put's content, checked before the write lock (protocol section 7): the chunks are in the
        folder, their lengths add up to the size, and they hash to the digest (one chunk: its id is the
        digest; more: read and hashed). None for an item with nothing to check."""
        out: list[WireError | None] = []
        with self.store.db.read() as conn:
            raw = Raw(conn)
            for op in ops:
                try:
                    if op.op == "put":
                        self._check_put(raw, op)
                    out.append(None)
                except WireError as exc:
                    out.append(exc)
        return out

    def _check_put(self, raw: Raw, op: Op) -> None:
        check_wire_path(op.path)
        e = op.entry
        if e is None or e.digest is None or len(e.digest) != 32:
            raise WireError("bad_content", f"put of {clip(op.path)} without a size and digest", "a client bug")
        if not 0 <= e.size <= MAX_FILE_SIZE or len(op.chunks) > MAX_INLINE_CHUNKS or \
                len(op.manifest) > MAX_MANIFEST_CHUNKS:
            raise WireError("too_large", f"{clip(op.path)} is too large", "a file of more than "
                            f"{MAX_INLINE_CHUNKS} chunks is committed with a manifest", {"limit": MAX_FILE_SIZE})
        if any(len(ch.id) != 32 or not 1 <= ch.length <= MAX_CHUNK for ch in (*op.chunks, *op.manifest)):
            raise WireError("bad_content", f"a chunk of {clip(op.path)} is malformed", "a client bug",
                            {"path": clip(op.path)})
        if op.manifest:
            if op.chunks or e.size == 0:
                raise WireError("bad_content", f"put of {clip(op.path)} with chunks and a manifest, or an empty "
                                "file with a manifest", "a client bug", {"path": clip(op.path)})
            self._check_manifest(raw, op, e.size, e.digest)
            return
        if sum(ch.length for ch in op.chunks) != e.size:
            raise WireError("bad_content", f"the chunks of {clip(op.path)} do not add up to its size",
                            "a client bug", {"path": clip(op.path)})
        have = contents.lengths(raw, self.ns, [ch.id for ch in op.chunks])
        missing = [ch.id for ch in op.chunks if ch.id not in have]
        if missing:
            raise missing_chunks(op.path, list(dict.fromkeys(missing)))
        if any(have[ch.id] != ch.length for ch in op.chunks):
            raise WireError("bad_content", f"a chunk of {clip(op.path)} has another length", "a client bug")
        if len(op.chunks) == 0:
            ok = e.digest == _EMPTY
        elif len(op.chunks) == 1:
            ok = op.chunks[0].id == e.digest
        else:
            whole = blake3.blake3()
            for ch in op.chunks:
                try:
                    whole.update(self.store.chunks.read(self.ns, ch.id))
                except FileNotFoundError:  # the collector took it since the rows were read
                    raise missing_chunks(op.path, [ch.id]) from None
            ok = whole.digest() == e.digest
        if not ok:
            raise WireError("bad_content", f"the chunks of {clip(op.path)} do not hash to its digest",
                            "a client bug", {"path": clip(op.path)})

    def _check_manifest(self, raw: Raw, op: Op, size: int, digest: bytes) -> None:
        """A manifest put's content (see :meth:`_check_put`): the listed chunks read as they are checked,
        hashed in order, never held whole."""
        whole = blake3.blake3()
        total = 0
        listed = contents.manifest_list(raw, self.store.chunks, self.ns, op.path, op.manifest)
        for ch in contents.present(raw, self.ns, listed, op.path):
            total += ch.length
            if total > size:
                break
            try:
                whole.update(self.store.chunks.read(self.ns, ch.id))
            except FileNotFoundError:  # the collector took it since the rows were read
                raise missing_chunks(op.path, [ch.id]) from None
        if total != size:
            raise WireError("bad_content", f"the chunks the manifest of {clip(op.path)} lists do not add up to "
                            "its size", "a client bug", {"path": clip(op.path)})
        if whole.digest() != digest:
            raise WireError("bad_content", f"the chunks of {clip(op.path)} do not hash to its digest",
                            "a client bug", {"path": clip(op.path)})

    # -- small things -----------------------------------------------------------------------------------
    def read_meta(self, key: str) -> str | None:
        return self.state.read_meta(key)

    def write_meta(self, key: str, text: str) -> None:
        self.state.write_meta(key, text)

    def write_meta_if(self, key: str, text: str, etag: str | None) -> bool:
        return self.state.write_meta_if(key, text, etag)

    def lock(self, holder: str, ttl: int, exclusive: bool = False, replaces: str | None = None,
             proposed: str | None = None) -> str:
        return self.state.lock(holder, ttl, exclusive, replaces, proposed)

    def renew(self, lock_id: str, ttl: int) -> None:
        self.state.renew(lock_id, ttl)

    def release(self, lock_id: str) -> None:
        self.state.release(lock_id)

    # -- file locks (filelocks.py) ----------------------------------------------------------------------
    def file_locks(self) -> tuple[int, list[filelocks.FileLock]]:
        """``(lock_seq, the live locks)`` of the folder."""
        with self.store.db.read() as conn:
            return filelocks.lock_seq(conn, self.id), filelocks.live(conn, self.id, time.time_ns())

    def _lock_write(self, change: Callable[[sa.Connection, int], _T]) -> _T:
        """One write transaction changing the folder's locks (the caller's right to write checked first),
        then the change told to the streams."""
        with self.store.db.write() as conn:
            self.guard(conn, True)
            out = change(conn, time.time_ns())
            seq = filelocks.lock_seq(conn, self.id)
        self.store.published(locks_key(self.id), seq)
        return out

    def take_lock(self, path: str, device_id: str, ttl: int, note: str | None) -> tuple[filelocks.FileLock, bool]:
        """Lock the file ``path`` for this user's ``device_id`` (see :func:`.filelocks.take`)."""
        assert self.user_id is not None, "a lock is a user's"
        user_id = self.user_id
        return self._lock_write(lambda conn, now: filelocks.take(conn, self.id, path, user_id, device_id, ttl,
                                                                 note, now))

    def renew_lock(self, lock_id: str, device_id: str, ttl: int) -> filelocks.FileLock:
        return self._lock_write(lambda conn, now: filelocks.renew(conn, self.id, lock_id, device_id, ttl, now))

    def release_lock(self, lock_id: str, force: bool) -> filelocks.FileLock:
        """End a lock of this user's (``force``: any, by the folder's owner)."""
        assert self.user_id is not None, "a lock is a user's"
        user_id = self.user_id
        return self._lock_write(lambda conn, now: filelocks.release(conn, self.id, lock_id, user_id, force,
                                                                    self.folder.owner_id, now))


    # -- WebDAV locks (RFC 4918 LOCK/UNLOCK) -------------------------------------------------------------------
    def dav_lock(self, path: str, device_id: str, ttl: int, scope: str, deep: bool,
                 owner_xml: str | None) -> filelocks.FileLock:
        """Lock ``path`` (a file or folder there; ``""``: the root) over WebDAV for this user's request from
        ``device_id`` (see :func:`.filelocks.dav_take`): ``locked``, ``not_found``, ``read_only``."""
        assert self.user_id is not None, "a lock is a user's"
        user_id = self.user_id

        def take(conn: sa.Connection, now: int) -> filelocks.FileLock:
            if path and Rows(conn, self.id).get(path) is None:
                raise WireError("not_found", f"no {clip(path)} on the server", "make it first", {"path": clip(path)})
            return filelocks.dav_take(conn, self.id, path, user_id, device_id, ttl, now, scope, deep, owner_xml)
        return self._lock_write(take)

    def dav_refresh(self, token: str, device_id: str, ttl: int) -> filelocks.FileLock:
        """Renew the lock whose token the request submitted (its user's); ``not_found`` for no such lock."""
        return self._lock_write(lambda conn, now: filelocks.renew(
            conn, self.id, self._token_lock(conn, token, now).lock_id, device_id, ttl, now, self.user_id))

    def dav_unlock(self, token: str) -> filelocks.FileLock:
        """End the lock ``token`` names, by its user; ``not_found`` for no such lock, ``forbidden``."""
        assert self.user_id is not None, "a lock is a user's"
        user_id = self.user_id
        return self._lock_write(lambda conn, now: filelocks.release(
            conn, self.id, self._token_lock(conn, token, now).lock_id, user_id, False, self.folder.owner_id, now))

    def dav_may_write(self, path: str, device: str, tokens: frozenset[str], below: bool) -> None:
        """``locked`` unless a batch of this user's ``device`` submitting ``tokens`` may write ``path`` now
        (``below``: and everything under it), as :class:`.LockGuard` decides at the commit: asked before a
        write done in several commits (WebDAV's MOVE between folders deletes its source last)."""
        with self.store.db.read() as conn:
            LockGuard(conn, self.id, device, user_id=self.user_id, tokens=tokens).check(
                (path,), below=path if below else None)

    def dav_locks(self) -> list[filelocks.FileLock]:
        """The folder's live locks (WebDAV's ``lockdiscovery`` picks those covering each resource)."""
        with self.store.db.read() as conn:
            self.guard(conn, False)
            return filelocks.live(conn, self.id, time.time_ns())

    def _token_lock(self, conn: sa.Connection, token: str, now: int) -> filelocks.FileLock:
        lock = filelocks.by_token(conn, self.id, token, now)
        if lock is None:
            raise WireError("not_found", f"no lock {clip(token, 80)} in the folder", "lock it again",
                            {"lock": clip(token, 80)})
        return lock


class _Abort(Exception):
    """An atomic batch's item was not done: the batch's transaction is rolled back."""

    def __init__(self, result: ItemResult) -> None:
        super().__init__(result.note)
        self.result = result


def _check_since(since: int) -> None:
    if not isinstance(since, int) or since < 0:
        raise WireError("bad_request", "since is a sequence number (0 or more)", "a client bug")


def _check_ids(ids: Sequence[bytes]) -> None:
    for i in ids:
        if not isinstance(i, bytes) or len(i) != 32:
            raise WireError("bad_request", "a chunk id is 32 bytes (64 hex digits)", "a client bug")


def _result_json(r: ItemResult) -> str:
    return json.dumps({"done": r.done, "version": r.version, "file_id": r.file_id, "trashed": r.trashed,
                       "note": r.note, "notice": r.notice, "code": r.code})


def _replayed(op: Op, digest: bytes, first_digest: bytes | None, first: str | None) -> ItemResult:
    if first_digest is None or bytes(first_digest) != digest or first is None:
        return ItemResult.failed(WireError("op_reused", f"op id {clip(op.id)} was used for another item",
                                           "make a new id for each item", {"id": clip(op.id)}))
    r = json.loads(first)
    return ItemResult(bool(r["done"]), int(r["version"]), str(r["file_id"]), bool(r["trashed"]), str(r["note"]),
                      str(r["notice"]), str(r["code"]), replayed=True)


def _newer_kept() -> sa.Select[tuple[int]]:
    """A version of the same path kept after the ``contents`` row of the outer query (its path's newest
    kept version has none)."""
    c, d = t.contents.c, t.contents.alias("newer").c
    return sa.select(d.id).where(d.folder_id == c.folder_id, d.trash_path == c.trash_path, d.kept_ns.is_not(None),
                                 sa.or_(d.kept_ns > c.kept_ns, sa.and_(d.kept_ns == c.kept_ns, d.id > c.id)))


def _at_or_below(column: sa.ColumnElement[str], path: str) -> sa.ColumnElement[bool]:
    """``column`` is ``path`` or a path below it ("": any path)."""
    if not path:
        return sa.true()
    return sa.or_(column == path, sa.and_(column > path + "/", column < path + "0"))


def _refuse_damaged(conn: sa.Connection, content_id: int, path: str) -> None:
    """``damaged`` when ``server check --repair`` found a chunk of the version lost: what could be sent is
    not the file, and a device must keep its own copy rather than take a torn one (docs/server-store.md,
    "Check and repair")."""
    c = t.contents.c
    if conn.execute(sa.select(c.damaged_ns).where(c.id == content_id)).scalar() is not None:
        raise WireError("damaged", f"the server lost part of {clip(path)} (found by its check)",
                        "keep your copy; saving it again on a device that has it whole uploads the lost part",
                        {"path": clip(path)})


def _kept(r: sa.Row[tuple[object, ...]]) -> KeptVersion:
    m = r._mapping
    return KeptVersion(_trash_row(r), int(m["kept_ns"]), int(m["id"]), str(m["reason"] or ""),
                       str(m["by_device"] or ""))


def _trash_row(r: sa.Row[tuple[object, ...]]) -> Row:
    e = json.loads(str(r._mapping["trash_entry"]))
    return Row(str(r._mapping["trash_path"]), e["kind"], e["size"], e["mtime_ns"], e["mode"],
               bytes.fromhex(e["digest"]) if e["digest"] else None, e["target"], e["file_id"], e["version"],
               int(r._mapping["id"]) if e["kind"] == t.FILE else None)
