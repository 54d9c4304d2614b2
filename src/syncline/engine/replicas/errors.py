"""The one family of errors a replica raises: what went wrong at the place where a tree lives, and whether
trying again later may succeed (``retryable``).

Each replica maps its own failures into this family at its edge, in one place (``LocalReplica``: OSError
numbers; a network replica: HTTP statuses and dropped connections), so nothing above it looks at errno or
status codes. The engine asks two things of an error: its class (what happened) and ``retryable``.

``ReplicaError`` is an ``OSError`` and keeps the original ``errno``, ``strerror`` and file names, so code
written against ``OSError`` keeps working. :func:`map_os_error` goes further for a mapped OSError: the
error it returns is also an instance of the builtin class the OS error had (a ``NotFound`` made from
ENOENT is a ``FileNotFoundError``, a ``Changed`` made from ENOTDIR a ``NotADirectoryError``), so every
``except FileNotFoundError`` around a replica call means what it meant.

Which OS errors land where (``LocalReplica``; a network replica documents its own table in docs/replicas.md):

==============  =============================================================  =========
class           errno                                                          retryable
==============  =============================================================  =========
Unreachable     EIO, ENOTCONN, ETIMEDOUT, ECONNRESET, ECONNREFUSED,            yes
                EHOSTUNREACH, ENETUNREACH
NotFound        ENOENT                                                         yes
Changed         ENOTDIR, ELOOP, ESTALE (the tree changed under us)             yes
NoSpace         ENOSPC, EDQUOT                                                 yes
Denied          EACCES, EPERM                                                  no
ReadOnly        EROFS (a Denied that may pass: a disk remounted read-write)    yes
Locked          EAGAIN, EBUSY, ETXTBSY, ENOMEM (busy for now)                  yes
RateLimited     (none locally; HTTP 429)                                       yes
ReplicaError    any other errno (a name the file system refuses, ...)          no
==============  =============================================================  =========

"Retryable" means what :class:`~syncline.core.errors.SynclineError` says it means: running the same job
again later may succeed without the user changing anything. A file that vanished (NotFound) or a tree that
changed under the run (Changed) is retryable in that sense: the next scan sees the new state.
"""

from __future__ import annotations

import builtins
import errno as E
import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from types import TracebackType
from typing import Any

from ...core.errors import Problem


class ReplicaError(OSError):
    """A replica could not do what was asked. ``retryable``: trying again later may succeed unchanged.
    ``errno``, ``strerror`` and ``filename`` are the original OS error's when there was one."""

    retryable = False

    def __reduce__(self) -> tuple[Any, ...]:
        # Mapped errors are often of a class made on demand (family + builtin): rebuild through the map.
        return _rebuild, (_family_of(type(self)).__name__, _builtin_of(type(self)).__name__, self.errno,
                          self.strerror, self.filename, self.filename2, self.args)


class Unreachable(ReplicaError):
    """The replica's root or the connection to it is gone (an unmounted disk, an I/O error, a dropped
    connection, a timeout)."""

    retryable = True


class NotFound(ReplicaError):
    """The path is not there (a source file that vanished, a folder removed under the run)."""

    retryable = True


class Changed(ReplicaError):
    """The path, or a folder on its way, changed since the scan: the tree changed under us (a folder
    swapped for a symlink or a file, a stale handle). The next scan sees the new state."""

    retryable = True


class NoSpace(ReplicaError):
    """No space left on the replica, or its quota is used up."""

    retryable = True


class Denied(ReplicaError):
    """The replica refuses the operation (permissions, ownership). Not retried: a user must change
    something."""


class ReadOnly(Denied):
    """The replica is read-only now (EROFS): a Denied that may pass (a disk remounted read-write)."""

    retryable = True


class Locked(ReplicaError):
    """The path or the replica is busy (in use, locked by another client: HTTP 423, short of memory for
    now)."""

    retryable = True


class RateLimited(ReplicaError):
    """The replica asks the client to slow down (HTTP 429, 503 with Retry-After)."""

    retryable = True


FAMILY: tuple[type[ReplicaError], ...] = (ReplicaError, Unreachable, NotFound, Changed, NoSpace, Denied, ReadOnly,
                                          Locked, RateLimited)

ERRNO_CLASSES: dict[int, type[ReplicaError]] = {
    **dict.fromkeys((E.EIO, E.ENOTCONN, E.ETIMEDOUT, E.ECONNRESET, E.ECONNREFUSED, E.EHOSTUNREACH,
                     E.ENETUNREACH), Unreachable),
    E.ENOENT: NotFound,
    **dict.fromkeys((E.ENOTDIR, E.ELOOP, E.ESTALE), Changed),
    **dict.fromkeys((E.ENOSPC, E.EDQUOT), NoSpace),
    **dict.fromkeys((E.EACCES, E.EPERM), Denied),
    E.EROFS: ReadOnly,
    **dict.fromkeys((E.EAGAIN, E.EBUSY, E.ETXTBSY, E.ENOMEM), Locked),
}

_combined: dict[tuple[type[ReplicaError], type[OSError]], type[ReplicaError]] = {}


def _builtin_of(cls: type[BaseException]) -> type[OSError]:
    """The most specific builtin OSError class ``cls`` derives from (``FileNotFoundError``, ``OSError``)."""
    for c in cls.__mro__:
        if c.__module__ == "builtins" and issubclass(c, OSError):
            return c
    return OSError


def _family_of(cls: type[ReplicaError]) -> type[ReplicaError]:
    return next(c for c in cls.__mro__ if c in FAMILY)


def error_class(family: type[ReplicaError], builtin: type[OSError] = OSError) -> type[ReplicaError]:
    """The class of an error that is both a ``family`` member and a ``builtin`` OSError subclass."""
    if builtin is OSError or issubclass(family, builtin):
        return family
    cls = _combined.get((family, builtin))
    if cls is None:
        cls = type(family.__name__, (family, builtin), {"__module__": __name__, "__doc__": family.__doc__})
        _combined[(family, builtin)] = cls
    return cls


def map_os_error(exc: OSError) -> ReplicaError:
    """``exc`` as a member of the family (itself when it is one already): the class its errno maps to (see
    the module's table), keeping the errno, message, file names and builtin class."""
    if isinstance(exc, ReplicaError):
        return exc
    family = ERRNO_CLASSES.get(exc.errno or 0, ReplicaError)
    cls = error_class(family, _builtin_of(type(exc)))
    if exc.errno is None:
        mapped = cls(*exc.args)
    else:
        mapped = cls(exc.errno, exc.strerror, exc.filename, None, exc.filename2)
    return mapped


def _rebuild(family: str, builtin: str, errno: int | None, strerror: str | None, filename: Any, filename2: Any,
             args: tuple[Any, ...]) -> ReplicaError:
    cls = error_class(next(c for c in FAMILY if c.__name__ == family), getattr(builtins, builtin))
    return cls(*args) if errno is None else cls(errno, strerror, filename, None, filename2)


def judged(problems: tuple[Problem, ...]) -> tuple[Problem, ...]:
    """``problems`` (a scan's, which core records with their errno only) with ``retryable`` set from the
    class each errno maps to."""
    return tuple(replace(p, retryable=ERRNO_CLASSES.get(p.errno, ReplicaError).retryable) if p.errno else p
                 for p in problems)


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` may pass if the same job runs again later (an OSError is judged by its errno)."""
    if isinstance(exc, OSError):
        return map_os_error(exc).retryable
    return bool(getattr(exc, "retryable", False))


class _MappedContext(AbstractContextManager[Any]):
    """A replica's context manager (``open_file``, ``lock``) whose own OSErrors, entering or leaving, are
    mapped; what the block raises passes through as it is."""

    def __init__(self, inner: AbstractContextManager[Any]) -> None:
        self.inner = inner

    def __enter__(self) -> Any:
        try:
            return self.inner.__enter__()
        except ReplicaError:
            raise
        except OSError as exc:
            raise map_os_error(exc) from exc

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        try:
            return self.inner.__exit__(kind, value, tb)
        except ReplicaError:
            raise
        except OSError as exc:
            if exc is value:
                raise
            raise map_os_error(exc) from exc


def _mapping(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except ReplicaError:
            raise
        except OSError as exc:
            raise map_os_error(exc) from exc
        return _MappedContext(result) if isinstance(result, AbstractContextManager) else result

    call.__maps_os_errors__ = True  # type: ignore[attr-defined]
    return call


class MapsOSErrors:
    """Base of a replica on the local file system: every public method of the class and of its subclasses
    raises the family instead of a bare OSError (mapped by :func:`map_os_error`), so the mapping is in this
    one place rather than a ``try`` in every method. Private helpers raise OSError as the OS gives it, so
    the code inside a replica keeps testing errnos where it must."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(value) \
                    and not getattr(value, "__maps_os_errors__", False):
                setattr(cls, name, _mapping(value))
