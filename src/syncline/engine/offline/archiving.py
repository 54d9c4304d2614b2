"""``syncline archive SRC --against FAR.slidx -o FILE``: pack what brings the far tree to SRC's state.

The far tree is known only by its index file. SRC is scanned, planned against that index as one-way sync
would plan it (``core.mirror``), and every changed path becomes one op of the archive
(``core.archivefile``): the far entry it expects, the entry it should hold, and for files the content. A
file the far side holds an older version of, when the index has its chunk list, travels as a delta: the
ranges of the old version that stay, and the new chunks.

The archive is written to a temp file beside the output and renamed into place only when complete: an
interrupted or failed run leaves nothing behind. A source file that changes while it is packed stops the
run (nothing written) rather than going out torn. A source file that cannot be opened or read is left out
and reported; as the header already counted it when that shows, the archive is written again without it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ...core.chunking import Chunker
from ...core.entry import DIR, FILE, Chunk, Compare, CompareMode, Entry
from ...core.errors import Problem, SafetyStop, SynclineError, UsageError
from ...core.guard import DeleteWording, check_deletes, files_of
from ...core.hashing import digest_fd, open_regular
from ...core.index import Index
from ...core.oneway import mirror
from ...core.paths import sort_key
from ...core.scan import gc_paused, resolve_root, scan
from ...formats.archivefile import (
    DELTA,
    NONE,
    WHOLE,
    ArchiveHeader,
    ArchiveWriter,
    IndexRef,
    Piece,
    needs_wide_times,
)
from ...formats.indexfile import load_index
from ...version import __version__
from ..options import Comparison, Filters, Guards, Options
from ..outputs import output_file
from ..report import HasProblems
from ..timeline import resolve_index_path

SMALL = 8 << 20  # files up to this size are read whole into memory, then packed
READ = 1 << 20


class SourceChangedError(SynclineError):
    """A source file changed while it was being packed; the archive was not written."""

    retryable = True


@dataclass(frozen=True, kw_only=True)
class ArchiveOptions(Guards, Comparison, Filters, Options):
    """The shared parts (``rules``, ``compare``: how a far file is judged unchanged, ``max_delete``,
    ``force``) and its own: ``delete`` carries deletions (tombstones) for what SRC lacks; ``label`` is a
    free text stored in the header."""

    delete: bool = False
    label: str = ""
    output_inside_ok: bool = False  # for sync --since: a temp archive the scan skips anyway


@dataclass
class ArchiveResult(HasProblems):
    """What ``make_archive`` wrote: counts, sizes (``literal_bytes`` travel in the archive, the rest of
    ``content_bytes`` is taken from the far side's own old versions), and per-item problems."""

    output: str = ""
    ops: int = 0
    files: int = 0
    deltas: int = 0
    deletes: int = 0
    content_bytes: int = 0
    literal_bytes: int = 0
    archive_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0


def index_id(path: Path) -> bytes:
    """An index file's identity: its BLAKE3 trailer (the last 32 bytes; the file must be verified)."""
    with open(path, "rb") as fh:
        fh.seek(-32, os.SEEK_END)
        return fh.read(32)


def make_archive(src: str | os.PathLike[str], against: str | os.PathLike[str], output: str | os.PathLike[str],
                 options: ArchiveOptions | None = None) -> ArchiveResult:
    """Write the archive that brings the tree ``against`` describes to ``src``'s state. ``against`` is an
    index file or a snapshot reference (``DIR@LABEL``: the archive is for a copy at that snapshot).

    Raises :class:`UsageError` (bad paths), ``IndexFormatError`` (a bad index) or
    :class:`SourceChangedError`; then no archive file exists. Unreadable source files are left out and
    listed in the result's problems.
    """
    opts = options or ArchiveOptions()
    started = time.monotonic()
    top = resolve_root(src)
    far_path = resolve_index_path(against)
    far = load_index(far_path)
    out = _output_path(output, top, opts.output_inside_ok)
    chunker = _chunker_of(far)
    with gc_paused():
        here = scan(top, rules=opts.rules, digests=opts.compare.mode is CompareMode.CHECKSUM)
    result = ArchiveResult(output=str(out), problems=list(here.problems))
    ops = _ops(here, far, opts, result)
    if opts.delete and not opts.force:
        _guard_deletes(top, here, far, ops, opts.max_delete)
    ops = _freeze(top, ops, result)
    while True:
        header = ArchiveHeader(
            source=IndexRef(str(top), socket.gethostname(), here.header.scanned_ns, bytes(32)),
            against=IndexRef(far.header.root, far.header.host, far.header.scanned_ns, index_id(far_path)),
            delete=opts.delete, compare=_compare_name(opts.compare), ops=len(ops),
            content_bytes=sum(e.size for _, _, e, c in ops if c != NONE and e is not None),
            created_ns=time.time_ns(), tool=f"syncline {__version__}", label=opts.label,
            root_mtime_ns=here.root.mtime_ns if here.root is not None else None)
        try:
            writer = _write(out, header, ops, top, chunker, result)
            break
        except _Unreadable as exc:
            # The header already counted the file, and what was written cannot be taken back: start
            # again without it. Each round drops one file, so this ends.
            result.problems.append(exc.problem)
            ops = [op for op in ops if op[0] != exc.problem.path]
    result.ops = len(ops)
    result.deletes = sum(1 for _, _, e, _ in ops if e is None)
    result.content_bytes = writer.content_bytes
    result.literal_bytes = writer.literal_bytes
    result.archive_bytes = out.stat().st_size
    result.seconds = time.monotonic() - started
    return result


class _Unreadable(Exception):
    """A source file could not be opened or read while it was packed (``problem`` says which and why)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _write(out: Path, header: ArchiveHeader, ops: list[OpRow], top: Path, chunker: Chunker | None,
           result: ArchiveResult) -> ArchiveWriter:
    """Write the whole archive to ``out`` (all or nothing); counts packed files into ``result``.

    Raises :class:`_Unreadable` for a source file that fails to open or read (the temp file is removed),
    and lets every other error through, including those of writing ``out``."""
    result.files = result.deltas = 0
    with output_file(out) as fh:
        writer = ArchiveWriter(fh, header, wide_times=needs_wide_times(
            header, (e for _, expect, entry, _ in ops for e in (expect, entry))))
        for path, expect, entry, content in ops:
            if content == NONE:
                writer.add(path, expect, entry)
                continue
            assert entry is not None
            packed_entry, kind, pieces = _pack(top, path, entry, expect, chunker)
            writer.add(path, expect, packed_entry, kind, pieces)
            result.files += 1
            result.deltas += kind == DELTA
        writer.close()
    return writer


_ARCHIVE = DeleteWording(
    stop="the archive would delete {deletes} files on the far side, more than --max-delete ({limit})",
    share="{share:.0%} of its {files} files",
    hint="check the source; raise --max-delete or add --force to go ahead",
)


def _guard_deletes(top: Path, here: Index, far: Index, ops: list[OpRow], max_delete: int | float) -> None:
    """An empty or unmounted source must not become an archive that empties the far side."""
    far_files = files_of(far.entries)
    deletes = sum(1 for _, x, e, _ in ops if e is None and x is not None and x.kind != DIR)
    if not deletes:
        return
    if not len(here):
        raise SafetyStop(f"{top} is empty: an archive with --delete would delete all {far_files} files of the far "
                         "side", "check that it is mounted; add --force if that is what you want")
    stop = check_deletes(max_delete, deletes, far_files, _ARCHIVE)
    if stop is not None:
        raise stop


def _output_path(output: str | os.PathLike[str], top: Path, inside_ok: bool) -> Path:
    out = Path(os.path.abspath(os.fspath(output)))
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: its directory does not exist", "create it or pick another path")
    if out.is_dir():
        raise UsageError(f"cannot write {out}: it is a directory", "give a file name such as delta.slar")
    if out.is_relative_to(top) and not inside_ok:
        raise UsageError(f"{out} is inside the source {top}", "write the archive somewhere outside the source")
    return out


def _chunker_of(far: Index) -> Chunker | None:
    if far.header.chunker is None:
        return None
    try:
        return Chunker.from_params(far.header.chunker)
    except ValueError as exc:
        raise UsageError(f"the index was made with chunker parameters this syncline does not know ({exc})",
                         "make the index again with this syncline, or without --chunks") from None


def _compare_name(compare: Compare) -> str:
    return {CompareMode.MTIME: "mtime", CompareMode.SIZE: "size", CompareMode.CHECKSUM: "hash"}[compare.mode]


OpRow = tuple[str, Entry | None, Entry | None, int]  # path, expect, entry, content


def _ops(here: Index, far: Index, opts: ArchiveOptions, result: ArchiveResult) -> list[OpRow]:
    """One op per changed path, in byte order: the one-way plan from ``here`` to ``far``, merged per path."""
    plan = mirror(here, far, delete=opts.delete, compare=opts.compare)
    result.problems.extend(plan.problems)
    rows: dict[str, list[Entry | None]] = {}
    content: dict[str, int] = {}
    for act in plan.actions:
        if act.path == "":
            continue  # the root's mtime travels in the header; its mode is the far side's business
        row = rows.get(act.path)
        if row is None:
            row = rows[act.path] = [act.expect, act.entry]
        elif act.entry is not None:
            row[1] = act.entry
        if act.op == "copy":
            content[act.path] = WHOLE
    out = [(p, x, e, content.get(p, NONE)) for p, (x, e) in rows.items()]
    out.sort(key=lambda r: sort_key(r[0]))
    return out


def _freeze(top: Path, ops: list[OpRow], result: ArchiveResult) -> list[OpRow]:
    """Take each file's stat as of now (the header must state sizes before any content is written) and
    leave out the files that cannot be opened, as problems."""
    out: list[OpRow] = []
    for path, expect, entry, content in ops:
        if content == NONE or entry is None:
            out.append((path, expect, entry, content))
            continue
        try:
            fd, st = open_regular(f"{top}/{path}")
            os.close(fd)
        except FileNotFoundError:
            result.problems.append(Problem(path, "vanished since the scan; left out", "source", error=False))
            continue
        except OSError as exc:
            result.problems.append(Problem(path, f"cannot read: {exc.strerror or exc}; left out", "source"))
            continue
        frozen = entry._replace(size=st.st_size, mtime_ns=st.st_mtime_ns, mode=st.st_mode & 0o7777,
                                file_id=st.st_ino, ctime_ns=st.st_ctime_ns, digest=None)
        out.append((path, expect, frozen, content))
    return out


def _stable(fd: int, entry: Entry, path: str) -> None:
    st = os.fstat(fd)
    if (st.st_size, st.st_mtime_ns, st.st_ctime_ns) != (entry.size, entry.mtime_ns, entry.ctime_ns):
        raise SourceChangedError(f"{path} changed while the archive was being made; no archive was written",
                                 "run the command again when the file is quiet")


def _pack(top: Path, path: str, entry: Entry, expect: Entry | None,
          chunker: Chunker | None) -> tuple[Entry, int, Iterator[Piece]]:
    """(entry with its digest, content kind, pieces) for one source file. The digest is known before the
    pieces are written; the pieces are checked against it while they are read. Raises :class:`_Unreadable`
    when the file cannot be opened or read (here or while the pieces are read)."""
    import blake3

    with _reading(path):
        fd, _ = open_regular(f"{top}/{path}")
    try:
        with _reading(path):
            _stable(fd, entry, path)
            chunks = expect.chunks if expect is not None and expect.kind == FILE else None
            if chunker is not None and chunks and chunker.wants(entry.size):
                digest, mine = chunker.chunk_fd(fd)
                _stable(fd, entry, path)
                return entry._replace(digest=digest), DELTA, _delta_pieces(fd, path, entry, mine, chunks)
            if entry.size <= SMALL:
                data = _read_all(fd, entry.size)
                _stable(fd, entry, path)
                os.close(fd)
                return entry._replace(digest=blake3.blake3(data).digest()), WHOLE, iter((data,))
            digest = digest_fd(fd, entry.size)
            _stable(fd, entry, path)
            return entry._replace(digest=digest), WHOLE, _stream_pieces(fd, path, entry, digest)
    except BaseException:
        _close_quiet(fd)
        raise


@contextlib.contextmanager
def _reading(path: str) -> Iterator[None]:
    """Turn an ``OSError`` of reading the source file ``path`` into :class:`_Unreadable`. Only source reads
    go through here: an error writing the archive must stop the run, not drop a file."""
    try:
        yield
    except FileNotFoundError:
        raise _Unreadable(Problem(path, "vanished since the scan; left out", "source", error=False)) from None
    except OSError as exc:
        raise _Unreadable(Problem(path, f"cannot read: {exc.strerror or exc}; left out", "source")) from None


def _close_quiet(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _read_all(fd: int, size: int) -> bytes:
    parts = []
    got = 0
    while got < size:
        data = os.pread(fd, min(READ, size - got), got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _stream_pieces(fd: int, path: str, entry: Entry, digest: bytes) -> Iterator[Piece]:
    import blake3

    hasher = blake3.blake3()
    try:
        offset = 0
        while offset < entry.size:
            with _reading(path):
                data = os.pread(fd, min(READ, entry.size - offset), offset)
            if not data:
                break
            hasher.update(data)
            offset += len(data)
            yield data
        with _reading(path):
            _stable(fd, entry, path)
        if hasher.digest() != digest:
            raise SourceChangedError(f"{path} changed while the archive was being made; no archive was written",
                                     "run the command again when the file is quiet")
    finally:
        _close_quiet(fd)


def _delta_pieces(fd: int, path: str, entry: Entry, mine: tuple[Chunk, ...],
                  theirs: tuple[Chunk, ...]) -> Iterator[Piece]:
    """Ranges of the far version for chunks it has, this file's bytes for the others (adjacent ranges
    merged: an unchanged stretch of a big file is one range)."""
    import blake3

    where: dict[bytes, int] = {}
    offset = 0
    for c in theirs:
        where.setdefault(c.digest, offset)
        offset += c.length
    try:
        run: tuple[int, int] | None = None
        pos = 0
        for c in mine:
            at = where.get(c.digest)
            if at is not None:
                if run is not None and run[0] + run[1] == at:
                    run = (run[0], run[1] + c.length)
                else:
                    if run is not None:
                        yield run
                    run = (at, c.length)
            else:
                if run is not None:
                    yield run
                    run = None
                with _reading(path):
                    data = os.pread(fd, c.length, pos)
                if len(data) != c.length or blake3.blake3(data).digest() != c.digest:
                    raise SourceChangedError(f"{path} changed while the archive was being made; no archive "
                                             "was written", "run the command again when the file is quiet")
                yield data
            pos += c.length
        if run is not None:
            yield run
        with _reading(path):
            _stable(fd, entry, path)
    finally:
        _close_quiet(fd)
