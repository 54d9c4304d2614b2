"""Small files read ahead in packs: many small downloads in one ``chunks/read`` each (protocol.md section 6,
"Small files in packs").

A file smaller than the server's chunking size (``ServerInfo.chunker.min_file_size``, at most one chunk
long) is stored as one chunk whose id is the file's BLAKE3 digest, which the listing gives. So once the
engine has said which small files it will open (:class:`~..replica.Prefetcher`), they are fetched as groups
of up to ``GROUP_FILES`` files and ``GROUP_BYTES`` bytes: one request per group instead of one per file. The
first thread to open a file of a group fetches the group (the others wait for it) and starts fetching the
next group in the background, so the network and the writing of files overlap. Every chunk is checked
against its id by :func:`~.basis.read_chunks`, so a file handed out is exactly the version the plan read.

It is only ever a shortcut: a group whose fetch fails (the folder no longer holds a chunk because the file
changed and its old version was collected, a cut connection, an answer refused) leaves its files to be
opened one by one, which reports the error properly if there is one. At most ``KEEP_GROUPS`` fetched
groups are held; an older one is dropped with its files not yet opened (they too are opened one by one).
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import blake3

from ....core.entry import FILE, Entry
from ....formats.wire.limits import MAX_CHUNK, MAX_READ_IDS
from ..errors import ReplicaError
from .basis import read_chunks
from .client import Client

GROUP_FILES = 1_000
GROUP_BYTES = 8 << 20
KEEP_GROUPS = 4
_EMPTY = blake3.blake3(b"").digest()


@dataclass(eq=False)
class _Group:
    want: dict[bytes, int]  # chunk id -> length, in the order of the hint
    refs: Counter[bytes]  # files of the group not yet taken, per chunk id
    fetched: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    data: dict[bytes, bytes] | None = None  # None: not fetched, failed, or dropped
    next: _Group | None = None  # the group after it in the hint: fetched ahead once this one is opened


class Prefetch:
    """The read-ahead of one replica's small files; every call is thread-safe. ``fetched`` counts the bytes
    that came in packs."""

    def __init__(self, client: Client, folder: str) -> None:
        self._client, self._folder = client, folder
        self._mutex = threading.Lock()
        self._files: dict[str, tuple[Entry, _Group | None]] = {}  # path -> (hinted entry, its group)
        self._ready: deque[_Group] = deque()
        self.fetched = 0

    def hint(self, files: Sequence[tuple[str, Entry]], min_file_size: int) -> None:
        """Forget the previous hint; group the files of ``files`` that are one chunk (or empty)."""
        ready: dict[str, tuple[Entry, _Group | None]] = {}
        group: _Group | None = None
        total = 0
        for path, entry in files:
            if entry.kind != FILE or entry.digest is None or path in ready:
                continue
            if entry.size == 0:
                if entry.digest == _EMPTY:
                    ready[path] = (entry, None)
                continue
            if entry.size >= min_file_size or entry.size > MAX_CHUNK:
                continue
            if group is None or len(group.refs) >= min(GROUP_FILES, MAX_READ_IDS) \
                    or total + entry.size > GROUP_BYTES:
                last, group, total = group, _Group({}, Counter()), 0
                if last is not None:
                    last.next = group
            if entry.digest not in group.want:
                group.want[entry.digest] = entry.size
                total += entry.size
            group.refs[entry.digest] += 1
            ready[path] = (entry, group)
        with self._mutex:
            self._files, self._ready = ready, deque()

    def take(self, path: str) -> tuple[Entry, bytes] | None:
        """The hinted entry of ``path`` and its content, fetching its group if need be; None when ``path``
        was not hinted or is no longer held (open it as usual). Each path is handed out once."""
        with self._mutex:
            hinted = self._files.pop(path, None)
            if hinted is None:
                return None
            entry, group = hinted
            if group is None:
                return entry, b""
            fetch = not group.started
            group.started = True
            ahead = group.next if group.next is not None and not group.next.started else None
            if ahead is not None:
                ahead.started = True
        if ahead is not None:  # while this group's files are written, the next one is on its way
            threading.Thread(target=self._fetch_ahead, args=(ahead,), name="syncline-prefetch", daemon=True).start()
        if fetch:
            self._fetch(group)
        group.fetched.wait()
        assert entry.digest is not None
        with self._mutex:
            group.refs[entry.digest] -= 1
            data = None if group.data is None else group.data.get(entry.digest)
            if group.refs[entry.digest] <= 0 and group.data is not None:
                del group.refs[entry.digest]
                group.data.pop(entry.digest, None)
                if not group.refs:
                    group.data = None  # all taken: free it now, not when it leaves the deque
        return None if data is None else (entry, data)

    def _fetch_ahead(self, group: _Group) -> None:
        try:
            self._fetch(group)
        except Exception:  # a read-ahead that fails costs nothing: its files are opened alone
            pass

    def _fetch(self, group: _Group) -> None:
        got: dict[bytes, bytes] | None = None
        try:
            got = read_chunks(self._client, self._folder, group.want, "")
        except ReplicaError:
            pass  # the files are opened one by one, which reports what is wrong, if anything still is
        finally:  # an interrupt too: the threads waiting for the group go on (and open their files alone)
            with self._mutex:
                if got is not None:
                    group.data = got
                    self.fetched += sum(map(len, got.values()))
                    self._ready.append(group)
                    while len(self._ready) > KEEP_GROUPS:
                        self._ready.popleft().data = None
            group.fetched.set()


class HeldSource:
    """A small file fetched ahead: ``entry`` (the hinted one) and its verified bytes, as a source file."""

    def __init__(self, entry: Entry, data: bytes) -> None:
        self.entry = entry
        self._rest = memoryview(data)

    def changed(self) -> bool:
        """Never: a committed version, checked against its digest when it was fetched."""
        return False

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n
