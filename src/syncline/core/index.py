"""The :class:`Index`: an immutable snapshot of a tree, path -> :class:`~syncline.core.entry.Entry`.

An index is what ``scan`` returns, what an index file holds, and what planners compare. Its header says
where and when it was taken; ``unreadable`` lists the paths whose content the scan could not see, so that
no planner ever deletes something merely because it could not be read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .entry import DIR, FILE, SYMLINK, Chunk, Entry, StatKey
from .errors import Problem
from .paths import parent, sort_key


@dataclass(frozen=True, slots=True)
class IndexHeader:
    """Where and when an index was taken, and how its digests were made.

    ``scanned_ns`` is the wall-clock time the scan started: a digest recorded for a file whose mtime is
    not safely older than it is not trusted later ("racily clean", as git calls it).
    """

    root: str = ""
    host: str = ""
    scanned_ns: int = 0
    digests: bool = False
    hash: str = "blake3"
    chunker: Mapping[str, int] | None = None
    tool: str = ""


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts of an index: files, dirs, symlinks and the bytes held in files."""

    files: int
    dirs: int
    symlinks: int
    bytes: int


@dataclass(frozen=True, slots=True, eq=False)
class Index(Mapping[str, Entry]):
    """A read-only mapping of relative path -> Entry, with a header and the scan's problems.

    Iteration yields paths in byte order (parents before children). ``problems`` are per-item problems the
    scan met; ``unreadable`` the paths under which the tree could not be fully read (never a reason to
    delete anything on another side); ``temp_files`` syncline's own leftover temp files (never entries).
    """

    entries: Mapping[str, Entry]
    header: IndexHeader = field(default_factory=IndexHeader)
    problems: tuple[Problem, ...] = ()
    unreadable: frozenset[str] = frozenset()
    temp_files: tuple[str, ...] = ()
    # The root directory's own mode and mtime (a mirror copies them, as rsync does for ``SRC/ DST/``).
    root: Entry | None = None
    # Files with several names (scanned with ``Keep.hard_links``): each later name -> the first one.
    hard_links: Mapping[str, str] = field(default_factory=dict)
    # True when ``entries`` is already in byte order (scan and the index reader guarantee it).
    presorted: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.presorted:
            ordered = dict(sorted(self.entries.items(), key=lambda kv: sort_key(kv[0])))
            object.__setattr__(self, "entries", ordered)
            object.__setattr__(self, "presorted", True)

    def __getitem__(self, path: str) -> Entry:
        return self.entries[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sorted_paths())

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, path: object) -> bool:
        return path in self.entries

    def sorted_paths(self) -> list[str]:
        """All paths in byte order."""
        return list(self.entries)

    def items_sorted(self) -> Iterator[tuple[str, Entry]]:
        """(path, entry) pairs in byte order."""
        return iter(self.entries.items())

    def file_digests(self) -> Iterator[tuple[str, StatKey, bytes, tuple[Chunk, ...] | None]]:
        """(path, stat key, digest, chunks) of each file that has a digest: lets an Index serve as the
        previous index of a scan, like a streamed index file."""
        for p, e in self.entries.items():
            if e.digest is not None and e.kind == FILE:
                yield p, (e.size, e.mtime_ns, e.file_id, e.ctime_ns), e.digest, e.chunks

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that are errors (not notices about skipped special files)."""
        return tuple(p for p in self.problems if p.error)

    def totals(self) -> Totals:
        files = dirs = links = size = 0
        for e in self.entries.values():
            if e.kind == FILE:
                files += 1
                size += e.size
            elif e.kind == DIR:
                dirs += 1
            elif e.kind == SYMLINK:
                links += 1
        return Totals(files, dirs, links, size)

    def is_unreadable(self, path: str) -> bool:
        """Whether ``path`` lies in (or is) a part of the tree the scan could not read."""
        if not self.unreadable:
            return False
        if "" in self.unreadable:
            return True
        while path:
            if path in self.unreadable:
                return True
            path = parent(path)
        return False
