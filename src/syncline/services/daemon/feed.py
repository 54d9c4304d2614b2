"""Where a folder loop learns what changed on the other side: a server's change feed (``protocol.md``
section 9), behind one small interface.

The feed says only "folder X is at seq N now" (``on_seq``, from any thread); the loop then asks
:meth:`FeedSource.changes` for what happened since the position it holds, turns each change into the
folders to sync (the same :class:`~syncline.services.watch.changes.ChangeCollector` the local inotify
source feeds), skips the changes its own device made (echoes of its own uploads), and, once a run has
synced them, keeps the new position (``positions.py``). A position the server no longer serves
(``history_gone``) is an overflow: a full run.

The SSE client of a real server (``serverfeed.ServerFeed``) implements this for every folder of one
server; ``syncline.testing.feed.FakeFeed`` is the in-process one the tests announce changes through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ...core.paths import parent
from ..watch.changes import ChangeCollector, Folder


@dataclass(frozen=True, slots=True)
class Change:
    """One row of a folder's change feed: ``[seq, op, path, from, device]`` (``from``: a move's old path)."""

    seq: int
    op: str
    path: str
    from_path: str | None
    device: str


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """What :meth:`FeedSource.changes` answers: the changes after ``since`` in order, and the position
    they bring the reader to (``seq``). ``gone``: ``since`` is older than the history kept, so what
    changed is unknown (``changes`` is empty and ``seq`` is where to go on from after a full run)."""

    seq: int
    changes: tuple[Change, ...] = ()
    gone: bool = False


class FeedSource(Protocol):
    """A server's change feed, for the folders of one daemon. ``remote`` is a folder's ``remote`` as the
    config gives it."""

    def follow(self, remote: str, since: int, on_seq: Callable[[int], None],
               on_lost: Callable[[str], None] | None = None) -> None:
        """Call ``on_seq(n)`` (from any thread, possibly at once) each time ``remote``'s sequence moves to
        ``n`` past ``since``. Never raises for an unreachable server: it reconnects (with back-off) and
        tells what was missed when back. ``on_lost(why)``, when given, is called (from any thread) once
        each time the feed loses its server, so that an idle folder can find out it is offline."""
        ...

    def unfollow(self, remote: str) -> None:
        """Stop telling about ``remote``."""
        ...

    def changes(self, remote: str, since: int) -> ChangeBatch:
        """The changes of ``remote`` after ``since`` (all of them: a reader pages if it must). Raises
        ``OSError`` or a retryable :class:`~syncline.core.errors.SynclineError` when the server cannot be
        asked now."""
        ...


def collect(batch: ChangeBatch, collector: ChangeCollector, own_device: str) -> None:
    """Hand ``batch`` to ``collector`` as changed folders, as the inotify source hands it local events
    (but settled: a commit needs no quiet period before the run that brings it):
    a path's parent folder (shallow), a made or moved-in folder whole (deep), both ends of a move. The
    changes ``own_device`` made are left out: they are what this device's runs wrote."""
    if batch.gone:
        collector.overflow()
        return
    for change in batch.changes:
        if change.device == own_device:
            continue
        folders: list[Folder] = [(parent(change.path), False)]
        move: tuple[str, str] | None = None
        if change.op == "mkdir":
            folders.append((change.path, True))
        if change.op == "move" and change.from_path is not None:
            folders += [(parent(change.from_path), False), (change.path, True)]
            move = (change.from_path, change.path)
        collector.add(folders, move, settled=True)  # a commit: nothing to wait for

