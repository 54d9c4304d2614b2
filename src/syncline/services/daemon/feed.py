"""Where a folder loop learns what changed on the other side: a server's change feed (``protocol.md``
section 9), behind one small interface.

The feed says only "folder X is at seq N now" (``on_seq``, from any thread); the loop then asks
:meth:`FeedSource.changes` for what happened since the position it holds, turns each change into the
folders to sync (:func:`changed_folders`: each narrowed to the children that changed), skips the changes
its own device made (echoes of its own uploads), and, once a run has synced them, keeps the new position
(``positions.py``). A commit needs no quiet period and is never an echo of this device's own writes, so
these folders go straight to the next run, not through the watcher's collector. A position the server no longer serves
(``history_gone``) is an overflow: a full run.

The SSE client of a real server (``serverfeed.ServerFeed``) implements this for every folder of one
server; ``syncline.testing.feed.FakeFeed`` is the in-process one the tests announce changes through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..watch.changes import Folder


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
               on_lost: Callable[[str], None] | None = None, on_locks: Callable[[], None] | None = None) -> None:
        """Call ``on_seq(n)`` (from any thread, possibly at once) each time ``remote``'s sequence moves to
        ``n`` past ``since``. Never raises for an unreachable server: it reconnects (with back-off) and
        tells what was missed when back. ``on_lost(why)``, when given, is called (from any thread) once
        each time the feed loses its server, so that an idle folder can find out it is offline.
        ``on_locks()``, when given, each time the folder's file locks change (a change waiting for one
        may go now)."""
        ...

    def unfollow(self, remote: str) -> None:
        """Stop telling about ``remote``."""
        ...

    def changes(self, remote: str, since: int) -> ChangeBatch:
        """The changes of ``remote`` after ``since`` (all of them: a reader pages if it must). Raises
        ``OSError`` or a retryable :class:`~syncline.core.errors.SynclineError` when the server cannot be
        asked now."""
        ...


def changed_folders(batch: ChangeBatch, own_device: str) -> tuple[list[Folder], dict[str, set[str]]]:
    """What ``batch`` changed, as the folders to sync: each path's parent folder (shallow), narrowed to the
    path's name; a made or moved-in folder whole (deep); both ends of a move. The changes ``own_device``
    made are left out: they are what this device's runs wrote. (``batch.gone`` is the caller's: what
    changed is unknown, a full run.)"""
    folders: list[Folder] = []
    names: dict[str, set[str]] = {}
    for change in batch.changes:
        if change.device == own_device:
            continue
        ends = [change.path] if change.op != "move" or change.from_path is None else [change.path, change.from_path]
        for path in ends:
            up, _, name = path.rpartition("/")
            folders.append((up, False))
            names.setdefault(up, set()).add(name)  # the root's own change: "" in "", the root itself
        if change.op in ("mkdir", "move"):
            folders.append((change.path, True))
    return folders, names
