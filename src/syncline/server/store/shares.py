"""Shares (issue 14): a folder's owner offers it to another user, read-only or read-write; that user
accepts it under a name of their own and from then on names it so in every request, like a folder they own.

A share is a row of ``folder_access`` (the owner's own right is one too): ``name`` is the folder's name in
the member's namespace (NULL while only offered), ``accepted_ns`` is NULL until accepted (an offer gives no
right), ``revoked_ns`` is set when the owner takes it back or the member leaves. A revoked row keeps its
name for :data:`REVOKED_ANSWERED_NS`, so that the member's devices are told ``share_revoked`` (they stop
the sync and leave their copy alone) instead of a ``not_found`` that looks like a deleted folder; a folder
made or a share accepted under that name takes it over at once.

Every change is one write transaction that re-reads what it depends on, so two racing requests never leave
two rows with one name (the unique index on ``(user_id, name)`` backs that up) or a share of a folder its
caller does not own.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import USER_NAME_RE
from ...formats.wire.paths import check_folder_name
from ...formats.wire.shares import ACCEPTED, OFFERED, OWNER, REVOKED, Share
from . import schema as t
from .db import Database

REVOKED_ANSWERED_NS = 30 * 86_400 * 10**9  # how long a revoked share's name answers share_revoked
_NAME_TRIES = 100  # NAME, NAME-OWNER, NAME-OWNER-2, ...: the first free one when no name is asked for


def _state(m: sa.RowMapping) -> tuple[str, int]:
    if m["user_id"] == m["owner_id"]:
        return OWNER, int(m["accepted_ns"] or m["created_ns"])
    if m["revoked_ns"] is not None:
        return REVOKED, int(m["revoked_ns"])
    if m["accepted_ns"] is not None:
        return ACCEPTED, int(m["accepted_ns"])
    return OFFERED, int(m["granted_ns"] or m["created_ns"])


_owner = t.users.alias("owner")
_member = t.users.alias("member")
_a, _f = t.folder_access.c, t.folders.c
_SELECT = (sa.select(_a.user_id, _a.rights, _a.name, _a.granted_ns, _a.accepted_ns, _a.revoked_ns, _f.uid,
                     _f.owner_id, _f.created_ns, _f.name.label("folder"), _owner.c.name.label("owner"),
                     _member.c.name.label("user"))
           .select_from(t.folder_access.join(t.folders, _f.id == _a.folder_id)
                        .join(_owner, _owner.c.id == _f.owner_id).join(_member, _member.c.id == _a.user_id)))


def _share(row: Any) -> Share:
    m = row._mapping
    state, since = _state(m)
    return Share(m["uid"], m["folder"], m["owner"], m["user"], m["rights"], state, m["name"], since)


def _check_rights(rights: object) -> str:
    if rights not in (t.RW, t.RO):
        raise WireError("bad_request", f"rights are rw or ro, not {clip(str(rights))!r}", "give rw or ro")
    return str(rights)


def free_name(conn: sa.Connection, user_id: int, name: str, now: int) -> None:
    """Make ``name`` free in ``user_id``'s namespace, or raise ``exists``: a revoked share holding it gives
    it up (its member chose to reuse the name); a folder or a live share keeps it."""
    row = conn.execute(sa.select(_a.folder_id, _a.revoked_ns, _f.owner_id, _f.name.label("folder"))
                       .join(t.folders, _f.id == _a.folder_id)
                       .where(_a.user_id == user_id, _a.name == name)).first()
    if row is None:
        return
    if row.revoked_ns is not None:
        conn.execute(t.folder_access.update().where(_a.folder_id == row.folder_id, _a.user_id == user_id)
                     .values(name=None))
        return
    what = "a folder" if row.owner_id == user_id else "a shared folder"
    raise WireError("exists", f"you have {what} named {clip(name)} already", "choose another name",
                    {"name": clip(name)})


def _live_user(conn: sa.Connection, name: object) -> int:
    if not isinstance(name, str) or not USER_NAME_RE.fullmatch(name):
        raise WireError("not_found", f"no user {clip(str(name))}", "check the user's name", {"user": clip(str(name))})
    row = conn.execute(sa.select(t.users.c.id, t.users.c.disabled).where(t.users.c.name == name)).first()
    if row is None or row.disabled:
        raise WireError("not_found", f"no user {name}", "check the user's name", {"user": name})
    return int(row.id)


def _end_locks(conn: sa.Connection, folder_id: int, user_id: int) -> None:
    """A user who may no longer write the folder holds no file lock in it (none comes back with the right)."""
    locks = t.file_locks.c
    if conn.execute(t.file_locks.delete().where(locks.folder_id == folder_id, locks.user_id == user_id)).rowcount:
        conn.execute(t.folders.update().where(_f.id == folder_id).values(lock_seq=_f.lock_seq + 1))


class Shares:
    def __init__(self, db: Database) -> None:
        self._db = db

    def offer(self, folder_id: int, by_id: int, user: str, rights: str) -> tuple[Share, bool]:
        """``by_id`` (who must own the folder: ``forbidden`` otherwise) offers it to ``user`` with ``rights``:
        ``(share, made)``. A live share only changes its rights (``made`` False: the member keeps their name
        and their devices go on, now read-only or read-write); a revoked or declined one becomes a new offer.
        ``not_found`` for an unknown or removed user, ``bad_request`` for the owner themself."""
        rights = _check_rights(rights)
        now = time.time_ns()
        with self._db.write() as conn:
            self._owned(conn, folder_id, by_id)
            user_id = _live_user(conn, user)
            if user_id == by_id:
                raise WireError("bad_request", "you own this folder", "share it with another user")
            where = sa.and_(_a.folder_id == folder_id, _a.user_id == user_id)
            row = conn.execute(sa.select(_a.revoked_ns).where(where)).first()
            made = row is None or row.revoked_ns is not None
            if row is None:
                conn.execute(t.folder_access.insert().values(folder_id=folder_id, user_id=user_id, rights=rights,
                                                             granted_ns=now))
            elif made:  # taken back before: offered anew, to be accepted anew (under a name chosen then)
                conn.execute(t.folder_access.update().where(where).values(
                    rights=rights, name=None, granted_ns=now, accepted_ns=None, revoked_ns=None))
            else:
                conn.execute(t.folder_access.update().where(where).values(rights=rights))
            if rights == t.RO:
                _end_locks(conn, folder_id, user_id)
            return self._one(conn, folder_id, user_id), made

    def end(self, folder_id: int, by_id: int, user: str) -> int:
        """End ``user``'s share of the folder: its owner (``by_id``) revokes it, or the member leaves it
        (``by_id`` is theirs). An offer not yet accepted is deleted; an accepted share is marked revoked
        (its name answers ``share_revoked`` for a while). Returns the member's user id. ``forbidden`` for
        anyone else and for the owner leaving their own folder; ``not_found`` for a user with no live share."""
        now = time.time_ns()
        with self._db.write() as conn:
            owner_id = int(conn.execute(sa.select(_f.owner_id).where(_f.id == folder_id)).scalar_one())
            user_id = _live_user(conn, user) if by_id == owner_id else by_id
            if by_id == owner_id and user_id == owner_id:
                raise WireError("forbidden", "the owner cannot leave their own folder",
                                "revoke the other members' shares instead")
            if by_id != owner_id:
                me = conn.execute(sa.select(t.users.c.name).where(t.users.c.id == by_id)).scalar_one()
                if me != user:
                    raise WireError("forbidden", "only the folder's owner can end another member's share",
                                    "ask the owner", {"user": clip(user)})
            where = sa.and_(_a.folder_id == folder_id, _a.user_id == user_id)
            row = conn.execute(sa.select(_a.accepted_ns, _a.revoked_ns).where(where)).first()
            if row is None or row.revoked_ns is not None:
                raise WireError("not_found", f"{clip(user)} has no share of this folder",
                                "see its members with `syncline share list`", {"user": clip(user)})
            if row.accepted_ns is None:
                conn.execute(t.folder_access.delete().where(where))
            else:
                conn.execute(t.folder_access.update().where(where).values(revoked_ns=now))
                _end_locks(conn, folder_id, user_id)
            return user_id

    def accept(self, user_id: int, uid: str, name: str | None = None) -> Share:
        """Accept the share of folder ``uid`` offered to ``user_id``, under ``name`` (``exists`` when they
        have a folder or share of that name), or when None the first free of the folder's own name,
        ``NAME-OWNER``, ``NAME-OWNER-2``... Accepting an accepted share again under its name (or None) is
        answered as the first time. ``not_found`` when no such share is offered to them."""
        if name is not None:
            check_folder_name(name)
        now = time.time_ns()
        with self._db.write() as conn:
            row = self._incoming(conn, user_id, uid)
            if row.accepted_ns is not None:
                if name is None or name == row.name:
                    return self._one(conn, row.folder_id, user_id)
                raise WireError("exists", f"you accepted this share as {row.name} already",
                                "use that name", {"name": row.name})
            chosen = name if name is not None else self._free_name(conn, user_id, row.folder, row.owner)
            free_name(conn, user_id, chosen, now)
            conn.execute(t.folder_access.update().where(_a.folder_id == row.folder_id, _a.user_id == user_id)
                         .values(name=chosen, accepted_ns=now))
            return self._one(conn, row.folder_id, user_id)

    def decline(self, user_id: int, uid: str) -> int:
        """Decline an offer, or leave an accepted share, of folder ``uid``; the folder's id."""
        with self._db.read() as conn:
            row = self._incoming(conn, user_id, uid)
            me = conn.execute(sa.select(t.users.c.name).where(t.users.c.id == user_id)).scalar_one()
        self.end(row.folder_id, user_id, me)
        return int(row.folder_id)

    def members(self, folder_id: int) -> list[Share]:
        """Everyone with a right to the folder or an offer of one, the owner first, then by name; revoked
        shares while their name still answers."""
        since = time.time_ns() - REVOKED_ANSWERED_NS
        with self._db.read() as conn:
            rows = conn.execute(_SELECT.where(_a.folder_id == folder_id).where(
                sa.or_(_a.revoked_ns.is_(None), _a.revoked_ns > since)).order_by(_member.c.name)).all()
        found = [_share(r) for r in rows]
        return sorted(found, key=lambda s: (s.state != OWNER, s.user))

    def of_user(self, user_id: int) -> list[Share]:
        """The shares of other users' folders offered to or held by ``user_id`` (revoked ones while their
        name still answers), by owner and folder."""
        since = time.time_ns() - REVOKED_ANSWERED_NS
        with self._db.read() as conn:
            rows = conn.execute(_SELECT.where(_a.user_id == user_id, _f.owner_id != user_id).where(
                sa.or_(_a.revoked_ns.is_(None), _a.revoked_ns > since)).order_by(_owner.c.name, _f.name)).all()
        return [_share(r) for r in rows]

    def shared_by(self, user_id: int) -> list[Share]:
        """The shares of the folders ``user_id`` owns, offered or accepted, by folder and member."""
        with self._db.read() as conn:
            rows = conn.execute(_SELECT.where(_f.owner_id == user_id, _a.user_id != user_id,
                                              _a.revoked_ns.is_(None)).order_by(_f.name, _member.c.name)).all()
        return [_share(r) for r in rows]

    # -- helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _owned(conn: sa.Connection, folder_id: int, by_id: int) -> None:
        owner = conn.execute(sa.select(_f.owner_id).where(_f.id == folder_id)).scalar()
        if owner != by_id:
            raise WireError("forbidden", "only the folder's owner can share it", "ask its owner")

    @staticmethod
    def _one(conn: sa.Connection, folder_id: int, user_id: int) -> Share:
        return _share(conn.execute(_SELECT.where(_a.folder_id == folder_id, _a.user_id == user_id)).one())

    @staticmethod
    def _incoming(conn: sa.Connection, user_id: int, uid: object) -> Any:
        """The live share of folder ``uid`` offered to or held by ``user_id``; ``not_found`` otherwise
        (another user's offer is answered exactly so)."""
        row = None
        if isinstance(uid, str) and len(uid) <= 64:
            row = conn.execute(sa.select(_a.folder_id, _a.name, _a.accepted_ns, _f.name.label("folder"),
                                         t.users.c.name.label("owner"))
                               .select_from(t.folder_access.join(t.folders, _f.id == _a.folder_id)
                                            .join(t.users, t.users.c.id == _f.owner_id))
                               .where(_f.uid == uid, _a.user_id == user_id, _f.owner_id != user_id,
                                      _a.revoked_ns.is_(None))).first()
        if row is None:
            raise WireError("not_found", f"no share {clip(str(uid))} offered to you",
                            "list them with `syncline share list`", {"share": clip(str(uid))})
        return row

    @staticmethod
    def _free_name(conn: sa.Connection, user_id: int, folder: str, owner: str) -> str:
        # A revoked share's name is taken while it answers share_revoked: its devices still name it so, and a
        # name picked for them must never lead them to another folder. Only a name the user chooses takes it.
        since = time.time_ns() - REVOKED_ANSWERED_NS

        def taken(name: str) -> bool:
            return conn.execute(sa.select(_a.folder_id).where(
                _a.user_id == user_id, _a.name == name,
                sa.or_(_a.revoked_ns.is_(None), _a.revoked_ns > since))).first() is not None

        base = f"{folder}-{owner}"[:64]
        for name in (folder, base, *(f"{base[:60]}-{n}" for n in range(2, _NAME_TRIES))):
            if not taken(name):
                return name
        raise WireError("exists", f"you have {_NAME_TRIES} folders named like {folder} already",
                        "accept the share under a name of your choice")
