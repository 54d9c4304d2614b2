"""LocalReplica: a directory on a local file system.

Writes follow DESIGN section 4: every file is written to a temp name of this run (``.syncline-tmp-<run>-<n>``,
see ``runs.py``) in its final directory, given its mode and mtime, and renamed into place only after a
durability barrier (``syncfs`` of the file system, once per batch: far cheaper than an fsync per file, with
the same guarantee that no real name ever points at unwritten data). Before a rename, delete or metadata
change the destination is re-checked against the entry the plan saw; a destination that moved on is moved
to the trash (kept), never overwritten in place.

Every read and write goes through :class:`~.confined.Confined`: directory descriptors opened from the root
without following symlinks, so a folder swapped for a symlink during a run never leads outside the tree.

Errors leave every public method as the :mod:`.errors` family (:class:`~.errors.MapsOSErrors` maps them in
one place); inside, the code sees the OSErrors the system gives.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import stat
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ...core.entry import DIR, FILE, SYMLINK, Attrs, Entry, FileId, Keep, Xattrs, kind_of_mode
from ...core.hashing import F_SETLEASE, F_SETSIG, ReadGuard, digest_fd
from ...core.ignore import Rules
from ...core.index import Index
from ...core.paths import META_DIR, REPLACED, STAGED, parent, run_temp
from ...core.scan import find_inodes, read_xattrs, scan, scan_dirs
from ..crashpoints import crash_point
from ..marker import ensure_meta_dir_in, read_meta_in, write_meta_if_in, write_meta_in
from ..state import root_lock
from ..trash import Trash
from .abilities import commit_each
from .confined import Confined, write_all
from .errors import Changed, MapsOSErrors, ReplicaError, judged
from .replica import Features, Outcome, SourceFile, Staged, WritePolicy
from .runs import RUNS, RunRecord, finish_dead_runs

COPY_CHUNK = 64 << 20
COPY_BUFFER = 1 << 20  # a stream's read size
SMALL_FILE = 1 << 20
_CHANGED_NOTE = "changed since the scan; the destination's version was moved to the trash"
_KEPT_NOTE = "changed since the scan; both versions kept, the next run reconciles them"
_libc = ctypes.CDLL(None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)
_sync_file_range = getattr(_libc, "sync_file_range", None)
_SYNC_FILE_RANGE_WRITE = 2
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY  # a fifo swapped in never blocks the open


def entry_of_stat(st: os.stat_result, target: str | None = None) -> Entry | None:
    kind = kind_of_mode(st.st_mode)
    if kind is None:
        return None
    size = st.st_size if kind == FILE else len(os.fsencode(target)) if target is not None else 0
    return Entry(kind, size, st.st_mtime_ns, st.st_mode & 0o7777, target=target,
                 file_id=st.st_ino, ctime_ns=st.st_ctime_ns)


def open_regular_in(tree: Confined, path: str) -> tuple[int, os.stat_result]:
    """Open the regular file at ``path`` in ``tree`` for reading (nothing on the way followed); returns
    (fd, fstat). ``OSError`` when it is not a regular file (any more)."""
    fd = tree.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file any more", path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


class LocalSourceFile:
    """An open local file with its stat at open time; ``changed()`` tells whether a read may be torn
    (:class:`~syncline.core.hashing.ReadGuard`: a file written in the last seconds is read under a lease).

    With a ``keep`` that keeps attributes, ``entry.attrs`` holds them (extended attributes read from the
    open file). ``holes`` tells whether the file has fewer blocks than its size needs (sparse)."""

    def __init__(self, fd: int, st: os.stat_result, keep: Keep | None = None) -> None:
        self.fd = fd
        self.guard = ReadGuard(fd, st)
        e = entry_of_stat(st)
        assert e is not None
        if keep is not None and keep.attrs:
            xs = read_xattrs(lambda: os.listxattr(fd), lambda n: os.getxattr(fd, n), keep) if keep.any_xattrs \
                else ()
            e = e._replace(attrs=Attrs(st.st_uid, st.st_gid, xs))
        self.entry = e
        self.holes = st.st_blocks * 512 < st.st_size

    def fileno(self) -> int:
        return self.fd

    def readinto(self, buffer: memoryview) -> int:
        return os.readv(self.fd, [buffer])

    def changed(self) -> bool:
        return self.guard.torn()


@dataclass
class LocalStaged:
    """A complete temp copy at ``temp`` (a path in ``owner``'s tree) waiting to become ``path``."""

    path: str
    size: int
    temp: str
    owner: LocalReplica
    file_id: int = 0  # the temp file's inode, which a rename keeps
    notice: str = ""  # attributes the file system refused (the file is written all the same)

    def discard(self) -> None:
        self.owner.drop_temp(self.temp)


def copy_fd(src: int, dst: int, size: int, holes: bool = False) -> None:
    """Copy everything from ``src`` to ``dst``: small files with one read and write (fewer system calls
    than ``copy_file_range`` needs), large ones in the kernel when it can (``size`` is the expected size).
    ``holes`` (the source is sparse) copies only its data ranges, so the holes stay holes."""
    if holes and copy_sparse(src, dst):
        return
    if size < SMALL_FILE:
        data = os.read(src, size + 1)
        write_all(dst, data)
        if len(data) <= size:
            # All of it, unless it changes under us: the caller compares fstat before and after.
            return
    try:
        done = 0
        while True:
            n = os.copy_file_range(src, dst, COPY_CHUNK)
            if n == 0:
                return
            _start_writeback(dst, done, n)
            done += n
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF):
            raise
    while True:
        block = os.read(src, 1 << 20)
        if not block:
            return
        write_all(dst, block)


def copy_stream(source: SourceFile, dst: int, size: int) -> None:
    """Copy everything ``source`` yields to ``dst``, in blocks (``size`` is the expected size: a small file
    takes one buffer of its size, and one more read to see its end)."""
    buf = bytearray(min(size + 1, COPY_BUFFER))
    view = memoryview(buf)
    while True:
        n = source.readinto(view)
        if not n:
            return
        write_all(dst, view[:n])


def copy_sparse(src: int, dst: int) -> bool:
    """Copy the data ranges of ``src`` (``SEEK_DATA``/``SEEK_HOLE``) to the same offsets of the empty
    ``dst`` and give it ``src``'s size, so the holes stay holes (``copy_file_range`` fills them on most file
    systems). False, with nothing written, when the file system cannot tell data from holes."""
    end = os.fstat(src).st_size
    pos = 0
    try:
        while pos < end:
            try:
                start = os.lseek(src, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole from here on
                    break
                raise
            stop = os.lseek(src, start, os.SEEK_HOLE)
            while start < stop:
                block = os.pread(src, min(stop - start, COPY_CHUNK), start)
                if not block:
                    break
                view = memoryview(block)
                while view:
                    n = os.pwrite(dst, view, start)
                    view = view[n:]
                    start += n
            pos = stop
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP) and pos == 0:
            os.lseek(src, 0, os.SEEK_SET)  # the plain copy reads from the start
            return False
        raise
    os.ftruncate(dst, end)
    return True


def sync_xattrs(names: Callable[[], list[str]], get: Callable[[str], bytes], put: Callable[[str, bytes], None],
                remove: Callable[[str], None], want: Xattrs, keep: Keep) -> str:
    """Make the extended attributes ``keep`` keeps equal ``want`` through the four calls (of a path or a
    descriptor); returns a notice naming those the file system refused ("" when none was refused)."""
    have = dict(read_xattrs(names, get, keep))
    wanted = dict(want)
    refused: list[str] = []
    for name in sorted(have.keys() - wanted.keys()):
        try:
            remove(name)
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                refused.append(f"{name} ({exc.strerror})")
    for name, value in want:
        if have.get(name) != value:
            try:
                put(name, value)
            except OSError as exc:
                refused.append(f"{name} ({exc.strerror})")
    return f"extended attributes or ACLs not kept: {', '.join(refused)}" if refused else ""


def _judged(index: Index) -> Index:
    """``index`` with its problems judged retryable or not by their errno (see :func:`~.errors.judged`)."""
    return replace(index, problems=judged(index.problems)) if any(p.errno for p in index.problems) else index


def _join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a copied range to disk now (``sync_file_range`` WRITE, which does
    not wait), so the durability barrier before the rename finds most of a big file written already."""
    if _sync_file_range is not None:
        _sync_file_range(fd, ctypes.c_longlong(offset), ctypes.c_longlong(length), _SYNC_FILE_RANGE_WRITE)


class LocalReplica(MapsOSErrors):
    """A local directory tree, written as its :class:`~.replica.WritePolicy` says (``policy.trash`` False
    destroys replaced data instead of keeping it).

    A destination found changed since the scan is never lost: by default it goes to the trash and the
    planned write goes ahead (one-way sync: the source wins). With ``policy.keep_changed`` (two-way sync)
    the write is not done and the changed version stays in place; the next run sees both changes.

    Writes belong in :meth:`lock`: entering it finishes what killed runs left in the tree. :meth:`close`
    ends the run: it removes this run's record when nothing of the run is left.
    """

    def __init__(self, root: str | os.PathLike[str], *, policy: WritePolicy | None = None,
                 keep: Keep | None = None, case_probe: Callable[[Path], bool] | None = None) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self._root = str(self.root)
        self.policy = policy or WritePolicy()
        # What the scans record and the writes set beyond content, mode and mtime (owner, group, xattrs).
        self.keep = keep or Keep()
        self._euid = os.geteuid()
        self._new_gids: dict[str, int] = {}  # folder -> the group a new file there gets
        self.tree = Confined(self._root)
        self._trash: Trash | None = None
        self._run: RunRecord | None = None
        self._made_lock = threading.Lock()  # copy threads ask for the run's record and trash at once
        self._made_meta = False  # this object made .syncline (and removes it again if it stays empty)
        self._sessions = 0
        # Tells whether the root's file system ignores case (``marker.case_insensitive``); asked once, by
        # the first ``features()``. Without one the tree is taken as case-sensitive, unasked: one-way sync
        # and the watch do not plan by case, and asking may write a probe file.
        self._case_probe = case_probe
        self._case_sensitive: bool | None = None if case_probe is not None else True

    # -- reading ---------------------------------------------------------------------------------------
    def features(self) -> Features:
        if self._case_sensitive is None:
            with self._made_lock:
                if self._case_sensitive is None and self._case_probe is not None:
                    self._case_sensitive = not self._case_probe(self.root)
        return Features(case_sensitive=self._case_sensitive is not False, owner=self._euid == 0,
                        hash_kinds=("blake3",), scan_in_child=True, round_trips=False)

    def describe(self) -> str:
        return str(self.root)

    def address(self) -> str:
        """The root's real absolute path (symlinks resolved): the same folder is one address however it
        is reached, as two-way bases were keyed before replicas had addresses."""
        return os.path.realpath(self.root)

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        self.tree.refresh()
        return _judged(scan(self.root, rules=rules, digests=digests, side=side, keep=self.keep))

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        self.tree.refresh()
        return _judged(scan_dirs(self.root, dirs, rules=rules, side=side, digests=digests, keep=self.keep))

    def scan_children(self, children: Mapping[str, Collection[str]], rules: Rules, side: str,
                      digests: bool = False) -> Index:
        """Each folder's entry and its named children (:class:`~.replica.ChildScanner`): one ``lstat`` per
        name, no listing."""
        self.tree.refresh()
        return _judged(scan_dirs(self.root, [(folder, False) for folder in children], rules=rules, side=side,
                                 digests=digests, keep=self.keep, names=children))

    def find_file_ids(self, file_ids: Collection[FileId]) -> dict[FileId, list[str]] | None:
        """Where the tree holds these inodes (:class:`~.replica.FileIdFinder`): its folders' listings, with
        no stat per file (100,000 files: about a tenth of a scan)."""
        self.tree.refresh()
        found = find_inodes(self.root, (i for i in file_ids if isinstance(i, int)))
        return None if found is None else {inode: paths for inode, paths in found.items()}

    # -- the root ----------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.root.is_dir()

    def is_empty(self) -> bool:
        with os.scandir(self.root) as it:
            return all(d.name == META_DIR for d in it)

    def create_root(self) -> None:
        try:
            self.root.mkdir(exist_ok=True)
        except FileNotFoundError:
            if self.root.parent.is_dir():  # /proc, /sys: the parent is there, its file system makes no folders
                raise FileNotFoundError(errno.ENOENT, f"cannot make a folder in {self.root.parent} (its file "
                                        "system refuses new folders)", str(self.root)) from None
            raise FileNotFoundError(errno.ENOENT, f"its parent {self.root.parent} does not exist (not mounted?)",
                                    str(self.root)) from None
        self.tree.refresh()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the exclusive right to write into this tree (``BusyError`` if another run holds it), in a
        :meth:`session`. Leaving ends the run's record (see :meth:`end_run`); the trash folder stays this
        object's until :meth:`close` (a whole watch is one run with one trash folder)."""
        with root_lock(self.root), self.session():
            self.tree.refresh()
            self._new_gids.clear()  # folders may have changed between a watch's pushes
            self._finish_dead_runs()
            try:
                yield
            finally:
                self.end_run()

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the tree's descriptors open while the block runs (one sync, one push); they are let go at
        its end. Outside a session every call lets them go when it returns: between a watch's pushes
        syncline holds nothing open in a tree, so its disk can be unmounted or remounted read-only."""
        self._sessions += 1
        try:
            yield
        finally:
            self._sessions -= 1
            self._idle()

    def _idle(self) -> None:
        if not self._sessions:
            self.tree.close()

    def _finish_dead_runs(self) -> None:
        """Best effort: what cannot be finished now (a read-only tree) a later run finishes; until then
        the dead run's temp names stay syncline's (recorded), so nothing of them is synced."""
        try:
            finish_dead_runs(self.tree, lambda temp, path: self.trash.adopt(temp, path))
        except OSError:
            pass

    def end_run(self) -> None:
        """End this run's record in the tree (see :class:`~.runs.RunRecord`), and leave no ``.syncline``
        behind that this run made and left empty. The replica can start another run afterwards."""
        run, self._run = self._run, None
        self._new_gids.clear()
        if run is not None and not run.close():
            return
        for folder in (RUNS, META_DIR) if self._made_meta else (RUNS,):
            try:
                st = self.tree.lstat("")
                self.tree.rmdir(folder)
                self.tree.utime("", st.st_mtime_ns, st.st_atime_ns)
            except FileNotFoundError:
                continue
            except OSError:
                return  # not empty (a trash, a marker, another run's record): it stays
        self._made_meta = False

    def close(self) -> None:
        """End the run and let go of the tree's descriptors."""
        self.end_run()
        self.tree.close()

    def ensure_meta_dir(self) -> None:
        """``.syncline`` in this tree, made if needed (see :func:`~syncline.engine.marker.ensure_meta_dir_in`)."""
        if ensure_meta_dir_in(self.tree):
            self._made_meta = True

    def read_meta(self, name: str) -> str | None:
        self.tree.refresh()  # the root may have been replaced or moved away since it was opened
        try:
            return read_meta_in(self.tree, name)
        finally:
            self._idle()

    def write_meta(self, name: str, text: str) -> None:
        """Write ``.syncline/<name>`` atomically and durably."""
        try:
            write_meta_in(self.tree, name, text)
        finally:
            self._idle()
        self._made_meta = False  # it holds something now: it stays

    def write_meta_if(self, name: str, text: str, expect: str | None) -> bool:
        """Write ``.syncline/<name>`` only if it holds ``expect`` (see :func:`~..marker.write_meta_if_in`)."""
        self.tree.refresh()  # the root may have been replaced or moved away since it was opened
        try:
            done = write_meta_if_in(self.tree, name, text, expect)
        finally:
            self._idle()
        self._made_meta = False
        return done

    def abspath(self, path: str) -> str:
        """The absolute path of ``path`` (for messages: every access goes through ``self.tree``)."""
        return f"{self._root}/{path}" if path else self._root

    def stat(self, path: str) -> Entry | None:
        """The entry at ``path`` (not followed); None when absent. ``NotADirectoryError`` when a parent is
        not a real folder (a symlink or a file in the way): then nothing can be said of ``path``, and a
        delete must not count it as gone."""
        try:
            st = self.tree.lstat(path)
            target = self.tree.readlink(path) if kind_of_mode(st.st_mode) == SYMLINK else None
        except FileNotFoundError:
            return None
        finally:
            self._idle()
        return entry_of_stat(st, target)

    def being_written(self, path: str) -> bool:
        """Whether a process has the file at ``path`` open for writing right now. Linux refuses a read
        lease (``F_SETLEASE``) on such a file, and only on such a file; the lease taken is given back at
        once. False when it cannot be told (not a regular file, not the owner without CAP_LEASE, a file
        system without leases such as NFS): then the copy's own torn-read check is what guards it."""
        try:
            fd = self.tree.open(path, _READ_FLAGS)
        except OSError:
            return False
        finally:
            self._idle()
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            # A writer opening the file while the lease is held makes the kernel signal this process:
            # SIGIO by default, which would end it. SIGURG is ignored unless handled.
            fcntl.fcntl(fd, F_SETSIG, signal.SIGURG)
            fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
        except OSError as exc:
            return exc.errno == errno.EAGAIN
        finally:
            os.close(fd)  # gives the lease back too
        return False

    @contextmanager
    def open_file(self, path: str) -> Iterator[LocalSourceFile]:
        try:
            fd, st = open_regular_in(self.tree, path)
        finally:
            self._idle()
        try:
            yield LocalSourceFile(fd, st, self.keep)
        finally:
            os.close(fd)

    def stat_many(self, paths: Sequence[str]) -> list[Entry | None]:
        """:meth:`stat` of each path, in one session (the folder descriptors stay open between them)."""
        with self.session():
            return [self.stat(p) for p in paths]

    def digest(self, path: str, kind: str = "blake3") -> bytes:
        """The BLAKE3 digest of the file at ``path``; ``Changed`` when it changed while being read."""
        if kind != "blake3":
            raise ValueError(f"no {kind} digests here (only blake3)")
        with self.open_file(path) as source:
            value = digest_fd(source.fd, source.entry.size)
            if source.changed():
                raise Changed(errno.EAGAIN, "changed while being read", path)
        return value

    # -- temp names ------------------------------------------------------------------------------------
    @property
    def trash(self) -> Trash:
        with self._made_lock:
            if self._trash is None:
                self._trash = Trash(self.tree, self.ensure_meta_dir)
            return self._trash

    def _record(self) -> RunRecord:
        """This run's record, made on first use: one per run, whichever copy thread asks first."""
        with self._made_lock:
            if self._run is None:
                self._run = RunRecord(self.tree, self.ensure_meta_dir)
            return self._run

    def new_temp(self, folder: str, kind: str = STAGED) -> str:
        """A fresh temp name of this run in ``folder``, recorded (see ``runs.py``); the caller makes it
        and calls :meth:`made_temp`."""
        return self._record().temp(folder, kind)

    def made_temp(self, temp: str) -> None:
        self._record().made(temp)

    def drop_temp(self, temp: str) -> None:
        """Remove this run's temp file ``temp`` (gone already is fine)."""
        try:
            self.tree.unlink(temp)
        except FileNotFoundError:
            pass
        self._gone(temp)

    def _gone(self, temp: str) -> None:
        if self._run is not None:
            self._run.gone(temp)

    def _trash_temp(self, temp: str, path: str) -> None:
        """Move this run's temp ``temp`` (holding a version of ``path``) into the trash as ``path``."""
        self.trash.adopt(temp, path)
        self._gone(temp)

    # -- writing ---------------------------------------------------------------------------------------
    def stage_file(self, path: str, source: SourceFile) -> LocalStaged:
        """Copy ``source`` to a temp file beside ``path`` with the source's mode and mtime."""
        temp = self.new_temp(parent(path))
        fd = self.tree.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.made_temp(temp)
        try:
            # An FdSourceFile (local to local): the kernel copies. Asked by attribute: isinstance on a
            # runtime protocol costs tens of microseconds on Python 3.11, more than a small file's copy.
            fileno = getattr(source, "fileno", None)
            if fileno is not None:
                copy_fd(fileno(), fd, source.entry.size, getattr(source, "holes", False))
            else:
                copy_stream(source, fd, source.entry.size)
            e = source.entry
            notice = ""
            if e.attrs is not None:
                notice = self._give_attrs(temp, e.attrs, None, fd)
            os.fchmod(fd, e.mode)
            os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
            file_id = os.fstat(fd).st_ino if self.policy.report_ids else 0
        except BaseException:
            os.close(fd)
            self.drop_temp(temp)
            raise
        os.close(fd)
        return LocalStaged(path, source.entry.size, temp, self, file_id, notice)

    def _new_gid(self, folder: str) -> int:
        """The group a file made in ``folder`` gets: the folder's own when it is set-group-ID, else the
        running user's (one lstat per folder and run)."""
        gid = self._new_gids.get(folder)
        if gid is None:
            st = self.tree.lstat(folder)
            gid = st.st_gid if st.st_mode & stat.S_ISGID else os.getegid()
            if len(self._new_gids) > 4096:
                self._new_gids.clear()
            self._new_gids[folder] = gid
        return gid

    def _give_attrs(self, path: str, want: Attrs, have: Attrs | None, fd: int = -1) -> str:
        """Give ``path`` (or the open ``fd`` of it) the extended attributes, owner and group of ``want``
        that ``self.keep`` keeps, where they differ from ``have`` (None: a file just made). Owner and group
        go before the mode (a chown clears set-user-ID bits). Returns a notice for what the file system
        refused: the item is written all the same."""
        keep = self.keep
        if have is None:
            # A new file: owned by us, in the group of its folder. Skip the call when that is right.
            if path:
                have = Attrs(self._euid, self._new_gid(parent(path)), want.xattrs if not keep.any_xattrs else ())
            else:
                st = self.tree.lstat("")
                have = Attrs(st.st_uid, st.st_gid, want.xattrs if not keep.any_xattrs else ())
            fresh = True
        else:
            fresh = False
        changes = keep.changes(want, have)
        notices = []
        if "a" in changes or "x" in changes or (fresh and keep.any_xattrs):
            if fd >= 0:
                notices.append(sync_xattrs(lambda: os.listxattr(fd), lambda n: os.getxattr(fd, n),
                                           lambda n, v: os.setxattr(fd, n, v), lambda n: os.removexattr(fd, n),
                                           want.xattrs, keep))
            else:
                tree = self.tree
                notices.append(sync_xattrs(lambda: tree.listxattr(path), lambda n: tree.getxattr(path, n),
                                           lambda n, v: tree.setxattr(path, n, v),
                                           lambda n: tree.removexattr(path, n), want.xattrs, keep))
        if "o" in changes or "g" in changes:
            uid = keep.uid(want) if "o" in changes else -1
            gid = keep.gid(want) if "g" in changes else -1
            try:
                if fd >= 0:
                    os.fchown(fd, uid, gid)
                else:
                    self.tree.chown(path, uid, gid)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                notices.append(f"owner and group not kept: {exc.strerror}")
        return _join_notes(*notices)

    def _free_dir(self, path: str, expect: Entry | None) -> Outcome:
        """Remove the directory at ``path`` so something else can take its place.

        Only an empty directory the plan expected is removed (rmdir refuses anything else): nothing is lost.
        """
        if expect is None or expect.kind != DIR:
            return Outcome(False, "a directory appeared here since the scan; left alone")
        try:
            self.tree.rmdir(path)
        except OSError as exc:
            return Outcome(False, f"cannot replace the directory: {exc.strerror}")
        return Outcome(True)

    def _remove(self, path: str, expect: Entry | None) -> Outcome:
        """Empty ``path`` (for a directory to take its place); what is not ``expect`` is kept in the trash."""
        current = self.stat(path)
        if current is None:
            return Outcome(True)
        if current.kind == DIR:
            return self._free_dir(path, expect)
        if expect is None or not current.unchanged_since(expect):
            if self.policy.keep_changed:
                return Outcome(False, _KEPT_NOTE)
            self.trash.move_in(path)
            return Outcome(True, _CHANGED_NOTE, trashed=True)
        return self._dispose(path)

    def _dispose(self, path: str) -> Outcome:
        """Take the file or symlink at ``path`` away: into the trash, or destroyed with ``trash=False``."""
        if self.policy.trash:
            self.trash.move_in(path)
            return Outcome(True, trashed=True)
        self.tree.unlink(path)
        return Outcome(True)

    def _install(self, temp: str, path: str, expect: Entry | None) -> Outcome:
        """Put the complete ``temp`` at ``path`` atomically and dispose of what it replaces.

        The replaced file is swapped out in the same step (``RENAME_EXCHANGE``) and checked afterwards:
        unless it is exactly ``expect`` it is kept in the trash, whatever the trash setting. Before the
        swap, ``temp`` takes a REPLACED name (recorded with ``path``): from the swap on it holds the user's
        old version, and a run killed right then leaves it to the next run to move into the trash, never to
        delete. Without kernel support the check comes first and a plain rename follows. ``temp`` is gone
        when this returns.
        """
        tree = self.tree
        done = False
        try:
            if expect is None:
                # A new file: RENAME_NOREPLACE checks for us that nothing appeared, no stat needed.
                try:
                    if tree.rename_noreplace(temp, path):
                        done = True
                        self._gone(temp)
                        return Outcome(True)
                except FileExistsError:
                    pass
            for _ in range(3):
                current = self.stat(path)
                if current is not None and current.kind == DIR:
                    freed = self._free_dir(path, expect)
                    if not freed.done:
                        return freed
                    current = None
                if current is None:
                    try:
                        if not tree.rename_noreplace(temp, path):
                            tree.rename(temp, path)
                    except FileExistsError:
                        continue  # something appeared meanwhile: look again
                    done = True
                    self._gone(temp)
                    return Outcome(True)
                temp = self._as_replaced(temp, path)
                mine = tree.lstat(temp).st_ino if self.policy.keep_changed else 0
                try:
                    swapped = tree.exchange(temp, path)
                except FileNotFoundError:
                    continue  # the destination vanished meanwhile: look again
                if swapped:
                    done = True
                    crash_point("swapped")
                    return self._dispose_swapped_safely(temp, path, current, expect, mine)
                outcome = self._replace_after_check(temp, path, current, expect)
                done = True
                return outcome
            return Outcome(False, "the destination kept changing; left for the next run")
        finally:
            if not done:
                self.drop_temp(temp)

    def _as_replaced(self, temp: str, path: str) -> str:
        """``temp`` renamed to a REPLACED name of this run beside ``path``, recorded as ``path``'s."""
        kind = run_temp(temp.rpartition("/")[2])
        if kind is not None and kind[0] == REPLACED:
            return temp
        old = self.new_temp(parent(path), REPLACED)
        assert self._run is not None
        self._run.replaced(old, path)
        self.tree.rename(temp, old)
        self.made_temp(old)
        self._gone(temp)
        return old

    def _dispose_swapped_safely(self, old: str, path: str, seen: Entry, expect: Entry | None,
                                mine: int) -> Outcome:
        """:meth:`_dispose_swapped`, and if that fails, the replaced version goes back in place (ours is
        dropped: the source still has it) or, failing that, stays beside it under a visible name. ``old``
        must never be left holding it under a name that is removed as a temp file."""
        try:
            return self._dispose_swapped(old, path, seen, expect, mine)
        except OSError:
            if self._lexists(old):
                try:
                    if not self.tree.exchange(old, path):
                        raise OSError(errno.ENOTSUP, "no exchange") from None
                    self.drop_temp(old)  # ours again
                except OSError:
                    self.tree.rename(old, f"{path}.syncline-kept-{os.urandom(4).hex()}")
                    self._gone(old)
            raise

    def _lexists(self, path: str) -> bool:
        try:
            self.tree.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def _dispose_swapped(self, old: str, path: str, seen: Entry, expect: Entry | None, mine: int = 0) -> Outcome:
        # ``old`` now holds what was at ``path``; ``mine`` is the inode of the file we put there (when
        # keep_changed). A rename changes ctime, so compare the rest.
        was = self.stat(old)
        expected = (expect is not None and was is not None and was.kind == expect.kind
                    and was.size == expect.size and was.mtime_ns == expect.mtime_ns
                    and (not expect.file_id or was.file_id == expect.file_id) and was.target == expect.target)
        if not expected:
            if self.policy.keep_changed:
                try:
                    back = self.tree.exchange(old, path)
                except OSError:
                    back = False  # the path changed again meanwhile: keep the version we hold in the trash
                if back:
                    # Swapped back: the changed version is in place again. ``old`` is ours again, unless
                    # the path was written once more in between: then that write goes to the trash.
                    now = self.stat(old)
                    if now is not None and now.file_id == mine:
                        self.drop_temp(old)
                    elif now is not None:
                        self._trash_temp(old, path)
                    return Outcome(False, _KEPT_NOTE)
            self._trash_temp(old, path)
            return Outcome(True, _CHANGED_NOTE, trashed=True)
        if self.policy.trash:
            self._trash_temp(old, path)
            return Outcome(True, trashed=True)
        self.drop_temp(old)
        return Outcome(True)

    def _replace_after_check(self, temp: str, path: str, current: Entry, expect: Entry | None) -> Outcome:
        if expect is None or not current.unchanged_since(expect):
            if self.policy.keep_changed:
                self.drop_temp(temp)
                return Outcome(False, _KEPT_NOTE)
            self.trash.move_in(path)
            self.tree.rename(temp, path)
            self._gone(temp)
            return Outcome(True, _CHANGED_NOTE, trashed=True)
        if self.policy.trash:
            self.trash.link_in(path)
        self.tree.rename(temp, path)
        self._gone(temp)
        return Outcome(True, trashed=self.policy.trash)

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        assert isinstance(staged, LocalStaged)
        outcome = self._install(staged.temp, staged.path, expect)
        if outcome.done and staged.notice:
            outcome = replace(outcome, notice=staged.notice)
        return replace(outcome, file_id=staged.file_id) if outcome.done and staged.file_id else outcome

    def commit_many(self, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
        """:meth:`commit` of each item in one session, one by one: a local commit has no round trip to
        save, so this is the engine's fallback, offered so that wrappers passing calls through find it."""
        with self.session():
            return commit_each(self, items)

    def _told(self, outcome: Outcome, path: str) -> Outcome:
        """``outcome`` with the file id (inode) now at ``path``, when asked to report ids."""
        if not (self.policy.report_ids and outcome.done):
            return outcome
        try:
            return replace(outcome, file_id=self.tree.lstat(path).st_ino)
        except OSError:
            return outcome

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        current = self.stat(path)
        if current is not None and current.kind == DIR:
            return Outcome(True, file_id=current.file_id if self.policy.report_ids else 0)
        room = Outcome(True)
        if current is not None:
            room = self._remove(path, expect)  # what it held is trashed (and said so), or kept
            if not room.done:
                return room
        # Owner-writable until the final meta pass sets the real mode (children are written first).
        self.tree.mkdir(path, 0o700)
        return self._told(room, path)

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        assert entry.target is not None
        temp = self.new_temp(parent(path))
        self.tree.symlink(entry.target, temp)
        self.made_temp(temp)
        notice = ""
        try:
            if entry.attrs is not None:
                notice = self._give_attrs(temp, entry.attrs, None)
            self.tree.utime(temp, entry.mtime_ns)
        except BaseException:
            self.drop_temp(temp)
            raise
        outcome = self._told(self._install(temp, path, expect), path)
        return replace(outcome, notice=notice) if outcome.done and notice else outcome

    def make_link(self, path: str, entry: Entry, first: str, expect: Entry | None) -> Outcome:
        """Make ``path`` another name of the file at ``first`` (in this tree, never followed), which must
        be the file ``entry`` describes (copied there earlier in the run); what ``path`` held goes to the
        trash as for a copy."""
        try:
            st = self.tree.lstat(first)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != entry.size \
                or st.st_mtime_ns != entry.mtime_ns:
            return Outcome(False, f"not linked: {first} is not the file to link to (not copied?); "
                                  "left for the next run")
        current = self.stat(path)
        if current is not None and current.kind == FILE and current.file_id == st.st_ino:
            return Outcome(True)
        temp = self.new_temp(parent(path))
        self.tree.link(first, temp)
        self.made_temp(temp)
        return self._told(self._install(temp, path, expect), path)

    def delete(self, path: str, expect: Entry) -> Outcome:
        current = self.stat(path)
        if current is None:
            return Outcome(True)
        if current.kind != expect.kind or (current.kind != DIR and not current.unchanged_since(expect)):
            return Outcome(False, "changed since the scan; not deleted")
        if current.kind == DIR:
            try:
                self.tree.rmdir(path)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    return Outcome(False, "not deleted: the directory holds entries the scan did not see")
                raise
            return Outcome(True)
        return self._dispose(path)

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        """Rename ``src`` to ``dst`` (a file, symlink or whole directory) if ``src`` is still ``expect`` and
        nothing is at ``dst``; otherwise leave both alone."""
        current = self.stat(src)
        if current is None:
            return Outcome(False, "vanished since the scan; not moved")
        if current.kind != expect.kind or (current.kind != DIR and not current.unchanged_since(expect)):
            return Outcome(False, "changed since the scan; not moved")
        moved = self._rename_into(src, dst)
        if moved.done or src.casefold() != dst.casefold() or not self._same_file(src, dst):
            return moved
        # A case-only rename on a case-insensitive file system: ``dst`` "exists" because it is ``src``, and
        # rename(2) between two names of one file does nothing. Go through a name of our own beside it: not a
        # temp name (a killed run's temp files are deleted), so a crash in between leaves it visible.
        name = f".syncline-moving-{os.urandom(4).hex()}-{dst.rpartition('/')[2]}"
        head = parent(src)
        via = f"{head}/{name}" if head else name
        if len(os.fsencode(name)) > 255:
            via = via[: len(via) - len(name) + 26]
        self.tree.rename(src, via)
        moved = self._rename_into(via, dst)
        if not moved.done and not self._rename_into(via, src).done:
            return Outcome(False, f"{moved.note}; the file is kept as {via}")
        return moved

    def _same_file(self, a: str, b: str) -> bool:
        try:
            sa, sb = self.tree.lstat(a), self.tree.lstat(b)
        except OSError:
            return False
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)

    def _rename_into(self, old: str, new: str) -> Outcome:
        """Rename ``old`` to ``new`` unless something is at ``new``."""
        try:
            if not self.tree.rename_noreplace(old, new):
                if self._lexists(new):
                    return Outcome(False, f"not moved: {new} exists")
                self.tree.rename(old, new)
        except FileExistsError:
            return Outcome(False, f"not moved: {new} appeared since the scan")
        return Outcome(True)

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        if entry.kind != DIR and expect is not None:
            current = self.stat(path)
            if current is None or not current.unchanged_since(expect):
                return Outcome(False, "changed since the scan; left as it is")
        notice = ""
        if entry.attrs is not None:
            have = expect.attrs if expect is not None else None
            if entry.kind == DIR:
                self._new_gids.pop(path, None)
            try:
                notice = self._give_attrs(path, entry.attrs, have)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    return Outcome(False, "not what the plan saw any more (a symlink is in the way); left as it is")
                raise
        if entry.kind != SYMLINK:
            try:
                self.tree.chmod(path, entry.mode)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    return Outcome(False, "not what the plan saw any more (a symlink is in the way); left as it is")
                raise
        self.tree.utime(path, entry.mtime_ns)
        return Outcome(True, notice=notice)

    def barrier(self) -> None:
        """Make every write so far durable: ``syncfs`` on the root's file system (``sync`` where there is
        no syncfs). ``OSError`` when the file system reports that it could not write everything (EIO):
        nothing written since the last barrier may be taken as done."""
        if _syncfs is None:
            os.sync()
            return
        fd = self.tree.open_root()
        try:
            if _syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"the file system could not write everything to disk ({os.strerror(err)})",
                              self._root)
        finally:
            os.close(fd)
