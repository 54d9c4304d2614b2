"""File locks (issue 14, protocol 1.1 ``file-locks``): a lease of one user on one device on one file of a
folder, with an expiry, seen by every member, and respected by every write path of the folder.

- Taking, renewing and releasing are each one write transaction that first checks the caller's right to
  write (the folder store's guard): a lock is a promise about writes, so only a writer may make one.
- The primary key (folder, path) decides a race: two devices asking at once, one gets the lock, the other
  ``423 locked`` naming the holder. An expired lock is no lock: it is replaced by the next taker.
- :class:`LockGuard` is what the commit path (``apply.py``) asks, once per batch and then per item, inside
  the batch's transaction: a write of a path locked by another device fails that item ``locked``. The
  holder's delete ends its lock; its move carries it to the new path.
- Every change raises the folder's ``lock_seq`` (never its ``seq``: a lock is not a change of the tree,
  so no device rescans for it).

WebDAV (issue 15) adds to the same table what RFC 4918 needs (``dav`` locks): a file or a folder, exclusive
or shared, depth 0 or infinity (``deep``: everything below the path too), the client's ``<owner>``, and a
lock token derived from the id (:data:`TOKEN_PREFIX`). Conflicts: an exclusive lock conflicts with any other
lock on a path it covers or that covers it, a shared one only with exclusive ones. A native lock is an
exclusive depth-0 lock of one file. Who may write through a lock: through a native lock, its device (as
before); through any lock, a request of the lock's user that submits its token (WebDAV's ``If`` header).
A WebDAV lock does not move with a MOVE (RFC 4918 7.7); a native lock moves with its holder's move.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import MAX_FILE_LOCKS
from ...formats.wire.paths import check_wire_path
from . import schema as t

_L = t.file_locks.c
EXCLUSIVE, SHARED = "exclusive", "shared"
TOKEN_PREFIX = "opaquelocktoken:"  # a lock's WebDAV token is this and its id


def locks_key(folder_id: int) -> tuple[str, int]:
    """The notifier key that moves with the folder's ``lock_seq`` (its event: ``locks``)."""
    return ("locks", folder_id)


@dataclass(frozen=True, slots=True)
class FileLock:
    """A lock as stored, with its holder's user and device names."""

    lock_id: str
    path: str
    user_id: int
    user: str
    device_id: str
    device_name: str
    created_ns: int
    expires_ns: int
    note: str | None
    scope: str = EXCLUSIVE
    deep: bool = False
    owner_xml: str | None = None
    dav: bool = False

    @property
    def token(self) -> str:
        """The WebDAV lock token (``Lock-Token``, ``If``)."""
        return TOKEN_PREFIX + self.lock_id

    def covers(self, path: str) -> bool:
        """Whether a write of ``path`` is a write this lock guards: its own path, or one below it (deep)."""
        return path == self.path or (self.deep and (not self.path or path.startswith(self.path + "/")))

    def to_json(self, device_id: str, now: int) -> dict[str, Any]:
        """The wire form, for the device ``device_id`` asking (``mine``) at ``now``; ``scope`` and ``depth``
        since protocol 1.2 (a native lock: ``exclusive``, ``0``)."""
        return {"lock": self.lock_id, "path": self.path, "user": self.user, "device": self.device_id,
                "device_name": self.device_name, "created_ns": self.created_ns, "expires_ns": self.expires_ns,
                "expires_in": max(0, (self.expires_ns - now) // 10**9), "note": self.note,
                "mine": self.device_id == device_id, "scope": self.scope, "depth": "infinity" if self.deep else "0"}


_A, _D = t.folder_access.c, t.devices.c
# A lock holds only while its holder may still write the folder from that device: a share made read-only
# or revoked, a device revoked, a user removed, and their locks are no locks (as if expired), derived here
# rather than deleted at each of those places.
_SELECT = (sa.select(_L.lock_id, _L.path, _L.user_id, t.users.c.name.label("user"), _L.device_id,
                     _D.name.label("device_name"), _L.created_ns, _L.expires_ns, _L.note, _L.scope, _L.deep,
                     _L.owner_xml, _L.dav)
           .select_from(t.file_locks.join(t.users, t.users.c.id == _L.user_id)
                        .join(t.devices, _D.id == _L.device_id)
                        .join(t.folder_access, sa.and_(_A.folder_id == _L.folder_id, _A.user_id == _L.user_id)))
           .where(_A.rights == t.RW, _A.accepted_ns.is_not(None), _A.revoked_ns.is_(None), _D.revoked_ns.is_(None),
                  t.users.c.disabled.is_(False)))


def _lock(row: Any) -> FileLock:
    return FileLock(row.lock_id, row.path, row.user_id, row.user, row.device_id, row.device_name, row.created_ns,
                    row.expires_ns, row.note, row.scope, bool(row.deep), row.owner_xml, bool(row.dav))


def live(conn: sa.Connection, folder_id: int, now: int) -> list[FileLock]:
    """The folder's locks that have not expired at ``now``, by path."""
    rows = conn.execute(_SELECT.where(_L.folder_id == folder_id, _L.expires_ns > now).order_by(_L.path)).all()
    return [_lock(r) for r in rows]


def lock_seq(conn: sa.Connection, folder_id: int) -> int:
    return int(conn.execute(sa.select(t.folders.c.lock_seq).where(t.folders.c.id == folder_id)).scalar_one())


def bump(conn: sa.Connection, folder_id: int) -> int:
    """Raise the folder's ``lock_seq``; the new value."""
    return int(conn.execute(t.folders.update().where(t.folders.c.id == folder_id)
                            .values(lock_seq=t.folders.c.lock_seq + 1).returning(t.folders.c.lock_seq)).scalar_one())


def locked_error(lock: FileLock, path: str, now: int) -> WireError:
    until = max(0, (lock.expires_ns - now) // 10**9)
    who = f"{lock.user} on {lock.device_name}" if lock.device_name else lock.user
    return WireError("locked", f"{clip(path)} is locked by {who} for {until} s more",
                     "wait for the lock to end, or ask them to unlock it (the folder's owner can break it)",
                     {"path": clip(path), "user": lock.user, "device": lock.device_id,
                      "device_name": lock.device_name, "expires_ns": lock.expires_ns, "expires_in": until})


def _conflict(conn: sa.Connection, folder_id: int, path: str, deep: bool, scope: str, now: int,
              mine: str | None = None) -> None:
    """``locked`` naming the first live lock that a new lock of ``path`` (``deep``, ``scope``) conflicts
    with: one covering ``path``, on it, or (``deep``) below it, unless both are shared; ``mine`` (a lock
    id) is left out (the lock being renewed)."""
    for lock in live(conn, folder_id, now):
        if lock.lock_id == mine or (lock.scope == SHARED and scope == SHARED):
            continue
        below = deep and (not path or lock.path.startswith(path + "/"))
        if lock.covers(path) or below:
            raise locked_error(lock, path, now)


def _insert(conn: sa.Connection, folder_id: int, path: str, user_id: int, device_id: str, ttl: int, now: int,
            **more: Any) -> FileLock:
    count = conn.execute(sa.select(sa.func.count()).select_from(t.file_locks)
                         .where(_L.folder_id == folder_id, _L.expires_ns > now)).scalar_one()
    if count >= MAX_FILE_LOCKS:
        raise WireError("too_large", f"the folder has {MAX_FILE_LOCKS} locks already", "unlock some first",
                        {"limit": MAX_FILE_LOCKS})
    conn.execute(t.file_locks.delete().where(_L.folder_id == folder_id, _L.expires_ns <= now))  # expired: no lock
    lock_id = str(uuid.uuid4())
    conn.execute(t.file_locks.insert().values(lock_id=lock_id, folder_id=folder_id, path=path, user_id=user_id,
                                              device_id=device_id, created_ns=now, expires_ns=now + ttl * 10**9,
                                              **more))
    bump(conn, folder_id)
    return find(conn, folder_id, lock_id, now)


def take(conn: sa.Connection, folder_id: int, path: str, user_id: int, device_id: str, ttl: int,
         note: str | None, now: int) -> tuple[FileLock, bool]:
    """Lock the file ``path`` for ``device_id`` of ``user_id`` until ``now + ttl`` s (native: exclusive,
    depth 0): ``(lock, made)``; the device's own native lock there is renewed (``made`` False). ``locked``
    when another lock conflicts, ``not_found`` for a path that is not a file, ``too_large`` past
    :data:`MAX_FILE_LOCKS` a folder."""
    check_wire_path(path)
    entry = conn.execute(sa.select(t.entries.c.kind).where(t.entries.c.folder_id == folder_id,
                                                           t.entries.c.path == path)).scalar()
    if entry != t.FILE:
        raise WireError("not_found", f"no file {clip(path)} in the folder", "only a file can be locked",
                        {"path": clip(path)})
    own = next((lk for lk in live(conn, folder_id, now)
                if lk.path == path and lk.device_id == device_id and not lk.dav), None)
    _conflict(conn, folder_id, path, False, EXCLUSIVE, now, own.lock_id if own is not None else None)
    if own is not None:
        conn.execute(t.file_locks.update().where(_L.lock_id == own.lock_id)
                     .values(expires_ns=now + ttl * 10**9, note=note))
        bump(conn, folder_id)
        return find(conn, folder_id, own.lock_id, now), False
    return _insert(conn, folder_id, path, user_id, device_id, ttl, now, note=note), True


def dav_take(conn: sa.Connection, folder_id: int, path: str, user_id: int, device_id: str, ttl: int, now: int,
             scope: str, deep: bool, owner_xml: str | None) -> FileLock:
    """WebDAV's LOCK of ``path`` (a file or a folder that exists; ``""``: the folder's root) until ``now +
    ttl`` s: a new lock, or ``locked`` naming the lock it conflicts with."""
    check_wire_path(path, root_ok=True)
    if scope not in (EXCLUSIVE, SHARED):
        raise WireError("bad_request", f"no lock scope {clip(scope, 20)}", "ask for exclusive or shared")
    _conflict(conn, folder_id, path, deep, scope, now)
    return _insert(conn, folder_id, path, user_id, device_id, ttl, now, scope=scope, deep=deep,
                   owner_xml=owner_xml, dav=True)


def by_token(conn: sa.Connection, folder_id: int, token: str, now: int) -> FileLock | None:
    """The live lock of the folder whose WebDAV token is ``token``, if any."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(_SELECT.where(_L.folder_id == folder_id, _L.lock_id == token[len(TOKEN_PREFIX):],
                                     _L.expires_ns > now)).first()
    return _lock(row) if row is not None else None


def covering(conn: sa.Connection, folder_id: int, path: str, now: int) -> list[FileLock]:
    """The live locks that guard writes of ``path`` (WebDAV's ``lockdiscovery``)."""
    return [lk for lk in live(conn, folder_id, now) if lk.covers(path)]


def find(conn: sa.Connection, folder_id: int, lock_id: str, now: int) -> FileLock:
    """The live lock ``lock_id`` of the folder; ``not_found`` for one unknown, ended or expired."""
    row = conn.execute(_SELECT.where(_L.folder_id == folder_id, _L.lock_id == lock_id, _L.expires_ns > now)).first()
    if row is None:
        raise WireError("not_found", f"no lock {clip(lock_id, 64)} in the folder", "see the folder's locks",
                        {"lock": clip(lock_id, 64)})
    return _lock(row)


def renew(conn: sa.Connection, folder_id: int, lock_id: str, device_id: str, ttl: int, now: int,
          user_id: int | None = None) -> FileLock:
    """Move the expiry of a lock to ``now + ttl`` s: a native lock by its device, a WebDAV lock by its
    user (``user_id``, who submitted its token); ``forbidden`` for anyone else."""
    lock = find(conn, folder_id, lock_id, now)
    if not (lock.device_id == device_id and not lock.dav) and not (lock.dav and lock.user_id == user_id):
        raise WireError("forbidden", "only the device that holds a lock can renew it", "lock it from there")
    conn.execute(t.file_locks.update().where(_L.lock_id == lock_id).values(expires_ns=now + ttl * 10**9))
    bump(conn, folder_id)
    return find(conn, folder_id, lock_id, now)


def release(conn: sa.Connection, folder_id: int, lock_id: str, user_id: int, force: bool, owner_id: int,
            now: int) -> FileLock:
    """End a lock: its holder (any device of the user who took it), or with ``force`` the folder's owner;
    ``forbidden`` for anyone else."""
    lock = find(conn, folder_id, lock_id, now)
    if lock.user_id != user_id and not (force and user_id == owner_id):
        raise WireError("forbidden", f"{clip(lock.path)} is locked by {lock.user}",
                        "only they can unlock it; the folder's owner can break it with force")
    conn.execute(t.file_locks.delete().where(_L.lock_id == lock_id))
    bump(conn, folder_id)
    return lock


class LockGuard:
    """The locks one ``ops`` batch of ``device_id`` must respect, read once inside its transaction (a
    folder without locks costs that one read). A WebDAV request passes ``user_id`` and the lock ``tokens``
    its ``If`` header submitted: a lock of that user whose token is among them lets its writes through."""

    def __init__(self, conn: sa.Connection, folder_id: int, device_id: str, now: int | None = None,
                 user_id: int | None = None, tokens: frozenset[str] = frozenset()) -> None:
        self.conn, self.folder_id, self.device_id = conn, folder_id, device_id
        self.user_id, self.tokens = user_id, tokens
        self.now = time.time_ns() if now is None else now
        self._locks = live(conn, folder_id, self.now)
        self.changed = False  # the batch ended or moved one of the holder's locks

    def _through(self, lock: FileLock) -> bool:
        """Whether this batch may write through ``lock``."""
        if not lock.dav and lock.device_id == self.device_id:
            return True
        return lock.token in self.tokens and lock.user_id == self.user_id

    def check(self, paths: Iterable[str], below: str | None = None) -> None:
        """``locked`` when one of ``paths``, or (``below``: a folder moved or deleted) a path under it, is
        guarded by a lock this batch may not write through: an exclusive one, or shared ones of which it
        holds none."""
        if not self._locks:
            return
        for path in paths:
            self._may_write(path, [lk for lk in self._locks if lk.covers(path)])
        if below is not None:
            prefix = below + "/"
            for held in {lk.path for lk in self._locks if lk.path.startswith(prefix)}:
                self._may_write(held, [lk for lk in self._locks if lk.covers(held)])

    def _may_write(self, path: str, guarding: list[FileLock]) -> None:
        shared = [lk for lk in guarding if lk.scope == SHARED]
        for lock in guarding:
            if lock.scope == EXCLUSIVE and not self._through(lock):
                raise locked_error(lock, path, self.now)
        if shared and not any(self._through(lk) for lk in shared):
            raise locked_error(shared[0], path, self.now)

    def deleted(self, path: str, below: bool = False) -> None:
        """``path`` (``below``: a folder, with everything under it) was deleted, or a folder or symlink put
        in its place, by a batch allowed to: the locks on it end."""
        prefix = path + "/"
        self._drop([lk for lk in self._locks if lk.path == path or (below and lk.path.startswith(prefix))])

    def moved(self, src: str, dst: str) -> None:
        """``src`` (a file, or a folder with locked paths below) moved to ``dst``: native locks go along,
        WebDAV locks end (RFC 4918 7.7: a lock stays with its URL)."""
        prefix = src + "/"
        gone = [lk for lk in self._locks if lk.path == src or lk.path.startswith(prefix)]
        self._drop([lk for lk in gone if lk.dav])
        for lock in [lk for lk in gone if not lk.dav]:
            new = dst + lock.path[len(src):]
            self.conn.execute(t.file_locks.update().where(_L.lock_id == lock.lock_id).values(path=new))
            self._locks[self._locks.index(lock)] = replace(lock, path=new)
            self.changed = True

    def _drop(self, locks: list[FileLock]) -> None:
        for lock in locks:
            self.conn.execute(t.file_locks.delete().where(_L.lock_id == lock.lock_id))
            self._locks.remove(lock)
            self.changed = True
