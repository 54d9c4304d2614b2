"""Password hashing: Argon2id, with a bound on how many hashes run at once.

An Argon2 hash costs 64 MiB and about 0.1 s of a core with the production parameters (argon2-cffi's
RFC 9106 low-memory profile: m=64 MiB, t=3, p=4). A flood of logins must not be able to exhaust a small
machine, so every hash and every verification passes a :class:`HashGate`: at most ``concurrent`` (2) run,
at most ``waiting`` (8) more wait their turn, and anyone beyond is refused at once with :class:`Busy`
(the server answers ``429 rate_limited``). See docs/design.md, "Security", and protocol.md section 11.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from argon2 import PasswordHasher, extract_parameters, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from ..core.errors import UsageError
from ..formats.wire.limits import ARGON2_AT_ONCE, ARGON2_WAITING, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES


class Busy(Exception):
    """Too many password hashes are running or waiting; try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__("too many logins at once")
        self.retry_after = retry_after


class BadPassword(UsageError):
    """A password that cannot be set: its message says why, in one line, without the password."""


def check_new_password(password: str) -> bytes:
    """The UTF-8 bytes of a password about to be set; :class:`BadPassword` when it is out of bounds.

    Bounds: 8 to 1,024 bytes of UTF-8 (a lone surrogate is refused: it has no UTF-8 form). NUL and other
    characters are the user's.
    """
    data = password_bytes(password)
    if data is None:
        raise BadPassword("the password is not valid text (a lone surrogate)", "type it again")
    if len(data) < MIN_PASSWORD_BYTES:
        raise BadPassword("the password is too short", f"use at least {MIN_PASSWORD_BYTES} bytes")
    if len(data) > MAX_PASSWORD_BYTES:
        raise BadPassword("the password is too long", f"use at most {MAX_PASSWORD_BYTES} bytes")
    return data


def password_bytes(password: str) -> bytes | None:
    """``password`` as UTF-8, or None if it holds a lone surrogate (not text; refused, never hashed)."""
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        return None


class HashGate:
    """Lets at most ``concurrent`` holders in at once and at most ``waiting`` more wait.

    :meth:`enter` raises :class:`Busy` at once when ``waiting`` callers already wait, or after ``timeout``
    seconds of waiting (a bound, never expected to be reached: each hash takes about 0.1 s). ``peak`` is
    the most holders ever inside at once: what the tests check.
    """

    def __init__(self, concurrent: int = ARGON2_AT_ONCE, waiting: int = ARGON2_WAITING,
                 timeout: float = 30.0) -> None:
        if concurrent < 1 or waiting < 0:
            raise ValueError("concurrent must be at least 1 and waiting at least 0")
        self.concurrent = concurrent
        self.max_waiting = waiting
        self.timeout = timeout
        self._cond = threading.Condition()
        self._running = 0
        self._waiting = 0
        self.peak = 0

    @property
    def waiting(self) -> int:
        """How many callers wait for a turn now."""
        with self._cond:
            return self._waiting

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Hold one of the ``concurrent`` places for the ``with`` block; :class:`Busy` if none comes."""
        with self._cond:
            if self._running >= self.concurrent:
                if self._waiting >= self.max_waiting:
                    raise Busy()
                self._waiting += 1
                try:
                    got = self._cond.wait_for(lambda: self._running < self.concurrent, self.timeout)
                finally:
                    self._waiting -= 1
                if not got:
                    raise Busy()
            self._running += 1
            self.peak = max(self.peak, self._running)
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify()


@dataclass(frozen=True)
class Verified:
    """The outcome of :meth:`Passwords.verify`: ``ok``, and a new hash to store when ``ok`` and the stored
    one was made with other parameters (``rehash``; None otherwise)."""

    ok: bool
    rehash: str | None = None


class Passwords:
    """Argon2id hashing and verification through a :class:`HashGate`.

    ``hasher`` defaults to the production parameters; tests pass a cheap one (the code path is the same).
    Every :meth:`verify` runs exactly one Argon2 verification, whether or not there is a stored hash: for
    an unknown user (``stored`` None) or a stored hash that is not a PHC string, a dummy hash made with
    the same parameters is verified instead, so the time taken does not tell whether a user exists.
    """

    def __init__(self, hasher: PasswordHasher | None = None, gate: HashGate | None = None) -> None:
        self.hasher = hasher if hasher is not None else PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
        self.gate = gate if gate is not None else HashGate()
        # The dummy's password is random and thrown away: no input can match it.
        self._dummy = self.hasher.hash(secrets.token_bytes(32))

    def hash(self, password: str) -> str:
        """The PHC string of ``password``; :class:`BadPassword` if out of bounds, :class:`Busy` if the
        gate is full."""
        data = check_new_password(password)
        with self.gate.enter():
            return self.hasher.hash(data)

    def verify(self, stored: str | None, password: str) -> Verified:
        """Whether ``password`` matches ``stored`` (None: no such user; always false).

        A password over 1,024 bytes or holding a lone surrogate never matches; it is not hashed in full
        (a fixed stand-in is verified instead, so the cost stays the same). :class:`Busy` if the gate is
        full; no other exception for any input.
        """
        data = password_bytes(password)
        usable = data is not None and len(data) <= MAX_PASSWORD_BYTES
        candidate = data if usable and data is not None else b"\0"
        real = stored is not None and _readable(stored)
        target = stored if real and stored is not None else self._dummy
        with self.gate.enter():
            try:
                self.hasher.verify(target, candidate)
                matched = True
            except (VerificationError, InvalidHashError):
                matched = False
            ok = matched and usable and real
            rehash = self.hasher.hash(candidate) if ok and self.hasher.check_needs_rehash(target) else None
        return Verified(ok, rehash)


def _readable(stored: str) -> bool:
    """Whether ``stored`` is a PHC string argon2 can verify against (an unreadable one is treated as no
    user: the dummy is verified in its place, so it costs the same and never matches)."""
    try:
        extract_parameters(stored)
    except InvalidHashError:
        return False
    return True
