"""Index files, format v1 (``.slidx``): the portable, streamed form of an :class:`Index`.

Layout (the spec with examples is ``docs/formats/index.md``)::

    magic    8 bytes   b"SLIDX\\r\\n\\x1a"
    version  u16 BE    1
    flags    u16 BE    0 (reserved; a reader rejects unknown flags)
    body     one zstd frame holding a msgpack stream: a header map, one array per entry in byte order of
             path, then an end map {"end": <entry count>}
    trailer  32 bytes  BLAKE3 of every byte before the trailer

Entry array: [shared_prefix_len, path_suffix(bin), kind(0 file, 1 dir, 2 symlink), mode, size, mtime_ns,
digest(bin 32 | nil), target(bin | nil), inode, ctime_ns, chunks(nil | [[length, digest], ...])].

Both directions stream: memory is bounded by one record, never by the file. Everything read is checked
(magic, version, flags, record shapes, path rules, strict sort order, parent directories, count, checksum)
and any failure is an :class:`IndexFormatError` that says what is wrong.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import blake3
import msgpack
import zstandard

from .entry import DIGEST_SIZE, KINDS, Chunk, Entry
from .errors import IndexFormatError
from .index import Index, IndexHeader
from .paths import MAX_PATH_BYTES, check_relpath, new_temp_name, parent

MAGIC = b"SLIDX\r\n\x1a"
VERSION = 1
_PREAMBLE = struct.Struct(">8sHH")
TRAILER_SIZE = 32
MAX_ENTRIES = 200_000_000
MAX_CHUNKS = 1 << 24
MAX_RECORD = 64 << 20
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}


class _HashingWriter:
    """A write-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hasher = blake3.blake3()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class IndexWriter:
    """Streams entries into an index file. Use as a context manager; ``add`` paths in byte order."""

    def __init__(
        self,
        raw: IO[bytes],
        header: IndexHeader,
        unreadable: frozenset[str] = frozenset(),
        root: Entry | None = None,
    ) -> None:
        self._out = _HashingWriter(raw)
        self._out.write(_PREAMBLE.pack(MAGIC, VERSION, 0))
        self._zw = zstandard.ZstdCompressor(level=3).stream_writer(self._out, closefd=False)  # type: ignore[arg-type]
        self._packer = msgpack.Packer(use_bin_type=True)
        self._prev = b""
        self._count = 0
        self._zw.write(
            self._packer.pack(
                {
                    "format": "syncline-index",
                    "version": VERSION,
                    "root": header.root,
                    "host": header.host,
                    "scanned_ns": header.scanned_ns,
                    "digests": header.digests,
                    "hash": header.hash,
                    "chunker": dict(header.chunker) if header.chunker is not None else None,
                    "tool": header.tool,
                    "unreadable": sorted(os.fsencode(p) for p in unreadable),
                    "root_meta": [root.mode, root.mtime_ns] if root is not None else None,
                }
            )
        )

    def add(self, path: str, e: Entry) -> None:
        raw = os.fsencode(path)
        if raw <= self._prev:
            raise ValueError(f"index entries out of order at {path!r}")
        shared = _shared_prefix(self._prev, raw)
        chunks = [[c.length, c.digest] for c in e.chunks] if e.chunks is not None else None
        target = os.fsencode(e.target) if e.target is not None else None
        record = [shared, raw[shared:], _KIND_CODE[e.kind], e.mode, e.size, e.mtime_ns, e.digest, target,
                  e.inode, e.ctime_ns, chunks]
        self._zw.write(self._packer.pack(record))
        self._prev = raw
        self._count += 1

    def close(self) -> None:
        self._zw.write(self._packer.pack({"end": self._count}))
        self._zw.flush(zstandard.FLUSH_FRAME)
        self._zw.close()  # type: ignore[no-untyped-call]
        self._out.raw.write(self._out.hasher.digest())

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def write_index(index: Index, path: Path) -> None:
    """Write ``index`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    directory = path.parent
    tmp = directory / new_temp_name()
    header = index.header
    try:
        with open(tmp, "xb") as fh:
            with IndexWriter(fh, header, index.unreadable, index.root) as writer:
                for p, e in index.items_sorted():
                    writer.add(p, e)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _shared_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class _HashingSource:
    """A read-only stream that hashes what it returns and holds back the final ``TRAILER_SIZE`` bytes."""

    def __init__(self, raw: BinaryIO, already: bytes) -> None:
        self.raw = raw
        self.hasher = blake3.blake3(already)
        self.pending = b""
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        want = (n if n > 0 else 1 << 20) + TRAILER_SIZE
        while not self.eof and len(self.pending) < want:
            block = self.raw.read(max(1 << 16, want - len(self.pending)))
            if not block:
                self.eof = True
            self.pending += block
        give = max(0, min(len(self.pending) - TRAILER_SIZE, want - TRAILER_SIZE))
        out, self.pending = self.pending[:give], self.pending[give:]
        self.hasher.update(out)
        return out

    def trailer(self) -> bytes:
        """After the body is consumed: drain what is left and return the trailer bytes."""
        while self.read():
            pass
        return self.pending


def _corrupt(what: str) -> IndexFormatError:
    return IndexFormatError(f"corrupt index file: {what}", "make the index file again")


class IndexReader:
    """Reads an index file as a stream: ``header`` is available at once, entries by iteration.

    Iterating to the end verifies the entry count and the checksum; any problem raises
    :class:`IndexFormatError`. Entries seen before a late error must not be trusted: :func:`load_index`
    only returns after the whole file has been verified.
    """

    def __init__(self, raw: BinaryIO, name: str = "index file") -> None:
        self.name = name
        pre = raw.read(_PREAMBLE.size)
        if len(pre) < _PREAMBLE.size and len(pre) >= 4 and MAGIC.startswith(pre[:8]):
            raise _corrupt("truncated before the header")
        if len(pre) < _PREAMBLE.size or pre[:8] != MAGIC:
            raise IndexFormatError(f"{name} is not a syncline index file", "give a file made by `syncline index`")
        _, version, flags = _PREAMBLE.unpack(pre)
        if version > VERSION:
            raise IndexFormatError(
                f"{name} is index format v{version}; this syncline reads up to v{VERSION}",
                "upgrade syncline to read it",
            )
        if version < 1 or flags:
            raise _corrupt(f"bad version {version} or flags {flags:#x}")
        self._src = _HashingSource(raw, pre)
        self._zr = zstandard.ZstdDecompressor().stream_reader(self._src, read_across_frames=False)  # type: ignore[arg-type]
        self._unpacker = msgpack.Unpacker(
            self._zr,
            use_list=True,
            raw=False,
            strict_map_key=True,
            max_buffer_size=MAX_RECORD,
        )
        head = self._next("header")
        self.header, self.unreadable, self.root = _parse_header(head)

    def _next(self, what: str) -> Any:
        try:
            return self._unpacker.unpack()
        except msgpack.OutOfData:
            raise _corrupt(f"truncated before the {what}") from None
        except zstandard.ZstdError as exc:
            raise _corrupt(f"compressed data is damaged ({exc})") from None
        except (ValueError, msgpack.UnpackException, msgpack.ExtraData) as exc:
            raise _corrupt(f"undecodable {what} ({exc})") from None

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        prev = b""
        count = 0
        seen_dirs: set[bytes] = set()
        while True:
            rec = self._next("end of the entries")
            if isinstance(rec, dict):
                if rec.get("end") != count or len(rec) != 1:
                    raise _corrupt(f"entry count {count} does not match the end record")
                break
            path_b, entry = _parse_record(rec, prev)
            if path_b <= prev:
                raise _corrupt(f"entries out of order or duplicated at {os.fsdecode(path_b)!r}")
            path = os.fsdecode(path_b)
            check_relpath(path)
            up = parent(path)
            if up and os.fsencode(up) not in seen_dirs:
                raise _corrupt(f"{path!r} has no parent directory entry")
            if entry.kind == "dir":
                seen_dirs.add(path_b)
            count += 1
            if count > MAX_ENTRIES:
                raise _corrupt("too many entries")
            prev = path_b
            yield path, entry
        self._finish()

    def _finish(self) -> None:
        try:
            self._unpacker.unpack()
        except msgpack.OutOfData:
            pass
        except Exception:
            raise _corrupt("data after the end record") from None
        else:
            raise _corrupt("data after the end record")
        trailer = self._src.trailer()
        if len(trailer) != TRAILER_SIZE:
            raise _corrupt("truncated checksum")
        if trailer != self._src.hasher.digest():
            raise _corrupt("checksum mismatch")


def _parse_header(head: Any) -> tuple[IndexHeader, frozenset[str], Entry | None]:
    if not isinstance(head, dict) or head.get("format") != "syncline-index":
        raise _corrupt("missing header")
    try:
        chunker = head.get("chunker")
        unreadable = frozenset(check_relpath(os.fsdecode(p)) if p else "" for p in head.get("unreadable", []))
        header = IndexHeader(
            root=str(head.get("root", "")),
            host=str(head.get("host", "")),
            scanned_ns=int(head.get("scanned_ns", 0)),
            digests=bool(head.get("digests", False)),
            hash=str(head.get("hash", "blake3")),
            chunker={str(k): int(v) for k, v in chunker.items()} if isinstance(chunker, dict) else None,
            tool=str(head.get("tool", "")),
        )
        meta = head.get("root_meta")
        root = Entry("dir", 0, int(meta[1]), int(meta[0]) & 0o7777) if meta is not None else None
    except (TypeError, ValueError, AttributeError, IndexError, KeyError) as exc:
        raise _corrupt(f"bad header ({exc})") from None
    if header.hash != "blake3":
        raise _corrupt(f"unknown hash {header.hash!r}")
    return header, unreadable, root


def _nat(v: Any, what: str) -> int:
    if type(v) is not int or v < 0:
        raise _corrupt(f"bad {what}")
    return v


def _parse_record(rec: Any, prev: bytes) -> tuple[bytes, Entry]:
    if not isinstance(rec, list) or len(rec) != 11:
        raise _corrupt("bad entry record")
    shared, suffix, kcode, mode, size, mtime, digest, target, inode, ctime, chunks = rec
    if type(shared) is not int or not 0 <= shared <= len(prev) or not isinstance(suffix, bytes):
        raise _corrupt("bad path encoding")
    path_b = prev[:shared] + suffix
    if len(path_b) > MAX_PATH_BYTES:
        raise _corrupt("path too long")
    if type(kcode) is not int or not 0 <= kcode < len(KINDS):
        raise _corrupt("bad entry kind")
    kind = KINDS[kcode]
    if type(mtime) is not int or type(ctime) is not int:
        raise _corrupt("bad time")
    if digest is not None and (not isinstance(digest, bytes) or len(digest) != DIGEST_SIZE):
        raise _corrupt("bad digest")
    if (target is None) != (kind != "symlink") or (target is not None and not isinstance(target, bytes)):
        raise _corrupt("bad symlink target")
    parsed_chunks = None
    if chunks is not None:
        if not isinstance(chunks, list) or len(chunks) > MAX_CHUNKS or kind != "file":
            raise _corrupt("bad chunk list")
        parsed_chunks = tuple(_parse_chunk(c) for c in chunks)
        if sum(c.length for c in parsed_chunks) != size:
            raise _corrupt("chunk lengths do not add up to the file size")
    entry = Entry(
        kind=kind,
        size=_nat(size, "size"),
        mtime_ns=mtime,
        mode=_nat(mode, "mode") & 0o7777,
        digest=digest,
        target=os.fsdecode(target) if target is not None else None,
        inode=_nat(inode, "inode"),
        ctime_ns=ctime,
        chunks=parsed_chunks,
    )
    return path_b, entry


def _parse_chunk(c: Any) -> Chunk:
    if not isinstance(c, list) or len(c) != 2 or not isinstance(c[1], bytes) or len(c[1]) != DIGEST_SIZE:
        raise _corrupt("bad chunk")
    return Chunk(_nat(c[0], "chunk length"), c[1])


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
