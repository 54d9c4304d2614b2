"""MemoryReplica: a whole tree in memory, with no file descriptors, for tests and as a model replica.

It keeps every rule :class:`~syncline.engine.replicas.local.LocalReplica` keeps (the ``expect`` re-checks
and the :class:`~syncline.engine.replicas.replica.WritePolicy`: trash, keep_changed, report_ids), so the
executor and the planners can be driven through a replica that is not a local folder, and it can be what
a local folder is not: case-insensitive, with 1 s or 2 s mtimes (stored times are truncated, as a FAT or
SMB share does), without symlinks, without permissions (every file shows one fixed mode), without a
server-side move.

The tree is a map from path to node; a hard link is a second path to the same node, as on a real file
system. A staged file is held in memory until it is committed, so no temp name ever appears in the tree.
Replaced and deleted versions go to :attr:`MemoryReplica.trash`, where a test can list them. Tests make
and look at files "behind the replica's back" (as a user or another program would) with :meth:`put_file`,
:meth:`put_dir`, :meth:`put_symlink`, :meth:`remove` and :meth:`read`.

Every call holds one lock: the executor's copy threads may share a replica.
"""

from __future__ import annotations

import errno
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import blake3

from ..core.entry import DIR, FILE, SYMLINK, Entry, Kind
from ..core.errors import BusyError, UsageError
from ..core.ignore import IGNORE_FILE, Matcher, Rules
from ..core.index import Index, IndexHeader
from ..core.paths import META_DIR, join, parent, sort_key
from ..engine.replicas.replica import Features, Outcome, SourceFile, Staged, WritePolicy
from ..engine.replicas.subtrees import subtrees
from .adapt import ReadIntoFromRead, read_source, replica_error, without

# What a file system without permissions (FAT, most SMB mounts) shows for every file, folder and link.
FIXED_MODES = {FILE: 0o644, DIR: 0o755, SYMLINK: 0o777}
_SERIALS = itertools.count(1)
_CHANGED_NOTE = "changed since the scan; the destination's version was moved to the trash"
_KEPT_NOTE = "changed since the scan; both versions kept, the next run reconciles them"


@dataclass(eq=False)
class _Node:
    """One file, folder or symlink; shared by every path that is a hard link to it."""

    kind: Kind
    mtime_ns: int
    mode: int
    file_id: int
    ctime_ns: int
    data: bytes = b""
    target: str | None = None

    def entry(self) -> Entry:
        size = len(self.data) if self.kind == FILE else len(self.target.encode("utf-8", "surrogateescape")) \
            if self.target is not None else 0
        return Entry(self.kind, size, self.mtime_ns, self.mode, target=self.target, file_id=self.file_id,
                     ctime_ns=self.ctime_ns)


def _as_expected(current: Entry, expect: Entry | None) -> bool:
    """The re-check of a replaced destination, as ``LocalReplica`` makes it after its atomic swap: kind,
    size, mtime, target and (when the plan knew it) file id; not ctime, which the swap itself changes."""
    return (expect is not None and current.kind == expect.kind and current.size == expect.size
            and current.mtime_ns == expect.mtime_ns and (not expect.file_id or current.file_id == expect.file_id)
            and current.target == expect.target)


@dataclass(frozen=True)
class Trashed:
    """A version the replica took away from ``path``: its entry, and its bytes (a symlink's: none)."""

    path: str
    entry: Entry
    data: bytes


@dataclass(eq=False)
class MemoryStaged:
    """A complete copy held in memory, waiting to become ``path``."""

    path: str
    size: int
    owner: MemoryReplica
    node: _Node
    discarded: bool = False

    def discard(self) -> None:
        self.discarded = True
        self.owner.staged.discard(self)


@dataclass
class MemorySourceFile(ReadIntoFromRead):
    """An open file of a :class:`MemoryReplica`, read as a stream (it has no ``fileno``)."""

    entry: Entry
    _node: _Node
    _data: bytes
    _pos: int = field(default=0)

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        block = self._data[self._pos : end]
        self._pos += len(block)
        return block

    def changed(self) -> bool:
        """Whether the file was written (or its metadata changed) since it was opened."""
        return self._node.ctime_ns != self.entry.ctime_ns or self._node.data is not self._data


class MemoryReplica:
    """A tree in memory (see the module), written as ``policy`` says. ``mtime_precision_ns`` is 1 (ns),
    ``10**9`` (SMB) or ``2 * 10**9`` (FAT); ``exists=False`` starts without a root (``create_root`` makes it).

    Abilities: :class:`~syncline.engine.replicas.replica.Linker`, ``Locker``, ``Markers``, ``Hasher``
    (blake3), ``BatchStat``, and ``Mover`` unless ``mover=False``: then the replica is of a subclass whose
    ``move`` is None (see :func:`~.adapt.without`), so ``isinstance(replica, Mover)`` is False and the engine
    copies and deletes instead."""

    def __new__(cls, *args: Any, mover: bool = True, **kwargs: Any) -> Self:
        return object.__new__(without(cls, () if mover else ("move",)))

    def __init__(self, name: str = "memory", *, policy: WritePolicy | None = None, case_sensitive: bool = True,
                 mtime_precision_ns: int = 1, symlinks: bool = True, permissions: bool = True, mover: bool = True,
                 exists: bool = True) -> None:
        self.name = name
        self._serial = next(_SERIALS)
        self.policy = policy or WritePolicy()
        self.case_sensitive = case_sensitive
        self.precision = max(1, mtime_precision_ns)
        self.symlinks = symlinks
        self.permissions = permissions
        self.trash: list[Trashed] = []
        self.staged: set[MemoryStaged] = set()  # staged and neither committed nor discarded yet
        self.meta: dict[str, str] = {}
        self.locked = False
        self.sessions = 0
        self._file_ids = itertools.count(2)
        self._last_stamp = 0
        self._mutex = threading.RLock()
        self._paths: dict[str, tuple[str, _Node]] = {}  # key (folded when case-insensitive) -> (path, node)
        self._root: _Node | None = self._new(DIR, b"", None, None, 0o755) if exists else None

    # -- the store -------------------------------------------------------------------------------------
    def _key(self, path: str) -> str:
        return path if self.case_sensitive else path.casefold()

    def _stamp(self) -> int:
        """Now in ns, strictly increasing (a ctime: every change is told apart)."""
        self._last_stamp = max(time.time_ns(), self._last_stamp + 1)
        return self._last_stamp

    def _truncated(self, mtime_ns: int) -> int:
        return mtime_ns - mtime_ns % self.precision

    def _new(self, kind: Kind, data: bytes, target: str | None, mtime_ns: int | None, mode: int) -> _Node:
        now = self._stamp()
        return _Node(kind, self._truncated(now if mtime_ns is None else mtime_ns),
                     mode if self.permissions else FIXED_MODES[kind], next(self._file_ids), now, data, target)

    def _find(self, path: str) -> tuple[str, _Node] | None:
        """The stored (path, node) at ``path``; None when absent. ``NotADirectoryError`` when a parent is
        a file or symlink, ``FileNotFoundError`` when the root is gone."""
        if self._root is None:
            raise replica_error(errno.ENOENT, "the root is not there", self.describe())
        if not path:
            return "", self._root
        up = parent(path)
        if up:
            above = self._find(up)
            if above is not None and above[1].kind != DIR:
                raise replica_error(errno.ENOTDIR, "a parent folder is a symlink or a file here", path)
        return self._paths.get(self._key(path))

    def _parent_dir(self, path: str) -> _Node:
        """The folder ``path`` goes into; ``FileNotFoundError`` when it is missing."""
        found = self._find(parent(path))
        if found is None:
            raise replica_error(errno.ENOENT, "no such folder", parent(path))
        if found[1].kind != DIR:
            raise replica_error(errno.ENOTDIR, "not a folder", parent(path))
        return found[1]

    def _touch_parent(self, path: str) -> None:
        """A folder's mtime and ctime move when a name in it is added or removed, as on a real disk."""
        folder = self._parent_dir(path)
        folder.ctime_ns = self._stamp()
        folder.mtime_ns = self._truncated(folder.ctime_ns)

    def _spelled(self, path: str) -> str:
        """``path`` below its folders as they are spelled here: on a case-insensitive tree a new name goes
        into the folder that holds it (``docs/b`` into ``Docs`` is ``Docs/b``), as on a real disk."""
        up = parent(path)
        if self.case_sensitive or not up:
            return path
        found = self._paths.get(self._key(up))
        return path if found is None else join(found[0], path.rpartition("/")[2])

    def _place(self, path: str, node: _Node) -> None:
        self._parent_dir(path)
        path = self._spelled(path)
        self._paths[self._key(path)] = (path, node)
        self._touch_parent(path)

    def _unplace(self, path: str) -> _Node:
        _, node = self._paths.pop(self._key(path))
        self._touch_parent(path)
        return node

    def _children(self, path: str) -> list[str]:
        key = self._key(path)
        prefix = f"{key}/" if key else ""
        return [p for k, (p, _) in self._paths.items() if k.startswith(prefix) and "/" not in k[len(prefix) :]]

    def _to_trash(self, path: str) -> None:
        node = self._unplace(path)
        self.trash.append(Trashed(path, node.entry(), node.data))

    # -- a user's hands on the tree (tests) --------------------------------------------------------------
    def put_dir(self, path: str, mode: int = 0o755, mtime_ns: int | None = None) -> None:
        """Make folder ``path`` and its missing parents (as ``mkdir -p`` would)."""
        with self._mutex:
            if self._root is None:
                self._root = self._new(DIR, b"", None, None, 0o755)
            here = ""
            for name in path.split("/") if path else ():
                here = join(here, name)
                found = self._find(here)
                if found is None:
                    self._place(here, self._new(DIR, b"", None, mtime_ns if here == path else None, mode))

    def put_file(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None:
        """Write a file at ``path`` (parents made as needed) in place: an existing file keeps its node
        (its other names see the new content), anything else there is replaced."""
        with self._mutex:
            self.put_dir(parent(path))
            found = self._find(path)
            if found is not None and found[1].kind == FILE:
                node = found[1]
                node.data, node.ctime_ns = data, self._stamp()
                node.mtime_ns = self._truncated(node.ctime_ns if mtime_ns is None else mtime_ns)
                if self.permissions:
                    node.mode = mode
                return
            if found is not None:
                self._unplace(path)
            self._place(path, self._new(FILE, data, None, mtime_ns, mode))

    def touch(self, path: str, mtime_ns: int) -> None:
        """Give ``path`` another mtime (truncated to the precision), its content unchanged."""
        with self._mutex:
            found = self._find(path)
            if found is None:
                raise replica_error(errno.ENOENT, "no such file or folder", path)
            found[1].ctime_ns = self._stamp()
            found[1].mtime_ns = self._truncated(mtime_ns)

    def put_symlink(self, path: str, target: str) -> None:
        """Make a symlink (even where the replica keeps none: some other program made it)."""
        with self._mutex:
            self.put_dir(parent(path))
            if self._find(path) is not None:
                self._unplace(path)
            self._place(path, self._new(SYMLINK, b"", target, None, 0o777))

    def remove(self, path: str) -> None:
        """Remove ``path`` and everything below it (``rm -r``)."""
        with self._mutex:
            key = self._key(path)
            for k in [k for k in self._paths if k.startswith(f"{key}/")]:
                del self._paths[k]
            self._unplace(path)

    def read(self, path: str) -> bytes:
        """The bytes of the file at ``path`` (``FileNotFoundError`` when there is none)."""
        with self._mutex:
            found = self._find(path)
            if found is None or found[1].kind != FILE:
                raise replica_error(errno.ENOENT, "no such file", path)
            return found[1].data

    def paths(self) -> list[str]:
        """Every path in the tree, as stored (case kept), in byte order."""
        with self._mutex:
            return sorted((p for p, _ in self._paths.values()), key=sort_key)

    # -- reading ---------------------------------------------------------------------------------------
    def features(self) -> Features:
        return Features(mtime_ns_precision=self.precision, case_sensitive=self.case_sensitive,
                        symlinks=self.symlinks, permissions=self.permissions, hash_kinds=("blake3",))

    def describe(self) -> str:
        return f"memory:{self.name}"

    def address(self) -> str:
        """``memory:<name>#<n>``, ``n`` one per tree made in this process: a tree in memory lives as long
        as its object, so two trees of one name are two places (a two-way base of one is not the other's)."""
        return f"memory:{self.name}#{self._serial}"

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        with self._mutex:
            if self._root is None:
                raise UsageError(f"no such directory: {self.describe()}", "check the path")
            started = time.time_ns()
            entries: dict[str, Entry] = {}
            stack: list[tuple[str, Matcher]] = [("", rules.matcher())]
            while stack:
                folder, matcher = stack.pop()
                names = self._children(folder)
                ignore_file = join(folder, IGNORE_FILE)
                if rules.ignore_files and ignore_file in names:
                    node = self._paths[self._key(ignore_file)][1]
                    if node.kind == FILE:
                        matcher = matcher.with_ignore_file(folder, node.data.decode("utf-8", "surrogateescape"))
                for path in names:
                    node = self._paths[self._key(path)][1]
                    if path.rpartition("/")[2] == META_DIR or (matcher.active and
                                                               matcher.ignored(path, node.kind == DIR)):
                        continue
                    e = node.entry()
                    entries[path] = e._replace(digest=blake3.blake3(node.data).digest()) if digests and \
                        node.kind == FILE else e
                    if node.kind == DIR:
                        stack.append((path, matcher))
            header = IndexHeader(root=self.describe(), scanned_ns=started, digests=digests)
            return Index(entries, header, root=self._root.entry())

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        """What a full scan records of each ``(folder, deep)``: the folder's entry and its children (all
        below with ``deep``). A folder below a file or symlink contributes nothing; on the destination it
        is also a problem and unreadable, as for a local tree."""
        whole = self.scan(rules, digests, side)
        with self._mutex:
            return subtrees(whole, dirs, side, self._blocked)

    def _blocked(self, folder: str) -> bool:
        try:
            self._find(folder)
        except NotADirectoryError:
            return True
        return False

    # -- the root ----------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self._root is not None

    def is_empty(self) -> bool:
        with self._mutex:
            return not self._children("") if self._root is not None else True

    def create_root(self) -> None:
        with self._mutex:
            if self._root is None:
                self._root = self._new(DIR, b"", None, None, 0o755)

    def remove_root(self) -> None:
        """Take the whole tree away (an unmounted disk, a share gone); :meth:`create_root` makes it anew."""
        with self._mutex:
            self._root = None
            self._paths.clear()
            self.meta.clear()

    @contextmanager
    def lock(self) -> Iterator[None]:
        with self._mutex:
            if self.locked:
                raise BusyError(f"another syncline run is writing into {self.describe()}",
                                "wait for it to finish, then run again")
            self.locked = True
        try:
            with self.session():
                yield
        finally:
            self.locked = False

    @contextmanager
    def session(self) -> Iterator[None]:
        self.sessions += 1
        try:
            yield
        finally:
            self.sessions -= 1

    def close(self) -> None:
        for staged in list(self.staged):
            staged.discard()

    def read_meta(self, name: str) -> str | None:
        with self._mutex:
            return self.meta.get(name) if self._root is not None else None

    def write_meta(self, name: str, text: str) -> None:
        with self._mutex:
            if self._root is None:
                raise replica_error(errno.ENOENT, "the root is not there", self.describe())
            self.meta[name] = text

    def stat(self, path: str) -> Entry | None:
        with self._mutex:
            found = self._find(path)
            return found[1].entry() if found is not None else None

    def stat_many(self, paths: Sequence[str]) -> list[Entry | None]:
        with self._mutex:
            return [self.stat(p) for p in paths]

    def digest(self, path: str, kind: str = "blake3") -> bytes:
        """The BLAKE3 digest of the file at ``path`` (computed here, as a server would)."""
        if kind != "blake3":
            raise ValueError(f"no {kind} digests here (only blake3)")
        return blake3.blake3(self.read(path)).digest()

    @contextmanager
    def open_file(self, path: str) -> Iterator[MemorySourceFile]:
        with self._mutex:
            found = self._find(path)
            if found is None:
                raise replica_error(errno.ENOENT, "no such file", path)
            node = found[1]
            if node.kind == SYMLINK:
                raise replica_error(errno.ELOOP, "a symlink (not followed)", path)
            if node.kind != FILE:
                raise replica_error(errno.EISDIR, "not a regular file any more", path)
            source = MemorySourceFile(node.entry(), node, node.data)
        yield source

    # -- writing ---------------------------------------------------------------------------------------
    def stage_file(self, path: str, source: SourceFile) -> MemoryStaged:
        """Read ``source`` whole into memory, with its mode and mtime (truncated to the precision)."""
        with self._mutex:
            self._parent_dir(path)
        data = read_source(source)
        e = source.entry
        with self._mutex:
            staged = MemoryStaged(path, len(data), self, self._new(FILE, data, None, e.mtime_ns, e.mode))
            self.staged.add(staged)
            return staged

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        assert isinstance(staged, MemoryStaged) and staged.owner is self
        if staged.discarded:
            raise replica_error(errno.ENOENT, "the staged copy was discarded", staged.path)
        staged.discard()
        with self._mutex:
            return self._told(self._install(staged.path, staged.node, expect), staged.path)

    def _told(self, outcome: Outcome, path: str) -> Outcome:
        if not (self.policy.report_ids and outcome.done):
            return outcome
        found = self._find(path)
        return Outcome(outcome.done, outcome.note, outcome.trashed, found[1].file_id if found else 0, outcome.notice)

    def _install(self, path: str, node: _Node, expect: Entry | None) -> Outcome:
        """Put ``node`` at ``path``; what it replaces is kept in the trash unless it is exactly ``expect``
        (then the trash setting decides). With ``keep_changed`` a changed destination stays in place."""
        found = self._find(path)
        current = found[1].entry() if found is not None else None
        if current is not None and current.kind == DIR:
            freed = self._free_dir(path, expect)
            if not freed.done:
                return freed
            current = None
        if current is None:
            self._place(path, node)
            return Outcome(True)
        if not _as_expected(current, expect):
            if self.policy.keep_changed:
                return Outcome(False, _KEPT_NOTE)
            self._to_trash(path)
            self._place(path, node)
            return Outcome(True, _CHANGED_NOTE, trashed=True)
        self._dispose(path)
        self._place(path, node)
        return Outcome(True, trashed=self.policy.trash)

    def _free_dir(self, path: str, expect: Entry | None) -> Outcome:
        """Remove the folder at ``path`` only if the plan expected a folder and it is empty."""
        if expect is None or expect.kind != DIR:
            return Outcome(False, "a directory appeared here since the scan; left alone")
        if self._children(path):
            return Outcome(False, "cannot replace the directory: Directory not empty")
        self._unplace(path)
        return Outcome(True)

    def _dispose(self, path: str) -> Outcome:
        if self.policy.trash:
            self._to_trash(path)
            return Outcome(True, trashed=True)
        self._unplace(path)
        return Outcome(True)

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        with self._mutex:
            found = self._find(path)
            if found is not None and found[1].kind == DIR:
                return Outcome(True, file_id=found[1].file_id if self.policy.report_ids else 0)
            if found is not None:
                current = found[1].entry()
                if expect is None or not current.unchanged_since(expect):
                    if self.policy.keep_changed:
                        return Outcome(False, _KEPT_NOTE)
                    self._to_trash(path)
                    changed = Outcome(True, _CHANGED_NOTE, trashed=True)
                else:
                    changed = self._dispose(path)
            else:
                changed = Outcome(True)
            # Owner-writable until the final meta pass gives the real mode, as a local tree does.
            self._place(path, self._new(DIR, b"", None, None, 0o700))
            return self._told(changed, path)

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        assert entry.target is not None
        if not self.symlinks:
            raise replica_error(errno.EPERM, "this replica keeps no symbolic links", path)
        with self._mutex:
            self._parent_dir(path)
            node = self._new(SYMLINK, b"", entry.target, entry.mtime_ns, 0o777)
            return self._told(self._install(path, node, expect), path)

    def make_link(self, path: str, entry: Entry, first: str, expect: Entry | None) -> Outcome:
        with self._mutex:
            found = self._find(first)
            if found is None or found[1].kind != FILE or len(found[1].data) != entry.size \
                    or found[1].mtime_ns != self._truncated(entry.mtime_ns):
                return Outcome(False, f"not linked: {first} is not the file to link to (not copied?); "
                                      "left for the next run")
            node = found[1]
            here = self._find(path)
            if here is not None and here[1] is node:
                return Outcome(True)
            node.ctime_ns = self._stamp()  # a new name changes the link count
            return self._told(self._install(path, node, expect), path)

    def delete(self, path: str, expect: Entry) -> Outcome:
        with self._mutex:
            found = self._find(path)
            if found is None:
                return Outcome(True)
            current = found[1].entry()
            if current.kind != expect.kind or (current.kind != DIR and not current.unchanged_since(expect)):
                return Outcome(False, "changed since the scan; not deleted")
            if current.kind == DIR:
                if self._children(path):
                    return Outcome(False, "not deleted: the directory holds entries the scan did not see")
                self._unplace(path)
                return Outcome(True)
            return self._dispose(path)

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        """Rename ``src`` (with everything below it) to ``dst`` if ``src`` is still ``expect`` and nothing
        is at ``dst``; otherwise leave both alone."""
        with self._mutex:
            found = self._find(src)
            if found is None:
                return Outcome(False, "vanished since the scan; not moved")
            current = found[1].entry()
            if current.kind != expect.kind or (current.kind != DIR and not current.unchanged_since(expect)):
                return Outcome(False, "changed since the scan; not moved")
            there = self._find(dst)
            if there is not None and there[1] is not found[1]:
                return Outcome(False, f"not moved: {dst} exists")
            self._parent_dir(dst)
            dst = self._spelled(dst)
            old_key = self._key(src)
            below = [(k, p) for k, (p, _) in self._paths.items() if k.startswith(f"{old_key}/")]
            node = self._unplace(src)
            for k, p in below:
                _, child = self._paths.pop(k)
                moved = dst + p[len(found[0]) :]
                self._paths[self._key(moved)] = (moved, child)
            node.ctime_ns = self._stamp()
            self._place(dst, node)
            return Outcome(True)

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        """Give ``path`` the mode (when permissions are kept) and mtime of ``entry``; a file or symlink
        that changed since ``expect`` is left as it is. Owner, group and extended attributes are not kept."""
        with self._mutex:
            found = self._find(path)
            if entry.kind != DIR and expect is not None and (found is None or not found[1].entry().unchanged_since(
                    expect)):
                return Outcome(False, "changed since the scan; left as it is")
            if found is None:
                raise replica_error(errno.ENOENT, "no such file or folder", path)
            node = found[1]
            if self.permissions and node.kind != SYMLINK:
                node.mode = entry.mode
            node.mtime_ns = self._truncated(entry.mtime_ns)
            node.ctime_ns = self._stamp()
            return Outcome(True)

    def barrier(self) -> None:
        """Nothing to make durable: memory is as durable as it gets here."""
