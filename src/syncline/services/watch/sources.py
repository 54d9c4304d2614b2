"""Where a mirror learns what changed in its source: a change source feeds the mirror's
:class:`~.changes.ChangeCollector` (changed folders, renames, lost events) and says whether it sees every
change. Two kinds now: inotify (``inotify.py``) and polling (this module: nothing is
watched, everything is rescanned every ``poll_every`` seconds). A server's change feed will be a third:
it maps each journal entry to the same calls on the collector, and reports lost entries (a gap in the
sequence numbers) as an overflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .changes import ChangeCollector
from .events import Emit


class ChangeSource(Protocol):
    """One small interface for every way of seeing changes. The mirror calls ``start`` before its
    catch-up (so nothing changed during it is missed), ``stop`` when the source folder goes away (and
    ``start`` again when another one is there), ``check`` after each full sync, ``moved`` before a push
    that carries renames, and ``close`` at the end."""

    @property
    def complete(self) -> bool:
        """Whether every change now reaches the collector. While False, the scheduler rescans everything
        every ``poll_every`` seconds."""
        ...

    def start(self) -> None:
        """Watch the source folder as it is now. A failure is told (an event) and leaves ``complete``
        False; it never raises."""
        ...

    def stop(self) -> None:
        """Stop watching (``start`` may follow)."""
        ...

    def check(self) -> None:
        """Look again whether every change can be seen (the watch limit may have been reached or freed)."""
        ...

    def moved(self, moves: Sequence[tuple[str, str]]) -> None:
        """Folders were renamed within the source (``(old, new)``): make sure changes in them are still
        seen. Called before the push that carries them."""
        ...

    def close(self) -> None:
        """Stop for good and release what ``start`` took."""
        ...


SourceFactory = Callable[[Path, ChangeCollector, Emit, float], ChangeSource]
"""Makes a change source from the source root, the collector, the mirror's ``emit`` and ``poll_every``."""


class PollingSource:
    """Sees no change by itself: the mirror rescans everything every ``poll_every`` seconds. For a source
    no kernel can watch (a network file system), and the fallback when inotify refuses."""

    def __init__(self, root: Path, collector: ChangeCollector, emit: Emit, poll_every: float) -> None:
        self.root = root

    @property
    def complete(self) -> bool:
        return False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def check(self) -> None:
        pass

    def moved(self, moves: Sequence[tuple[str, str]]) -> None:
        pass

    def close(self) -> None:
        pass
