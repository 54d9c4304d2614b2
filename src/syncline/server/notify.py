"""Change notifications: "folder F is at sequence number S now", from a commit to every live event stream.

The contract (design.md, "The chunk store and the notifier"):

- ``publish(folder_id, seq)`` may be called from any thread (commits run in worker threads) and never
  blocks on a subscriber;
- a ``Subscription`` keeps one slot per folder, the highest ``seq`` not yet taken, never a queue: a client
  that reads nothing costs a few bytes whatever the commit rate, and when it reads it gets the latest
  position (the event only says "look at ``changes?since=``", so the positions between are not needed);
- a subscription is tagged with its owner (a device id) so that revoking a device closes its streams, and
  so that the app can bound the streams of one device;
- ``drop(folder_id, owners)`` ends those owners' following of one folder (its share was revoked): their
  streams hand out :data:`DROPPED` for it once and go on with their other folders;
- a key is a folder's id (its ``seq``), or a pair: ``("shares", user id)`` moves when that user's shares
  do (:func:`shares_key`), ``("locks", folder id)`` with the folder's ``lock_seq``.

``InProcessNotifier`` serves one server process. Several processes later need a notifier that carries
the same two calls over PostgreSQL ``LISTEN/NOTIFY`` (or polls ``folders.seq``); nothing else changes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

DROPPED = -1  # the "seq" a stream hands out for a folder it no longer follows


Key = int | tuple[str, int]  # a folder's id (its seq), or ("shares", user id), ("locks", folder id)


def shares_key(user_id: int) -> Key:
    """The notifier key that moves when ``user_id``'s shares (offers, accepts, revocations) change."""
    return ("shares", user_id)


def _order(item: tuple[Key, int]) -> tuple[int, int, str]:
    """Folders first, oldest (lowest id) first, then the pairs."""
    key = item[0]
    return (0, key, "") if isinstance(key, int) else (1, key[1], key[0])


class SubscriptionClosed(Exception):
    """The stream was closed by the server (its device was revoked, or the server is stopping)."""


class Subscription:
    """One event stream's view of the folders it follows. Made by ``subscribe`` inside the event loop.

    ``positions`` is what the client says it has already seen, per folder; only a ``seq`` past what was
    seen or already handed out is ever delivered, so an echo of an old position is dropped here.
    """

    def __init__(self, notifier: InProcessNotifier, owner: str, positions: Mapping[Key, int]) -> None:
        self.owner = owner
        self._notifier = notifier
        self._seen = dict(positions)
        self._pending: dict[Key, int] = {}  # DROPPED: the folder is no longer followed
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

    @property
    def folders(self) -> frozenset[Key]:
        return frozenset(self._seen)

    @property
    def closed(self) -> bool:
        return self._closed

    def note(self, folder_id: Key, seq: int) -> None:
        """Record that ``folder_id`` is at ``seq`` (any thread). Also how the app fills in the positions
        the client missed while it was away, read from the store after subscribing."""
        with self._notifier._lock:
            if self._closed or folder_id not in self._seen:
                return
            if seq <= max(self._seen[folder_id], self._pending.get(folder_id, 0)):
                return
            self._pending[folder_id] = seq
        self._wakeup()

    def drop(self, folder_id: Key) -> None:
        """Stop following ``folder_id`` (any thread): ``next`` hands out ``(folder_id, DROPPED)`` once."""
        with self._notifier._lock:
            if self._closed or folder_id not in self._seen:
                return
            del self._seen[folder_id]
            self._pending[folder_id] = DROPPED
        self._wakeup()

    async def next(self, timeout: float) -> list[tuple[Key, int]]:
        """The folders that moved since the last call, as ``(folder_id, seq)``, oldest folder first
        (``seq`` :data:`DROPPED` for a folder no longer followed); ``[]`` after ``timeout`` seconds with
        nothing new (the caller sends a keep-alive then). Raises ``SubscriptionClosed`` once the
        subscription is closed."""
        if not self._take_ready():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
        return self._drain()

    def close(self) -> None:
        """End the stream (any thread): a waiting ``next`` raises ``SubscriptionClosed``."""
        with self._notifier._lock:
            if self._closed:
                return
            self._closed = True
            self._notifier._subs.discard(self)
        self._wakeup()

    def _take_ready(self) -> bool:
        with self._notifier._lock:
            return self._closed or bool(self._pending)

    def _drain(self) -> list[tuple[Key, int]]:
        with self._notifier._lock:
            if self._closed:
                raise SubscriptionClosed(self.owner)
            self._wake.clear()
            out = sorted(self._pending.items(), key=_order)
            self._pending.clear()
            for folder_id, seq in out:
                if seq != DROPPED:
                    self._seen[folder_id] = seq
            return out

    def _wakeup(self) -> None:
        # asyncio.Event is not thread-safe: set it on its own loop. A loop already closed (the server
        # stopping) has nobody left to wake.
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:
            pass


class Notifier(Protocol):
    """What the app and the store need from a notifier (design.md); ``InProcessNotifier`` is one."""

    def publish(self, folder_id: Key, seq: int) -> None: ...

    def subscribe(self, owner: str, positions: Mapping[Key, int]) -> Subscription: ...

    def streams_of(self, owner: str) -> int: ...

    def close_owner(self, owner: str) -> None: ...

    def drop(self, folder_id: Key, owners: Collection[str]) -> None: ...

    def close_all(self) -> None: ...


class InProcessNotifier:
    """The notifier of a single server process: subscribers in its event loop, publishers in any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()

    def publish(self, folder_id: Key, seq: int) -> None:
        """Tell every subscriber of ``folder_id`` that it is at ``seq``; never waits for one."""
        for sub in self._snapshot(s for s in self._subs if folder_id in s.folders):
            sub.note(folder_id, seq)

    def subscribe(self, owner: str, positions: Mapping[Key, int]) -> Subscription:
        """A new subscription to the folders of ``positions`` (call from the event loop)."""
        sub = Subscription(self, owner, positions)
        with self._lock:
            self._subs.add(sub)
        return sub

    def streams_of(self, owner: str) -> int:
        """How many open subscriptions ``owner`` has (the app bounds them per device)."""
        with self._lock:
            return sum(1 for s in self._subs if s.owner == owner)

    def close_owner(self, owner: str) -> None:
        """Close every subscription of ``owner``: its device was revoked."""
        for sub in self._snapshot(s for s in self._subs if s.owner == owner):
            sub.close()

    def drop(self, folder_id: Key, owners: Collection[str]) -> None:
        """``owners``' streams stop following ``folder_id``: its share was taken from their user."""
        for sub in self._snapshot(s for s in self._subs if s.owner in owners and folder_id in s.folders):
            sub.drop(folder_id)

    def close_all(self) -> None:
        """Close every subscription: the server is stopping."""
        for sub in self._snapshot(self._subs):
            sub.close()

    def _snapshot(self, subs: Iterable[Subscription]) -> list[Subscription]:
        with self._lock:
            return list(subs)
