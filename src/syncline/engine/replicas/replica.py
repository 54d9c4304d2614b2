"""The Replica interface: what the executor needs from a place where a tree lives.

A source replica is read (``scan``, ``open_file``); a target replica is written through two-phase file
writes (``stage_file`` makes a complete temp copy; ``commit`` re-checks the destination and renames it into
place) plus small direct operations. Every writing call takes ``expect``, the entry the plan saw at the
path (None for "absent"), and keeps whatever it finds there when that moved on (see DESIGN section 4).

Everything above the engine (one-way sync, the real-time mirror) reaches a target only through this
interface, so that a replica on a syncline server or a WebDAV share plugs in without changes there:
``LocalReplica`` is one implementation, not an assumption. The root-level calls (``exists``,
``create_root``, ``lock``, ``read_meta``, ``write_meta``) are what a caller needs before it writes: whether
the tree is there at all, and the small files (markers) that say whose it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from ...core.entry import Entry
from ...core.ignore import Rules
from ...core.index import Index


@dataclass(frozen=True, slots=True)
class Features:
    """What a replica can keep and do."""

    mtime_ns_precision: int = 1
    case_sensitive: bool = True
    symlinks: bool = True
    permissions: bool = True
    # Whether ``scan`` may run in a forked child process (a local walk; not a network client's session).
    scan_in_child: bool = False


class SourceFile(Protocol):
    """An open source file: its stat at open time, and a way to tell whether it changed since."""

    entry: Entry

    def fileno(self) -> int: ...

    def changed(self) -> bool: ...


class Staged(Protocol):
    """A complete temp copy waiting to be committed under its real name."""

    path: str
    size: int

    def discard(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one action at the target: ``note`` explains a kept or skipped destination.
    ``inode`` is what the path's inode is now, when the replica was asked to tell (0: not told).
    ``notice`` names what of a done action the target could not keep (an extended attribute its file
    system refuses, an owner it cannot give): reported, not an error."""

    done: bool
    note: str = ""
    trashed: bool = False
    inode: int = 0
    notice: str = ""


class Replica(Protocol):
    """A directory tree syncline can read and write."""

    def features(self) -> Features: ...

    def describe(self) -> str: ...

    def scan(self, rules: Rules, digests: bool, side: str) -> Index: ...

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        """Part of the tree: for each ``(folder, deep)`` the folder's entry and children (``deep``: all
        below), exactly as a full ``scan`` would record them; a missing folder contributes nothing."""
        ...

    def is_empty(self) -> bool:
        """Whether the root holds nothing but syncline's own files (what an unmounted disk's mount point
        looks like). Cheap: it stops at the first entry."""
        ...

    def exists(self) -> bool:
        """Whether the root is there (False: unmounted, removed, not reachable)."""
        ...

    def create_root(self) -> None:
        """Create the root, whose parent must exist (OSError otherwise). Never creates parents: a root
        whose parent is gone is an unmounted disk, not a place to fill."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Hold the exclusive right to write into this tree (``BusyError`` if another run holds it).
        Entering finishes what a killed run left half done (its temp files removed, the versions it had
        swapped out moved to the trash)."""
        ...

    def session(self) -> AbstractContextManager[None]:
        """Keep what the replica opens (descriptors, a connection) open while the block runs; outside a
        session each call may let go of it when it returns. :meth:`lock` holds a session too."""
        ...

    def close(self) -> None:
        """End this replica's run and release what it holds (descriptors, its claim on its temp names).
        Call it once the replica is no longer used; a replica is one run until then."""
        ...

    def read_meta(self, name: str) -> str | None:
        """The text of the replica's own small file ``name`` (kept outside the synced tree, e.g. in
        ``.syncline/``); None when there is none."""
        ...

    def write_meta(self, name: str, text: str) -> None:
        """Write the replica's own small file ``name`` atomically and durably."""
        ...

    def stat(self, path: str) -> Entry | None: ...

    def open_file(self, path: str) -> AbstractContextManager[SourceFile]: ...

    def stage_file(self, path: str, source: SourceFile) -> Staged: ...

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome: ...

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def make_link(self, path: str, entry: Entry, first: str, expect: Entry | None) -> Outcome:
        """Make ``path`` a second name (hard link) of the file at ``first`` in this tree, which must be
        ``entry`` (a plan's ``link`` action, after its copies)."""
        ...

    def delete(self, path: str, expect: Entry) -> Outcome: ...

    def move(self, src: str, dst: str, expect: Entry) -> Outcome: ...

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def barrier(self) -> None: ...
