"""Shared fixtures of the server's tests: a cheap Argon2id hasher (the code path is the production one)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from syncline.server.passwords import HashGate, Passwords


def cheap_hasher() -> PasswordHasher:
    """Argon2id at the lowest cost argon2 accepts: the same code path, a millisecond a hash."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=8, type=Type.ID)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(cheap_hasher(), HashGate())


class Clock:
    """A clock the test moves by hand (``clock.now += 1``): the limits are tested without sleeping."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
