"""A change feed in the process, for tests of the daemon (``syncline.services.daemon.feed.FeedSource``):
a test that changed a folder's "server side" (a local folder standing in for the server) announces it,
and the folder's loop hears it as it will hear a server's ``seq`` events."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..services.daemon.feed import Change, ChangeBatch


class FakeFeed:
    """Per remote: a journal of changes numbered from 1, and who follows it. ``horizon``: positions at or
    below it are no longer served (the loop gets ``gone``, as from a server's ``410 history_gone``).
    ``reachable`` False makes ``changes`` fail as an unreachable server's would. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._journal: dict[str, list[Change]] = {}
        self._followers: dict[str, Callable[[int], None]] = {}
        self._lost: dict[str, Callable[[str], None]] = {}
        self.horizon: dict[str, int] = {}
        self.reachable = True
        self.asked = 0  # changes() calls, for tests that check the loop reads the feed

    def announce(self, remote: str, path: str, op: str = "put", from_path: str | None = None,
                 device: str = "elsewhere") -> int:
        """Journal one change of ``remote`` and tell its follower; returns its seq."""
        with self._lock:
            rows = self._journal.setdefault(remote, [])
            seq = len(rows) + 1
            rows.append(Change(seq, op, path, from_path, device))
            tell = self._followers.get(remote)
        if tell is not None:
            tell(seq)
        return seq

    def seq(self, remote: str) -> int:
        with self._lock:
            return len(self._journal.get(remote, []))

    def follow(self, remote: str, since: int, on_seq: Callable[[int], None],
               on_lost: Callable[[str], None] | None = None, on_locks: Callable[[], None] | None = None) -> None:
        with self._lock:
            self._followers[remote] = on_seq
            if on_lost is not None:
                self._lost[remote] = on_lost
            now = len(self._journal.get(remote, []))
        if now > since:
            on_seq(now)

    def unfollow(self, remote: str) -> None:
        with self._lock:
            self._followers.pop(remote, None)
            self._lost.pop(remote, None)

    def lose(self, why: str = "connection refused (fake feed)") -> None:
        """Tell every follower the server was lost, as a feed whose stream failed does."""
        with self._lock:
            told = list(self._lost.values())
        for tell in told:
            tell(why)

    def changes(self, remote: str, since: int) -> ChangeBatch:
        with self._lock:
            self.asked += 1
            if not self.reachable:
                raise ConnectionRefusedError(111, "connection refused (fake feed)")
            rows = self._journal.get(remote, [])
            if since < self.horizon.get(remote, 0):
                return ChangeBatch(len(rows), gone=True)
            return ChangeBatch(len(rows), tuple(rows[since:]))
