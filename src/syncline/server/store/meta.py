"""Users, devices and folders: the rows every request resolves before it touches a folder.

Passwords arrive hashed (the auth module hashes with Argon2id; the store stores) and tokens as their
SHA-256 hex. Folder names are per user (``docs/server-plan.md``, decision 2): a name is resolved in one
user's namespace (the folders they own and the shares they accepted, :mod:`.shares`), and every step after
that uses the folder's immutable id.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import sqlalchemy as sa

from ...formats.wire.errors import WireError
from ...formats.wire.limits import MAX_DEVICE_NAME, MAX_QUOTA, USER_NAME_RE
from ...formats.wire.paths import check_folder_name
from ...formats.wire.users import UserChange, UserInfo
from . import schema as t
from .db import Database
from .ids import base32_id, namespace
from .shares import REVOKED_ANSWERED_NS, free_name

_LAST_SEEN_STEP_NS = 60 * 10**9  # last_seen is written at most once a minute per device


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    password_hash: str
    admin: bool
    created_ns: int
    disabled: bool
    quota_bytes: int | None = None  # None: no quota


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    user_id: int
    name: str
    token_hash: str
    created_ns: int
    last_seen_ns: int | None
    revoked_ns: int | None
    kind: str = t.DEVICE  # "device", "app" or "web" (schema.devices)
    expires_ns: int | None = None  # a web session's idle deadline (sliding); None for the others


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder as resolved: ``id`` (the database's), ``uid`` (the server-made, immutable id clients see),
    the owner, ``name`` (in the namespace of the user who resolved it; read by id, the owner's), ``seq``
    when it was read."""

    id: int
    uid: str
    owner_id: int
    name: str
    seq: int
    chunk_ns: str
    root_mode: int
    root_mtime_ns: int
    created_ns: int
    lock_seq: int = 0  # when it was read: raised by every change of its file locks


def _check_quota(quota_bytes: int | None) -> None:
    if quota_bytes is not None and not (isinstance(quota_bytes, int) and 0 <= quota_bytes <= MAX_QUOTA):
        raise WireError("bad_request", f"a quota of {quota_bytes!r} bytes", "give 0 to 2^62 bytes, or none")


def rights_of(conn: sa.Connection, folder_id: int, user_id: int) -> str | None:
    """``user_id``'s right to the folder on ``conn`` (``rw``, ``ro``): None for none, and for a share
    offered but not accepted; ``WireError("share_revoked")`` for a share its owner took back."""
    a = t.folder_access.c
    row = conn.execute(sa.select(a.rights, a.accepted_ns, a.revoked_ns)
                       .where(a.folder_id == folder_id, a.user_id == user_id)).first()
    if row is None or row.accepted_ns is None:
        return None
    if row.revoked_ns is not None:
        raise share_revoked(row.revoked_ns)
    return str(row.rights)


def share_revoked(revoked_ns: int) -> WireError:
    return WireError("share_revoked", "this folder is no longer shared with you",
                     "its owner took the share back or you left it; your copy is left as it is: remove the "
                     "folder from this device or ask the owner to share it again", {"revoked_ns": revoked_ns})


def used_bytes(conn: sa.Connection, user_id: int) -> int:
    """The live bytes of the folders ``user_id`` owns, on ``conn`` (read from the ``entries_kind_size``
    index, one range per folder)."""
    e, f = t.entries.c, t.folders.c
    total = conn.execute(sa.select(sa.func.sum(e.size)).select_from(t.entries.join(t.folders, f.id == e.folder_id))
                         .where(f.owner_id == user_id, e.kind == t.FILE)).scalar()
    return int(total or 0)


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    m = row._mapping
    return User(m["id"], m["name"], m["password_hash"], bool(m["admin"]), m["created_ns"], bool(m["disabled"]),
                m["quota_bytes"])


def _device(row: sa.Row[tuple[object, ...]]) -> Device:
    m = row._mapping
    return Device(m["id"], m["user_id"], m["name"], m["token_hash"], m["created_ns"], m["last_seen_ns"],
                  m["revoked_ns"], m["kind"], m["expires_ns"])


def folder_of(row: sa.Row[tuple[object, ...]]) -> Folder:
    m = row._mapping
    return Folder(m["id"], m["uid"], m["owner_id"], m["name"], m["seq"], m["chunk_ns"], m["root_mode"],
                  m["root_mtime_ns"], m["created_ns"], m["lock_seq"])


class Users:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, name: str, password_hash: str, admin: bool = False, quota_bytes: int | None = None) -> User:
        """A new user (with ``quota_bytes``, see :meth:`set_quota`); ``WireError("bad_request")`` for a name
        outside ``[a-z][a-z0-9_-]{0,31}`` or a bad quota, ``WireError("exists")`` when the name is taken."""
        if not isinstance(name, str) or not USER_NAME_RE.fullmatch(name):
            raise WireError("bad_request", f"invalid user name {name!r}",
                            "a user name is 1-32 of a-z, 0-9, '_' and '-', starting with a letter")
        _check_quota(quota_bytes)
        with self._db.write() as conn:
            if conn.execute(sa.select(t.users.c.id).where(t.users.c.name == name)).first() is not None:
                raise WireError("exists", f"there is already a user {name}", "choose another name")
            conn.execute(t.users.insert().values(name=name, password_hash=password_hash, admin=admin,
                                                 created_ns=time.time_ns(), disabled=False, quota_bytes=quota_bytes))
            return _user(conn.execute(sa.select(t.users).where(t.users.c.name == name)).one())

    def get(self, name: str) -> User | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        return _user(row) if row is not None else None

    def by_id(self, user_id: int) -> User | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).first()
        return _user(row) if row is not None else None

    def set_password(self, name: str, password_hash: str) -> None:
        """``WireError("not_found")`` for an unknown user."""
        with self._db.write() as conn:
            done = conn.execute(t.users.update().where(t.users.c.name == name).values(password_hash=password_hash))
            if done.rowcount != 1:
                raise WireError("not_found", f"no user {name}", "list them with `syncline user list`")

    def list(self) -> list[User]:
        with self._db.read() as conn:
            return [_user(r) for r in conn.execute(sa.select(t.users).order_by(t.users.c.name))]

    def set_quota(self, name: str, quota_bytes: int | None) -> None:
        """Limit the live bytes of the folders ``name`` owns to ``quota_bytes`` (None: no limit). Files
        already past it stay; only writes that would add bytes are refused. ``not_found`` for an unknown or
        removed user, ``bad_request`` for a quota that is not 0 to 2^62 bytes."""
        _check_quota(quota_bytes)
        with self._db.write() as conn:
            user = self._live(conn, name)
            conn.execute(t.users.update().where(t.users.c.id == user.id).values(quota_bytes=quota_bytes))

    def used_bytes(self, user_id: int) -> int:
        """The live bytes of the folders ``user_id`` owns (what a quota counts: files now, not trash)."""
        with self._db.read() as conn:
            return used_bytes(conn, user_id)

    def set_admin(self, name: str, admin: bool) -> None:
        """Make ``name`` an administrator or not. ``not_found`` for an unknown or removed user; ``conflict``
        when that would leave the server without an administrator."""
        with self._db.write() as conn:
            user = self._live(conn, name)
            if not admin and user.admin:
                self._keep_an_admin(conn, user)
            conn.execute(t.users.update().where(t.users.c.id == user.id).values(admin=admin))

    def remove(self, name: str) -> int:
        """Remove ``name``: their devices are revoked and they can no longer log in, in one transaction;
        their folders stay on the server (nothing of theirs is deleted) and their name stays taken, so that
        nobody added later gets their folders. Returns how many devices were revoked. ``not_found`` for an
        unknown or removed user; ``conflict`` for the last administrator."""
        with self._db.write() as conn:
            return len(Users._disable(conn, self._live(conn, name)))

    def update(self, name: str, change: UserChange) -> tuple[str, ...]:
        """Apply an administrator's ``change`` to ``name`` (protocol 1.3) in one transaction: the quota
        (as :meth:`set_quota`), then disabling (as :meth:`remove`: devices revoked, no login) or enabling
        (logins allowed again; the devices revoked stay revoked). Returns the ids of the devices revoked
        now. ``not_found`` for an unknown user, ``conflict`` for the last administrator. A removed user's
        quota may change (what they get if enabled again)."""
        with self._db.write() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
            if row is None:
                raise WireError("not_found", f"no user {name}", "list them with GET /v1/users")
            user = _user(row)
            if change.sets_quota:
                _check_quota(change.quota)
                conn.execute(t.users.update().where(t.users.c.id == user.id).values(quota_bytes=change.quota))
            if change.disabled and not user.disabled:
                return Users._disable(conn, user)
            if change.disabled is False and user.disabled:
                conn.execute(t.users.update().where(t.users.c.id == user.id).values(disabled=False))
            return ()

    def overview(self, name: str | None = None) -> tuple[UserInfo, ...]:
        """Every user (or only ``name``), by name, with their usage and devices, in one read: what
        ``GET /v1/users`` lists."""
        u, d, e, f = t.users.c, t.devices.c, t.entries.c, t.folders.c
        live = sa.func.count().filter(d.revoked_ns.is_(None))
        seen = sa.func.max(sa.func.coalesce(d.last_seen_ns, d.created_ns))
        users_q = sa.select(t.users).order_by(u.name)
        devices_q = sa.select(d.user_id, live, seen).group_by(d.user_id)
        # Per folder, so that each sum reads its folder's range of the entries_kind_size index (a join
        # grouped by owner scans the whole index instead).
        used_q = sa.select(f.owner_id, sa.select(sa.func.sum(e.size)).where(
            e.folder_id == f.id, e.kind == t.FILE).scalar_subquery())
        if name is not None:
            one = sa.select(u.id).where(u.name == name).scalar_subquery()
            users_q = users_q.where(u.name == name)
            devices_q = devices_q.where(d.user_id == one)
            used_q = used_q.where(f.owner_id == one)
        with self._db.read() as conn:
            users = [_user(r) for r in conn.execute(users_q)]
            devices = {int(r[0]): (int(r[1]), r[2]) for r in conn.execute(devices_q)}
            used: dict[int, int] = {}
            for owner, size in conn.execute(used_q):
                used[int(owner)] = used.get(int(owner), 0) + int(size or 0)
        return tuple(UserInfo(user.name, user.admin, user.disabled, user.quota_bytes, used.get(user.id, 0),
                              *devices.get(user.id, (0, None)), user.created_ns) for user in users)

    @staticmethod
    def _disable(conn: sa.Connection, user: User) -> tuple[str, ...]:
        """Revoke ``user``'s devices and refuse their logins (the last administrator: ``conflict``);
        the ids of the devices revoked."""
        if user.admin:
            Users._keep_an_admin(conn, user)
        d = t.devices.c
        live = d.user_id == user.id, d.revoked_ns.is_(None)
        revoked = tuple(str(i) for i in conn.execute(sa.select(d.id).where(*live)).scalars())
        conn.execute(t.devices.update().where(*live).values(revoked_ns=time.time_ns()))
        conn.execute(t.users.update().where(t.users.c.id == user.id).values(disabled=True))
        return revoked

    @staticmethod
    def _live(conn: sa.Connection, name: str) -> User:
        row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        if row is None or row.disabled:
            raise WireError("not_found", f"no user {name}", "list them with `syncline user list`")
        return _user(row)

    @staticmethod
    def _keep_an_admin(conn: sa.Connection, leaving: User) -> None:
        u = t.users.c
        others = conn.execute(sa.select(sa.func.count()).select_from(t.users).where(
            u.admin.is_(True), u.disabled.is_(False), u.id != leaving.id)).scalar_one()
        if not others:
            raise WireError("conflict", f"{leaving.name} is the last administrator",
                            "make another user an administrator first: `syncline user set NAME --admin`")


class Devices:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, user_id: int, name: str, token_hash: str, replaces: str | None = None, *,
            kind: str = t.DEVICE, now: int | None = None) -> Device:
        """A new device (a login) of ``user_id``, of ``kind`` ``device`` or ``app`` (web sessions:
        :meth:`add_web`); ``replaces``, one of this user's own devices, is revoked in the same transaction
        (another user's is ``WireError("not_found")``, and nothing is made)."""
        if kind not in (t.DEVICE, t.APP):
            raise ValueError(f"a device of kind {kind!r} is made by add_web or not at all")
        now = time.time_ns() if now is None else now
        with self._db.write() as conn:
            if replaces is not None:
                self._revoke(conn, replaces, user_id, now)
            return self._insert(conn, user_id, name, token_hash, now, kind, None)

    def add_web(self, user_id: int, name: str, token_hash: str, now: int, expires_ns: int,
                keep: int) -> tuple[Device, list[str]]:
        """A new web session of ``user_id`` that expires at ``expires_ns`` (idle; the caller slides it with
        :meth:`seen`), and the ids of the user's oldest live web sessions revoked so that at most ``keep``
        stay live (this one included), in one transaction."""
        if keep < 1:
            raise ValueError("a user keeps at least the web session just made")
        d = t.devices.c
        with self._db.write() as conn:
            live = [str(r.id) for r in conn.execute(
                sa.select(d.id).where(d.user_id == user_id, d.kind == t.WEB, d.revoked_ns.is_(None))
                .order_by(d.created_ns, d.id))]
            gone = live[:max(0, len(live) - keep + 1)]
            if gone:
                conn.execute(t.devices.update().where(d.id.in_(gone)).values(revoked_ns=now))
            return self._insert(conn, user_id, name, token_hash, now, t.WEB, expires_ns), gone

    @staticmethod
    def _insert(conn: sa.Connection, user_id: int, name: str, token_hash: str, now: int, kind: str,
                expires_ns: int | None) -> Device:
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_DEVICE_NAME or not name.isprintable():
            raise WireError("bad_request", "a device name is 1-64 printable characters", "choose another name")
        device_id = "D" + base32_id(19)
        conn.execute(t.devices.insert().values(id=device_id, user_id=user_id, name=name, token_hash=token_hash,
                                               created_ns=now, kind=kind, expires_ns=expires_ns))
        return _device(conn.execute(sa.select(t.devices).where(t.devices.c.id == device_id)).one())

    def by_token_hash(self, token_hash: str) -> Device | None:
        """The live device with this token; None for an unknown or revoked one."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(t.devices).where(t.devices.c.token_hash == token_hash,
                                                          t.devices.c.revoked_ns.is_(None))).first()
        return _device(row) if row is not None else None

    def get(self, device_id: str) -> Device | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(t.devices).where(t.devices.c.id == device_id)).first()
        return _device(row) if row is not None else None

    def list(self, user_id: int | None = None) -> list[Device]:
        """``user_id``'s devices (None: everyone's), revoked ones too, oldest first."""
        q = sa.select(t.devices).order_by(t.devices.c.created_ns, t.devices.c.id)
        if user_id is not None:
            q = q.where(t.devices.c.user_id == user_id)
        with self._db.read() as conn:
            return [_device(r) for r in conn.execute(q)]

    def revoke(self, device_id: str, user_id: int | None = None) -> None:
        """Revoke a device (of ``user_id`` when given: another user's is ``not_found``); the row stays."""
        with self._db.write() as conn:
            self._revoke(conn, device_id, user_id, time.time_ns())

    @staticmethod
    def _revoke(conn: sa.Connection, device_id: str, user_id: int | None, now: int) -> None:
        q = sa.select(t.devices.c.revoked_ns).where(t.devices.c.id == device_id)
        if user_id is not None:
            q = q.where(t.devices.c.user_id == user_id)
        row = conn.execute(q).first()
        if row is None:
            raise WireError("not_found", f"no device {device_id}", "list them with `syncline device list`")
        if row.revoked_ns is None:
            conn.execute(t.devices.update().where(t.devices.c.id == device_id).values(revoked_ns=now))

    def seen(self, device_id: str, now: int | None = None, expires_ns: int | None = None) -> bool:
        """Record that the device made a request (written at most once a minute); a web session's
        ``expires_ns`` is moved to the one given in the same write (never for another kind of device).
        Whether it was written."""
        now = time.time_ns() if now is None else now
        d = t.devices.c
        values: dict[str, object] = {"last_seen_ns": now}
        if expires_ns is not None:
            values["expires_ns"] = sa.case((d.kind == t.WEB, expires_ns), else_=d.expires_ns)
        with self._db.write() as conn:
            done = conn.execute(t.devices.update().where(
                d.id == device_id, sa.or_(d.last_seen_ns.is_(None), d.last_seen_ns < now - _LAST_SEEN_STEP_NS),
            ).values(values))
            return bool(done.rowcount)

    def revoke_expired(self, now: int, max_age_ns: int) -> tuple[str, ...]:
        """Revoke every live web session idle past its ``expires_ns`` or made ``max_age_ns`` or more
        before ``now`` (the collector's sweep); their ids."""
        d = t.devices.c
        expired = sa.and_(d.kind == t.WEB, d.revoked_ns.is_(None),
                          sa.or_(d.expires_ns.is_(None), d.expires_ns <= now, d.created_ns <= now - max_age_ns))
        with self._db.write() as conn:
            gone = tuple(str(r.id) for r in conn.execute(sa.select(d.id).where(expired)))
            if gone:  # the same rows: the write transaction holds the database's write lock
                conn.execute(t.devices.update().where(expired).values(revoked_ns=now))
            return gone


class Folders:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, owner_id: int, name: str) -> tuple[Folder, bool]:
        """The folder ``name`` of ``owner_id``, made if it is not there: ``(folder, made)``. The owner gets
        ``rw``. ``WireError("bad_request")`` for an invalid name, ``not_found`` for an unknown owner,
        ``exists`` when the name is a share the user accepted (a revoked share's name is taken over)."""
        check_folder_name(name)
        now = time.time_ns()
        with self._db.write() as conn:
            row = conn.execute(self._named(owner_id, name)).first()
            if row is not None:
                return folder_of(row), False
            if conn.execute(sa.select(t.users.c.id).where(t.users.c.id == owner_id)).first() is None:
                raise WireError("not_found", f"no user with id {owner_id}", "")
            free_name(conn, owner_id, name, now)
            uid = base32_id()
            conn.execute(t.folders.insert().values(
                uid=uid, owner_id=owner_id, name=name, seq=0, chunk_ns=namespace(), root_mode=0o755,
                root_mtime_ns=now, created_ns=now))
            folder = folder_of(conn.execute(sa.select(t.folders).where(t.folders.c.uid == uid)).one())
            conn.execute(t.folder_access.insert().values(folder_id=folder.id, user_id=owner_id, rights=t.RW,
                                                         name=name, granted_ns=now, accepted_ns=now))
            conn.execute(t.dav_ids.insert().values(folder_id=folder.id, file_id=""))  # the root's WebDAV id
            return folder, True

    @staticmethod
    def _named(owner_id: int, name: str) -> sa.Select[tuple[object, ...]]:
        return sa.select(t.folders).where(t.folders.c.owner_id == owner_id, t.folders.c.name == name)

    def get(self, owner_id: int, name: str) -> Folder | None:
        """The folder ``name`` that ``owner_id`` owns, or None (shares are not looked at: see :meth:`resolve`)."""
        with self._db.read() as conn:
            row = conn.execute(self._named(owner_id, name)).first()
        return folder_of(row) if row is not None else None

    def by_id(self, folder_id: int) -> Folder | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(t.folders).where(t.folders.c.id == folder_id)).first()
        return folder_of(row) if row is not None else None

    def by_uid(self, uid: str) -> Folder | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(t.folders).where(t.folders.c.uid == uid)).first()
        return folder_of(row) if row is not None else None

    def for_user(self, user_id: int) -> list[tuple[Folder, str]]:
        """Every folder ``user_id`` names (those they own and the shares they accepted), with their right
        (``rw``/``ro``), by name; each folder's ``name`` is theirs for it."""
        a = t.folder_access.c
        q = (sa.select(t.folders, a.rights, a.name.label("access_name"))
             .join(t.folder_access, a.folder_id == t.folders.c.id)
             .where(a.user_id == user_id, a.name.is_not(None), a.accepted_ns.is_not(None), a.revoked_ns.is_(None))
             .order_by(a.name))
        with self._db.read() as conn:
            return [(dataclasses.replace(folder_of(r), name=r.access_name), str(r.rights)) for r in conn.execute(q)]

    def resolve(self, user_id: int, name: str) -> tuple[Folder, str] | None:
        """The folder ``name`` as ``user_id`` names it (one they own, or a share they accepted under that
        name; the folder's ``name`` is then theirs), with their right to it (``rw``, ``ro``), in one read;
        None when they have none (answered as a folder that does not exist); ``share_revoked`` for a share
        taken back lately. Every request that names a folder resolves it here."""
        a = t.folder_access.c
        q = (sa.select(t.folders, a.rights, a.accepted_ns, a.revoked_ns)
             .join(t.folder_access, a.folder_id == t.folders.c.id).where(a.user_id == user_id, a.name == name))
        with self._db.read() as conn:
            row = conn.execute(q).first()
        if row is None or row.accepted_ns is None:
            return None
        if row.revoked_ns is not None:
            if row.revoked_ns < time.time_ns() - REVOKED_ANSWERED_NS:
                return None
            raise share_revoked(row.revoked_ns)
        return dataclasses.replace(folder_of(row), name=name), str(row.rights)

    def rights(self, folder_id: int, user_id: int) -> str | None:
        """``rw``, ``ro``, or None (no right: answered as a folder that does not exist)."""
        with self._db.read() as conn:
            return rights_of(conn, folder_id, user_id)
