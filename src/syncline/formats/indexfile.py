"""Index files, format v1 (``.slidx``): the portable, streamed form of an :class:`Index`.

Layout (the spec with examples is ``docs/formats/index.md``)::

    magic    8 bytes   b"SLIDX\\r\\n\\x1a"
    version  u16 BE    1
    flags    u16 BE    0, or 1 (FLAG_WIDE_TIMES) when a time needs more than 64 bits; a reader rejects
                       unknown flags
    body     exactly one zstd frame holding a msgpack stream: a header map, one array per entry in byte
             order of path, then an end map {"end": <entry count>}
    trailer  32 bytes  BLAKE3 of every byte before the trailer

Entry array: [shared_prefix_len, path_suffix(bin), kind(0 file, 1 dir, 2 symlink), mode, size, mtime_ns,
digest(bin 32 | nil), target(bin | nil), inode, ctime_ns, chunks(nil | [[length, digest], ...])]. A time
is an int64; in a file with FLAG_WIDE_TIMES, a time beyond int64 (after 2262, before 1677) is the pair
[seconds, nanoseconds] (``core/times.py``). Files without such times keep flags 0, so older readers read them.

Both directions stream. The reader decodes field by field through a small msgpack buffer and feeds the
decompressor small pieces, so a hostile file cannot make it allocate much more than one entry (plus one
set of the directory paths seen, for the parent check). Everything read is checked (magic, version,
flags, record shapes and types, path rules, strict sort order, parent directories, count, nothing after
the frame, checksum) and any failure is an :class:`IndexFormatError` that says what is wrong. The writer
runs the same checks on what it writes, so it never produces a file the reader would reject.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, BinaryIO

import msgpack
import zstandard

from ..core.entry import KINDS, Chunk, Entry, StatKey
from ..core.errors import IndexFormatError
from ..core.index import Index, IndexHeader
from ..core.times import any_wide, fits, pack_time, unpack_time
from .framing import PREAMBLE, ZSTD_LEVEL, Body, Decoding, HashingWriter, Opener, atomic_file, container
from .indexcheck import (
    HEADER_KEYS,
    MAX_CHUNKS,
    MAX_ENTRIES,
    MAX_HEADER_KEYS,
    RECORD_FIELDS,
    RecordError,
    check_record,
    chunk_ok,
    entry_of_checked,
    parse_header,
    unreadable_ok,
)

MAGIC = b"SLIDX\r\n\x1a"
VERSION = 1
FLAG_WIDE_TIMES = 0x0001  # some time is stored as [seconds, nanoseconds]: readers before it refuse the file
KNOWN_FLAGS = FLAG_WIDE_TIMES
_PREAMBLE = PREAMBLE
MAX_OBJECT = 64 << 10  # the largest single msgpack value (a path, a target, a header string)
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_FILE, _DIR, _SYMLINK = KINDS


# ---------------------------------------------------------------------------------------------- writing


class IndexWriter:
    """Streams entries into an index file. Use as a context manager; ``add`` paths in byte order.

    Every entry is checked with the reader's rules: a path out of order, without its parent directory, or
    an entry the reader would reject raises ``ValueError`` (nothing unreadable is ever written). A time
    beyond 64 bits needs ``wide_times`` (the file's FLAG_WIDE_TIMES), which the caller decides before the
    first entry: :func:`needs_wide_times` says whether an index needs it.
    """

    def __init__(
        self,
        raw: IO[bytes],
        header: IndexHeader,
        unreadable: frozenset[str] = frozenset(),
        root: Entry | None = None,
        *,
        wide_times: bool = False,
    ) -> None:
        self._wide = wide_times
        head = {
            "format": "syncline-index",
            "version": VERSION,
            "root": os.fsencode(header.root),
            "host": _text(header.host),
            "scanned_ns": header.scanned_ns,
            "digests": header.digests,
            "hash": header.hash,
            "chunker": {k: header.chunker[k] for k in sorted(header.chunker)} if header.chunker is not None else None,
            "tool": _text(header.tool),
            "unreadable": sorted(os.fsencode(p) for p in unreadable),
            "root_meta": [root.mode, pack_time(root.mtime_ns), root.file_id, pack_time(root.ctime_ns)]
            if root is not None else None,
        }
        try:
            parse_header(head, VERSION, wide_times)
        except RecordError as exc:
            raise ValueError(f"cannot write this index header: {exc}") from None
        self._out = HashingWriter(raw)
        self._out.write(_PREAMBLE.pack(MAGIC, VERSION, FLAG_WIDE_TIMES if wide_times else 0))
        self._zw = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(self._out, closefd=False)  # type: ignore[arg-type]
        # Records accumulate in the packer's buffer and go to zstd in blocks: one compressor call per record
        # cost more than packing it.
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=False)
        self._prev = b""
        self._dirs: set[bytes] = set()
        self._count = 0
        self._closed = False
        self._packer.pack(head)

    def add(self, path: str, e: Entry) -> None:
        raw = os.fsencode(path)
        shared = _shared_prefix(self._prev, raw)
        target = os.fsencode(e.target) if e.target is not None else None
        kind = _KIND_CODE.get(e.kind, -1)
        # The file keeps a local file id (an inode) only; another replica's id means nothing here.
        inode = e.file_id if type(e.file_id) is int else 0
        record = [shared, raw[shared:], kind, e.mode, e.size, e.mtime_ns, e.digest, target, inode, e.ctime_ns,
                  e.chunks]
        try:
            if self._count >= MAX_ENTRIES:
                raise RecordError(f"more than {MAX_ENTRIES} entries")
            check_record(record, self._prev, self._dirs)
            if not (fits(e.mtime_ns) and fits(e.ctime_ns)):
                if not self._wide:
                    raise RecordError("a time beyond 64 bits needs wide_times")
                record[5], record[9] = pack_time(e.mtime_ns), pack_time(e.ctime_ns)
        except RecordError as exc:
            raise ValueError(f"cannot write {path!r} to an index file: {exc}") from None
        if e.chunks is not None:
            record[10] = [[c.length, c.digest] for c in e.chunks]
        packer = self._packer
        packer.pack(record)
        self._prev = raw
        self._count += 1
        if not self._count & 1023:  # about 40 KiB of records
            self._drain()

    def _drain(self) -> None:
        packer = self._packer
        self._zw.write(packer.bytes())
        packer.reset()

    def close(self) -> None:
        """Write the end record, end the zstd frame and write the trailer (once)."""
        if self._closed:
            return
        self._closed = True
        self._packer.pack({"end": self._count})
        self._drain()
        self._zw.close()  # type: ignore[no-untyped-call]  # ends the frame; closefd=False keeps ``raw`` open
        self._out.raw.write(self._out.hasher.digest())

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def needs_wide_times(index: Index) -> bool:
    """Whether some time of ``index`` (its entries' or its root's) does not fit 64 bits."""
    es = index.entries.values()
    root = [index.root.mtime_ns, index.root.ctime_ns] if index.root is not None else []
    return any_wide(chain(map(_MTIME, es), map(_CTIME, es), root))


_MTIME, _CTIME = attrgetter("mtime_ns"), attrgetter("ctime_ns")


def write_index(index: Index, path: Path, opener: Opener = atomic_file) -> None:
    """Write ``index`` to ``path`` atomically (temp file in the same directory, fsync, rename, fsync dir).
    ``opener`` gives that all-or-nothing file (the engine passes one that records its temp file).

    The file has FLAG_WIDE_TIMES only when some time needs it, so other files stay readable by older
    readers."""
    wide = needs_wide_times(index)
    with opener(path) as fh, IndexWriter(fh, index.header, index.unreadable, index.root,
                                         wide_times=wide) as writer:
        for p, e in index.items_sorted():
            writer.add(p, e)


def _text(s: str) -> str:
    """``s`` as msgpack can store it: a str with undecodable bytes (surrogate escapes) replaced."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _shared_prefix(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix of ``a`` and ``b``: the first differing byte holds the highest
    set bit of their XOR (done with big integers, at C speed)."""
    n = min(len(a), len(b))
    x = int.from_bytes(a[:n], "big") ^ int.from_bytes(b[:n], "big")
    return n - (x.bit_length() + 7) // 8


# ---------------------------------------------------------------------------------------------- reading


def _corrupt(what: str) -> IndexFormatError:
    return IndexFormatError(f"corrupt index file: {what}", "make the index file again")


def _unreadable(name: str, exc: OSError) -> IndexFormatError:
    return IndexFormatError(f"cannot read {name}: {exc.strerror or exc}", "check the file")


def _decoding(what: str) -> Decoding:
    return Decoding(what, _corrupt, MAX_OBJECT)


class IndexReader:
    """Reads an index file as a stream: ``header`` is available at once, entries by iteration.

    Iterating to the end verifies the entry count and the checksum; any problem raises
    :class:`IndexFormatError`. Entries seen before a late error must not be trusted: :func:`load_index`
    only returns after the whole file has been verified. A reader can be iterated once.
    """

    def __init__(self, raw: BinaryIO, name: str = "index file") -> None:
        self.name = name
        try:
            pre = raw.read(_PREAMBLE.size)
        except OSError as exc:
            raise IndexFormatError(f"cannot read {name}: {exc.strerror or exc}", "check the file") from None
        if not pre:
            raise IndexFormatError(f"{name} is empty, not a syncline index file", "make the index file again")
        if len(pre) < _PREAMBLE.size and len(pre) >= 4 and (MAGIC.startswith(pre) or pre.startswith(MAGIC)):
            raise _corrupt("truncated before the header")
        if len(pre) < _PREAMBLE.size or pre[:8] != MAGIC:
            raise IndexFormatError(f"{name} is not a syncline index file", "give a file made by `syncline index`")
        _, version, flags = _PREAMBLE.unpack(pre)
        if version > VERSION:
            raise IndexFormatError(
                f"{name} is index format v{version}; this syncline reads up to v{VERSION}",
                "upgrade syncline to read it",
            )
        if version < 1:
            raise _corrupt(f"bad format version {version}")
        if flags & ~KNOWN_FLAGS:
            raise IndexFormatError(
                f"{name} uses unknown index flags {flags:#06x}",
                "it was made by a newer syncline or is corrupt: upgrade syncline or make the index file again",
            )
        self._wide = bool(flags & FLAG_WIDE_TIMES)
        self._body = Body(raw, pre, partial(_unreadable, name))
        self._unpacker = msgpack.Unpacker(
            self._body,
            use_list=True,
            raw=False,
            strict_map_key=True,
            max_buffer_size=MAX_OBJECT,
        )
        self._iterated = False
        self._end: Any = None
        head = self._read_header()
        try:
            self.header, self.unreadable, self.root = parse_header(head, version, self._wide)
        except RecordError as exc:
            raise _corrupt(str(exc)) from None

    def _read_header(self) -> dict[str, Any]:
        u = self._unpacker
        with _decoding("header"):
            try:
                n = u.read_map_header()
            except ValueError:
                raise _corrupt("missing header (the first record is not a map)") from None
            if n > MAX_HEADER_KEYS:
                raise _corrupt(f"bad header ({n} keys)")
            head: dict[str, Any] = {}
            for _ in range(n):
                key = u.unpack()
                if not isinstance(key, str):
                    raise _corrupt("bad header (a key is not a string)")
                if key in head:
                    raise _corrupt(f"bad header (duplicate key {key!r})")
                if key == "unreadable":
                    try:
                        m = u.read_array_header()
                    except ValueError:
                        raise _corrupt("bad header ('unreadable' has the wrong type)") from None
                    if m > MAX_ENTRIES:
                        raise _corrupt("bad header (too many unreadable paths)")
                    paths: list[bytes] = []
                    for _ in range(m):  # each checked at once: memory grows only with valid paths
                        p = u.unpack()
                        if not unreadable_ok(p, paths[-1] if paths else None):
                            raise _corrupt(f"bad header (bad unreadable path {p!r})")
                        paths.append(p)
                    head[key] = paths
                elif key in HEADER_KEYS:
                    head[key] = u.unpack()
                else:
                    u.skip()  # a key a later v1 writer may add: ignored
        return head

    def _read_record(self) -> list[Any] | None:
        """The next entry record as a list of field values, or None for the end record (see ``_end``).

        Container headers are read as raw bytes (``read_bytes``) so that nothing but small values is ever
        decoded in one piece: a chunk list is read chunk by chunk.
        """
        u = self._unpacker
        up = u.unpack
        with _decoding("entries"):
            kind, n = container(u)
            if kind == "map":
                if n != 1 or up() != "end":
                    raise _corrupt("bad end record (must be a map with the one key 'end')")
                self._end = up()
                return None
            if kind != "array":
                raise _corrupt("bad entry record (neither an array nor the end map)")
            if n != RECORD_FIELDS:
                raise _corrupt(f"bad entry record ({n} fields, not {RECORD_FIELDS})")
            rec = [up(), up(), up(), up(), up(), up(), up(), up(), up(), up()]
            mtime, ctime = rec[5], rec[9]
            if not (type(mtime) is int and type(ctime) is int and _INT64_MIN <= mtime <= _INT64_MAX
                    and _INT64_MIN <= ctime <= _INT64_MAX):
                # Wide times decode here, so every later check and use sees ints only.
                m, c = unpack_time(mtime, self._wide), unpack_time(ctime, self._wide)
                if m is None or c is None:
                    raise _corrupt(f"bad time (mtime {mtime!r}, ctime {ctime!r})")
                rec[5], rec[9] = m, c
            kind, c = container(u)
            if kind == "nil":
                rec.append(None)
            elif kind == "array":
                if c > MAX_CHUNKS:
                    raise _corrupt(f"too many chunks ({c})")
                chunks = []
                for _ in range(c):  # each checked at once: memory grows only with valid chunks
                    pair = up()
                    if not chunk_ok(pair):
                        raise _corrupt("bad chunk (must be [length > 0, 32-byte digest])")
                    chunks.append(Chunk(pair[0], pair[1]))
                rec.append(tuple(chunks))
            else:
                raise _corrupt("bad chunk list (neither nil nor an array)")
        return rec

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        """(path, Entry) pairs in byte order."""
        for path_b, rec, chunks in self._checked_records():
            yield os.fsdecode(path_b), entry_of_checked(rec, chunks)

    def file_digests(self) -> Iterator[tuple[str, StatKey, bytes, tuple[Chunk, ...] | None]]:
        """(path, stat key, digest, chunks) of each file that has a digest, in byte order: what a scan needs
        to reuse digests, without making an Entry per record."""
        for path_b, rec, chunks in self._checked_records():
            if rec[2] == 0 and rec[6] is not None:
                yield os.fsdecode(path_b), (rec[4], rec[5], rec[8], rec[9]), rec[6], chunks

    def _checked_records(self) -> Iterator[tuple[bytes, list[Any], tuple[Chunk, ...] | None]]:
        """Each record, checked, as (path bytes, record, parsed chunks); verifies the end and the checksum
        after the last one."""
        if self._iterated:
            raise RuntimeError("an IndexReader can be iterated only once")
        self._iterated = True
        prev = b""
        count = 0
        dirs: set[bytes] = set()
        while True:
            rec = self._read_record()
            if rec is None:
                end = self._end
                if type(end) is not int or end != count:
                    raise _corrupt(f"entry count mismatch: the end record says {end!r}, the file holds {count}")
                break
            count += 1
            if count > MAX_ENTRIES:
                raise _corrupt("too many entries")
            try:
                path_b, chunks = check_record(rec, prev, dirs)
            except RecordError as exc:
                raise _corrupt(str(exc)) from None
            prev = path_b
            yield path_b, rec, chunks
        self._finish()

    def _finish(self) -> None:
        with _decoding("end"):
            try:
                self._unpacker.skip()
            except msgpack.OutOfData:
                pass
            except IndexFormatError:
                raise
            except Exception:
                raise _corrupt("data after the end record") from None
            else:
                raise _corrupt("data after the end record")
        self._body.verify_end(_corrupt)


def open_index(path: str | os.PathLike[str]) -> tuple[BinaryIO, IndexReader]:
    """Open an index file for streaming; the caller closes the returned file."""
    p = Path(path)
    try:
        fh = open(p, "rb")  # noqa: SIM115 - handed to the caller
    except FileNotFoundError:
        raise IndexFormatError(f"no such index file: {p}", "check the path") from None
    except IsADirectoryError:
        raise IndexFormatError(f"{p} is a directory, not an index file", "give an index file") from None
    except OSError as exc:
        raise IndexFormatError(f"cannot read {p}: {exc.strerror}", "check its permissions") from None
    try:
        return fh, IndexReader(fh, str(p))
    except BaseException:
        fh.close()
        raise


def load_index(path: str | os.PathLike[str]) -> Index:
    """Read and fully verify an index file into an :class:`Index`.

    Raises :class:`IndexFormatError` for a missing, truncated, corrupt, foreign or newer-version file.
    """
    fh, reader = open_index(path)
    with fh:
        entries = dict(reader)
    return Index(entries, reader.header, unreadable=reader.unreadable, root=reader.root, presorted=True)
