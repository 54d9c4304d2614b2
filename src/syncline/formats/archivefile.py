"""Delta archives, format v1 (``.slar``): what brings a far tree from the state of its index to a source's.

Layout (the spec is ``docs/formats/archive.md``)::

    magic    8 bytes   b"SLARC\\r\\n\\x1a"
    version  u16 BE    1
    flags    u16 BE    0, or 1 (FLAG_WIDE_TIMES) when a time needs more than 64 bits
    body     one zstd frame holding a msgpack stream: a header map, one op per changed path in byte order
             of path (each content op followed by its content run), then an end map {"end": <op count>}
    trailer  32 bytes  BLAKE3 of every byte before the trailer

An op is ``[shared, suffix, expect, entry, content]``: the path (prefix-compressed as in index files), the
entry the far side is expected to hold there now (nil: absent), the entry it should hold afterwards (nil:
delete), and how the content comes: 0 none (a directory, a symlink, a delete, or metadata only), 1 whole
(the bytes follow), 2 delta (the bytes follow, mixed with ``[offset, length]`` ranges to copy from the
far side's current version, ``expect``). A content run is a sequence of bin pieces (1..``MAX_PIECE``
bytes) and, in a delta, ranges, ended by nil; the lengths add up to the entry's size exactly.

Entries are ``[kind, mode, size, mtime_ns, digest, target]`` (kind 0 file, 1 dir, 2 symlink). A file that
gets content carries its BLAKE3 digest: the applying side checks what it rebuilt against it. A time is an
int64; in an archive with FLAG_WIDE_TIMES, a time beyond int64 (after 2262, before 1677) is the pair
[seconds, nanoseconds] (``core/times.py``). Archives without such times keep flags 0 for older readers.

Both directions stream: the writer never holds more than a piece, the reader never decodes more than
``MAX_PIECE`` bytes at a time, and a file's bytes are handed out piece by piece. Everything is checked as
it is read (shapes, types, path rules, byte order, sizes, ranges, the op count, the checksum), and no op
may sit below a path an earlier op turns into a file, a symlink or nothing, unless it is a delete: so an
archive cannot make a symlink and then write through it. Any failure is an :class:`ArchiveFormatError`.
A consumer must not act on anything until iteration has finished without error (:mod:`engine.offline.apply`
reads an archive twice: once to verify and stage, once to apply).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, Any, BinaryIO

import msgpack
import zstandard

from ..core.entry import DIGEST_SIZE, DIR, FILE, KINDS, SYMLINK, Entry
from ..core.errors import ArchiveFormatError
from ..core.paths import MAX_NAME_BYTES, MAX_PATH_BYTES, META_DIR
from ..core.times import fits, pack_time, unpack_time
from .framing import PREAMBLE, ZSTD_LEVEL, Body, Decoding, HashingWriter, container

MAGIC = b"SLARC\r\n\x1a"
VERSION = 1
FLAG_WIDE_TIMES = 0x0001  # some time is stored as [seconds, nanoseconds]: readers before it refuse the file
KNOWN_FLAGS = FLAG_WIDE_TIMES
MAX_PIECE = 1 << 20  # bytes of content in one bin piece
MAX_OBJECT = MAX_PIECE + 16  # the largest single msgpack value the reader decodes
MAX_OPS = 50_000_000
MAX_HEADER_KEYS = 64
MAX_TEXT = 4096
NONE, WHOLE, DELTA = 0, 1, 2
OP_FIELDS = 5
ENTRY_FIELDS = 6
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
COMPARES = ("mtime", "size", "hash")
_META = os.fsencode(META_DIR)  # the root's .syncline: the trash, the catalog, the apply log; never synced
MAX_PATH_TOTAL = 512 << 20  # decoded path bytes of all ops: prefix compression makes long paths cheap to send

Piece = bytes | tuple[int, int]  # literal bytes, or (offset, length) to copy from the far side's version


@dataclass(frozen=True, slots=True)
class IndexRef:
    """Which index an archive was made against: where and when it was taken, and its checksum."""

    root: str
    host: str
    scanned_ns: int
    id: bytes  # the index file's BLAKE3 trailer (32 bytes); all zero when made against no file

    def to_msgpack(self) -> dict[str, Any]:
        return {"root": os.fsencode(self.root), "host": _text(self.host), "scanned_ns": self.scanned_ns,
                "id": self.id}


@dataclass(frozen=True, slots=True)
class ArchiveHeader:
    """What an archive says about itself. ``content_bytes`` is the total size of the files it writes
    (what applying it needs on disk at most, and what bounds its decompressed size); ``source`` is the
    tree it brings the far side to."""

    source: IndexRef
    against: IndexRef
    delete: bool
    compare: str
    ops: int
    content_bytes: int
    created_ns: int
    tool: str = ""
    label: str = ""
    root_mtime_ns: int | None = None  # the source root's mtime, restored when the root's listing changes


@dataclass(frozen=True, slots=True)
class ArchiveOp:
    """One path of an archive: ``expect`` (the far side now, None: absent) -> ``entry`` (None: delete)."""

    path: str
    expect: Entry | None
    entry: Entry | None
    content: int = NONE

    @property
    def kind(self) -> str:
        """What the op does, in a word: create, update, delete, meta, mkdir, symlink."""
        e, x = self.entry, self.expect
        if e is None:
            return "delete"
        if e.kind == DIR:
            return "mkdir" if x is None or x.kind != DIR else "meta"
        if e.kind == SYMLINK:
            return "symlink"
        if self.content == NONE:
            return "meta"
        return "create" if x is None else "update"


# ---------------------------------------------------------------------------------------------- rules


class _Bad(Exception):
    """A rule is broken: the reader's ArchiveFormatError, the writer's ValueError."""


def _is_int(v: Any, lo: int, hi: int) -> bool:
    return type(v) is int and lo <= v <= hi


def _entry_of(rec: Any, what: str, wide: bool = False) -> Entry | None:
    """The Entry of a decoded entry record; ``wide``: the archive has FLAG_WIDE_TIMES."""
    if rec is None:
        return None
    if type(rec) is not list or len(rec) != ENTRY_FIELDS:
        raise _Bad(f"bad {what} (not a {ENTRY_FIELDS}-field array)")
    kcode, mode, size, mtime, digest, target = rec
    mtime = unpack_time(mtime, wide)
    if not (_is_int(kcode, 0, 2) and _is_int(mode, 0, 0o7777) and _is_int(size, 0, _INT64_MAX)
            and mtime is not None):
        raise _Bad(f"bad {what} (kind, mode, size or mtime out of range)")
    kind = KINDS[kcode]
    if digest is not None and (kind != FILE or type(digest) is not bytes or len(digest) != DIGEST_SIZE):
        raise _Bad(f"bad {what} digest (a file's {DIGEST_SIZE}-byte BLAKE3 or nil)")
    if kind == SYMLINK:
        if type(target) is not bytes or not target or b"\0" in target or len(target) > MAX_PATH_BYTES:
            raise _Bad(f"bad {what} symlink target (1 to 4096 bytes, no NUL)")
        if size != len(target):
            raise _Bad(f"bad {what}: symlink size differs from its target's length")
        return Entry(SYMLINK, size, mtime, mode, None, os.fsdecode(target))
    if target is not None:
        raise _Bad(f"bad {what}: only a symlink has a target")
    if kind == DIR and size:
        raise _Bad(f"bad {what}: a directory with a size")
    return Entry(kind, size, mtime, mode, digest)


def _record_of(e: Entry | None) -> list[Any] | None:
    if e is None:
        return None
    return [_KIND_CODE[e.kind], e.mode, e.size if e.kind != DIR else 0, pack_time(e.mtime_ns),
            e.digest if e.kind == FILE else None, os.fsencode(e.target) if e.target is not None else None]


class _PathRules:
    """Byte order, path syntax, a bound on the decoded path bytes, and nothing below a path an earlier op
    made a non-directory (unless it is a delete too)."""

    def __init__(self) -> None:
        self.prev = b""
        self.count = 0
        self.path_bytes = 0
        self._not_dirs: set[bytes] = set()  # paths an op made a file, a symlink or nothing

    def check(self, shared: Any, suffix: Any, expect: Entry | None, entry: Entry | None,
              content: Any) -> bytes:
        if type(shared) is not int or not 0 <= shared <= len(self.prev) or type(suffix) is not bytes:
            raise _Bad("bad path encoding")
        path_b = self.prev[:shared] + suffix
        if path_b <= self.prev:
            raise _Bad(f"{'duplicate' if path_b == self.prev else 'out of order'} path {os.fsdecode(path_b)!r}")
        if len(path_b) > MAX_PATH_BYTES or b"\0" in path_b or path_b.startswith(b"/"):
            raise _Bad(f"invalid path {os.fsdecode(path_b)!r}")
        parts = path_b.split(b"/")
        for part in parts:
            if part in (b"", b".", b"..") or len(part) > MAX_NAME_BYTES:
                raise _Bad(f"invalid path {os.fsdecode(path_b)!r}")
            if part.lower() == _META:  # at any depth; .SYNCLINE is the same folder on a case-insensitive disk
                raise _Bad(f"a path inside syncline's own folder: {os.fsdecode(path_b)!r}")
        self.count += 1
        self.path_bytes += len(path_b)
        if self.count > MAX_OPS or self.path_bytes > MAX_PATH_TOTAL:
            raise _Bad("too many ops or too long paths (more than this syncline holds in memory)")
        self.prev = path_b
        # Every ancestor is checked: in byte order a sibling such as "a-b" or "a.txt" can come between
        # "a" and "a/x", so the last non-directory seen is not enough.
        if entry is not None and self._not_dirs:
            cut = path_b.find(b"/")
            while cut >= 0:
                if path_b[:cut] in self._not_dirs:
                    raise _Bad(f"{os.fsdecode(path_b)!r} is below a path the archive makes a file, a symlink "
                               "or deletes")
                cut = path_b.find(b"/", cut + 1)
        if entry is None or entry.kind != DIR:
            self._not_dirs.add(path_b)
        _check_op(path_b, expect, entry, content)
        return path_b


def _check_op(path_b: bytes, expect: Entry | None, entry: Entry | None, content: Any) -> None:
    shown = os.fsdecode(path_b)
    if content not in (NONE, WHOLE, DELTA):
        raise _Bad(f"bad content code {content!r} for {shown!r}")
    if entry is None:
        if expect is None:
            raise _Bad(f"{shown!r}: an op with neither an expected nor a new entry")
    if content != NONE:
        if entry is None or entry.kind != FILE or entry.digest is None:
            raise _Bad(f"{shown!r}: content for something that is not a file with a digest")
        if content == DELTA and (expect is None or expect.kind != FILE):
            raise _Bad(f"{shown!r}: a delta against something that is not a file")
    elif entry is not None and entry.kind == FILE and (expect is None or expect.kind != FILE
                                                         or expect.size != entry.size):
        raise _Bad(f"{shown!r}: a file without content that is not a metadata change")


# ---------------------------------------------------------------------------------------------- writing


class ArchiveWriter:
    """Streams ops into an archive. ``add`` in byte order of path; a content op takes its pieces.

    Checks everything with the reader's rules and raises ``ValueError`` before writing what a reader would
    reject (the caller writes to a temp file and drops it). A time beyond 64 bits needs ``wide_times``
    (FLAG_WIDE_TIMES), which the caller decides before the first op (:func:`needs_wide_times`).
    """

    def __init__(self, raw: IO[bytes], header: ArchiveHeader, *, wide_times: bool = False) -> None:
        if not wide_times and header.root_mtime_ns is not None and not fits(header.root_mtime_ns):
            raise ValueError("cannot write this archive header: a time beyond 64 bits needs wide_times")
        self._wide = wide_times
        self._out = HashingWriter(raw)
        self._out.write(PREAMBLE.pack(MAGIC, VERSION, FLAG_WIDE_TIMES if wide_times else 0))
        self._zw = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(self._out, closefd=False)  # type: ignore[arg-type]
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True)
        self._rules = _PathRules()
        self._header = header
        self._closed = False
        self.content_bytes = 0  # bytes of the files written so far, literal or copied
        self.literal_bytes = 0
        self._zw.write(self._packer.pack(_header_map(header)))

    def add(self, path: str, expect: Entry | None, entry: Entry | None, content: int = NONE,
            pieces: Iterable[Piece] = ()) -> None:
        """Add one op; for a content op, ``pieces`` must give exactly ``entry.size`` bytes."""
        path_b = os.fsencode(path)
        prev = self._rules.prev
        n = min(len(prev), len(path_b))
        shared = next((i for i in range(n) if prev[i] != path_b[i]), n)
        try:
            self._rules.check(shared, path_b[shared:], expect, entry, content)
            if not self._wide and not all(fits(e.mtime_ns) for e in (expect, entry) if e is not None):
                raise _Bad(f"{path!r}: a time beyond 64 bits needs wide_times")
        except _Bad as exc:
            raise ValueError(f"cannot write this archive op: {exc}") from None
        pack, write = self._packer.pack, self._zw.write
        write(pack([shared, path_b[shared:], _record_of(expect), _record_of(entry), content]))
        if content == NONE:
            return
        assert entry is not None
        total = 0
        for piece in pieces:
            if isinstance(piece, tuple):
                offset, length = piece
                if content != DELTA or expect is None or not (offset >= 0 and length > 0
                                                              and offset + length <= expect.size):
                    raise ValueError(f"bad range {piece} for {path!r}")
                write(pack([offset, length]))
                total += length
                self.content_bytes += length
                continue
            for i in range(0, len(piece), MAX_PIECE):
                part = piece[i : i + MAX_PIECE]
                write(pack(part))
                total += len(part)
                self.content_bytes += len(part)
                self.literal_bytes += len(part)
        if total != entry.size:
            raise ValueError(f"{path!r}: content of {total} bytes, not {entry.size}")
        write(pack(None))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._rules.count != self._header.ops or self.content_bytes != self._header.content_bytes:
            raise ValueError(f"the header says {self._header.ops} ops and {self._header.content_bytes} bytes; "
                             f"{self._rules.count} ops and {self.content_bytes} bytes were added")
        self._zw.write(self._packer.pack({"end": self._rules.count}))
        self._zw.close()  # type: ignore[no-untyped-call]  # ends the frame; closefd=False keeps ``raw`` open
        self._out.raw.write(self._out.hasher.digest())


def _text(s: str) -> str:
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _header_map(h: ArchiveHeader) -> dict[str, Any]:
    return {"format": "syncline-archive", "version": VERSION, "tool": _text(h.tool), "created_ns": h.created_ns,
            "source": h.source.to_msgpack(), "against": h.against.to_msgpack(), "delete": h.delete,
            "compare": h.compare, "ops": h.ops, "content_bytes": h.content_bytes, "label": _text(h.label),
            "root_mtime_ns": pack_time(h.root_mtime_ns) if h.root_mtime_ns is not None else None}


def needs_wide_times(header: ArchiveHeader, entries: Iterable[Entry | None]) -> bool:
    """Whether the archive of ``header`` and these (expected and new) entries holds a time beyond 64 bits."""
    times = [e.mtime_ns for e in entries if e is not None]
    if header.root_mtime_ns is not None:
        times.append(header.root_mtime_ns)
    return any(not fits(t) for t in times)


# ---------------------------------------------------------------------------------------------- reading


def _corrupt(what: str) -> ArchiveFormatError:
    return ArchiveFormatError(f"corrupt archive: {what}", "ask for the archive again; nothing was changed")


def _unreadable(name: str, exc: OSError) -> ArchiveFormatError:
    return ArchiveFormatError(f"cannot read {name}: {exc.strerror or exc}", "check the file")


def _decoding(what: str) -> Decoding:
    return Decoding(what, _corrupt, MAX_OBJECT)


def _ref_of(v: Any, key: str) -> IndexRef:
    if type(v) is not dict or set(v) != {"root", "host", "scanned_ns", "id"}:
        raise _Bad(f"bad header ({key!r} must map root, host, scanned_ns and id)")
    root, host, when, ident = v["root"], v["host"], v["scanned_ns"], v["id"]
    if (type(root) is not bytes or len(root) > MAX_PATH_BYTES or b"\0" in root or type(host) is not str
            or len(host) > MAX_TEXT or not _is_int(when, _INT64_MIN, _INT64_MAX) or type(ident) is not bytes
            or len(ident) != DIGEST_SIZE):
        raise _Bad(f"bad header ({key!r} has a field of the wrong type or size)")
    return IndexRef(os.fsdecode(root), host, when, ident)


_HEADER_KEYS = frozenset({"format", "version", "tool", "created_ns", "delete", "compare", "ops", "content_bytes",
                          "label", "source", "against", "root_mtime_ns"})


def parse_header(head: Any, wide: bool = False) -> ArchiveHeader:
    """The header of a decoded header map; ``wide``: the archive has FLAG_WIDE_TIMES."""
    if type(head) is not dict or head.get("format") != "syncline-archive":
        raise _Bad("missing header (no 'format': 'syncline-archive')")
    if len(head) > MAX_HEADER_KEYS:
        raise _Bad("bad header (too many keys)")
    want = {"version": int, "tool": str, "created_ns": int, "delete": bool, "compare": str, "ops": int,
            "content_bytes": int, "label": str, "source": dict, "against": dict}
    for key, typ in want.items():
        if type(head.get(key)) is not typ:
            raise _Bad(f"bad header ({key!r} missing or of the wrong type)")
    if head["version"] != VERSION:
        raise _Bad(f"header version {head['version']!r} differs from the file's v{VERSION}")
    if head["compare"] not in COMPARES:
        raise _Bad(f"bad header (unknown compare mode {head['compare']!r})")
    if not _is_int(head["ops"], 0, MAX_OPS) or not _is_int(head["content_bytes"], 0, _INT64_MAX):
        raise _Bad("bad header (op count or content size out of range)")
    if len(head["tool"]) > MAX_TEXT or len(head["label"]) > MAX_TEXT:
        raise _Bad("bad header (tool or label too long)")
    root_mtime = head.get("root_mtime_ns")
    if root_mtime is not None:
        root_mtime = unpack_time(root_mtime, wide)
        if root_mtime is None:
            raise _Bad("bad header ('root_mtime_ns' must be a time or nil)")
    return ArchiveHeader(source=_ref_of(head["source"], "source"), against=_ref_of(head["against"], "against"),
                         delete=head["delete"], compare=head["compare"], ops=head["ops"],
                         content_bytes=head["content_bytes"], created_ns=head["created_ns"], tool=head["tool"],
                         label=head["label"], root_mtime_ns=root_mtime)


@dataclass
class _Totals:
    content: int = 0  # bytes of the files the archive writes, literal or copied
    literal: int = 0


class ArchiveReader:
    """Reads an archive as a stream: ``header`` at once, then ``(op, pieces)`` pairs by iteration.

    ``pieces`` is None for an op without content; otherwise an iterator of :data:`Piece` values that must
    be consumed (or is skipped) before the next op. Finishing the iteration verifies the op count, the
    declared content size and the checksum. Nothing seen before the end may be trusted.
    """

    def __init__(self, raw: BinaryIO, name: str = "archive") -> None:
        self.name = name
        try:
            pre = raw.read(PREAMBLE.size)
        except OSError as exc:
            raise _unreadable(name, exc) from None
        if not pre:
            raise ArchiveFormatError(f"{name} is empty, not a syncline archive", "ask for the archive again")
        if len(pre) < PREAMBLE.size and len(pre) >= 4 and (MAGIC.startswith(pre) or pre.startswith(MAGIC)):
            raise _corrupt("truncated before the header")
        if len(pre) < PREAMBLE.size or pre[:8] != MAGIC:
            raise ArchiveFormatError(f"{name} is not a syncline archive",
                                     "give a file made by `syncline archive`")
        _, version, flags = PREAMBLE.unpack(pre)
        if version > VERSION:
            raise ArchiveFormatError(f"{name} is archive format v{version}; this syncline reads up to v{VERSION}",
                                     "upgrade syncline to read it")
        if version < 1:
            raise _corrupt(f"bad format version {version}")
        if flags & ~KNOWN_FLAGS:
            raise ArchiveFormatError(f"{name} uses unknown archive flags {flags:#06x}",
                                     "it was made by a newer syncline or is corrupt: upgrade syncline")
        self._wide = bool(flags & FLAG_WIDE_TIMES)
        self._body = Body(raw, pre, partial(_unreadable, name))
        self._u = msgpack.Unpacker(self._body, use_list=True, raw=False, strict_map_key=True,
                                   max_buffer_size=MAX_OBJECT)
        self._iterated = False
        self._verified = False
        self._checksum = b""
        self._totals = _Totals()
        with _decoding("header"):
            kind, n = container(self._u)
            if kind != "map" or n > MAX_HEADER_KEYS:
                raise _corrupt("missing header (the first record is not a small map)")
            head: dict[str, Any] = {}
            for _ in range(n):
                key = self._u.unpack()
                if type(key) is not str or key in head:
                    raise _corrupt("bad header (a key is not a string, or repeats)")
                if key in _HEADER_KEYS:
                    head[key] = self._u.unpack()
                else:
                    self._u.skip()  # a key a later v1 writer may add: ignored, never decoded
        try:
            self.header = parse_header(head, self._wide)
        except _Bad as exc:
            raise _corrupt(str(exc)) from None

    def __iter__(self) -> Iterator[tuple[ArchiveOp, Iterator[Piece] | None]]:
        if self._iterated:
            raise RuntimeError("an ArchiveReader can be iterated only once")
        self._iterated = True
        rules = _PathRules()
        u = self._u
        while True:
            with _decoding("ops"):
                kind, n = container(u)
                if kind == "map":
                    if n != 1 or u.unpack() != "end":
                        raise _corrupt("bad end record (must be a map with the one key 'end')")
                    end = u.unpack()
                    if type(end) is not int or end != rules.count or end != self.header.ops:
                        raise _corrupt(f"op count mismatch: the end record says {end!r}, the header "
                                       f"{self.header.ops}, the file holds {rules.count}")
                    break
                if kind != "array" or n != OP_FIELDS:
                    raise _corrupt("bad op record (not a 5-field array, nor the end map)")
                shared, suffix, x, e, content = u.unpack(), u.unpack(), u.unpack(), u.unpack(), u.unpack()
            try:
                expect, entry = _entry_of(x, "expected entry", self._wide), _entry_of(e, "entry", self._wide)
                path_b = rules.check(shared, suffix, expect, entry, content)
            except _Bad as exc:
                raise _corrupt(str(exc)) from None
            op = ArchiveOp(os.fsdecode(path_b), expect, entry, content)
            if content == NONE:
                yield op, None
                continue
            pieces = self._pieces(op)
            yield op, pieces
            for _ in pieces:  # what the consumer left unread
                pass
        self._finish()

    def _pieces(self, op: ArchiveOp) -> Iterator[Piece]:
        assert op.entry is not None
        size = op.entry.size
        basis = op.expect.size if op.expect is not None else 0
        total = 0
        u = self._u
        while True:
            with _decoding("content"):
                v = u.unpack()
            if v is None:
                break
            if type(v) is bytes:
                if not v:
                    raise _corrupt(f"{op.path!r}: an empty content piece")
                total += len(v)
                self._totals.literal += len(v)
                if total > size:
                    raise _corrupt(f"{op.path!r}: more content than declared")
                yield v
                continue
            if (op.content != DELTA or type(v) is not list or len(v) != 2 or not _is_int(v[0], 0, _INT64_MAX)
                    or not _is_int(v[1], 1, _INT64_MAX) or v[0] + v[1] > basis):
                raise _corrupt(f"{op.path!r}: a bad content piece")
            total += v[1]
            if total > size:
                raise _corrupt(f"{op.path!r}: more content than declared")
            yield (v[0], v[1])
        if total != size:
            raise _corrupt(f"{op.path!r}: {total} bytes of content, not the declared {size}")
        self._totals.content += total
        if self._totals.content > self.header.content_bytes:
            raise _corrupt("more content than the header declares")

    def _finish(self) -> None:
        with _decoding("end"):
            try:
                self._u.skip()
            except msgpack.OutOfData:
                pass
            else:
                raise _corrupt("data after the end record")
        self._body.verify_end(_corrupt)
        if self._totals.content != self.header.content_bytes:
            raise _corrupt(f"{self._totals.content} bytes of content, not the declared "
                           f"{self.header.content_bytes}")
        self._checksum = self._body.hasher.digest()
        self._verified = True

    @property
    def checksum(self) -> bytes:
        """The archive's BLAKE3 trailer, once iteration has finished (and verified it): its identity."""
        if not self._verified:
            raise RuntimeError("the archive has not been read to its end")
        return self._checksum

    @property
    def literal_bytes(self) -> int:
        """Bytes of content the archive carried so far (the rest of a delta comes from the far side)."""
        return self._totals.literal


def open_archive(path: str | os.PathLike[str]) -> tuple[BinaryIO, ArchiveReader]:
    """Open an archive for streaming; the caller closes the returned file."""
    p = os.fspath(path)
    try:
        fh = open(p, "rb")  # noqa: SIM115 - handed to the caller
    except FileNotFoundError:
        raise ArchiveFormatError(f"no such archive: {p}", "check the path") from None
    except IsADirectoryError:
        raise ArchiveFormatError(f"{p} is a directory, not an archive", "give an archive file") from None
    except OSError as exc:
        raise ArchiveFormatError(f"cannot read {p}: {exc.strerror}", "check its permissions") from None
    try:
        return fh, ArchiveReader(fh, p)
    except BaseException:
        fh.close()
        raise
