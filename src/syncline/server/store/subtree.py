"""A folder's subtree read whole at one ``seq``, and one version's bytes read by its id: what a zip of a
folder is made from (``server/app/zipstream.py``).

The listing is one read transaction (its counts, then its rows only when they fit the bound the caller
gives, so a huge folder is refused for the price of one ``COUNT``). A version is read by its content id,
not its path: the zip holds the versions the listing saw even when a file is replaced, moved or deleted
meanwhile, for as long as the server keeps them (kept versions, trash). Each page of a version's chunk
list is its own short read transaction (a 16 GiB zip never holds SQLite's snapshot, nor its whole chunk
list), and every chunk is hashed against its id as it is read: a zip never carries bytes the store lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from ...formats.wire.errors import WireError, clip
from ...formats.wire.ops import ChunkRef
from ...formats.wire.paths import check_wire_path
from ..chunks.store import BadChunk, verify
from . import contents
from . import schema as t
from .folder import FolderStore
from .rows import Rows, below

CHUNKS_PAGE = 4096  # chunk refs read a transaction while a version streams


class VersionGone(Exception):
    """A version the listing named that the store can no longer give whole: dropped by retention, marked
    damaged by ``server check``, or a chunk missing or not matching its id. ``str()`` says which."""


@dataclass(frozen=True, slots=True)
class Item:
    """A folder or file of a subtree: its path in the folder, and for a file its size and content id."""

    path: str
    is_dir: bool
    size: int
    mtime_ns: int
    mode: int
    content_id: int | None


@dataclass(frozen=True, slots=True)
class Subtree:
    """The live folders and files strictly below a folder at one ``seq`` (symlinks left out): how many
    (``entries``, ``files``), the bytes of the files, and ``items`` in path order (a folder before what
    it holds), empty when ``entries`` passed the bound asked for."""

    seq: int
    entries: int
    files: int
    bytes: int
    items: list[Item]


def read_subtree(fs: FolderStore, dir: str, most: int) -> Subtree:
    """What is below folder ``dir`` of ``fs`` (``""``: the whole folder), in one read transaction; its
    items only when there are at most ``most`` entries. ``bad_path`` for a path that is not a wire path,
    ``not_found`` when ``dir`` is not a folder there (absent, a file, a symlink)."""
    check_wire_path(dir, root_ok=True)
    e = t.entries.c
    kinds = e.kind.in_((t.FILE, t.DIR))
    with fs.store.db.read() as conn:
        seq = int(conn.execute(sa.select(t.folders.c.seq).where(t.folders.c.id == fs.id)).scalar_one())
        if dir:
            row = Rows(conn, fs.id).get(dir)
            if row is None or row.kind != t.DIR:
                raise WireError("not_found", f"no folder {clip(dir)} in {clip(fs.folder.name)}",
                                "list the folder again: it may have moved", {"path": clip(dir)})
        where = sa.and_(e.folder_id == fs.id, below(dir), kinds)
        is_file = sa.case((e.kind == t.FILE, 1), else_=0)
        entries, files, size = conn.execute(sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(is_file), 0),
            sa.func.coalesce(sa.func.sum(sa.case((e.kind == t.FILE, e.size), else_=0)), 0)).where(where)).one()
        items: list[Item] = []
        if entries <= most:
            items = [Item(str(r.path), r.kind == t.DIR, int(r.size or 0), int(r.mtime_ns or 0), int(r.mode or 0),
                          None if r.content_id is None else int(r.content_id))
                     for r in conn.execute(sa.select(e.path, e.kind, e.size, e.mtime_ns, e.mode, e.content_id)
                                           .where(where).order_by(e.path))]
    return Subtree(seq, int(entries), int(files), int(size), items)


def open_version(fs: FolderStore, content_id: int) -> Iterator[bytes]:
    """The bytes of version ``content_id`` of ``fs``, a chunk at a time. :class:`VersionGone` at once when
    the store no longer keeps it or marks it damaged; later, from the iterator, when a chunk is missing or
    does not hash to its id, or the chunks end short of the version's size."""
    c = t.contents.c
    with fs.store.db.read() as conn:
        found = conn.execute(sa.select(c.size, c.damaged_ns).where(c.id == content_id, c.folder_id == fs.id)).first()
        if found is None:
            raise VersionGone("the server no longer keeps this version")
        if found.damaged_ns is not None:
            raise VersionGone("the server lost part of this version (found by its check)")
        first = contents.chunk_list(conn, content_id, 0, CHUNKS_PAGE)
    return _chunks(fs, content_id, int(found.size), first)


def _chunks(fs: FolderStore, content_id: int, size: int, page: list[ChunkRef]) -> Iterator[bytes]:
    done = position = 0
    while page:
        for ref in page:
            try:
                data = fs.store.chunks.read(fs.ns, ref.id)
                verify(ref.id, data)
            except FileNotFoundError:
                raise VersionGone(f"chunk {ref.id.hex()} is gone from the server") from None
            except BadChunk:
                raise VersionGone(f"chunk {ref.id.hex()} is damaged on the server") from None
            done += len(data)
            yield data
        position += len(page)
        if len(page) < CHUNKS_PAGE:
            break
        with fs.store.db.read() as conn:  # a dropped version's list is gone: the sizes below tell
            page = contents.chunk_list(conn, content_id, position, CHUNKS_PAGE)
    if done != size:
        raise VersionGone(f"the server holds {done} of this version's {size} bytes")
