"""Copies on a pair whose mode bits do not count (a side keeps none): a file that replaces one keeps the
mode the replaced file had, as rsync without ``--perms`` does, so a private file edited on a FAT stick
comes back as private as it was. The planner's side of the same rule is
:func:`~syncline.core.project.give_modes` (for ``meta``); a new file takes its source file's mode.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ...core.entry import FILE, Entry
from ..replicas.replica import Features, Prefetcher, Replica, SourceFile


class _Moded:
    """``inner`` shown with another mode; everything else (its descriptor too) is the inner file's."""

    def __init__(self, inner: SourceFile, mode: int) -> None:
        self._inner = inner
        self.entry = inner.entry._replace(mode=mode)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def readinto(self, buffer: memoryview) -> int:
        return self._inner.readinto(buffer)

    def changed(self) -> bool:
        return self._inner.changed()


class KeepingModes:
    """``source`` read for the writes into a tree that holds ``own`` (as scanned): a file whose path
    holds a file there shows that file's mode, so the copy that replaces it keeps the mode."""

    def __init__(self, source: Replica, own: Mapping[str, Entry]) -> None:
        self.source, self.own = source, own

    def describe(self) -> str:
        return self.source.describe()

    def features(self) -> Features:
        return self.source.features()

    def prefetch(self, files: Sequence[tuple[str, Entry]]) -> None:
        """Passed on: the files read ahead are the source's own (a mode is put on when one is opened)."""
        if isinstance(self.source, Prefetcher):
            self.source.prefetch(files)

    @contextmanager
    def open_file(self, path: str) -> Iterator[SourceFile]:
        with self.source.open_file(path) as opened:
            here = self.own.get(path)
            if here is None or here.kind != FILE or here.mode == opened.entry.mode:
                yield opened
            else:
                yield _Moded(opened, here.mode)
