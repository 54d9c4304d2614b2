"""The rules every index file record must follow, shared by the writer and the reader of ``indexfile``.

A broken rule raises :class:`RecordError`; the reader turns it into an :class:`IndexFormatError` (a corrupt or
hostile file) and the writer into a ``ValueError`` (a bug: it must never write what the reader rejects).
The format itself is specified in ``docs/formats/index.md``.
"""

from __future__ import annotations

import os
from typing import Any

from ..core.entry import DIGEST_SIZE, KINDS, Chunk, Entry
from ..core.errors import IndexFormatError
from ..core.index import IndexHeader
from ..core.paths import MAX_NAME_BYTES, MAX_PATH_BYTES, check_relpath
from ..core.times import is_time, unpack_time

RECORD_FIELDS = 11
MAX_ENTRIES = 200_000_000
MAX_CHUNKS = 1 << 20  # per file
MAX_HEADER_KEYS = 64
MAX_TEXT = 4096  # bytes of the header's host and tool strings
HEADER_KEYS = frozenset(
    {"format", "version", "root", "host", "scanned_ns", "digests", "hash", "chunker", "tool", "unreadable", "root_meta"}
)
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1
_FILE, _DIR, _SYMLINK = KINDS


class RecordError(Exception):
    """A decoded record breaks a rule: a corrupt file when reading, a ``ValueError`` when writing."""


def _is_int(v: Any, lo: int, hi: int) -> bool:
    return type(v) is int and lo <= v <= hi


def parse_header(head: dict[str, Any], version: int, wide: bool = False
                 ) -> tuple[IndexHeader, frozenset[str], Entry | None]:
    """Check a decoded header map (all v1 keys present with their types; unknown keys are ignored).

    ``wide``: the file has the wide-times flag, so the root's times may be ``[seconds, nanoseconds]``.
    """
    if head.get("format") != "syncline-index":
        raise RecordError("missing header (no 'format': 'syncline-index')")

    def get(key: str, types: type | tuple[type, ...]) -> Any:
        if key not in head:
            raise RecordError(f"bad header (no {key!r})")
        value = head[key]
        if type(value) not in (types if isinstance(types, tuple) else (types,)):
            raise RecordError(f"bad header ({key!r} has the wrong type)")
        return value

    if get("version", int) != version:
        raise RecordError(f"header version {head['version']!r} differs from the file's v{version}")
    scanned_ns = get("scanned_ns", int)
    if not _INT64_MIN <= scanned_ns <= _INT64_MAX:
        raise RecordError("bad header ('scanned_ns' out of range)")
    hash_name = get("hash", str)
    if hash_name != "blake3":
        raise RecordError(f"unknown hash {hash_name!r}")
    chunker = get("chunker", (dict, type(None)))
    if chunker is not None and (
        len(chunker) > MAX_HEADER_KEYS
        or not all(type(k) is str and len(k) <= MAX_NAME_BYTES and _is_int(v, 0, _UINT64_MAX)
                   for k, v in chunker.items())
    ):
        raise RecordError("bad header ('chunker' must map at most 64 names to integers)")
    root_b = get("root", bytes)
    if len(root_b) > MAX_PATH_BYTES or b"\0" in root_b:
        raise RecordError("bad header ('root' must be at most 4096 bytes, no NUL)")
    host, tool = get("host", str), get("tool", str)
    if len(host.encode()) > MAX_TEXT or len(tool.encode()) > MAX_TEXT:
        raise RecordError(f"bad header ('host' and 'tool' must be at most {MAX_TEXT} bytes)")
    header = IndexHeader(
        root=os.fsdecode(root_b),
        host=host,
        scanned_ns=scanned_ns,
        digests=get("digests", bool),
        hash=hash_name,
        chunker=chunker,
        tool=tool,
    )
    unreadable: list[str] = []
    prev: bytes | None = None
    listed = get("unreadable", list)
    if len(listed) > MAX_ENTRIES:
        raise RecordError("bad header (too many unreadable paths)")
    for p in listed:
        if not unreadable_ok(p, prev):
            raise RecordError(f"bad header (bad unreadable path {p!r}: "
                              "distinct relative paths as bytes, in byte order)")
        unreadable.append(os.fsdecode(p))
        prev = p
    meta = get("root_meta", (list, type(None)))
    root = None
    if meta is not None:
        mtime = ctime = None
        if len(meta) == 4:
            mtime, ctime = unpack_time(meta[1], wide), unpack_time(meta[3], wide)
        if (
            mtime is None
            or ctime is None
            or not _is_int(meta[0], 0, 0o7777)
            or not _is_int(meta[2], 0, _UINT64_MAX)
        ):
            raise RecordError("bad header ('root_meta' must be [mode, mtime_ns, inode, ctime_ns])")
        root = Entry(_DIR, 0, mtime, meta[0], file_id=meta[2], ctime_ns=ctime)
    return header, frozenset(unreadable), root


def unreadable_ok(p: Any, prev: bytes | None) -> bool:
    """Whether ``p`` may follow ``prev`` in the header's unreadable list (b"" is the root itself)."""
    if type(p) is not bytes or (prev is not None and p <= prev):
        return False
    if p:
        try:
            check_relpath(os.fsdecode(p))
        except IndexFormatError:
            return False
    return True


def _bad_path(path_b: bytes, why: str) -> RecordError:
    return RecordError(f"{why}: {os.fsdecode(path_b)!r}")


def entry_of_record(rec: list[Any], prev: bytes, dirs: set[bytes]) -> tuple[bytes, Entry]:
    """Check one decoded entry record (see ``check_record``) and make its (path bytes, Entry)."""
    path_b, chunks = check_record(rec, prev, dirs)
    return path_b, entry_of_checked(rec, chunks)


def entry_of_checked(rec: list[Any], chunks: tuple[Chunk, ...] | None) -> Entry:
    """The Entry of a record that ``check_record`` accepted (``chunks`` as it returned them)."""
    _, _, kcode, mode, size, mtime, digest, target, inode, ctime, _ = rec
    if kcode == 0:
        return Entry(_FILE, size, mtime, mode, digest, None, inode, ctime, chunks)
    if kcode == 1:
        return Entry(_DIR, 0, mtime, mode, None, None, inode, ctime)
    return Entry(_SYMLINK, size, mtime, mode, None, os.fsdecode(target), inode, ctime)


def check_record(rec: list[Any], prev: bytes, dirs: set[bytes]) -> tuple[bytes, tuple[Chunk, ...] | None]:
    """Check one decoded entry record against the previous path and the directories seen so far.

    Returns (path bytes, parsed chunks) and adds the path to ``dirs`` when it is a directory. ``rec`` has
    ``RECORD_FIELDS`` values, its times decoded to ints (any time a file system can hold; whether the file
    may hold wide ones is the caller's check); the chunk list is None or a tuple of :class:`Chunk`.
    """
    shared, suffix, kcode, mode, size, mtime, digest, target, inode, ctime, chunks = rec
    if type(shared) is not int or not 0 <= shared <= len(prev) or type(suffix) is not bytes:
        raise RecordError("bad path encoding")
    path_b = prev[:shared] + suffix
    # Byte order: the path must sort after the previous one.
    if path_b <= prev:
        if path_b == prev:
            raise _bad_path(path_b, "duplicate path" if path_b else "empty path")
        raise _bad_path(path_b, "path out of byte order")
    if len(path_b) > MAX_PATH_BYTES:
        raise RecordError(f"path of {len(path_b)} bytes is too long")
    # The parent, if any, is a directory entry already checked: only the last name needs checking.
    cut = path_b.rfind(b"/")
    name = path_b[cut + 1 :]
    if not name or name == b"." or name == b".." or b"\0" in name or len(name) > MAX_NAME_BYTES:
        raise _bad_path(path_b, "invalid path")
    if cut >= 0 and path_b[:cut] not in dirs:
        try:
            check_relpath(os.fsdecode(path_b))
        except IndexFormatError:
            raise _bad_path(path_b, "invalid path") from None
        raise _bad_path(path_b, "the parent is not a directory entry before it (missing, or a file or symlink)")
    if not (
        type(mode) is int
        and 0 <= mode <= 0o7777
        and type(size) is int
        and 0 <= size <= _INT64_MAX
        and is_time(mtime)
        and is_time(ctime)
        and type(inode) is int
        and 0 <= inode <= _UINT64_MAX
    ):
        raise _bad_numbers(path_b, mode, size, mtime, ctime, inode)
    if type(kcode) is not int:
        raise _bad_path(path_b, f"bad entry kind {kcode!r}")
    if kcode == 0:  # file
        if target is not None:
            raise _bad_path(path_b, "a file has a symlink target")
        if digest is not None and (type(digest) is not bytes or len(digest) != DIGEST_SIZE):
            raise _bad_path(path_b, f"bad digest (a file's {DIGEST_SIZE}-byte BLAKE3 or nil)")
        parsed_chunks = None
        if chunks is not None:
            if type(chunks) is not tuple or len(chunks) > MAX_CHUNKS:
                raise _bad_path(path_b, f"bad chunk list (at most {MAX_CHUNKS} chunks)")
            for c in chunks:
                if type(c) is not Chunk or not chunk_ok([c.length, c.digest]):
                    raise _bad_path(path_b, "bad chunk (must be [length > 0, 32-byte digest])")
            if sum(c.length for c in chunks) != size:
                raise _bad_path(path_b, "chunk lengths do not add up to the file size")
            parsed_chunks = chunks
        return path_b, parsed_chunks
    if kcode != 1 and kcode != 2:
        raise _bad_path(path_b, f"bad entry kind {kcode!r}")
    kind = KINDS[kcode]
    if digest is not None:
        raise _bad_path(path_b, f"a {kind} has a digest")
    if chunks is not None:
        raise _bad_path(path_b, f"a {kind} has a chunk list")
    if kcode == 1:  # dir
        if target is not None:
            raise _bad_path(path_b, "a dir has a symlink target")
        if size != 0:
            raise _bad_path(path_b, "a dir with a size other than 0")
        dirs.add(path_b)
        return path_b, None
    if type(target) is not bytes or not target or b"\0" in target or len(target) > MAX_PATH_BYTES:
        raise _bad_path(path_b, "bad symlink target (1 to 4096 bytes, no NUL)")
    if size != len(target):
        raise _bad_path(path_b, "symlink size differs from its target's length")
    return path_b, None


def _bad_numbers(path_b: bytes, mode: Any, size: Any, mtime: Any, ctime: Any, inode: Any) -> RecordError:
    if not _is_int(mode, 0, 0o7777):
        return _bad_path(path_b, f"bad mode {mode!r} (permission bits 0 to 0o7777 only)")
    if not _is_int(size, 0, _INT64_MAX):
        return _bad_path(path_b, f"bad size {size!r}")
    if not _is_int(inode, 0, _UINT64_MAX):
        return _bad_path(path_b, f"bad inode {inode!r}")
    return _bad_path(path_b, f"bad time (mtime {mtime!r}, ctime {ctime!r})")


def chunk_ok(c: Any) -> bool:
    """Whether a decoded chunk is [length > 0 (int64), 32-byte digest]."""
    return (
        type(c) is list
        and len(c) == 2
        and _is_int(c[0], 1, _INT64_MAX)
        and type(c[1]) is bytes
        and len(c[1]) == DIGEST_SIZE
    )


# ---------------------------------------------------------------------------------------------- files
