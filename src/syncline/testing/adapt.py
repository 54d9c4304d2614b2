"""Where the testing kit meets the replica interface as it stands: how a source file is read (a stream,
or a local replica's file descriptor) and how a replica error is made. Kept in one small module so a
change of the interface is a change here."""

from __future__ import annotations

import importlib
import os

from ..engine.replicas.replica import Replica, SourceFile

BLOCK = 1 << 20


class ReadIntoFromRead:
    """``readinto`` for a stream that has ``read``."""

    def read(self, size: int = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, buffer: bytearray | memoryview) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


def read_block(source: SourceFile, size: int) -> bytes:
    """Up to ``size`` bytes of ``source`` from where it stands (b"" at the end)."""
    read = getattr(source, "read", None)
    if read is not None:
        return bytes(read(size))
    return os.read(source.fileno(), size)


def read_source(source: SourceFile) -> bytes:
    """Everything ``source`` holds from where it stands now."""
    chunks = []
    while block := read_block(source, BLOCK):
        chunks.append(block)
    return b"".join(chunks)


def replica_error(errno: int, message: str, path: str = "") -> OSError:
    """The error a replica raises for ``errno``: a member of the replica error family
    (``engine/replicas/errors.py``: ENOENT gives a ``NotFound`` that is also a ``FileNotFoundError``) where
    the engine has that family, else the builtin ``OSError`` subclass."""
    exc = OSError(errno, message, path) if path else OSError(errno, message)
    return _map_os_error(exc)


def _map_os_error(exc: OSError) -> OSError:
    # The family arrives with the replica-core work (issue 12); until it is merged, OSErrors are what the
    # engine catches. Looked up at run time so this module works on either side of that merge.
    try:
        errors = importlib.import_module("syncline.engine.replicas.errors")
    except ImportError:
        return exc
    mapped: OSError = errors.map_os_error(exc)
    return mapped


def can_move(replica: Replica) -> bool:
    """Whether ``replica`` moves on its side (a ``MemoryReplica`` made with ``mover=False`` does not)."""
    return bool(getattr(replica, "mover", True))
