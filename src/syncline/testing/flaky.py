"""FlakyReplica: any replica, with chosen calls made to fail, stall or meet a change first.

A fault names a method and which of its calls it hits: by call number (``on_call=3``: the third call),
by a predicate on the call's arguments (``when=lambda path, *_: path == "big.bin"``), or every call, at
most ``times`` times. What it does: raise an error (``fail``), sleep first (``slow``), run a function
first (``before``: another program changes the tree "under us" right before the call), or, for a file
being read, fail part-way through the transfer (``fail_read``) or report it changed while read
(``torn``). ``offline`` makes every call fail as an unreachable server does, until it is set back.

The error makers (:func:`unreachable`, :func:`no_space`, :func:`changed_under_us`, :func:`denied`) give
the errors a real replica raises for those failures.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from ..core.entry import Entry
from ..core.ignore import Rules
from ..core.index import Index
from ..engine.replicas.replica import (
    BatchStat,
    CheckedMarkers,
    Features,
    Hasher,
    Linker,
    Locker,
    Markers,
    Mover,
    Outcome,
    Replica,
    SourceFile,
    Staged,
)
from .adapt import ReadIntoFromRead, read_block, replica_error, without

T = TypeVar("T")
ErrorMaker = Callable[[str], BaseException]  # the call's path (or "") -> the exception to raise


def unreachable(path: str = "") -> OSError:
    """The connection dropped (or the disk went away)."""
    return replica_error(errno.ECONNRESET, "Connection reset by peer (injected)", path)


def no_space(path: str = "") -> OSError:
    """The replica is full."""
    return replica_error(errno.ENOSPC, "No space left on device (injected)", path)


def changed_under_us(path: str = "") -> OSError:
    """A folder on the way changed since the scan (swapped, removed, a stale handle)."""
    return replica_error(errno.ESTALE, "Stale file handle: the tree changed under us (injected)", path)


def denied(path: str = "") -> OSError:
    """The replica refuses the call."""
    return replica_error(errno.EACCES, "Permission denied (injected)", path)


@dataclass
class Fault:
    """One armed fault (see the module). ``hits`` counts the calls it has hit so far."""

    method: str
    error: ErrorMaker | None = None
    delay: float = 0.0
    action: Callable[..., object] | None = None
    on_call: frozenset[int] | None = None
    when: Callable[..., bool] | None = None
    times: int | None = None
    after_bytes: int | None = None  # ``read``: bytes that pass before the error
    torn: bool = False  # ``read``: the source says it changed while being read
    hits: int = 0

    def matches(self, number: int, args: tuple[Any, ...]) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.on_call is not None and number not in self.on_call:
            return False
        return self.when is None or bool(self.when(*args))


def _calls(on_call: int | Sequence[int] | None) -> frozenset[int] | None:
    if on_call is None:
        return None
    return frozenset((on_call,) if isinstance(on_call, int) else on_call)


class _FlakySource(ReadIntoFromRead):
    """A source file whose reads may fail after some bytes, or which may say it changed while read. It
    offers no ``fileno`` while a read fault is armed for it, so every byte passes through here."""

    def __init__(self, inner: SourceFile, faults: list[Fault]) -> None:
        self.inner = inner
        self.entry = inner.entry
        self.faults = faults
        self.passed = 0
        self.path = ""

    def __getattr__(self, name: str) -> Any:
        if name == "fileno" and self.faults:
            raise AttributeError(name)
        return getattr(self.inner, name)

    def read(self, size: int = -1) -> bytes:
        budget = min((f.after_bytes for f in self.faults if f.after_bytes is not None and f.error is not None),
                     default=None)
        want = size if size >= 0 else 1 << 30
        if budget is not None:
            if self.passed >= budget:
                fault = next(f for f in self.faults if f.after_bytes == budget)
                fault.hits += 1
                assert fault.error is not None
                raise fault.error(self.path)
            want = min(want, budget - self.passed)
        block = read_block(self.inner, want)
        self.passed += len(block)
        return block

    def changed(self) -> bool:
        torn = [f for f in self.faults if f.torn]
        for f in torn:
            f.hits += 1
        return bool(torn) or self.inner.changed()


# The optional abilities and their methods: a FlakyReplica has those its inner replica has, no others.
ABILITIES: tuple[tuple[type, tuple[str, ...]], ...] = (
    (Mover, ("move",)), (Linker, ("make_link",)), (Locker, ("lock",)), (Markers, ("read_meta", "write_meta")),
    (CheckedMarkers, ("write_meta_if",)),
    (Hasher, ("digest",)), (BatchStat, ("stat_many",)),
)


class FlakyReplica:
    """``inner`` with faults (see the module). ``calls`` counts every call by method name. It offers the
    optional abilities ``inner`` offers and no others (it is of a subclass without the missing ones' methods:
    see :func:`~.adapt.without`)."""

    def __new__(cls, inner: Replica) -> Self:
        missing = [m for ability, methods in ABILITIES if not isinstance(inner, ability) for m in methods]
        return object.__new__(without(cls, missing))

    def __init__(self, inner: Replica) -> None:
        self.inner = inner
        self.policy = inner.policy
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()
        self.offline = False
        self._mutex = threading.Lock()

    # -- arming ----------------------------------------------------------------------------------------
    def _arm(self, fault: Fault) -> Fault:
        with self._mutex:
            self.faults.append(fault)
        return fault

    def fail(self, method: str, error: ErrorMaker = unreachable, *, on_call: int | Sequence[int] | None = None,
             when: Callable[..., bool] | None = None, times: int | None = None) -> Fault:
        """Make ``method`` raise ``error(path)`` on the calls chosen."""
        return self._arm(Fault(method, error, on_call=_calls(on_call), when=when, times=times))

    def slow(self, method: str, seconds: float, *, on_call: int | Sequence[int] | None = None,
             when: Callable[..., bool] | None = None, times: int | None = None) -> Fault:
        """Make ``method`` wait ``seconds`` before it runs, on the calls chosen."""
        return self._arm(Fault(method, delay=seconds, on_call=_calls(on_call), when=when, times=times))

    def before(self, method: str, action: Callable[..., object], *, on_call: int | Sequence[int] | None = None,
               when: Callable[..., bool] | None = None, times: int | None = 1) -> Fault:
        """Run ``action(*args)`` (with the call's arguments) right before ``method`` runs: a change made
        "under us" between the scan and the call. Once by default."""
        return self._arm(Fault(method, action=action, on_call=_calls(on_call), when=when, times=times))

    def fail_read(self, after_bytes: int, error: ErrorMaker = unreachable, *,
                  when: Callable[[str], bool] | None = None, times: int | None = None) -> Fault:
        """Make reading a file opened with ``open_file(path)`` (``when(path)``: which ones) raise ``error``
        once ``after_bytes`` of it have been read: the connection drops in the middle of a transfer."""
        return self._arm(Fault("read", error, when=when, times=times, after_bytes=after_bytes))

    def torn(self, *, when: Callable[[str], bool] | None = None, times: int | None = None) -> Fault:
        """Make a file opened with ``open_file(path)`` say it changed while it was read."""
        return self._arm(Fault("read", when=when, times=times, torn=True))

    def clear(self) -> None:
        """Disarm every fault (and come back online)."""
        with self._mutex:
            self.faults.clear()
        self.offline = False

    # -- calling ---------------------------------------------------------------------------------------
    def _call(self, method: str, fn: Callable[..., T], *args: Any) -> T:
        with self._mutex:
            self.calls[method] += 1
            number = self.calls[method]
            hit = [f for f in self.faults if f.method == method and f.matches(number, args)]
            for f in hit:
                f.hits += 1
        path = args[0] if args and isinstance(args[0], str) else getattr(args[0], "path", "") if args else ""
        if self.offline:
            raise unreachable(path)
        for f in hit:
            if f.delay:
                time.sleep(f.delay)
            if f.action is not None:
                f.action(*args)
            if f.error is not None:
                raise f.error(path)
        return fn(*args)

    def features(self) -> Features:
        return self._call("features", self.inner.features)

    def describe(self) -> str:
        return self.inner.describe()

    def address(self) -> str:
        return self.inner.address()

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        return self._call("scan", self.inner.scan, rules, digests, side)

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        return self._call("scan_dirs", self.inner.scan_dirs, dirs, rules, side, digests)

    def is_empty(self) -> bool:
        return self._call("is_empty", self.inner.is_empty)

    def exists(self) -> bool:
        return self._call("exists", self.inner.exists)

    def create_root(self) -> None:
        self._call("create_root", self.inner.create_root)

    def lock(self) -> AbstractContextManager[None]:
        assert isinstance(self.inner, Locker)
        return self._call("lock", self.inner.lock)

    def session(self) -> AbstractContextManager[None]:
        return self._call("session", self.inner.session)

    def close(self) -> None:
        self.inner.close()

    def read_meta(self, name: str) -> str | None:
        assert isinstance(self.inner, Markers)
        return self._call("read_meta", self.inner.read_meta, name)

    def write_meta(self, name: str, text: str) -> None:
        assert isinstance(self.inner, Markers)
        self._call("write_meta", self.inner.write_meta, name, text)

    def write_meta_if(self, name: str, text: str, expect: str | None) -> bool:
        assert isinstance(self.inner, CheckedMarkers)
        return self._call("write_meta_if", self.inner.write_meta_if, name, text, expect)

    def stat(self, path: str) -> Entry | None:
        return self._call("stat", self.inner.stat, path)

    def stat_many(self, paths: Sequence[str]) -> list[Entry | None]:
        assert isinstance(self.inner, BatchStat)
        return self._call("stat_many", self.inner.stat_many, paths)

    def digest(self, path: str, kind: str = "blake3") -> bytes:
        assert isinstance(self.inner, Hasher)
        return self._call("digest", self.inner.digest, path, kind)

    @contextmanager
    def open_file(self, path: str) -> Iterator[SourceFile]:
        with self._call("open_file", self.inner.open_file, path) as inner:
            with self._mutex:
                reads = [f for f in self.faults if f.method == "read" and f.matches(0, (path,))]
            source = _FlakySource(inner, reads)
            source.path = path
            yield source

    def stage_file(self, path: str, source: SourceFile) -> Staged:
        return self._call("stage_file", self.inner.stage_file, path, source)

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        return self._call("commit", self.inner.commit, staged, expect)

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        return self._call("make_dir", self.inner.make_dir, path, entry, expect)

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        return self._call("make_symlink", self.inner.make_symlink, path, entry, expect)

    def make_link(self, path: str, entry: Entry, first: str, expect: Entry | None) -> Outcome:
        assert isinstance(self.inner, Linker)
        return self._call("make_link", self.inner.make_link, path, entry, first, expect)

    def delete(self, path: str, expect: Entry) -> Outcome:
        return self._call("delete", self.inner.delete, path, expect)

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        assert isinstance(self.inner, Mover)
        return self._call("move", self.inner.move, src, dst, expect)

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        return self._call("set_meta", self.inner.set_meta, path, entry, expect)

    def barrier(self) -> None:
        self._call("barrier", self.inner.barrier)
