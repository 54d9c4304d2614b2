"""A folder's small state: its meta texts (the markers), its history horizon and its lock leases.

Meta keys are ``[a-z0-9-]{1,64}`` (protocol section 8); the store's own values in the same table use keys
that start with ``_``, which no client key can, so they never mix.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import sqlalchemy as sa

from ...formats.wire.errors import WireError
from ...formats.wire.limits import MAX_META_BYTES
from ...formats.wire.paths import check_meta_key, meta_etag
from . import schema as t
from .db import Database

HORIZON_KEY = "_horizon"  # the oldest `since` still served (tombstones and journal below it are pruned)
MIN_TTL, MAX_TTL = 10, 300
SHARED, EXCLUSIVE = "s", "x"


def read_horizon(conn: sa.Connection, folder_id: int) -> int:
    """The oldest ``since`` the folder still serves (0: its whole history)."""
    m = t.folder_meta.c
    row = conn.execute(sa.select(m.text).where(m.folder_id == folder_id, m.key == HORIZON_KEY)).first()
    return int(row.text) if row is not None else 0


def write_horizon(conn: sa.Connection, folder_id: int, seq: int) -> None:
    m = t.folder_meta.c
    conn.execute(t.folder_meta.delete().where(m.folder_id == folder_id, m.key == HORIZON_KEY))
    conn.execute(t.folder_meta.insert().values(folder_id=folder_id, key=HORIZON_KEY, text=str(seq)))


Guard = Callable[[sa.Connection, bool], None]


def _trusted(conn: sa.Connection, write: bool) -> None:
    """The guard of a folder state used by the server itself (its own replica, maintenance, tests)."""


class FolderState:
    """A folder's small state: meta texts, run leases, the history horizon. ``guard(conn, write)`` is called
    first in each write transaction (the caller's rights, checked where they cannot change under the
    write: :meth:`~.folder.FolderStore.guard`)."""

    def __init__(self, db: Database, folder_id: int, guard: Guard = _trusted) -> None:
        self._db = db
        self.folder_id = folder_id
        self._meta = t.folder_meta.c
        self._guard = guard

    def _get(self, conn: sa.Connection, key: str) -> str | None:
        row = conn.execute(sa.select(self._meta.text).where(self._meta.folder_id == self.folder_id,
                                                            self._meta.key == key)).first()
        return str(row.text) if row is not None else None

    def _set(self, conn: sa.Connection, key: str, text: str) -> None:
        conn.execute(t.folder_meta.delete().where(self._meta.folder_id == self.folder_id, self._meta.key == key))
        conn.execute(t.folder_meta.insert().values(folder_id=self.folder_id, key=key, text=text))

    def horizon(self, conn: sa.Connection) -> int:
        return read_horizon(conn, self.folder_id)

    def read_meta(self, key: str) -> str | None:
        """The text written under ``key``; None when none was."""
        check_meta_key(key)
        with self._db.read() as conn:
            return self._get(conn, key)

    def write_meta(self, key: str, text: str) -> None:
        """Write ``text`` under ``key`` durably (``too_large`` past 4,096 bytes of UTF-8)."""
        self._check_meta(key, text)
        with self._db.write() as conn:
            self._guard(conn, True)
            self._set(conn, key, text)

    def write_meta_if(self, key: str, text: str, etag: str | None) -> bool:
        """Write ``text`` under ``key`` only if the text there now has the entity tag ``etag``
        (:func:`~...formats.wire.paths.meta_etag`; None: only if there is none): compared and set in one
        write transaction, so of two writers over the same text one wins. False: nothing written."""
        self._check_meta(key, text)
        with self._db.write() as conn:
            self._guard(conn, True)
            now = self._get(conn, key)
            if (None if now is None else meta_etag(now)) != etag:
                return False
            self._set(conn, key, text)
            return True

    @staticmethod
    def _check_meta(key: str, text: str) -> None:
        check_meta_key(key)
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise WireError("bad_request", "a meta text must be valid UTF-8", "a client bug") from None
        if size > MAX_META_BYTES:
            raise WireError("too_large", f"a meta text of {size} bytes", "", {"limit": MAX_META_BYTES})

    # -- leases (protocol section 10) ---------------------------------------------------------------------
    @staticmethod
    def _ttl(ttl: int) -> int:
        if not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
            raise WireError("bad_request", f"a lock's ttl is {MIN_TTL}-{MAX_TTL} s", "a client bug",
                            {"limit": MAX_TTL})
        return ttl

    def lock(self, holder: str, ttl: int, exclusive: bool = False, replaces: str | None = None,
             proposed: str | None = None) -> str:
        """A lease for ``holder`` (a device id; the maintenance's own name for an exclusive one): ``locked``
        while the same holder holds one, while an exclusive one is held, or (exclusive) while any is.

        ``replaces`` names a lease the holder's own run left behind (killed, or cut off from the server):
        when it is a shared lease of this same holder, it is ended first, in the same transaction, so the
        new lease takes its place at once. Any other id (another holder's lease, an exclusive one, one
        unknown or already gone) changes nothing: the rules above apply as without it.

        ``proposed`` is the id the holder chose for the new lease (protocol 1.1), so that it knows the id
        before the answer: if the answer is lost, its next request ``replaces`` it. The same proposal again
        from the same holder is the same request again: its lease is renewed and granted once more. An id
        another lease has is ``bad_request``."""
        ttl = self._ttl(ttl)
        lk = t.locks.c
        now = time.time_ns()
        with self._db.write() as conn:
            self._guard(conn, False)
            conn.execute(t.locks.delete().where(lk.folder_id == self.folder_id, lk.expires_ns <= now))
            if replaces is not None:
                conn.execute(t.locks.delete().where(lk.folder_id == self.folder_id, lk.lock_id == replaces,
                                                    lk.holder == holder, lk.mode == SHARED))
            if proposed is not None:
                mine = sa.and_(lk.folder_id == self.folder_id, lk.lock_id == proposed, lk.holder == holder,
                               lk.mode == (EXCLUSIVE if exclusive else SHARED))
                if conn.execute(t.locks.update().where(mine).values(expires_ns=now + ttl * 10**9)).rowcount:
                    return proposed  # asked again (the first answer was lost): the same lease
                if conn.execute(sa.select(lk.lock_id).where(lk.lock_id == proposed)).first() is not None:
                    raise WireError("bad_request", "that lease id is taken", "propose another (a client bug)")
            held = list(conn.execute(sa.select(lk.holder, lk.mode).where(lk.folder_id == self.folder_id)))
            if any(h.mode == EXCLUSIVE for h in held):
                raise WireError("locked", "the server folder is under maintenance", "try again later")
            if any(h.holder == holder for h in held) or (exclusive and held):
                raise WireError("locked", "another run of this device is writing into the folder",
                                "wait for it to finish, then run again")
            lock_id = proposed if proposed is not None else "L" + secrets.token_urlsafe(15)
            conn.execute(t.locks.insert().values(folder_id=self.folder_id, holder=holder, lock_id=lock_id,
                                                 mode=EXCLUSIVE if exclusive else SHARED,
                                                 expires_ns=now + ttl * 10**9))
            return lock_id

    def renew(self, lock_id: str, ttl: int) -> None:
        """Extend a lease (``not_found`` when it lapsed or was released: the holder must lock again)."""
        ttl = self._ttl(ttl)
        lk = t.locks.c
        now = time.time_ns()
        with self._db.write() as conn:
            self._guard(conn, False)
            done = conn.execute(t.locks.update().where(lk.folder_id == self.folder_id, lk.lock_id == lock_id,
                                                       lk.expires_ns > now).values(expires_ns=now + ttl * 10**9))
            if done.rowcount != 1:
                raise WireError("not_found", "the lock lapsed", "lock the folder again")

    def release(self, lock_id: str) -> None:
        """Give a lease up (one already gone is fine)."""
        lk = t.locks.c
        with self._db.write() as conn:
            conn.execute(t.locks.delete().where(lk.folder_id == self.folder_id, lk.lock_id == lock_id))
