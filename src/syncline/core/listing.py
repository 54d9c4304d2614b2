"""An :class:`~syncline.core.index.Index` from a flat listing: what a replica that lists its whole tree in
one go (a server folder, whose listing arrives as rows) makes of it, with the same rules a scan applies.

A scan walks folders from the root and, in each, reads its ``.synclineignore`` before deciding about its
children; an ignored folder is not entered, so nothing below it is recorded. :func:`index_of_listing`
takes the same walk over the listing instead of a disk, so a remote tree and a local one ignore exactly
the same paths (``MemoryReplica.scan`` is the model it is tested against).

Safety (as ``scan``): an ignore file that cannot be read is a problem and its folder is unreadable (without
its rules nothing below it can be judged, so nothing below it is ever deleted elsewhere); a path listed
without its parent folder (a broken or hostile listing) is a problem and its parent unreadable, never
silently dropped, since a dropped path would look deleted to a planner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from .entry import DIR, FILE, Entry
from .errors import Problem
from .ignore import IGNORE_FILE, Matcher, Rules
from .index import Index, IndexHeader
from .paths import META_DIR, join, parent


class Listing:
    """A flat listing kept up to date path by path, with each folder's children: what
    :func:`index_of_listing` would otherwise rebuild from every entry on each call (a replica that keeps
    its listing across runs hands it over, and a run scoped to a few folders costs those folders)."""

    def __init__(self, entries: Iterable[tuple[str, Entry]] = ()) -> None:
        self.entries: dict[str, Entry] = {}
        self.children: dict[str, dict[str, None]] = {}  # folder -> its children's paths (an ordered set)
        for path, e in entries:
            self.put(path, e)

    def put(self, path: str, e: Entry) -> None:
        if path not in self.entries:
            self.children.setdefault(parent(path), {})[path] = None
        self.entries[path] = e

    def remove(self, path: str) -> None:
        if self.entries.pop(path, None) is None:
            return
        folder = parent(path)
        names = self.children[folder]
        del names[path]
        if not names:
            del self.children[folder]


def index_of_listing(entries: Iterable[tuple[str, Entry]] | Listing, rules: Rules, read_ignore: Callable[[str], str],
                     root: Entry | None = None, *, dirs: Sequence[tuple[str, bool]] | None = None,
                     header: IndexHeader | None = None, side: str = "") -> Index:
    """The index of a tree given as ``(path, entry)`` pairs in any order, or as a :class:`Listing` the caller
    keeps (read, never changed; the root has no entry: its entry is ``root``), with ``rules`` applied as a
    scan applies them.

    ``read_ignore(path)`` returns the text of the ignore file at ``path`` (called only for files named
    ``.synclineignore`` in folders the walk enters, when ``rules.ignore_files``); an ``OSError`` from it
    (every ``ReplicaError`` is one) is a problem, its folder unreadable. With ``dirs`` (``(folder, deep)``
    pairs, as ``Replica.scan_dirs`` takes), only those folders' entries and children (all below with
    ``deep``) are kept, exactly as the full index holds them, and ignore files are read only on the way to
    and inside them; a folder that is not one contributes nothing. ``side`` names the tree in problems.
    """
    listing = entries if isinstance(entries, Listing) else Listing(entries)
    listed: Mapping[str, Entry] = listing.entries
    children: Mapping[str, Mapping[str, None]] = listing.children
    scope = None if dirs is None else Scope([(d, deep) for d, deep in dirs
                                              if d == "" or (d in listed and listed[d].kind == DIR)])
    problems: list[Problem] = []
    unreadable: set[str] = set()
    for folder, names in children.items():
        if folder and (folder not in listed or listed[folder].kind != DIR) and _wanted(folder, scope, True):
            problems.append(Problem(folder, f"{len(names)} entries listed below it, but it is not a listed folder "
                                    "(a broken listing: nothing below it is deleted elsewhere)", side))
            while folder and not (folder in listed and listed[folder].kind == DIR):
                unreadable.add(folder)  # each missing ancestor too: deleting one elsewhere deletes it
                folder = parent(folder)

    kept: dict[str, Entry] = {}
    stack: list[tuple[str, Matcher]] = [("", rules.matcher())]
    while stack:
        folder, matcher = stack.pop()
        names = children.get(folder, {})
        ignore_file = join(folder, IGNORE_FILE)
        if rules.ignore_files and ignore_file in listed and listed[ignore_file].kind == FILE:
            try:
                matcher = matcher.with_ignore_file(folder, read_ignore(ignore_file))
            except OSError as exc:
                problems.append(Problem(ignore_file, f"cannot read ignore file: {exc.strerror or exc}", side))
                unreadable.add(folder)
        for path in names:
            e = listed[path]
            if path.rpartition("/")[2] == META_DIR or (matcher.active and matcher.ignored(path, e.kind == DIR)):
                continue
            if _wanted(path, scope, False):
                kept[path] = e
            if e.kind == DIR and _wanted(path, scope, True):
                stack.append((path, matcher))
    return Index(kept, header or IndexHeader(), problems=tuple(problems),
                 unreadable=frozenset(unreadable), root=root)


class Scope:
    """Which paths a scoped walk keeps and enters, for the scope ``dirs``: kept when it is a scoped folder, a
    child of one, or below a deep one; entered when it is a scoped folder or below a deep one, or leads to a
    scoped folder (an ancestor, whose ignore files apply below). Sets, so each question costs the depth of
    the path, not the number of scoped folders (a run scoped to a thousand folders of a big listing)."""

    def __init__(self, dirs: Sequence[tuple[str, bool]]) -> None:
        self.folders = {d for d, _ in dirs}
        self.deep = {d for d, deep in dirs if deep}
        self.leads: set[str] = set()
        for d in self.folders:
            while d not in self.leads:
                self.leads.add(d)
                if not d:
                    break
                d = parent(d)

    def _below_deep(self, path: str) -> bool:
        while path not in self.deep:
            if not path:
                return False
            path = parent(path)
        return True

    def keeps(self, path: str) -> bool:
        return path in self.folders or parent(path) in self.folders or self._below_deep(path)

    def enters(self, path: str) -> bool:
        return path in self.leads or self._below_deep(path)


def _wanted(path: str, scope: Scope | None, enter: bool) -> bool:
    """Whether ``path`` is kept (``enter`` False) or its folder entered (True); every path without a scope."""
    if scope is None:
        return True
    return scope.enters(path) if enter else scope.keeps(path)
