"""``scan``: the only code that reads a tree. Walks a root into an :class:`~syncline.core.index.Index`.

Symlinks are recorded as links and never followed. Fifos, sockets and devices are skipped with a notice.
An unreadable file or directory is a per-item problem and is listed in ``Index.unreadable``; the scan goes
on. Syncline's own temp files (the temp names of the runs recorded in ``<root>/.syncline/runs``) are never
recorded (``Index`` lists them in ``temp_files``), and no ``.syncline`` folder, at any depth, is scanned.

Digests (BLAKE3) are computed in parallel threads when asked for, and reused from a previous index when the
file's stat key (size, mtime_ns, inode, ctime_ns) is unchanged and its mtime is safely older than that
scan's start: a file modified within ``RACY_WINDOW_NS`` of a scan may have changed again within the same
timestamp tick, so its old digest is not trusted.
"""

from __future__ import annotations

import errno
import gc
import os
import socket
import stat
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from .chunking import Chunker
from .entry import DIR, FILE, SYMLINK, Attrs, Chunk, Entry, Keep, Kind, StatKey, special_kind_name
from .errors import IndexFormatError, Problem, UsageError
from .hashing import RACY_WINDOW_NS
from .ignore import IGNORE_FILE, Matcher, Rules
from .index import Index, IndexHeader
from .paths import META_DIR, RUN_ID_RE, RUNS_DIR, is_name, is_under, join, run_temp, sort_key

HASH_BATCH = 256


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building big indexes.

    Hundreds of thousands of new tuples trigger collection after collection, each one scanning the
    growing heap, although entries never form cycles (measured: scan and plan 10-20% faster).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def default_workers() -> int:
    """Hashing threads: one per core. More threads only queue on the GIL between the many short system
    calls of small files (measured: 2 threads beat 4 and 8 on 2 cores for 50,000 small files)."""
    return max(2, os.cpu_count() or 2)


class Previous(Protocol):
    """A previous index to take digests from: an :class:`Index` or an ``IndexReader`` (streamed)."""

    @property
    def header(self) -> IndexHeader: ...

    def file_digests(self) -> Iterator[tuple[str, StatKey, bytes, tuple[Chunk, ...] | None]]: ...


@dataclass
class ScanResult:
    """Everything a walk found; turned into an :class:`Index` by :func:`scan`."""

    entries: dict[str, Entry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)
    temp_files: list[str] = field(default_factory=list)
    bytes_order: bool = False  # some name is not valid UTF-8: sort by bytes, not code points
    runs: frozenset[str] = frozenset()  # the runs whose temp names are syncline's in this tree
    # With ``Keep.hard_links``: the paths of each file with more than one link, by (device, inode).
    inodes: dict[tuple[int, int], list[str]] | None = None

    def hard_links(self) -> dict[str, str]:
        """Each path of a file that shares its inode with an earlier path (byte order) -> that path."""
        out: dict[str, str] = {}
        for names in (self.inodes or {}).values():
            names = [p for p in names if p in self.entries]
            if len(names) > 1:
                names.sort(key=sort_key)
                out.update((p, names[0]) for p in names[1:])
        return out


def recorded_runs(top: str | os.PathLike[str]) -> frozenset[str]:
    """The ids of the runs recorded in ``<top>/.syncline/runs`` (live or killed): their temp names in the
    tree are syncline's, not the user's."""
    try:
        names = os.listdir(f"{os.fspath(top)}/{META_DIR}/{RUNS_DIR}")
    except OSError:
        return frozenset()
    return frozenset(n for n in names if RUN_ID_RE.match(n))


def resolve_root(root: str | os.PathLike[str]) -> Path:
    """The absolute root directory, or :class:`UsageError` when it is missing or not a directory."""
    path = Path(os.path.abspath(os.fspath(root)))
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no such directory: {path}", "check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", "check the path and its permissions") from None
    if not (st.st_mode & 0o170000 == 0o040000):
        raise UsageError(f"not a directory: {path}", "give a directory")
    return path


def scan(
    root: str | os.PathLike[str],
    *,
    rules: Rules | None = None,
    digests: bool = True,
    previous: Previous | None = None,
    workers: int | None = None,
    side: str = "",
    on_progress: Callable[[int], None] | None = None,
    chunker: Chunker | None = None,
    keep: Keep | None = None,
) -> Index:
    """Scan ``root`` into an Index.

    ``digests`` hashes every file, reusing digests of ``previous`` (an Index, or a streamed index file
    reader) where the stat key allows. ``chunker`` (with ``digests``) also records the chunk list of each
    file it wants, for offline archives; a previous chunk list is reused only when made with the same
    parameters. ``side`` names
    the root in problems. ``on_progress`` is called with the number of entries seen so far, now and then.
    ``keep`` records what it keeps beyond mode and mtime: :class:`Attrs` (owner, group, extended
    attributes) on each entry, and with ``hard_links`` the index's ``hard_links``.
    Raises :class:`UsageError` when ``root`` is missing or not a directory; everything else is a problem.
    """
    top = resolve_root(root)
    started_ns = time.time_ns()
    root_st = top.stat()
    found = _walk(top, rules or Rules(), side, on_progress, result=_result(top, keep), keep=keep)
    if digests:
        _hash_files(top, found, previous, workers or default_workers(), side, chunker)
    entries = _in_byte_order(found)
    header = IndexHeader(
        root=str(top),
        host=socket.gethostname(),
        scanned_ns=started_ns,
        digests=digests,
        chunker=chunker.params() if chunker is not None and digests else None,
    )
    return Index(
        entries,
        header,
        problems=tuple(found.problems),
        unreadable=frozenset(found.unreadable),
        temp_files=tuple(found.temp_files),
        root=_entry_of(DIR, root_st, keep, f"{top}/"),  # the root is followed (a "/" does it)
        hard_links=found.hard_links(),
        presorted=True,
    )


def _result(top: Path, keep: Keep | None) -> ScanResult:
    return ScanResult(runs=recorded_runs(top), inodes={} if keep is not None and keep.hard_links else None)


def scan_dirs(
    root: str | os.PathLike[str],
    dirs: Iterable[tuple[str, bool]],
    *,
    rules: Rules | None = None,
    side: str = "",
    digests: bool = False,
    keep: Keep | None = None,
    names: Mapping[str, Collection[str]] | None = None,
) -> Index:
    """An Index of parts of ``root``: for each ``(directory, deep)``, the directory's own entry and its
    children, and with ``deep`` everything below them (``""`` is the root); ``digests`` hashes the files.
    ``names`` narrows a shallow directory to the children it names (each looked at by itself, with no
    listing: a child that is not there contributes nothing, one that is a directory only its own entry).

    The rules are those of a full scan: the ignore files of each directory's ancestors apply, and a
    directory that is ignored, missing, not a directory, or below a symlink contributes nothing (a missing
    one is not a problem: it is gone). What a real-time mirror calls once per batch of changed folders.
    """
    top = resolve_root(root)
    started_ns = time.time_ns()
    root_st = top.stat()
    rules = rules or Rules()
    found = _result(top, keep)
    if names and any(not is_name(n) for ns in names.values() for n in ns):
        raise UsageError("a scan of named children takes names, not paths", "give each child's name alone")
    starts: list[_Start] = []
    for rel_dir, deep in _outermost(dirs):
        matcher = _matcher_above(top, rel_dir, rules, found, side)
        if matcher is None:
            continue
        if rel_dir:
            try:
                st = os.lstat(f"{top}/{rel_dir}")
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            found.entries[rel_dir] = _entry_of(DIR, st, keep, f"{top}/{rel_dir}")
        starts.append((rel_dir, matcher, deep, None if deep or names is None else names.get(rel_dir)))
    _walk(top, rules, side, None, starts, found, keep)
    if digests:
        _hash_files(top, found, None, default_workers(), side, None)
    entries = _in_byte_order(found)
    header = IndexHeader(root=str(top), host=socket.gethostname(), scanned_ns=started_ns, digests=digests)
    return Index(entries, header, problems=tuple(found.problems), unreadable=frozenset(found.unreadable),
                 temp_files=tuple(found.temp_files), root=_entry_of(DIR, root_st, keep, f"{top}/"),
                 hard_links=found.hard_links(), presorted=True)


def count_files(root: str | os.PathLike[str]) -> int:
    """The files (entries that are not folders) a full scan without ignore rules would record under
    ``root``, counted from the listings' entry types with no stat per entry: what a deletion guard needs
    of a tree it does not otherwise scan. As in a scan, ``.syncline`` folders, syncline's own temp files,
    special files and what is below a folder that cannot be listed are not counted; an entry the scan
    could not stat is."""
    top = os.fspath(resolve_root(root))
    runs = recorded_runs(top)
    files = 0
    stack = [top]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                listing = list(it)
        except OSError:
            continue
        for d in listing:
            name = d.name
            if name[0] == "." and (name == META_DIR or (runs and _own_temp(name, runs))):
                continue
            try:
                if d.is_dir(follow_symlinks=False):
                    stack.append(d.path)
                elif d.is_file(follow_symlinks=False) or d.is_symlink():
                    files += 1
            except OSError:
                continue
    return files


def find_inodes(root: str | os.PathLike[str], inodes: Iterable[int]) -> dict[int, list[str]] | None:
    """The paths (relative, with ``/``) of the entries below ``root`` whose inode is one of ``inodes``, read
    from the folders' listings with no stat per entry (a listing carries each entry's inode): every path a
    scan would record such an entry at, and maybe more (ignored paths, syncline's temp files), never fewer.
    As in a scan, ``.syncline`` folders and what is below a folder that cannot be listed are left out.

    None when a listing does not carry the inodes a stat gives (the first entry of each folder is checked:
    an overlay file system may number them apart), or the root cannot be listed: the caller scans."""
    wanted = frozenset(inodes)
    top = os.fspath(root)
    found: dict[int, list[str]] = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        prefix = f"{rel_dir}/" if rel_dir else ""
        try:
            with os.scandir(f"{top}/{rel_dir}" if rel_dir else top) as it:
                listing = list(it)
        except OSError:
            if not rel_dir:
                return None
            continue
        checked = False
        for d in listing:
            name = d.name
            if name == META_DIR:
                continue
            inode = d.inode()
            try:
                if not checked:
                    if d.stat(follow_symlinks=False).st_ino != inode:
                        return None
                    checked = True
                if inode in wanted:
                    found.setdefault(inode, []).append(prefix + name)
                if d.is_dir(follow_symlinks=False):
                    stack.append(prefix + name)
            except FileNotFoundError:
                continue  # gone since the listing: as a scan, never there
            except OSError:
                return None
    return found


def _outermost(dirs: Iterable[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The directories to list, without those a deep one above already covers (a deep request wins over a
    shallow one for the same directory)."""
    wanted: dict[str, bool] = {}
    for d, deep in dirs:
        wanted[d] = wanted.get(d, False) or deep
    deep_dirs = sorted((d for d, deep in wanted.items() if deep), key=sort_key)
    out = []
    for d, deep in sorted(wanted.items(), key=lambda kv: sort_key(kv[0])):
        if any(d != top_dir and is_under(d, top_dir) for top_dir in deep_dirs):
            continue
        out.append((d, deep))
    return out


def _matcher_above(top: Path, rel_dir: str, rules: Rules, found: ScanResult, side: str) -> Matcher | None:
    """The matcher a full walk would have when it lists ``rel_dir``: the ignore files of every ancestor
    (``rel_dir``'s own is added by the walk). None when ``rel_dir`` or an ancestor is ignored, or a
    symlink or not a directory."""
    matcher = rules.matcher()
    parts = rel_dir.split("/") if rel_dir else []
    here = ""
    for name in parts:
        if rules.ignore_files and os.path.isfile(f"{top}/{here}/{IGNORE_FILE}" if here else f"{top}/{IGNORE_FILE}"):
            matcher = _add_ignore_file(matcher, here, f"{top}/{here}/{IGNORE_FILE}" if here else
                                       f"{top}/{IGNORE_FILE}", found, side)
        here = join(here, name)
        if matcher.active and matcher.ignored(here, True):
            return None
        if not rel_dir or here != rel_dir:
            try:
                if not stat.S_ISDIR(os.lstat(f"{top}/{here}").st_mode):
                    _not_a_folder(found, rel_dir, side)
                    return None
            except OSError:
                return None
    if any(p == META_DIR or _own_temp(p, found.runs) for p in parts):
        return None  # syncline's own folders and temp files are never scanned
    return matcher


def _not_a_folder(found: ScanResult, rel_dir: str, side: str) -> None:
    """On a destination, a folder asked for that has a symlink or a file on its way is not "absent": what it
    held cannot be seen, so nothing below it may be taken for deleted, and the folder is worth asking for
    again (a watch retries it: the tree may be changing under the push)."""
    if side == "destination":
        found.problems.append(Problem(rel_dir, "a parent folder is a symlink or a file here (not followed)", side,
                                      errno=errno.ENOTDIR))
        found.unreadable.add(rel_dir)


def _own_temp(name: str, runs: frozenset[str]) -> bool:
    temp = run_temp(name)
    return temp is not None and temp[1] in runs


_KIND_BY_FMT: dict[int, Kind] = {stat.S_IFREG: FILE, stat.S_IFDIR: DIR, stat.S_IFLNK: SYMLINK}


_Start = tuple[str, Matcher, bool, Collection[str] | None]


class _Named:
    """A child named by the caller, in place of the ``os.DirEntry`` a listing gives (what the walk uses of
    one): looked at by itself, so a folder with 10,000 children costs one ``lstat`` per named child."""

    __slots__ = ("name", "path")

    def __init__(self, name: str, path: str) -> None:
        self.name, self.path = name, path

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        return os.stat(self.path, follow_symlinks=follow_symlinks)


def _walk(top: Path, rules: Rules, side: str, on_progress: Callable[[int], None] | None,
          starts: list[_Start] | None = None, result: ScanResult | None = None,
          keep: Keep | None = None) -> ScanResult:
    """Walk ``top`` from ``starts`` ((directory, its matcher, whether to go below its children, the
    children to look at: None for all); default: the whole tree) into ``result``."""
    # The hot loop of every command: one lstat per entry and as little Python around it as possible.
    result = result if result is not None else ScanResult()
    entries = result.entries
    problems = result.problems
    kind_by_fmt = _KIND_BY_FMT
    modes: dict[int, int] = {}
    new = partial(tuple.__new__, Entry)  # an Entry without NamedTuple's Python-level __new__
    stack: list[_Start] = starts if starts is not None else [("", rules.matcher(), True, None)]
    root_str = str(top)
    runs = result.runs
    attrs_of = attrs_reader(keep) if keep is not None and keep.attrs else None
    inodes = result.inodes
    while stack:
        rel_dir, matcher, deep, named = stack.pop()
        abs_dir = f"{root_str}/{rel_dir}" if rel_dir else root_str
        prefix = f"{rel_dir}/" if rel_dir else ""
        listing: list[os.DirEntry[str]] | list[_Named]
        if named is not None:
            listing = [_Named(n, f"{abs_dir}/{n}") for n in named]
            has_ignore_file = rules.ignore_files and os.path.isfile(f"{abs_dir}/{IGNORE_FILE}")
        else:
            try:
                with os.scandir(abs_dir) as it:
                    listing = list(it)
            except OSError as exc:
                problems.append(Problem(rel_dir, f"cannot list directory: {exc.strerror}", side,
                                        errno=exc.errno or 0))
                result.unreadable.add(rel_dir)
                continue
            has_ignore_file = rules.ignore_files and any(d.name == IGNORE_FILE for d in listing)
        if has_ignore_file:
            matcher = _add_ignore_file(matcher, rel_dir, f"{abs_dir}/{IGNORE_FILE}", result, side)
        active = matcher.active
        for d in listing:
            name = d.name
            if name[0] == ".":
                if name == META_DIR:
                    continue
                if runs and _own_temp(name, runs):
                    result.temp_files.append(prefix + name)
                    continue
            if not name.isascii() and not result.bytes_order:
                result.bytes_order = _has_surrogates(name)
            rel = prefix + name
            try:
                st = d.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished since the listing: as if never there
            except OSError as exc:
                problems.append(Problem(rel, f"cannot stat: {exc.strerror}", side, errno=exc.errno or 0))
                result.unreadable.add(rel)
                continue
            kind = kind_by_fmt.get(stat.S_IFMT(st.st_mode))
            if kind is None:
                if not (active and matcher.ignored(rel, False)):
                    problems.append(Problem(rel, f"skipped {special_kind_name(st.st_mode)}", side, error=False))
                continue
            if active and matcher.ignored(rel, kind == DIR):
                continue
            # Equal ints share one object: a million entries are about 60 bytes each smaller.
            mode = modes.setdefault(st.st_mode & 0o7777, st.st_mode & 0o7777)
            mtime = st.st_mtime_ns
            ctime = st.st_ctime_ns
            if ctime == mtime:
                ctime = mtime
            attrs = attrs_of(d.path, st) if attrs_of is not None else None
            if kind == FILE:
                entries[rel] = new((FILE, st.st_size, mtime, mode, None, None, st.st_ino, ctime, None, attrs, None))
                if inodes is not None and st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif kind == DIR:
                entries[rel] = new((DIR, 0, mtime, mode, None, None, st.st_ino, ctime, None, attrs, None))
                if deep:
                    stack.append((rel, matcher, True, None))
            else:
                try:
                    target = os.readlink(d.path)
                except OSError as exc:
                    problems.append(Problem(rel, f"cannot read link: {exc.strerror}", side))
                    result.unreadable.add(rel)
                    continue
                entries[rel] = Entry(SYMLINK, len(os.fsencode(target)), st.st_mtime_ns, st.st_mode & 0o7777,
                                     None, target, st.st_ino, st.st_ctime_ns, None, attrs)
        if on_progress is not None:
            on_progress(len(entries))
    return result


def _has_surrogates(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _entry_of(kind: Kind, st: os.stat_result, keep: Keep | None = None, path: str = "") -> Entry:
    attrs = attrs_reader(keep)(path, st) if keep is not None and keep.attrs else None
    return Entry(kind, st.st_size if kind == FILE else 0, st.st_mtime_ns, st.st_mode & 0o7777,
                 file_id=st.st_ino, ctime_ns=st.st_ctime_ns, attrs=attrs)


def read_xattrs(names: Callable[[], list[str]], value: Callable[[str], bytes], keep: Keep) -> tuple[
        tuple[str, bytes], ...]:
    """The extended attributes ``keep`` keeps, sorted by name, through ``names()`` and ``value(name)``
    (``os.listxattr``/``os.getxattr`` of one path or descriptor). A file system without extended
    attributes has none; one removed meanwhile is left out."""
    try:
        wanted = sorted(n for n in names() if keep.wants_xattr(n))
    except OSError:
        return ()
    out = []
    for n in wanted:
        try:
            out.append((n, value(n)))
        except OSError:
            continue
    return tuple(out)


def attrs_reader(keep: Keep) -> Callable[[str, os.stat_result], Attrs]:
    """A function (path, its lstat) -> interned :class:`Attrs`: equal values share one object. Reads
    extended attributes (one ``listxattr`` per entry) only when ``keep`` keeps them."""
    interned: dict[object, Attrs] = {}
    make = partial(tuple.__new__, Attrs)
    if not keep.any_xattrs:
        def ids_only(path: str, st: os.stat_result) -> Attrs:
            key = (st.st_uid, st.st_gid)
            a = interned.get(key)
            if a is None:
                a = interned[key] = make((st.st_uid, st.st_gid, ()))
            return a
        return ids_only

    def with_xattrs(path: str, st: os.stat_result) -> Attrs:
        xs = read_xattrs(lambda: os.listxattr(path, follow_symlinks=False),
                         lambda n: os.getxattr(path, n, follow_symlinks=False), keep)
        a = make((st.st_uid, st.st_gid, xs))
        return interned.setdefault(a, a)
    return with_xattrs


def _in_byte_order(found: ScanResult) -> dict[str, Entry]:
    """The entries in byte order of their paths. Code-point order of ``str`` is the same as UTF-8 byte
    order, so the encoding step is only needed when some name is not valid UTF-8."""
    entries = found.entries
    if found.bytes_order:
        return {p: entries[p] for p in sorted(entries, key=sort_key)}
    return {p: entries[p] for p in sorted(entries)}


def _add_ignore_file(matcher: Matcher, rel_dir: str, path: str, result: ScanResult, side: str) -> Matcher:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return matcher.with_ignore_file(rel_dir, fh.read())
    except OSError as exc:
        rel = join(rel_dir, IGNORE_FILE)
        result.problems.append(Problem(rel, f"cannot read ignore file: {exc.strerror}", side))
        # Without its rules we cannot know what the directory means to ignore: never delete under it.
        result.unreadable.add(rel_dir)
        return matcher


def _reuse_digests(found: ScanResult, previous: Previous, side: str, chunker: Chunker | None) -> None:
    """Take digests from ``previous`` for files whose stat key is unchanged.

    ``previous`` is streamed (an index file need not be loaded whole). Digests are applied as they come
    and all taken back if the stream turns out damaged (its checksum is checked at the end), so a damaged
    previous index is never trusted; only the list of paths is kept meanwhile, not a second entry each.
    A file that needs a chunk list is reused only with a chunk list made with ``chunker``'s parameters.
    """
    entries = found.entries
    get = entries.get
    trusted_before = previous.header.scanned_ns - RACY_WINDOW_NS
    applied: list[str] = []
    new_entry = Entry._make
    same_chunker = chunker is not None and previous.header.chunker == chunker.params()
    min_chunked = chunker.min_file_size if chunker is not None else -1
    try:
        for rel, (size, mtime, inode, ctime), digest, chunks in previous.file_digests():
            e = get(rel)
            # Entry fields by position: 0 kind, 1 size, 2 mtime_ns, 3 mode, 6 file_id (the inode), 7 ctime_ns.
            if (e is not None and e[2] == mtime and e[1] == size and e[7] == ctime and e[6] == inode
                    and e[0] == FILE and mtime < trusted_before):
                if chunker is None:
                    chunks = None
                elif size >= min_chunked and not (same_chunker and chunks is not None):
                    continue  # a chunk list is needed that the previous index does not have
                elif size < min_chunked:
                    chunks = None
                entries[rel] = new_entry((FILE, size, mtime, e[3], digest, None, inode, ctime, chunks, e[9], None))
                applied.append(rel)
    except IndexFormatError as exc:
        for rel in applied:
            entries[rel] = entries[rel]._replace(digest=None, chunks=None)
        found.problems.append(Problem("", f"not reusing digests of the previous index: {exc.message}", side,
                                      error=False))


def _hash_files(top: Path, found: ScanResult, previous: Previous | None, workers: int, side: str,
                chunker: Chunker | None) -> None:
    from .hashing import ChangingFileError, hash_file

    if previous is not None:
        _reuse_digests(found, previous, side, chunker)
    entries = found.entries
    todo = [rel for rel, e in entries.items() if e.kind == FILE and e.digest is None]
    if not todo:
        return
    root = str(top)

    def work(batch: list[str]) -> list[tuple[str, Entry | Problem]]:
        out: list[tuple[str, Entry | Problem]] = []
        for rel in batch:
            try:
                out.append((rel, hash_file(join(root, rel), entries[rel], chunker)))
            except ChangingFileError as exc:
                out.append((rel, Problem(rel, str(exc), side)))
            except FileNotFoundError:
                out.append((rel, Problem(rel, "vanished during the scan", side, error=False)))
            except OSError as exc:
                out.append((rel, Problem(rel, f"cannot read: {exc.strerror or exc}", side)))
        return out

    batches: Iterator[list[str]] = (todo[i : i + HASH_BATCH] for i in range(0, len(todo), HASH_BATCH))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="syncline-hash") as pool:
        for results in pool.map(work, batches):
            for rel, res in results:
                if isinstance(res, Entry):
                    entries[rel] = res
                elif res.error:
                    found.problems.append(res)
                    found.unreadable.add(rel)
                else:
                    del entries[rel]
