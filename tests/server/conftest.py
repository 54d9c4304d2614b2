"""Fixtures of the server's store tests: a store in a temp folder with one user, and one folder of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.server.store import Store
from syncline.server.store.folder import FolderStore

from .storetree import make_store


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
