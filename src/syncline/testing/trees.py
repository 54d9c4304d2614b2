"""The other hands on a replica's tree: what a conformance check uses to make and look at files behind the
replica's back (as a user or another program would), and the factories for the two replicas syncline has.

A factory is called with the :class:`~syncline.engine.replicas.replica.WritePolicy` a check needs
(``policy=``) and ``exists=`` (False: the root is not there yet), and returns a fresh replica with a
:class:`Tree` on the same place. A new replica ships a factory like :func:`local_factory` and passes it to
:func:`~syncline.testing.check_replica`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..engine.replicas.local import LocalReplica
from ..engine.replicas.replica import Replica, WritePolicy
from ..engine.trash import TRASH
from .memory import MemoryReplica


class Tree(Protocol):
    """Files made and read without the replica: parents are made as needed; ``mtime_ns`` None is now."""

    def write(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None: ...

    def touch(self, path: str, mtime_ns: int) -> None:
        """Give ``path`` another mtime (as ``touch -d``), its content unchanged."""
        ...

    def mkdir(self, path: str) -> None: ...

    def symlink(self, path: str, target: str) -> None: ...

    def remove(self, path: str) -> None:
        """Remove ``path`` and everything below it."""
        ...

    def read(self, path: str) -> bytes: ...

    def trashed(self) -> list[tuple[str, bytes]]:
        """Each version in the replica's trash: the path it had, and its bytes (a symlink's: b"")."""
        ...


Factory = Callable[..., tuple[Replica, Tree]]


class LocalTree:
    """A :class:`Tree` on a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None:
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "r+b" if p.is_file() and not p.is_symlink() else "wb") as fh:  # in place, as an editor
            fh.write(data)
            fh.truncate()
        p.chmod(mode)
        if mtime_ns is not None:
            os.utime(p, ns=(mtime_ns, mtime_ns))

    def touch(self, path: str, mtime_ns: int) -> None:
        # Not an open for writing: a local source file open for reading may hold a read lease, which
        # would hold a writer back for the kernel's lease-break time (45 s).
        os.utime(self.root / path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def mkdir(self, path: str) -> None:
        (self.root / path).mkdir(parents=True, exist_ok=True)

    def symlink(self, path: str, target: str) -> None:
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(target)

    def remove(self, path: str) -> None:
        p = self.root / path
        if p.is_dir() and not p.is_symlink():
            for below in sorted(p.rglob("*"), key=lambda q: len(q.parts), reverse=True):
                below.rmdir() if below.is_dir() and not below.is_symlink() else below.unlink()
            p.rmdir()
        else:
            p.unlink()

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def trashed(self) -> list[tuple[str, bytes]]:
        out = []
        trash = self.root / TRASH
        for run in sorted(trash.iterdir()) if trash.is_dir() else ():
            for p in sorted(run.rglob("*")):
                if p.is_symlink() or p.is_file():
                    out.append((str(p.relative_to(run)), b"" if p.is_symlink() else p.read_bytes()))
        return out


class MemoryTree:
    """A :class:`Tree` on a :class:`MemoryReplica` (its test-side calls)."""

    def __init__(self, replica: MemoryReplica) -> None:
        self.replica = replica

    def write(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None:
        self.replica.put_file(path, data, mtime_ns, mode)

    def touch(self, path: str, mtime_ns: int) -> None:
        self.replica.touch(path, mtime_ns)

    def mkdir(self, path: str) -> None:
        self.replica.put_dir(path)

    def symlink(self, path: str, target: str) -> None:
        self.replica.put_symlink(path, target)

    def remove(self, path: str) -> None:
        self.replica.remove(path)

    def read(self, path: str) -> bytes:
        return self.replica.read(path)

    def trashed(self) -> list[tuple[str, bytes]]:
        return [(t.path, t.data) for t in self.replica.trash]


def local_factory(base: Path) -> Factory:
    """Fresh :class:`LocalReplica` roots below ``base`` (a test's temp folder), one per call."""
    numbers = itertools.count()

    def make(*, policy: WritePolicy | None = None, exists: bool = True) -> tuple[Replica, Tree]:
        root = base / f"replica-{next(numbers)}"
        if exists:
            root.mkdir(parents=True)
        return LocalReplica(root, policy=policy), LocalTree(root)

    return make


def memory_factory(**knobs: Any) -> Factory:
    """Fresh :class:`MemoryReplica` s with ``knobs`` (case sensitivity, mtime precision, ...)."""

    def make(*, policy: WritePolicy | None = None, exists: bool = True) -> tuple[Replica, Tree]:
        replica = MemoryReplica(**knobs, policy=policy, exists=exists)
        return replica, MemoryTree(replica)

    return make

