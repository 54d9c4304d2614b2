"""Managing users on the server machine: add, change a password, the first start's ``admin``.

In v1 users are made on the server machine (``syncline user ...`` on the data directory), never over the
network (protocol.md section 2). The password is checked (8-1,024 bytes of UTF-8) and hashed here; the
store only ever sees the Argon2id hash.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UsageError
from ..formats.wire.errors import WireError, clip
from ..formats.wire.limits import USER_NAME_RE
from .auth import AuthStore
from .passwords import Passwords
from .store.db import Database
from .store.meta import Devices, User, Users
from .store.migrations import migrate

# The metadata database's name in a data directory (the store's layout, server/store/__init__.py).
_META_DB = "meta.db"


@dataclass
class Accounts:
    """The users and devices of one data directory, for commands run beside a server (``syncline user``).

    Unlike ``open_store`` it touches only the metadata database: it never empties ``tmp/``, where a
    running server keeps the uploads in progress. Close it when done.
    """

    users: Users
    devices: Devices
    db: Database

    def close(self) -> None:
        self.db.close()


def open_accounts(data_dir: Path, create: bool = False) -> Accounts:
    """The accounts of ``data_dir``, migrated to the newest schema. ``create``: make the directory (mode
    0700) and its database if they are not there; else :class:`UsageError` naming the directory."""
    path = data_dir / _META_DB
    if not path.exists():
        if not create:
            raise UsageError(f"no server data in {data_dir}",
                             "give the data directory with --data, or add a user first with `syncline user add`")
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = Database.on_file(path)
    try:
        migrate(db)
        path.chmod(0o600)
    except BaseException:
        db.close()
        raise
    return Accounts(Users(db), Devices(db), db)

ADMIN = "admin"


def check_user_name(name: str) -> None:
    """``WireError("bad_request")`` unless ``name`` is a user name (``[a-z][a-z0-9_-]{0,31}``); the message
    repeats at most the first 200 characters of it."""
    if not USER_NAME_RE.fullmatch(name):
        raise WireError("bad_request", f"invalid user name {clip(name)!r}",
                        "a user name is 1-32 of a-z, 0-9, '_' and '-', starting with a letter")


def add_user(store: AuthStore, passwords: Passwords, name: str, password: str, admin: bool = False,
             quota_bytes: int | None = None) -> User:
    """Make user ``name`` with ``password`` (and ``quota_bytes``, in the same transaction).
    :class:`~.passwords.BadPassword` for a password out of bounds, ``WireError`` ``bad_request`` for a bad
    name or quota, ``exists`` for a taken one. The name is checked before the (slow) hash."""
    check_user_name(name)
    if store.users.get(name) is not None:
        raise WireError("exists", f"there is already a user {name}",
                        f"change their password with `syncline user passwd {name}`")
    return store.users.add(name, passwords.hash(password), admin, quota_bytes)


def set_password(store: AuthStore, passwords: Passwords, name: str, password: str) -> None:
    """Give user ``name`` a new password (their devices stay logged in). ``not_found`` for no such user,
    :class:`~.passwords.BadPassword` for a password out of bounds."""
    if store.users.get(name) is None:
        raise WireError("not_found", f"no user {name}", "list them with `syncline user list`")
    store.users.set_password(name, passwords.hash(password))


def ensure_admin(store: AuthStore, passwords: Passwords) -> str | None:
    """On a server without users, make ``admin`` (an admin) with a random password and return that
    password, to be shown once; otherwise (or if another process made a user first) return None."""
    if store.users.list():
        return None
    password = secrets.token_urlsafe(18)  # 144 bits, 24 characters, easy to copy
    try:
        store.users.add(ADMIN, passwords.hash(password), True)
    except WireError as exc:
        if exc.code == "exists":
            return None
        raise
    return password
