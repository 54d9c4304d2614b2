"""Shared fixtures of the server's tests: a cheap Argon2id hasher (the code path is the production one), a
hand-moved clock, and a store in a temp folder with one user and one folder of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type

from syncline.server.passwords import HashGate, Passwords
from syncline.server.store import Store
from syncline.server.store.folder import FolderStore

from .storetree import make_store


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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, int]]:
    """A fresh store (no free-space floor) and the id of its one user."""
    made = make_store(tmp_path / "data")
    yield made
    made[0].close()


@pytest.fixture
def fs(store: tuple[Store, int]) -> FolderStore:
    """The user's folder ``Docs``."""
    return store[0].folder(store[0].folders.create(store[1], "Docs")[0])
