"""Small pieces the testing kit shares: reading a source file as a stream, and making a replica error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from ..engine.replicas.errors import map_os_error
from ..engine.replicas.replica import SourceFile

BLOCK = 1 << 20
T = TypeVar("T")
_blocked: dict[tuple[type, frozenset[str]], type] = {}


class ReadIntoFromRead:
    """``readinto`` for a stream that has ``read``."""

    def read(self, size: int = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, buffer: memoryview) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


def read_block(source: SourceFile, size: int) -> bytes:
    """Up to ``size`` bytes of ``source`` from where it stands (b"" at the end)."""
    buffer = bytearray(size)
    n = source.readinto(memoryview(buffer))
    return bytes(buffer[:n])


def read_source(source: SourceFile) -> bytes:
    """Everything ``source`` holds from where it stands now."""
    chunks = []
    while block := read_block(source, BLOCK):
        chunks.append(block)
    return b"".join(chunks)


def replica_error(errno: int, message: str, path: str = "") -> OSError:
    """The replica error for ``errno`` (``engine/replicas/errors.py``): ENOENT gives a ``NotFound`` that is
    also a ``FileNotFoundError``, ECONNRESET an ``Unreachable``, and so on."""
    return map_os_error(OSError(errno, message, path) if path else OSError(errno, message))


def without(cls: type[T], methods: Iterable[str]) -> type[T]:
    """``cls``, or (``methods`` not empty) a subclass of it in which those methods are None: an instance
    of it then lacks the optional abilities they make up, as ``isinstance(obj, Mover)`` reads it (typing
    takes a method set to None for one that is not there, and decides on the class for protocols made of
    methods only, so blocking on the instance is not enough). One subclass per set, made once."""
    key = (cls, frozenset(methods))
    if not key[1]:
        return cls
    sub = _blocked.get(key)
    if sub is None:
        attrs: dict[str, object] = dict.fromkeys(key[1])
        sub = _blocked[key] = type(cls.__name__, (cls,), {**attrs, "__module__": cls.__module__,
                                                          "__doc__": cls.__doc__})
    return sub
