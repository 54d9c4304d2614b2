"""The Replica interface: what the executor needs from a place where a tree lives.

A source replica is read (``scan``, ``open_file``); a target replica is written through two-phase file
writes (``stage_file`` makes a complete temp copy; ``commit`` re-checks the destination and renames it into
place) plus small direct operations. Every writing call takes ``expect``, the entry the plan saw at the
path (None for "absent"), and keeps whatever it finds there when that moved on (see DESIGN section 4).
"""

from __future__ import annotations

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
    ``inode`` is what the path's inode is now, when the replica was asked to tell (0: not told)."""

    done: bool
    note: str = ""
    trashed: bool = False
    inode: int = 0


class Replica(Protocol):
    """A directory tree syncline can read and write."""

    def features(self) -> Features: ...

    def describe(self) -> str: ...

    def scan(self, rules: Rules, digests: bool, side: str) -> Index: ...

    def stat(self, path: str) -> Entry | None: ...

    def open_file(self, path: str) -> AbstractContextManager[SourceFile]: ...

    def stage_file(self, path: str, source: SourceFile) -> Staged: ...

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome: ...

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def delete(self, path: str, expect: Entry) -> Outcome: ...

    def move(self, src: str, dst: str, expect: Entry) -> Outcome: ...

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def remove_temp_files(self, paths: tuple[str, ...]) -> None: ...

    def barrier(self) -> None: ...
