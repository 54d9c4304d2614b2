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
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import MAX_FILE_LOCKS
from ...formats.wire.paths import check_wire_path
from . import schema as t

_L = t.file_locks.c


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

    def to_json(self, device_id: str, now: int) -> dict[str, Any]:
        """The wire form, for the device ``device_id`` asking (``mine``) at ``now``."""
        return {"lock": self.lock_id, "path": self.path, "user": self.user, "device": self.device_id,
                "device_name": self.device_name, "created_ns": self.created_ns, "expires_ns": self.expires_ns,
                "expires_in": max(0, (self.expires_ns - now) // 10**9), "note": self.note,
                "mine": self.device_id == device_id}


_A, _D = t.folder_access.c, t.devices.c
# A lock holds only while its holder may still write the folder from that device: a share made read-only
# or revoked, a device revoked, a user removed, and their locks are no locks (as if expired), derived here
# rather than deleted at each of those places.
_SELECT = (sa.select(_L.lock_id, _L.path, _L.user_id, t.users.c.name.label("user"), _L.device_id,
                     _D.name.label("device_name"), _L.created_ns, _L.expires_ns, _L.note)
           .select_from(t.file_locks.join(t.users, t.users.c.id == _L.user_id)
                        .join(t.devices, _D.id == _L.device_id)
                        .join(t.folder_access, sa.and_(_A.folder_id == _L.folder_id, _A.user_id == _L.user_id)))
           .where(_A.rights == t.RW, _A.accepted_ns.is_not(None), _A.revoked_ns.is_(None), _D.revoked_ns.is_(None),
                  t.users.c.disabled.is_(False)))


def _lock(row: Any) -> FileLock:
    return FileLock(row.lock_id, row.path, row.user_id, row.user, row.device_id, row.device_name, row.created_ns,
                    row.expires_ns, row.note)


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


def take(conn: sa.Connection, folder_id: int, path: str, user_id: int, device_id: str, ttl: int,
         note: str | None, now: int) -> tuple[FileLock, bool]:
    """Lock the file ``path`` for ``device_id`` of ``user_id`` until ``now + ttl`` s: ``(lock, made)``;
    the device's own lock there is renewed (``made`` False). ``locked`` when another device holds it,
    ``not_found`` for a path that is not a file, ``too_large`` past :data:`MAX_FILE_LOCKS` a folder."""
    check_wire_path(path)
    entry = conn.execute(sa.select(t.entries.c.kind).where(t.entries.c.folder_id == folder_id,
                                                           t.entries.c.path == path)).scalar()
    if entry != t.FILE:
        raise WireError("not_found", f"no file {clip(path)} in the folder", "only a file can be locked",
                        {"path": clip(path)})
    where = sa.and_(_L.folder_id == folder_id, _L.path == path)
    held = conn.execute(_SELECT.where(where)).first()
    if held is not None and held.expires_ns > now:
        lock = _lock(held)
        if lock.device_id != device_id:
            raise locked_error(lock, path, now)
        conn.execute(t.file_locks.update().where(where).values(expires_ns=now + ttl * 10**9, note=note))
        bump(conn, folder_id)
        return _lock(conn.execute(_SELECT.where(where)).one()), False
    count = conn.execute(sa.select(sa.func.count()).select_from(t.file_locks)
                         .where(_L.folder_id == folder_id, _L.expires_ns > now)).scalar_one()
    if count >= MAX_FILE_LOCKS:
        raise WireError("too_large", f"the folder has {MAX_FILE_LOCKS} locks already", "unlock some first",
                        {"limit": MAX_FILE_LOCKS})
    conn.execute(t.file_locks.delete().where(where))  # an expired lock is no lock
    conn.execute(t.file_locks.insert().values(folder_id=folder_id, path=path, lock_id="K" + secrets.token_urlsafe(15),
                                              user_id=user_id, device_id=device_id, created_ns=now,
                                              expires_ns=now + ttl * 10**9, note=note))
    bump(conn, folder_id)
    return _lock(conn.execute(_SELECT.where(where)).one()), True


def find(conn: sa.Connection, folder_id: int, lock_id: str, now: int) -> FileLock:
    """The live lock ``lock_id`` of the folder; ``not_found`` for one unknown, ended or expired."""
    row = conn.execute(_SELECT.where(_L.folder_id == folder_id, _L.lock_id == lock_id, _L.expires_ns > now)).first()
    if row is None:
        raise WireError("not_found", f"no lock {clip(lock_id, 64)} in the folder", "see the folder's locks",
                        {"lock": clip(lock_id, 64)})
    return _lock(row)


def renew(conn: sa.Connection, folder_id: int, lock_id: str, device_id: str, ttl: int, now: int) -> FileLock:
    """Move the expiry of the device's own lock to ``now + ttl`` s (``forbidden`` for another's)."""
    lock = find(conn, folder_id, lock_id, now)
    if lock.device_id != device_id:
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
    folder without locks costs that one read)."""

    def __init__(self, conn: sa.Connection, folder_id: int, device_id: str, now: int | None = None) -> None:
        self.conn, self.folder_id, self.device_id = conn, folder_id, device_id
        self.now = time.time_ns() if now is None else now
        self._locks = {lk.path: lk for lk in live(conn, folder_id, self.now)}
        self.changed = False  # the batch ended or moved one of the holder's locks

    def check(self, paths: Iterable[str], below: str | None = None) -> None:
        """``locked`` when one of ``paths``, or (``below``: a folder moved) a path under it, is locked by
        another device."""
        if not self._locks:
            return
        for path in paths:
            lock = self._locks.get(path)
            if lock is not None and lock.device_id != self.device_id:
                raise locked_error(lock, path, self.now)
        if below is not None:
            prefix = below + "/"
            for path, lock in self._locks.items():
                if path.startswith(prefix) and lock.device_id != self.device_id:
                    raise locked_error(lock, path, self.now)

    def deleted(self, path: str, below: bool = False) -> None:
        """The holder deleted its locked file (``below``: a folder, with its locked files), or put a folder
        or symlink in its place: the locks end."""
        prefix = path + "/"
        for gone in [p for p in self._locks if p == path or (below and p.startswith(prefix))]:
            self.conn.execute(t.file_locks.delete().where(_L.folder_id == self.folder_id, _L.path == gone))
            del self._locks[gone]
            self.changed = True

    def moved(self, src: str, dst: str) -> None:
        """The holder moved ``src`` (a file, or a folder with locked files below) to ``dst``: its locks go along."""
        prefix = src + "/"
        for path in [p for p in self._locks if p == src or p.startswith(prefix)]:
            new = dst + path[len(src):]
            self.conn.execute(t.file_locks.delete().where(_L.folder_id == self.folder_id, _L.path == new))  # expired
            self.conn.execute(t.file_locks.update().where(_L.folder_id == self.folder_id, _L.path == path)
                              .values(path=new))
            self._locks[new] = self._locks.pop(path)
            self.changed = True
