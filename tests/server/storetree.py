"""Test helpers: a store in a temp folder, and the conformance suite's "other hands" on a server folder
(a :class:`~syncline.testing.Tree` that writes through the folder store as another device)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

from syncline.core.chunking import Chunker
from syncline.core.paths import parent
from syncline.formats.wire.ops import ChunkRef, Expect, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.replica import ServerFolderReplica
from syncline.server.store import Store, open_store
from syncline.server.store.folder import FolderStore
from syncline.server.store.rows import Row
from syncline.testing.trees import Factory

OTHER = "Dtree"  # the device id the tree writes as
_PLAIN = WirePolicy(trash=False, keep_changed=False)


def make_store(where: Path) -> tuple[Store, int]:
    """A fresh store in ``where`` (no free-space floor) and one user in it."""
    store = open_store(where, min_free=0)
    return store, store.users.add("anna", "hash").id


def user_folder(store: Store, user: str = "anna", name: str = "Docs") -> FolderStore:
    """``user``'s folder ``name`` of an open store (asserted to be there)."""
    found = store.users.get(user)
    assert found is not None, user
    folder = store.folders.get(found.id, name)
    assert folder is not None, name
    return store.folder(folder)


def put_bytes(fs: FolderStore, data: bytes, device: str = OTHER, chunker: Chunker | None = None) -> tuple[
        bytes, tuple[ChunkRef, ...]]:
    """Upload ``data`` into ``fs``'s chunk store; (digest, chunk refs)."""
    chunker = chunker or Chunker()
    pieces = [data] if data and not chunker.wants(len(data)) else \
        [data[i : i + 300_000] for i in range(0, len(data), 300_000)]
    frames = [(blake3.blake3(p).digest(), p) for p in pieces if p]
    if frames:
        fs.put_chunks(frames, device)
    return blake3.blake3(data).digest(), tuple(ChunkRef(i, len(p)) for i, p in frames)


def random_files(fs: FolderStore, count: int, size: int = 100) -> list[bytes]:
    """Files ``f0``.. ``f{count-1}`` of random bytes (``size`` + n long) committed in ``fs``; their digests."""
    digests = []
    for n in range(count):
        data = os.urandom(size + n)
        digest, chunks = put_bytes(fs, data)
        fs.apply_ops([Op(new_op_id(), "put", f"f{n}", None, OpEntry(1, 0o644, len(data), digest), chunks)],
                     WirePolicy(), "D1")
        digests.append(digest)
    return digests


class ServerTree:
    """The user's hands on folder ``name``: every change is an ``ops`` item of device :data:`OTHER`, with
    no trash (what the user replaces is gone, as on a disk)."""

    def __init__(self, store: Store, owner: int, name: str) -> None:
        self.store, self.owner, self.name = store, owner, name

    @property
    def fs(self) -> FolderStore:
        folder = self.store.folders.get(self.owner, self.name)
        assert folder is not None, "the folder is not there"
        return self.store.folder(folder)

    def _row(self, path: str) -> Row | None:
        found = self.fs.stat_many([path])[1][0]
        assert not isinstance(found, Exception), found
        return found

    def _apply(self, op: Op) -> None:
        _, [result] = self.fs.apply_ops([op], _PLAIN, OTHER)
        assert result.done and result.error is None, result

    def _expect(self, path: str) -> Expect | None:
        row = self._row(path)
        return Expect.of(row.entry()) if row is not None else None

    def mkdir(self, path: str) -> None:
        here = ""
        for name in path.split("/") if path else ():
            here = f"{here}/{name}" if here else name
            row = self._row(here)
            if row is None or row.kind != "dir":
                self._apply(Op(new_op_id(), "mkdir", here, self._expect(here), OpEntry(time.time_ns(), 0o755)))

    def write(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None:
        self.mkdir(parent(path))
        digest, chunks = put_bytes(self.fs, data)
        self._apply(Op(new_op_id(), "put", path, self._expect(path),
                       OpEntry(time.time_ns() if mtime_ns is None else mtime_ns, mode, len(data), digest), chunks))

    def touch(self, path: str, mtime_ns: int) -> None:
        row = self._row(path)
        assert row is not None
        self._apply(Op(new_op_id(), "meta", path, self._expect(path), OpEntry(mtime_ns, row.mode)))

    def symlink(self, path: str, target: str) -> None:
        self.mkdir(parent(path))
        self._apply(Op(new_op_id(), "symlink", path, self._expect(path),
                       OpEntry(time.time_ns(), 0o777, len(target.encode()), None, target)))

    def move(self, src: str, dst: str) -> None:
        self.mkdir(parent(dst))
        self._apply(Op(new_op_id(), "move", src, self._expect(src), to=dst))

    def remove(self, path: str) -> None:
        row = self._row(path)
        assert row is not None
        below = [r.path for r in self.fs.entries(0, dir=path, deep=True, limit=10_000).rows if r.path != path] \
            if row.kind == "dir" else []
        for p in [*sorted(below, key=lambda p: p.count("/"), reverse=True), path]:
            self._apply(Op(new_op_id(), "delete", p, self._expect(p)))

    def read(self, path: str) -> bytes:
        return b"".join(self.fs.read(path)[1])

    def trashed(self) -> list[tuple[str, bytes]]:
        items = self.fs.trash().items
        return [(i.row.path, b"" if i.row.kind != "file" else b"".join(self.fs.read_trashed(i.trash_id)[1]))
                for i in reversed(items)]


def server_factory(store: Store, owner: int) -> Factory:
    """Fresh server folders in ``store``, one per call, each with its replica (device ``Dsync``)."""
    numbers = itertools.count()

    def make(*, policy: Any = None, exists: bool = True) -> tuple[ServerFolderReplica, ServerTree]:
        name = f"folder-{next(numbers)}"
        if exists:
            store.folders.create(owner, name)
        return ServerFolderReplica(store, owner, name, "Dsync", policy=policy), ServerTree(store, owner, name)

    return make


# Fixtures of the store's tests (imported by each test module: tests/server/conftest.py is the app's).
@pytest.fixture(name="store")
def store_fixture(tmp_path: Path) -> Iterator[tuple[Store, int]]:
    """A fresh store (no free-space floor) and the id of its one user."""
    made = make_store(tmp_path / "data")
    yield made
    made[0].close()


@pytest.fixture(name="fs")
def fs_fixture(store: tuple[Store, int]) -> FolderStore:
    """The user's folder ``Docs``."""
    return store[0].folder(store[0].folders.create(store[1], "Docs")[0])
