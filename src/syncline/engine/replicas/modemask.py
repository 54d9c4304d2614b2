"""Files made read-only on the side, and hidden from sync: a local tree in which some files had their
write bits taken away for a while (the daemon's ``lock_makes_readonly``: a file locked by someone else)
and must still be synced as if they had their own mode.

:class:`ModeMask` is that tree as the engine sees it. A file it masks shows the mode it had (``Masked.mode``)
to every scan and ``stat`` as long as it has exactly the mode it was given (``Masked.given``), so no mode
change is ever planned, uploaded or taken for a local edit; a file whose mode is anything else was
changed by someone, and shows what it has. A new version written onto a masked path (the lock holder's
edit arriving) is written read-only and is remembered with its own mode (``Masks.rewritten``). A masked
file moved away (made a conflict copy) gets its mode back, since it is then a file like any other.

:func:`take_write_bits` and :func:`put_back` are the two changes of mode, through a :class:`Confined`
tree (a symlink is never followed); whoever keeps the records (the daemon) decides when.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ...core.entry import FILE, Entry, Keep
from ...core.ignore import Rules
from ...core.index import Index
from .confined import Confined
from .local import LocalReplica, LocalSourceFile, LocalStaged
from .replica import Outcome, SourceFile, Staged, WritePolicy

WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True, slots=True)
class Masked:
    """One file made read-only: the ``mode`` it had (shown, and put back) and the mode it was ``given``
    (``mode`` without write bits). ``left``: its mode was changed by someone else meanwhile, so it is
    neither masked nor put back any more. ``was``: while a new version or mode is being written over it,
    the ``(mode, given)`` of the one before (a crash leaves one or the other on disk: both are known)."""

    mode: int
    given: int
    left: bool = False
    was: tuple[int, int] | None = None

    def shown(self, actual: int) -> int:
        """The mode a file at this path with ``actual`` permission bits is shown with."""
        if self.left:
            return actual
        if actual == self.given:
            return self.mode
        if self.was is not None and actual == self.was[1]:
            return self.was[0]
        return actual

    def valid(self) -> bool:
        """Whether this is a record this code could have made: permission bits, ``given`` exactly ``mode``
        without its write bits (so putting it back only ever gives write bits back; a record read from a
        file someone else wrote can do nothing more)."""
        pairs = [(self.mode, self.given)] + ([self.was] if self.was is not None else [])
        return all(isinstance(m, int) and isinstance(g, int) and 0 <= m <= 0o7777 and m & WRITE_BITS
                   and g == m & ~WRITE_BITS for m, g in pairs)


class Masks(Protocol):
    """The files a :class:`ModeMask` masks, kept by its owner (durably: a file left read-only by a crash
    must be found again)."""

    def masked(self) -> Mapping[str, Masked]:
        """The masked files now, by path (a snapshot)."""
        ...

    def rewriting(self, path: str, mode: int) -> None:
        """A new version (or mode) of the masked file ``path``, whose own mode is ``mode``, is about to be
        written read-only: recorded durably with the one before (``Masked.was``) before the write."""
        ...

    def rewritten(self, path: str, mode: int) -> None:
        """The new version of the masked file ``path``, whose own mode is ``mode``, was written read-only."""
        ...

    def abandoned(self, path: str) -> None:
        """The write announced by :meth:`rewriting` did not happen: the record before it stands."""
        ...


def read_only_record(tree: Confined, path: str) -> Masked | None:
    """What taking the write bits of the regular file ``path`` would record, or None when there is nothing
    to take (no such file, not a regular file, no write bits). Does not change anything: the caller records
    the result durably, then calls :func:`take_write_bits`."""
    try:
        st = tree.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode) or not mode & WRITE_BITS or st.st_nlink > 1:
        return None  # a hard-linked file: its other names, locked by nobody, would turn read-only too
    return Masked(mode, mode & ~WRITE_BITS)


def take_write_bits(tree: Confined, path: str, masked: Masked) -> bool:
    """Give ``path`` the mode ``masked.given`` if it still has ``masked.mode`` (else it changed since it
    was looked at, and is left alone); whether it was given. ``OSError`` as ``chmod`` raises it."""
    return _swap_mode(tree, path, masked.mode, masked.given)


def put_back(tree: Confined, path: str, masked: Masked) -> bool:
    """Give ``path`` its mode ``masked.mode`` again if it has exactly the mode it was given (else someone
    changed it since, and their mode stays; after a crash during a write, the version before's, as
    ``masked.was`` says); whether it was put back. A file gone is nothing to do."""
    if masked.left:
        return False
    return _swap_mode(tree, path, masked.given, masked.mode) or (
        masked.was is not None and _swap_mode(tree, path, masked.was[1], masked.was[0]))


def _swap_mode(tree: Confined, path: str, have: int, want: int) -> bool:
    try:
        st = tree.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != have:
        return False
    try:
        tree.chmod(path, want)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


class _GivenMode:
    """``inner`` (a file about to be written onto a masked path) with its mode's write bits taken."""

    def __init__(self, inner: SourceFile) -> None:
        self._inner = inner
        self.entry = inner.entry._replace(mode=inner.entry.mode & ~WRITE_BITS)
        fileno = getattr(inner, "fileno", None)
        if fileno is not None:  # a local source: the kernel still copies, holes and all
            self.fileno = fileno
            self.holes = getattr(inner, "holes", False)

    def readinto(self, buffer: memoryview) -> int:
        return self._inner.readinto(buffer)

    def changed(self) -> bool:
        return self._inner.changed()


@dataclass
class _MaskedStaged(LocalStaged):
    """A new version of a masked file, staged read-only; ``own_mode`` is the mode it came with."""

    own_mode: int = 0


class ModeMask(LocalReplica):
    """A local tree whose files in ``masks`` show their remembered mode (see the module's docstring).

    A subclass rather than a wrapper holding a replica: the engine finds a replica's optional abilities by
    ``isinstance`` on protocols, which a wrapper would have to spell out one by one, and the tree's own
    re-checks before a write (``stat`` inside a commit) must see the same modes as its scans."""

    def __init__(self, root: str | os.PathLike[str], masks: Masks, *, policy: WritePolicy | None = None,
                 keep: Keep | None = None, case_probe: Callable[[Path], bool] | None = None) -> None:
        super().__init__(root, policy=policy, keep=keep, case_probe=case_probe)
        self.masks = masks

    def _shown(self, path: str, entry: Entry | None, masked: Mapping[str, Masked] | None = None) -> Entry | None:
        m = (self.masks.masked() if masked is None else masked).get(path)
        if m is None or entry is None or entry.kind != FILE:
            return entry
        shown = m.shown(entry.mode)
        return entry if shown == entry.mode else entry._replace(mode=shown)

    def _masked_index(self, index: Index) -> Index:
        masked = self.masks.masked()
        changed = {}
        for path in masked:
            entry = index.entries.get(path)
            shown = self._shown(path, entry, masked)
            if shown is not entry and shown is not None:
                changed[path] = shown
        if not changed:
            return index
        return replace(index, entries={p: changed.get(p, e) for p, e in index.entries.items()})

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        return self._masked_index(super().scan(rules, digests, side))

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        return self._masked_index(super().scan_dirs(dirs, rules, side, digests))

    def scan_children(self, children: Mapping[str, Collection[str]], rules: Rules, side: str,
                      digests: bool = False) -> Index:
        return self._masked_index(super().scan_children(children, rules, side, digests))

    def stat(self, path: str) -> Entry | None:
        return self._shown(path, super().stat(path))

    @contextmanager
    def open_file(self, path: str) -> Iterator[LocalSourceFile]:
        with super().open_file(path) as opened:
            shown = self._shown(path, opened.entry)
            if shown is not None:
                opened.entry = shown  # this open's own object: an upload of it carries the mode shown
            yield opened

    def stage_file(self, path: str, source: SourceFile) -> LocalStaged:
        """A new version of a masked file is written without write bits, so it is never writable while
        its lock lasts; :meth:`commit` remembers its own mode."""
        m = self.masks.masked().get(path)
        if m is None or m.left:
            return super().stage_file(path, source)
        s = super().stage_file(path, _GivenMode(source))
        return _MaskedStaged(s.path, s.size, s.temp, s.owner, s.file_id, s.notice, own_mode=source.entry.mode)

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        if not isinstance(staged, _MaskedStaged):
            return super().commit(staged, expect)
        return self._masked_write(staged.path, staged.own_mode, lambda: super(ModeMask, self).commit(staged, expect))

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        """A mode arriving for a masked file (the lock holder's ``chmod``) is given without write bits and
        remembered as the file's own, as a new version is: the file stays read-only while its lock lasts."""
        m = self.masks.masked().get(path)
        if m is None or m.left or entry.kind != FILE:
            return super().set_meta(path, entry, expect)
        given = entry._replace(mode=entry.mode & ~WRITE_BITS)
        return self._masked_write(path, entry.mode, lambda: super(ModeMask, self).set_meta(path, given, expect))

    def _masked_write(self, path: str, own_mode: int, write: Callable[[], Outcome]) -> Outcome:
        """``write()`` a new version or mode of the masked file ``path`` (own mode ``own_mode``) with its
        record made first (``Masks.rewriting``): a crash at any point leaves a record of what is on disk."""
        self.masks.rewriting(path, own_mode)
        try:
            outcome = write()
        except BaseException:
            self.masks.abandoned(path)
            raise
        if outcome.done:
            self.masks.rewritten(path, own_mode)
        else:
            self.masks.abandoned(path)
        return outcome

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        """A masked file moved away (a conflict copy of it made) is a file like any other: its mode is
        put back, or the copy would sync read-only."""
        outcome = super().move(src, dst, expect)
        m = self.masks.masked().get(src)
        if outcome.done and m is not None:
            put_back(self.tree, dst, m)
        return outcome
