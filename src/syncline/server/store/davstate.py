"""What WebDAV needs of a folder's rows beyond the native protocol (issue 15, schema step 8): each folder's
``tree_version``, the numeric file ids, and the contents' SHA1.

**Folder ETags.** A WebDAV client (the ownCloud and Nextcloud desktop clients, our own WebDAV replica)
lists a folder again only when its ETag changed, so a folder's ETag must change whenever anything at or
below it changes, and only then. The ETag is ``"t<tree_version>"``: the highest version written at or
below the folder. :class:`TreeMarks` collects, item by item, the paths a batch changed (both ends of a
move), and at the batch's end raises ``tree_version`` of every folder row on their way to the batch's
last version, in one statement per 500 folders. Never lowered: pruning a tombstone leaves it, so an ETag
a client holds never comes back for a tree that changed. Computing ``max(version)`` over the subtree at
each PROPFIND was rejected: O(subtree) per request, and wrong once a tombstone is pruned.

**Checksums.** ``content_sums`` maps a BLAKE3 digest to the SHA1 and MD5 of the same bytes, written only
by the server from bytes it hashed every way at once (:func:`add_sums`): WebDAV's ``oc:checksums``, which
the desktop clients compare instead of mtimes (SHA1) and rclone's ``check`` compares (MD5).

**File ids.** ``oc:fileid`` is a number; the store's ``file_id`` is text. ``dav_ids`` numbers each
(folder, file_id) once, when the Applier first writes it (the folder's root is file_id ``""``, made with
the folder), so the number follows the file across renames and edits, as ``file_id`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...core.paths import parent
from .raw import Raw
from .rows import Row, row_from

ROOT_FILE_ID = ""  # the folder's root in dav_ids (no entry row has an empty file_id)
_BATCH = 500  # folders per UPDATE (SQLite's bound on parameters is far above)


@dataclass(frozen=True, slots=True)
class DavRow:
    """One resource as WebDAV shows it: the live ``row`` (a folder's root: its ``root_row``, path ``""``),
    its stable number ``fileid``, ``tree_version`` (a folder: the highest version at or below it, the
    root's: the folder's seq; a file or symlink: its own version), and the content's ``sha1`` when known
    (None: not computed yet, so no checksum is announced for it)."""

    row: Row
    fileid: int
    tree_version: int
    sha1: bytes | None = None
    md5: bytes | None = None

    @property
    def etag(self) -> str:
        """The ETag without quotes: ``v<version>`` for a file (the native protocol's), ``t<tree_version>``
        for a folder."""
        return f"t{self.tree_version}" if self.row.kind == "dir" else f"v{self.row.version}"


class TreeMarks:
    """The paths one batch changed, and the file ids it made; :meth:`flush` writes both at the batch's
    end, inside its transaction."""

    def __init__(self) -> None:
        self.folders: set[str] = set()
        self.file_ids: set[str] = set()
        self._item: list[tuple[set[str], str]] = []  # what the current item added, to take back

    def changed(self, path: str) -> None:
        """The folder ``path`` changed (a row in it, or it, was written), and so did every folder above it."""
        while path and path not in self.folders:
            self.folders.add(path)
            self._item.append((self.folders, path))
            path = parent(path)

    def made(self, file_id: str) -> None:
        if file_id and file_id not in self.file_ids:
            self.file_ids.add(file_id)
            self._item.append((self.file_ids, file_id))

    def begin_item(self) -> None:
        self._item.clear()

    def undo_item(self) -> None:
        """The current item was rolled back: what it marked did not change (no ETag moves for it)."""
        for marked, value in self._item:
            marked.discard(value)
        self._item.clear()

    def flush(self, raw: Raw, folder_id: int, version: int) -> None:
        """Raise the marked folders' ``tree_version`` to ``version`` (the batch's last) and number the new
        file ids. Paths that are not folder rows (files, tombstones) are left as they are."""
        paths = sorted(self.folders)
        for start in range(0, len(paths), _BATCH):
            names, params = raw.in_list("p", paths[start : start + _BATCH])
            raw.run(f"UPDATE entries SET tree_version = :v WHERE folder_id = :f AND kind = 'dir' AND path IN ({names})"
                    " AND (tree_version IS NULL OR tree_version < :v)", {"v": version, "f": folder_id, **params})
        add_ids(raw, folder_id, self.file_ids)
        self.folders.clear()
        self.file_ids.clear()


def add_ids(raw: Raw, folder_id: int, file_ids: Iterable[str]) -> None:
    """Number each of ``file_ids`` in the folder unless it has its number already."""
    raw.many("INSERT INTO dav_ids (folder_id, file_id) VALUES (:f, :i) ON CONFLICT (folder_id, file_id) DO NOTHING",
             ({"f": folder_id, "i": i} for i in sorted(file_ids)))


_DAV_COLUMNS = ("e.path, e.kind, e.size, e.mtime_ns, e.mode, e.digest, e.target, e.file_id, e.version, e.content_id,"
                " e.tree_version, d.id, s.sha1, s.md5")
_DAV_FROM = ("FROM entries e LEFT JOIN dav_ids d ON d.folder_id = e.folder_id AND d.file_id = e.file_id"
             " LEFT JOIN content_sums s ON s.digest = e.digest AND e.kind = 'file'")


def _dav_row(r: tuple[object, ...]) -> DavRow:
    row = row_from(r[:10])
    tree_version, fileid, sha1, md5 = r[10], r[11], r[12], r[13]
    if fileid is None:  # every writer numbers what it writes (TreeMarks), and step 8 what was there
        raise RuntimeError(f"the store holds no WebDAV id for {row.path!r}: run `syncline server check`")
    tree = int(tree_version) if row.kind == "dir" and tree_version is not None else row.version  # type: ignore[call-overload]
    return DavRow(row, int(fileid), tree, bytes(sha1) if sha1 is not None else None,  # type: ignore[call-overload]
                  bytes(md5) if md5 is not None else None)  # type: ignore[call-overload]


def dav_rows(raw: Raw, folder_id: int, path: str, depth: int, root: Row, seq: int) -> list[DavRow] | None:
    """``path`` (``""``: the folder's root, given as ``root`` with ``seq`` as its tree version) then, with
    ``depth`` 1 and a folder there, its live children in path order; None when nothing lives at ``path``.
    Runs in the caller's (read) transaction, so the listing is one moment's."""
    if path:
        r = raw.one(f"SELECT {_DAV_COLUMNS} {_DAV_FROM} WHERE e.folder_id = :f AND e.path = :p AND e.kind != 'deleted'",
                    {"f": folder_id, "p": path})
        if r is None:
            return None
        first = _dav_row(r)
    else:
        got = raw.one("SELECT id FROM dav_ids WHERE folder_id = :f AND file_id = :i",
                      {"f": folder_id, "i": ROOT_FILE_ID})
        if got is None:
            raise RuntimeError("the store holds no WebDAV id for the folder's root: run `syncline server check`")
        first = DavRow(root, int(got[0]), seq)
    if depth == 0 or first.row.kind != "dir":
        return [first]
    children = raw.all(f"SELECT {_DAV_COLUMNS} {_DAV_FROM} WHERE e.folder_id = :f AND e.parent = :p"
                       " AND e.kind != 'deleted' ORDER BY e.path", {"f": folder_id, "p": path})
    return [first, *(_dav_row(r) for r in children)]


def add_sums(raw: Raw, digest: bytes, sha1: bytes, md5: bytes) -> None:
    """Record that the bytes of BLAKE3 ``digest`` have SHA1 ``sha1`` and MD5 ``md5`` (all computed by the
    server from the same bytes: never a client's word)."""
    if len(digest) != 32 or len(sha1) != 20 or len(md5) != 16:
        raise ValueError("a BLAKE3 digest is 32 bytes, a SHA1 20 and an MD5 16")
    raw.run("INSERT INTO content_sums (digest, sha1, md5) VALUES (:d, :s, :m) ON CONFLICT (digest) DO NOTHING",
            {"d": digest, "s": sha1, "m": md5})
