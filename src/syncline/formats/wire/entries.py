"""Entries on the wire as rows under a column list (protocol.md section 5).

The server writes a row with :func:`row_of` (or :func:`tombstone_row`); a client reads rows by column
name with :class:`RowReader`, so a column added in a minor version breaks nothing. A row read becomes an
:class:`~syncline.core.entry.Entry` with ``file_id`` the server's id, ``etag`` ``"v<version>"`` and
``ctime_ns`` the version: the change counter that plays a local ctime's part in ``Entry.unchanged_since``.

Every row read is checked (a hostile or broken server is refused with ``bad_response``, never trusted):
the path as section 4 says, the kind, bounds, a file's digest, a symlink's target and length, a folder's
size of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from ...core.entry import DIR, FILE, KINDS, SYMLINK, Entry, Kind
from .errors import WireError, error_of_body
from .fields import bad, hex_id, integer, lst, obj, text
from .limits import MAX_FILE_SIZE, MAX_PAGE, MAX_STAT_PATHS
from .opsjson import MAX_FILE_ID
from .paths import check_target, check_wire_path

COLUMNS: tuple[str, ...] = ("path", "kind", "size", "mtime_ns", "mode", "digest", "target", "file_id", "version")
DELETED = "deleted"  # a tombstone's kind, only in a delta listing (since > 0)
MAX_COLUMNS = 64
RESP = "bad_response"


def etag_of(version: int) -> str:
    return f"v{version}"


def row_of(path: str, entry: Entry, version: int) -> list[Any]:
    """The row of ``entry`` at ``path`` under :data:`COLUMNS`, ``version`` its last change's sequence
    number. ``entry.file_id`` must be the server's (a ``str``)."""
    return [path, entry.kind, entry.size, entry.mtime_ns, entry.mode,
            entry.digest.hex() if entry.digest is not None else None, entry.target, str(entry.file_id), version]


def tombstone_row(path: str, file_id: str, version: int) -> list[Any]:
    """The row of a deleted path in a delta: every column null but ``path``, ``kind``, ``file_id``, ``version``."""
    return [path, DELETED, None, None, None, None, None, file_id, version]


class Row(NamedTuple):
    """A row read: ``entry`` None for a tombstone (``kind`` ``deleted``)."""

    path: str
    entry: Entry | None
    version: int


class RowReader:
    """Reads rows under a column list a server sent (``bad_response`` for anything malformed).

    ``columns`` must name every column of :data:`COLUMNS` once (others are ignored); ``tombstones``:
    whether ``deleted`` rows may appear (a delta listing) or not (a full listing, a stat); ``root_ok``:
    whether the root's row (path ``""``, a folder) may appear (a stat).
    """

    def __init__(self, columns: object, *, tombstones: bool = False, root_ok: bool = False) -> None:
        cols = lst(columns, "columns", RESP, MAX_COLUMNS)
        if not all(isinstance(c, str) for c in cols) or len(set(cols)) != len(cols):
            raise bad(RESP, "columns", "not distinct strings")
        missing = [c for c in COLUMNS if c not in cols]
        if missing:
            raise bad(RESP, "columns", f"{', '.join(missing)} missing")
        self._at = tuple(cols.index(c) for c in COLUMNS)
        self._width = len(cols)
        self._tombstones = tombstones
        self._root_ok = root_ok

    def __call__(self, row: object, where: str = "row") -> Row:
        if not isinstance(row, list) or len(row) != self._width:
            raise bad(RESP, where, f"not a list of {self._width} values")
        path, kind, size, mtime, mode, digest, target, file_id, version = (row[i] for i in self._at)
        try:
            path = check_wire_path(path, root_ok=self._root_ok)
            if target is not None:
                target = check_target(target)
        except WireError as e:
            raise bad(RESP, f"{where}.path", e.message) from None
        version = integer(version, f"{where}.version", RESP, 1)
        file_id = text(file_id, f"{where}.file_id", RESP, MAX_FILE_ID)
        if kind == DELETED and self._tombstones:
            return Row(path, None, version)
        if kind not in KINDS:
            raise bad(RESP, f"{where}.kind", "not file, dir or symlink")
        size = integer(size, f"{where}.size", RESP, 0, MAX_FILE_SIZE)
        mtime = integer(mtime, f"{where}.mtime_ns", RESP)
        mode = integer(mode, f"{where}.mode", RESP, 0, 0o7777)
        raw_digest = hex_id(digest, f"{where}.digest", RESP) if kind == FILE else None
        if (kind != FILE and digest is not None) or (kind != SYMLINK and target is not None):
            raise bad(RESP, where, f"a {kind} with a digest or a target")
        if kind == SYMLINK and (target is None or size != len(target.encode("utf-8"))):
            raise bad(RESP, where, "a symlink whose size is not its target's length")
        if (kind == DIR and size != 0) or (path == "" and kind != DIR):
            raise bad(RESP, where, "a folder with a size, or a root that is not a folder")
        entry = Entry(cast(Kind, kind), size, mtime, mode, raw_digest, target, file_id, version,
                      etag=etag_of(version))
        return Row(path, entry, version)


def entry_of(row: object, columns: Sequence[str] = COLUMNS) -> tuple[str, Entry]:
    """(path, Entry) of one row (no tombstone) under ``columns``; for many rows make one :class:`RowReader`."""
    path, entry, _ = RowReader(list(columns))(row)
    if entry is None:  # pragma: no cover - a reader without tombstones refuses them
        raise bad(RESP, "row", "a tombstone")
    return path, entry


class EntriesPage(NamedTuple):
    seq: int
    rows: list[Row]
    next: int
    more: bool
    next_path: str | None = None


def entries_page_of_json(value: object, since: int, after: str | None = None) -> EntriesPage:
    """A page of ``GET .../entries?since=[&after=]`` (tombstones only when ``since`` > 0). Refused: more
    than 10,000 rows, rows not in increasing (version, path) order from past the cursor (``since``,
    ``after``) up to ``seq``, ``next`` not the last row's version, ``more`` without ``next_path`` the last
    row's path."""
    o = obj(value, "body", RESP)
    seq = integer(o.get("seq"), "seq", RESP, 0)
    read = RowReader(o.get("columns"), tombstones=since > 0)
    rows = [read(r, f"rows[{i}]") for i, r in enumerate(lst(o.get("rows"), "rows", RESP, MAX_PAGE))]
    last: tuple[int, str] | None = (since, after) if after is not None else None
    for r in rows:
        key = (r.version, r.path)
        if r.version < since or (after is None and r.version == since) or r.version > seq or (
                last is not None and key <= last):
            raise bad(RESP, "rows", "not in (version, path) order from past the cursor up to seq")
        last = key
    nxt = integer(o.get("next"), "next", RESP, 0)
    more = o.get("more")
    next_path = o.get("next_path")
    if type(more) is not bool or (rows and nxt != rows[-1].version) or (not rows and more):
        raise bad(RESP, "next", "not the last row's version, or more without rows")
    if more and next_path != rows[-1].path:
        raise bad(RESP, "next_path", "not the last row's path")
    return EntriesPage(seq, rows, nxt, more, rows[-1].path if more else None)


def stat_items_of_json(value: object, count: int) -> tuple[int, list[Row | WireError | None]]:
    """(seq, items) of a ``stat`` answer to ``count`` paths: a row, None (not there), or the path's error."""
    o = obj(value, "body", RESP)
    seq = integer(o.get("seq"), "seq", RESP, 0)
    read = RowReader(o.get("columns"), root_ok=True)
    items = lst(o.get("items"), "items", RESP, MAX_STAT_PATHS)
    if len(items) != count:
        raise bad(RESP, "items", f"not {count} items")
    out: list[Row | WireError | None] = []
    for i, item in enumerate(items):
        if item is None:
            out.append(None)
        elif isinstance(item, dict):
            out.append(error_of_body(item))
        else:
            out.append(read(item, f"items[{i}]"))
    return seq, out
