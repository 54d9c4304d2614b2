"""HTTP Basic auth for WebDAV, on every request (the desktop clients send it each time), and Bearer.

``Authorization: Bearer slt_...`` is taken as on ``/v1/``: any live device token. It is what a browser's
web session becomes (``server/app/websession.py`` puts the cookie's token there, after its CSRF checks),
and it gives nothing an app password in Basic does not already give to whoever holds the token (Basic
checks the user name against the token's user, which the token alone decides anyway).

Two kinds of password are accepted for ``Authorization: Basic base64(user:password)``:

- **an app password**: a device token (``slt_...``, what ``/v1/login`` and ``syncline app-password add``
  make), looked up by its hash as for protocol v1 (one indexed read, no cache: a revoked device stops at
  its next request). The user name must be the device's user, else ``401``.
- **the account password** (Nextcloud accepts it too; ``account_passwords=False`` refuses it): verified
  with Argon2 under the login rate limits (``Authenticator.check_password``: failures count per name and
  address, ``429`` past them). A verified pair is remembered in memory for :data:`CACHE_S` (10 min) under
  a keyed BLAKE3 of (user, password), with the user's password hash at that time: a new password, a
  disabled user or a removed one ends it at the next request. Such requests act as the user's ``webdav``
  device (kind ``app``), made once (its token is thrown away: it is only a name in the journal and the
  device list).

Anything else (no header, another scheme, bad base64, a user name that is not one) is ``401`` with
``WWW-Authenticate: Basic realm="syncline"`` (the errors module adds it).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import blake3

from ...formats.wire.errors import WireError
from ...formats.wire.limits import MAX_PASSWORD_BYTES, USER_NAME_RE
from ..app.access import Authenticator as AppAuthenticator
from ..app.access import Caller
from ..auth import Authenticator, Identity, bearer_token, is_token, new_token, token_hash
from ..store import Device, Store
from ..store.schema import APP

CACHE_S = 600.0
SEEN_EVERY_S = 60.0
MAX_CACHED = 10_000
DEVICE_NAME = "webdav"
_MAX_HEADER = 4 * MAX_PASSWORD_BYTES  # base64 of a user name and the longest password, with room


def _unauthenticated(why: str = "no valid user name and password") -> WireError:
    return WireError("unauthenticated", why, "log in with your user name and an app password "
                     "(`syncline app-password add NAME`)")


def basic_credentials(header: str | None) -> tuple[str, str]:
    """``(user, password)`` of an ``Authorization: Basic`` header; ``unauthenticated`` for anything else."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "basic" or not value or len(value) > _MAX_HEADER:
        raise _unauthenticated()
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _unauthenticated() from None
    user, colon, password = text.partition(":")
    if not colon or not USER_NAME_RE.fullmatch(user) or not password:
        raise _unauthenticated()
    return user, password


@dataclass(frozen=True, slots=True)
class _Verified:
    user_id: int
    password_hash: str
    until: float


class BasicAuth:
    """Who a WebDAV request is from. Thread-safe; every call may block (run it in the thread pool)."""

    def __init__(self, store: Store, auth: AppAuthenticator, account_passwords: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.auth = auth
        self.account_passwords = account_passwords and isinstance(auth, Authenticator)
        self.clock = clock
        self._key = secrets.token_bytes(32)  # per process: the cache's keys mean nothing elsewhere
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, _Verified] = OrderedDict()
        self._devices: dict[int, Device] = {}
        self._seen: dict[int, float] = {}

    def caller(self, header: str | None, client_addr: str = "") -> Caller:
        """The :class:`Caller` of a request with this ``Authorization`` header (Basic, or Bearer with a
        device token); ``unauthenticated``, ``rate_limited`` (account passwords only) otherwise."""
        if (header or "").lstrip()[:7].lower() == "bearer ":
            return Caller(self.auth.device_of(bearer_token(header)))
        user, password = basic_credentials(header)
        if is_token(password):
            identity = self.auth.device_of(password)
            if identity.user.name != user:
                raise _unauthenticated("this app password is another user's")
            return Caller(identity)
        if not self.account_passwords:
            raise _unauthenticated("this server takes app passwords only")
        return Caller(self._by_password(user, password, client_addr))

    def _by_password(self, user: str, password: str, client_addr: str) -> Identity:
        assert isinstance(self.auth, Authenticator)
        key = blake3.blake3(f"{user}\0{password}".encode("utf-8", "surrogatepass"), key=self._key).digest()
        now = self.clock()
        with self._lock:
            seen = self._cache.get(key)
        row = self.store.users.get(user)
        if seen is None or seen.until < now or row is None or row.disabled or row.id != seen.user_id \
                or row.password_hash != seen.password_hash:
            try:
                row = self.auth.check_password(user, password, client_addr)
            except WireError as err:
                if err.code == "bad_login":
                    raise _unauthenticated("wrong user name or password") from None
                raise
            with self._lock:
                self._cache[key] = _Verified(row.id, row.password_hash, now + CACHE_S)
                self._cache.move_to_end(key)
                while len(self._cache) > MAX_CACHED:
                    self._cache.popitem(last=False)
        return Identity(row, self._device(row.id))

    def _device(self, user_id: int) -> Device:
        """The user's live ``webdav`` device: the newest such, or one made now (the first time, or after
        the user revoked it). Recorded as seen at most once a minute, as token devices are."""
        devices = self.store.devices
        now = self.clock()
        with self._lock:
            known = self._devices.get(user_id)
            if known is None or devices.by_token_hash(known.token_hash) is None:
                live = [d for d in devices.list(user_id) if d.name == DEVICE_NAME and d.revoked_ns is None]
                known = live[-1] if live else devices.add(user_id, DEVICE_NAME, token_hash(new_token()), kind=APP)
                self._devices[user_id] = known
                self._seen.pop(user_id, None)
            due = now - self._seen.get(user_id, -SEEN_EVERY_S) >= SEEN_EVERY_S
            if due:
                self._seen[user_id] = now
        if due:
            devices.seen(known.id)
        return known
