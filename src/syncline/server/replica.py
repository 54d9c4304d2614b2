"""ServerFolderReplica: a server folder as a Replica, in process, through the folder store (no HTTP).

It proves the expect rules, trash, moves and replays where they are implemented (``store/apply.py``),
before any network exists, and lets the server import or export a folder with the engine's own
``sync_replicas``. Staging puts the file's chunks in the folder's store; a commit is one ``put`` item;
``commit_many`` one batch; ``move`` one ``move`` item (a folder moves whole, nothing copied). Every
failure the store reports (a :class:`WireError`) is mapped in one place, :func:`replica_error`, to the
replica error family by its code, as ``RemoteReplica`` maps the same codes from HTTP answers.

The folder is named by its owner and name (folder names are per user) and resolved on each call until it
exists, so ``create_root`` can make it.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from ..core.chunking import SERVER_CHUNKER, Chunker
from ..core.entry import DIR, Entry
from ..core.errors import BusyError, UsageError
from ..core.ignore import IGNORE_FILE, Matcher, Rules
from ..core.index import Index, IndexHeader
from ..core.paths import join, parent
from ..engine.replicas.errors import ReplicaError, map_os_error
from ..engine.replicas.replica import Features, Outcome, SourceFile, Staged, WritePolicy
from ..engine.replicas.subtrees import subtrees
from ..formats.wire.errors import WireError
from ..formats.wire.limits import MAX_INLINE_CHUNKS, MAX_OPS
from ..formats.wire.ops import Expect, ItemResult, Op, OpEntry, WirePolicy, new_op_id
from ..formats.wire.paths import check_wire_path, meta_etag
from .staging import ServerSourceFile, ServerStaged, stage
from .store import Store
from .store.folder import FolderStore
from .store.rows import Row
from .store.schema import DELETED

T = TypeVar("T")
LOCK_TTL_S = 60
_ERRNO = {"not_found": errno.ENOENT, "not_a_dir": errno.ENOTDIR, "changed": errno.ESTALE,
          "missing_chunks": errno.ESTALE, "no_space": errno.ENOSPC, "locked": errno.EBUSY,
          "read_only": errno.EROFS, "forbidden": errno.EACCES, "too_large": errno.EFBIG,
          "unavailable": errno.ECONNREFUSED}


def replica_error(exc: WireError) -> ReplicaError:
    """The replica error for a store's :class:`WireError`, by its code (``not_found`` is a ``NotFound``
    that is also a ``FileNotFoundError``, ``not_a_dir`` a ``Changed`` that is a ``NotADirectoryError``;
    a name the server refuses, ``bad_path`` or ``name_clash``, a plain ``ReplicaError``)."""
    path = exc.details.get("path", "")
    err = OSError(_ERRNO.get(exc.code, errno.EINVAL), f"{exc.message} ({exc.code})", *([path] if path else []))
    return map_os_error(err)


def _mapped(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except WireError as exc:
        raise replica_error(exc) from None


class ServerFolderReplica:
    """Folder ``name`` of user ``owner`` in ``store``, written as device ``device`` with ``policy``.

    Abilities: ``Mover``, ``Hasher`` (blake3: the digest is in the row), ``BatchStat``, ``BatchCommit``,
    ``Locker`` (the device's lease on the folder, renewed while held), ``Markers`` and ``CheckedMarkers``
    (the folder's meta).
    ``barrier`` has nothing to do: every chunk upload and every batch is durable before it returns."""

    def __init__(self, store: Store, owner: int, name: str, device: str, policy: WritePolicy | None = None,
                 chunker: Chunker | None = None) -> None:
        self.store = store
        self.owner = owner
        self.name = name
        self.device = device
        self.policy = policy or WritePolicy()
        self.chunker = chunker or SERVER_CHUNKER
        self.inline_chunks = MAX_INLINE_CHUNKS  # chunks a put lists; more: a manifest (tests lower it)
        self.staged: set[ServerStaged] = set()
        self._folder: FolderStore | None = None
        self._mutex = threading.Lock()

    # -- the folder -------------------------------------------------------------------------------------
    def _maybe(self) -> FolderStore | None:
        if self._folder is None:
            found = self.store.folders.get(self.owner, self.name)
            if found is not None:
                self._folder = self.store.folder(found)
        return self._folder

    def _fs(self) -> FolderStore:
        fs = self._maybe()
        if fs is None:
            raise map_os_error(OSError(errno.ENOENT, "no such folder on the server", self.describe()))
        return fs

    def features(self) -> Features:
        return Features(mtime_ns_precision=1, case_sensitive=True, symlinks=True, permissions=True, owner=False,
                        hash_kinds=("blake3",), max_connections=8, round_trips=False, scan_in_child=False)

    def describe(self) -> str:
        return f"server folder {self.name} (user {self.owner})"

    def address(self) -> str:
        return f"store://{self.store.data_dir.resolve()}/{self.owner}/{self.name}"

    def exists(self) -> bool:
        return self._maybe() is not None

    def is_empty(self) -> bool:
        fs = self._maybe()
        return fs is None or fs.info().empty

    def create_root(self) -> None:
        _mapped(lambda: self.store.folders.create(self.owner, self.name))

    @contextmanager
    def session(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        for staged in list(self.staged):
            staged.discard()

    # -- reading ----------------------------------------------------------------------------------------
    def _listing(self, fs: FolderStore) -> dict[str, Row]:
        """The whole folder, paged as a client pages it (tombstones of later pages remove paths)."""
        rows: dict[str, Row] = {}
        since, after, more = 0, None, True
        while more:
            page = fs.entries(since, after=after)
            for row in page.rows:
                if row.kind == DELETED:
                    rows.pop(row.path, None)
                else:
                    rows[row.path] = row
            since, after, more = page.next, page.next_path, page.more
        return rows

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        fs = self._maybe()
        if fs is None:
            raise UsageError(f"no such folder: {self.describe()}", "check the folder name")
        started = time.time_ns()
        rows = _mapped(lambda: self._listing(fs))
        children: dict[str, list[Row]] = {}
        for row in rows.values():
            children.setdefault(parent(row.path), []).append(row)
        entries: dict[str, Entry] = {}
        stack: list[tuple[str, Matcher]] = [("", rules.matcher())]
        while stack:
            folder, matcher = stack.pop()
            names = children.get(folder, [])
            ignore = rows.get(join(folder, IGNORE_FILE))
            if rules.ignore_files and ignore is not None and ignore.kind == "file":
                text = _read_all(fs, ignore.path).decode("utf-8", "surrogateescape")
                matcher = matcher.with_ignore_file(folder, text)
            for row in names:
                if matcher.active and matcher.ignored(row.path, row.kind == DIR):
                    continue
                e = row.entry()
                entries[row.path] = e if digests else e._replace(digest=None)
                if row.kind == DIR:
                    stack.append((row.path, matcher))
        root = _mapped(lambda: fs.stat_many([""]))[1][0]
        assert isinstance(root, Row)
        return Index(entries, IndexHeader(root=self.describe(), scanned_ns=started, digests=digests),
                     root=root.entry())

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        """What a full scan records of each ``(folder, deep)``; a folder below a file or symlink is, on the
        destination, a problem and unreadable (nothing below it may be deleted)."""
        return subtrees(self.scan(rules, digests, side), dirs, side, self.stat)

    def stat_many(self, paths: Sequence[str]) -> list[Entry | None]:
        fs = self._fs()
        _, found = _mapped(lambda: fs.stat_many(list(paths)))
        out: list[Entry | None] = []
        for item in found:
            if isinstance(item, WireError):
                raise replica_error(item)
            out.append(item.entry() if item is not None else None)
        return out

    def stat(self, path: str) -> Entry | None:
        return self.stat_many([path])[0]

    def digest(self, path: str, kind: str = "blake3") -> bytes:
        if kind != "blake3":
            raise ValueError(f"no {kind} digests here (only blake3)")
        e = self.stat(path)
        if e is None or not e.is_file or e.digest is None:
            raise map_os_error(OSError(errno.ENOENT, "no such file", path))
        return e.digest

    @contextmanager
    def open_file(self, path: str) -> Iterator[SourceFile]:
        e = self.stat(path)
        if e is None:
            raise map_os_error(OSError(errno.ENOENT, "no such file", path))
        if not e.is_file:
            code = errno.ELOOP if e.is_symlink else errno.EISDIR
            raise map_os_error(OSError(code, "not a regular file", path))
        fs = self._fs()
        _, pieces = _mapped(lambda: fs.read(path, e.ctime_ns))

        def still() -> bool:
            now = self.stat(path)
            return now is not None and now.ctime_ns == e.ctime_ns

        yield ServerSourceFile(e, _checked(pieces), still)

    # -- writing ----------------------------------------------------------------------------------------
    def stage_file(self, path: str, source: SourceFile) -> Staged:
        _mapped(lambda: check_wire_path(path))
        up = self.stat(parent(path)) if parent(path) else None
        if parent(path) and (up is None or not up.is_dir):
            raise map_os_error(OSError(errno.ENOENT if up is None else errno.ENOTDIR, "no such folder", parent(path)))
        fs = self._fs()
        staged = _mapped(lambda: stage(fs, self.device, self.chunker, path, source, str(self.store.chunks.tmp),
                                       self._forget, self.inline_chunks))
        with self._mutex:
            self.staged.add(staged)
        return staged

    def _forget(self, staged: ServerStaged) -> None:
        with self._mutex:
            self.staged.discard(staged)

    def _policy(self) -> WirePolicy:
        return WirePolicy(trash=self.policy.trash, keep_changed=self.policy.keep_changed)

    def _outcome(self, r: ItemResult) -> Outcome:
        if r.error is not None:
            raise replica_error(r.error)
        return Outcome(r.done, r.note, r.trashed, r.file_id if r.done and self.policy.report_ids else 0, r.notice)

    def _apply(self, ops: Sequence[Op]) -> list[ItemResult]:
        fs = self._fs()
        return _mapped(lambda: fs.apply_ops(ops, self._policy(), self.device))[1]

    def _one(self, op: Op) -> Outcome:
        return self._outcome(self._apply([op])[0])

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        result = self.commit_many([(staged, expect)])[0]
        if isinstance(result, ReplicaError):
            raise result
        return result

    def commit_many(self, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
        """One batch per 1,000 items; each staged copy is discarded once its item is answered, and a
        failure stands in its item's place."""
        out: list[Outcome | ReplicaError] = []
        try:
            for start in range(0, len(items), MAX_OPS):
                part = items[start : start + MAX_OPS]
                ops = [staged.put_op(_expect(expect))
                       for staged, expect in part if isinstance(staged, ServerStaged) and not staged.discarded]
                answers = iter(self._apply(ops) if ops else [])
                for staged, _ in part:
                    if not isinstance(staged, ServerStaged) or staged.discarded:
                        out.append(map_os_error(OSError(errno.ENOENT, "the staged copy was discarded",
                                                        staged.path)))
                        continue
                    result = next(answers)
                    staged.discard()
                    try:
                        out.append(self._outcome(result))
                    except ReplicaError as exc:
                        out.append(exc)
        finally:
            for staged, _ in items:
                staged.discard()
        return out

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        return self._one(Op(new_op_id(), "mkdir", path, _expect(expect), OpEntry(entry.mtime_ns, entry.mode)))

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        target = entry.target or ""
        return self._one(Op(new_op_id(), "symlink", path, _expect(expect),
                            OpEntry(entry.mtime_ns, entry.mode, len(target.encode("utf-8", "surrogateescape")),
                                    None, target)))

    def delete(self, path: str, expect: Entry) -> Outcome:
        return self._one(Op(new_op_id(), "delete", path, _expect(expect)))

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        return self._one(Op(new_op_id(), "meta", path, _expect(expect), OpEntry(entry.mtime_ns, entry.mode)))

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        return self._one(Op(new_op_id(), "move", src, _expect(expect), to=dst))

    def barrier(self) -> None:
        """Nothing to wait for: chunks are durable when uploaded, batches when answered."""

    # -- abilities ----------------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        fs = self._fs()
        try:
            lock_id = fs.lock(self.device, LOCK_TTL_S)
        except WireError as exc:
            if exc.code == "locked":
                raise BusyError(f"another syncline run is writing into {self.describe()}",
                                "wait for it to finish, then run again") from None
            raise replica_error(exc) from None
        stop = threading.Event()
        renewer = threading.Thread(target=_renew, args=(fs, lock_id, stop), daemon=True,
                                   name=f"lease {self.name}")
        renewer.start()
        try:
            with self.session():
                yield
        finally:
            stop.set()
            renewer.join()
            fs.release(lock_id)

    def read_meta(self, name: str) -> str | None:
        fs = self._maybe()
        return None if fs is None else _mapped(lambda: fs.read_meta(name))

    def write_meta(self, name: str, text: str) -> None:
        fs = self._fs()
        _mapped(lambda: fs.write_meta(name, text))

    def write_meta_if(self, name: str, text: str, expect: str | None) -> bool:
        """Write ``name`` only if it holds ``expect`` (None: none), compared and set in one transaction."""
        fs = self._fs()
        etag = None if expect is None else meta_etag(expect)
        return _mapped(lambda: fs.write_meta_if(name, text, etag))


def _expect(entry: Entry | None) -> Expect | None:
    return Expect.of(entry) if entry is not None else None


def _read_all(fs: FolderStore, path: str) -> bytes:
    try:
        return b"".join(fs.read(path)[1])
    except WireError as exc:
        raise replica_error(exc) from None


def _checked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The stream with a chunk the store cannot read mapped to the family (a chunk gone missing)."""
    try:
        yield from pieces
    except OSError as exc:
        raise map_os_error(exc) from None


def _renew(fs: FolderStore, lock_id: str, stop: threading.Event) -> None:
    """Renew the lease every third of its ttl until ``stop``; a lapsed lease is left to lapse (the writes
    stay safe by their expects)."""
    while not stop.wait(LOCK_TTL_S / 3):
        try:
            fs.renew(lock_id, LOCK_TTL_S)
        except (WireError, Exception):
            return


