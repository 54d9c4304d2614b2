"""One folder's entry rows: what a path is, as the store reads and writes it inside a transaction.

A path is a row keyed by (folder, path); a tombstone (kind ``deleted``) keeps a removed path's last version
for deltas until the history window lets it go. Below a folder means the byte range ``path + "/"`` to
``path + "0"`` (``/`` is 0x2F, ``0`` the next byte), so no client text ever becomes a ``LIKE`` pattern.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ...core.entry import DIR, FILE, SYMLINK, Entry, Kind
from ...core.paths import parent
from . import schema as t
from .raw import Raw

if TYPE_CHECKING:
    from .davstate import TreeMarks

_KINDS: dict[str, Kind] = {t.FILE: FILE, t.DIR: DIR, t.SYMLINK: SYMLINK}


@dataclass(frozen=True, slots=True)
class Row:
    """An entry as the protocol lists it (section 5): ``kind`` is ``file``, ``dir``, ``symlink``, or
    ``deleted`` (a tombstone: only ``path``, ``file_id`` and ``version`` mean anything)."""

    path: str
    kind: str
    size: int
    mtime_ns: int
    mode: int
    digest: bytes | None
    target: str | None
    file_id: str
    version: int
    content_id: int | None = None

    def entry(self) -> Entry:
        """The row as an ``Entry``: ``file_id`` the server's id, ``ctime_ns`` the version (a change
        counter: what ``Entry.unchanged_since`` compares as ctime), ``etag`` ``"v<version>"``."""
        kind = _KINDS[self.kind]
        return Entry(kind, self.size, self.mtime_ns, self.mode, self.digest, self.target, self.file_id,
                     self.version, etag=f"v{self.version}")


def row_of(r: sa.Row[tuple[object, ...]]) -> Row:
    m = r._mapping
    return Row(m["path"], m["kind"], m["size"] or 0, m["mtime_ns"] or 0, m["mode"] or 0, m["digest"], m["target"],
               m["file_id"], m["version"], m["content_id"])


def nfc_name(path: str) -> str:
    return unicodedata.normalize("NFC", path.rpartition("/")[2])


def below(path: str) -> sa.ColumnElement[bool]:
    """Every path strictly below folder ``path`` (the root: every path)."""
    if not path:
        return sa.true()
    return sa.and_(t.entries.c.path > path + "/", t.entries.c.path < path + "0")


_COLUMNS = "path, kind, size, mtime_ns, mode, digest, target, file_id, version, content_id"


def row_from(r: tuple[object, ...]) -> Row:
    path, kind, size, mtime_ns, mode, digest, target, file_id, version, content_id = r
    return Row(str(path), str(kind), int(size or 0), int(mtime_ns or 0), int(mode or 0),  # type: ignore[call-overload]
               bytes(digest) if digest is not None else None, target, str(file_id), int(version),  # type: ignore[arg-type, call-overload]
               int(content_id) if content_id is not None else None)  # type: ignore[call-overload]


class Rows:
    """Reads and writes of one folder's rows inside the caller's transaction (the per-item hot path: plain
    SQL on the driver, see :mod:`.raw`)."""

    def __init__(self, conn: sa.Connection, folder_id: int, marks: TreeMarks | None = None) -> None:
        self.raw = Raw(conn)
        self.folder_id = folder_id
        self.marks = marks  # told of every path written (the writer's: folder ETags follow)

    def get(self, path: str) -> Row | None:
        """The live row at ``path``; None when absent (or a tombstone)."""
        r = self.raw.one(f"SELECT {_COLUMNS} FROM entries WHERE folder_id = :f AND path = :p AND kind != 'deleted'",
                         {"f": self.folder_id, "p": path})
        return row_from(r) if r is not None else None

    def blocker(self, path: str) -> Row | None:
        """The nearest live ancestor of ``path`` that is not a folder (a file or symlink on the way), if any;
        None when every ancestor that exists is a folder."""
        up = parent(path)
        while up:
            row = self.get(up)
            if row is not None:
                return row if row.kind != t.DIR else None
            up = parent(up)
        return None

    def has_children(self, path: str) -> bool:
        return self.raw.one("SELECT 1 FROM entries WHERE folder_id = :f AND parent = :p AND kind != 'deleted' LIMIT 1",
                            {"f": self.folder_id, "p": path}) is not None

    def twin(self, path: str, *besides: str) -> str | None:
        """Another live name in ``path``'s folder with the same NFC form (besides ``besides``), or None."""
        for (other,) in self.raw.all(
                "SELECT path FROM entries WHERE folder_id = :f AND parent = :p AND name_nfc = :n AND kind != 'deleted'",
                {"f": self.folder_id, "p": parent(path), "n": nfc_name(path)}):
            if other != path and other not in besides:
                return str(other)
        return None

    def below(self, path: str) -> list[Row]:
        """The live rows strictly below folder ``path``, in path order."""
        return [row_from(r) for r in self.raw.all(
            f"SELECT {_COLUMNS} FROM entries WHERE folder_id = :f AND path > :lo AND path < :hi "
            "AND kind != 'deleted' ORDER BY path", {"f": self.folder_id, "lo": path + "/", "hi": path + "0"})]

    def put(self, row: Row) -> None:
        """Write ``row`` at its path, replacing whatever row (live or tombstone) was there."""
        if self.marks is not None:  # the folders on the way (and a folder written itself) changed
            self.marks.changed(row.path if row.kind == t.DIR else parent(row.path))
        self.raw.run("DELETE FROM entries WHERE folder_id = :f AND path = :p", {"f": self.folder_id, "p": row.path})
        self.raw.run(f"INSERT INTO entries (folder_id, parent, name_nfc, {_COLUMNS}) VALUES (:f, :parent, :nfc, "
                     ":path, :kind, :size, :mtime_ns, :mode, :digest, :target, :file_id, :version, :content_id)",
                     {"f": self.folder_id, "parent": parent(row.path), "nfc": nfc_name(row.path), "path": row.path,
                      "kind": row.kind, "size": row.size, "mtime_ns": row.mtime_ns, "mode": row.mode,
                      "digest": row.digest, "target": row.target, "file_id": row.file_id, "version": row.version,
                      "content_id": row.content_id})

    def bury(self, path: str, file_id: str, version: int) -> None:
        """Replace the row at ``path`` by a tombstone of ``version``."""
        self.put(Row(path, t.DELETED, 0, 0, 0, None, None, file_id, version))
