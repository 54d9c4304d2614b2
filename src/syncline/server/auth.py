"""Who is asking: login with a password, device tokens, revocation (protocol.md section 2).

A login verifies the password (Argon2id, :mod:`.passwords`) under the rate limits of :mod:`.ratelimit`
and makes a device with a new token. The token is ``slt_`` + 32 random bytes in unpadded base64url; the
server keeps only its SHA-256 (hex), so a stolen database yields no usable token, and a 256-bit random
secret needs no slow hash. Every request's token is looked up again (no cache): a revocation takes effect
on the next request.

A web session (issue 16, ``server/app/websession.py``) is a device of kind ``web`` made by
:meth:`Authenticator.web_login`: it expires when idle for ``WebPolicy.idle_s`` (its ``expires_ns`` slid
forward with ``last_seen``) and ``WebPolicy.max_age_s`` after the login whatever it does; an expired one is
refused at once, before the collector revokes it. A user keeps at most ``WebPolicy.per_user`` live ones.

Errors are :class:`~syncline.formats.wire.errors.WireError` with the protocol's codes: ``bad_login``
(wrong or unknown user, wrong password, disabled user: one answer for all), ``rate_limited`` (with
``details["retry_after"]``, whole seconds, for the ``Retry-After`` header), ``unauthenticated``,
``bad_request``, ``too_large``, ``not_found``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ..formats.wire.errors import WireError
from ..formats.wire.limits import MAX_DEVICE_NAME, MAX_PASSWORD_BYTES, USER_NAME_RE
from .passwords import Busy, Passwords, password_bytes
from .ratelimit import LoginLimiter
from .store.meta import Device, User
from .store.schema import WEB

TOKEN_PREFIX = "slt_"
_TOKEN_RE = re.compile(r"slt_[A-Za-z0-9_-]{43}")
_SEEN_EVERY_NS = 60 * 10**9  # devices.last_seen is written at most once a minute (protocol.md section 2)
_MAX_ID_CHARS = 64


class UserTable(Protocol):
    """What the authenticator needs of ``Store.users``."""

    def get(self, name: str) -> User | None: ...
    def by_id(self, user_id: int) -> User | None: ...
    def add(self, name: str, password_hash: str, admin: bool = False, quota_bytes: int | None = None) -> User: ...
    def set_password(self, name: str, password_hash: str) -> None: ...
    def list(self) -> Sequence[User]: ...


class DeviceTable(Protocol):
    """What the authenticator needs of ``Store.devices``."""

    def add(self, user_id: int, name: str, token_hash: str, replaces: str | None = None, *,
            kind: str = ..., now: int | None = None) -> Device: ...
    def add_web(self, user_id: int, name: str, token_hash: str, now: int, expires_ns: int,
                keep: int) -> tuple[Device, list[str]]: ...
    def by_token_hash(self, token_hash: str) -> Device | None: ...
    def get(self, device_id: str) -> Device | None: ...
    def revoke(self, device_id: str, user_id: int | None = None) -> None: ...
    def seen(self, device_id: str, now: int | None = None, expires_ns: int | None = None) -> bool: ...


class AuthStore(Protocol):
    """The part of :class:`~syncline.server.store.Store` this module uses."""

    @property
    def users(self) -> UserTable: ...
    @property
    def devices(self) -> DeviceTable: ...


@dataclass(frozen=True, slots=True)
class WebPolicy:
    """How long web sessions live (``[web]`` in ``DATA/server.toml``): ``idle_s`` without a request,
    ``max_age_s`` after the login at most; ``per_user`` live at once (the oldest revoked past it)."""

    idle_s: float = 24 * 3600.0
    max_age_s: float = 14 * 24 * 3600.0
    per_user: int = 20

    def expires(self, device: Device, now: int) -> int:
        """When ``device`` (a web session) ends if it makes no request after ``now``."""
        return min(now + int(self.idle_s * 1e9), device.created_ns + int(self.max_age_s * 1e9))

    def expired(self, device: Device, now: int) -> bool:
        """Whether ``device`` is a web session past its idle deadline or its maximum age at ``now``."""
        if device.kind != WEB:
            return False
        return device.expires_ns is None or now >= device.expires_ns \
            or now >= device.created_ns + int(self.max_age_s * 1e9)


@dataclass(frozen=True)
class Identity:
    """The user and device a request is made as (a live token of an enabled user)."""

    user: User
    device: Device


def new_token() -> str:
    """A fresh device token: ``slt_`` + 32 random bytes in unpadded base64url (47 characters)."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def token_hash(token: str) -> str:
    """What the database keeps of a token: the SHA-256 of its text, as 64 lower-case hex characters."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_token(text: object) -> bool:
    """Whether ``text`` has a token's form (so anything else is refused without a database read)."""
    return isinstance(text, str) and _TOKEN_RE.fullmatch(text) is not None


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer slt_...`` header; ``unauthenticated`` if there is none."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not is_token(value):
        raise _unauthenticated()
    return value


class Authenticator:
    """Logins, token checks and revocations against ``store`` (its ``users`` and ``devices``).

    Thread-safe: the server calls it from its thread pool. ``passwords`` and ``limiter`` default to the
    production ones; tests pass a cheap hasher and a limiter with a fake clock. ``clock`` (nanoseconds
    since the epoch) is the time of logins, ``last_seen`` and web sessions' expiry; ``web`` their policy.
    """

    def __init__(self, store: AuthStore, passwords: Passwords | None = None,
                 limiter: LoginLimiter | None = None, *, clock: Callable[[], int] = time.time_ns,
                 web: WebPolicy | None = None) -> None:
        self.store = store
        self.passwords = passwords if passwords is not None else Passwords()
        self.limiter = limiter if limiter is not None else LoginLimiter()  # (an empty limiter is falsy)
        self.clock = clock
        self.web = web if web is not None else WebPolicy()
        self._seen_lock = threading.Lock()
        self._seen: dict[str, int] = {}

    def login(self, user: str, password: str, device: str, replaces: str | None = None,
              client_addr: str = "") -> tuple[str, Identity]:
        """Check ``user``'s ``password`` and make a device named ``device``: ``(token, identity)``.

        The token is returned once and never stored. ``replaces``, one of this user's devices, is revoked
        in the same transaction (another's: ``not_found``, nothing made). A known and an unknown user, a
        right and a wrong password, all take one Argon2 verification; past the rate limits nothing is
        verified (``rate_limited``). Malformed input that does not depend on who the user is (a device
        name out of bounds, a password over 1,024 bytes) is refused before the limits are counted.
        """
        _check_login_request(user, password, device, replaces)
        row = self.check_password(user, password, client_addr)
        token = new_token()
        made = self.store.devices.add(row.id, device, token_hash(token), replaces, now=self.clock())
        return token, Identity(row, made)

    def web_login(self, user: str, password: str, device: str,
                  client_addr: str = "") -> tuple[str, Identity, list[str]]:
        """:meth:`login` for a browser: a web session named ``device`` (same checks, same rate limits),
        and the ids of the user's oldest web sessions revoked to keep ``web.per_user`` (their streams are
        the caller's to close)."""
        _check_login_request(user, password, device, None)
        row = self.check_password(user, password, client_addr)
        token = new_token()
        now = self.clock()
        first = min(now + int(self.web.idle_s * 1e9), now + int(self.web.max_age_s * 1e9))
        made, gone = self.store.devices.add_web(row.id, device, token_hash(token), now, first, self.web.per_user)
        with self._seen_lock:
            for device_id in gone:
                self._seen.pop(device_id, None)
        return token, Identity(row, made), gone

    def check_password(self, user: str, password: str, client_addr: str = "") -> User:
        """The enabled user ``user`` when ``password`` is theirs, under the rate limits (a failure counts
        against the name, a success forgets its failures): ``bad_login`` (one answer for an unknown user, a
        wrong password and a disabled user) or ``rate_limited``. One Argon2 verification, none past the
        limits. What a login and WebDAV's Basic auth with the account password share."""
        wait = self.limiter.check(user, client_addr)
        if wait > 0:
            raise _rate_limited(wait)
        row = self.store.users.get(user) if USER_NAME_RE.fullmatch(user) else None
        try:
            verified = self.passwords.verify(row.password_hash if row is not None else None, password)
        except Busy as exc:
            raise _rate_limited(exc.retry_after) from None
        if row is None or not verified.ok or row.disabled:
            self.limiter.failed(user)
            raise WireError("bad_login", "wrong user name or password",
                            "check both; after 5 failures each try must wait longer")
        self.limiter.succeeded(user)
        if verified.rehash is not None:
            self.store.users.set_password(row.name, verified.rehash)
        return row

    def device_of(self, token: str) -> Identity:
        """Who ``token`` belongs to; ``unauthenticated`` for a malformed, unknown or revoked token, an
        expired web session or a disabled user. Records the device as seen (a database write at most once
        a minute, which also slides a web session's ``expires_ns``: the identity carries the new one)."""
        if not is_token(token):
            raise _unauthenticated()
        device = self.store.devices.by_token_hash(token_hash(token))
        now = self.clock()
        if device is None or self.web.expired(device, now):
            raise _unauthenticated()
        user = self.store.users.by_id(device.user_id)
        if user is None or user.disabled:
            raise _unauthenticated()
        return Identity(user, self._mark_seen(device, now))

    def live(self, device_id: str) -> bool:
        """Whether ``device_id`` is neither revoked nor an expired web session (an event stream asks at
        every keep-alive, so that a revocation made elsewhere, or an expiry, ends it)."""
        device = self.store.devices.get(device_id)
        return device is not None and device.revoked_ns is None and not self.web.expired(device, self.clock())

    def revoke(self, device_id: str, by: Identity) -> None:
        """Revoke ``device_id``: one of ``by``'s user's devices, or anyone's if that user is an admin.
        ``not_found`` for any other (whether it exists elsewhere is not told). Revoking twice is done."""
        if not isinstance(device_id, str) or not 0 < len(device_id) <= _MAX_ID_CHARS:
            raise WireError("not_found", "no such device", "list them with `syncline device list`")
        self.store.devices.revoke(device_id, None if by.user.admin else by.user.id)
        with self._seen_lock:
            self._seen.pop(device_id, None)

    def _mark_seen(self, device: Device, now: int) -> Device:
        with self._seen_lock:
            last = self._seen.get(device.id)
            # A clock set back (last in the future) writes again rather than never.
            if last is not None and 0 <= now - last < _SEEN_EVERY_NS:
                return device
            if len(self._seen) > 100_000:  # bounded: the table only saves writes, forgetting costs one
                self._seen.clear()
            self._seen[device.id] = now
        if device.kind != WEB:
            self.store.devices.seen(device.id, now)
            return device
        slid = self.web.expires(device, now)
        if self.store.devices.seen(device.id, now, slid):
            return replace(device, expires_ns=slid, last_seen_ns=now)
        return device


def _check_login_request(user: object, password: object, device: object, replaces: object) -> None:
    if not isinstance(user, str) or not isinstance(password, str) or not isinstance(device, str):
        raise WireError("bad_request", "a login needs text for user, password and device", "")
    if replaces is not None and (not isinstance(replaces, str) or not 0 < len(replaces) <= _MAX_ID_CHARS):
        raise WireError("bad_request", "replaces must be a device id", "")
    if not 0 < len(device) <= MAX_DEVICE_NAME or not device.isprintable():
        raise WireError("bad_request", f"a device name is 1-{MAX_DEVICE_NAME} printable characters",
                        "choose another name")
    data = password_bytes(password)
    if data is not None and len(data) > MAX_PASSWORD_BYTES:
        raise WireError("too_large", f"a password is at most {MAX_PASSWORD_BYTES} bytes", "",
                        {"limit": MAX_PASSWORD_BYTES})


def _rate_limited(wait: float) -> WireError:
    seconds = max(1, math.ceil(wait))
    return WireError("rate_limited", f"too many login attempts: wait {seconds} s", "try again later",
                     {"retry_after": seconds})


def _unauthenticated() -> WireError:
    return WireError("unauthenticated", "no valid device token",
                     "connect this device again with `syncline connect URL`")
