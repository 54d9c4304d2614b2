"""LocalReplica: a directory on a local file system.

Writes follow DESIGN section 4: every file is written to ``.syncline-tmp-<random>`` in its final
directory, given its mode and mtime, and renamed into place only after a durability barrier (``syncfs`` of
the file system, once per batch: far cheaper than an fsync per file, with the same guarantee that no real
name ever points at unwritten data). Before a rename, delete or metadata change the destination is
re-checked against the entry the plan saw; a destination that moved on is moved to the trash (kept), never
overwritten in place.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import stat
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ...core.entry import DIR, FILE, SYMLINK, Entry, kind_of_mode
from ...core.hashing import ReadKey, open_regular
from ...core.ignore import Rules
from ...core.index import Index
from ...core.paths import META_DIR, is_temp_name, new_temp_name, parent
from ...core.scan import scan, scan_dirs
from ..marker import read_meta_file, write_meta_file
from ..state import root_lock
from ..trash import Trash
from .renames import exchange, rename_noreplace
from .replica import Features, Outcome, SourceFile, Staged

COPY_CHUNK = 64 << 20
SMALL_FILE = 1 << 20
_CHANGED_NOTE = "changed since the scan; the destination's version was moved to the trash"
_KEPT_NOTE = "changed since the scan; both versions kept, the next run reconciles them"
_libc = ctypes.CDLL(None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)
_sync_file_range = getattr(_libc, "sync_file_range", None)
_SYNC_FILE_RANGE_WRITE = 2
_F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
_F_SETSIG = getattr(fcntl, "F_SETSIG", 10)


def entry_of_stat(st: os.stat_result, target: str | None = None) -> Entry | None:
    kind = kind_of_mode(st.st_mode)
    if kind is None:
        return None
    size = st.st_size if kind == FILE else len(os.fsencode(target)) if target is not None else 0
    return Entry(kind, size, st.st_mtime_ns, st.st_mode & 0o7777, target=target,
                 inode=st.st_ino, ctime_ns=st.st_ctime_ns)


class LocalSourceFile:
    """An open local file with its stat at open time; ``changed()`` tells whether a read may be torn."""

    def __init__(self, fd: int, st: os.stat_result) -> None:
        self.fd = fd
        self.key = ReadKey.of(st)
        e = entry_of_stat(st)
        assert e is not None
        self.entry = e

    def fileno(self) -> int:
        return self.fd

    def changed(self) -> bool:
        return ReadKey.of(os.fstat(self.fd)) != self.key


@dataclass
class LocalStaged:
    path: str
    size: int
    temp: str
    inode: int = 0  # the temp file's, which a rename keeps

    def discard(self) -> None:
        _unlink_quiet(self.temp)


def copy_fd(src: int, dst: int, size: int) -> None:
    """Copy everything from ``src`` to ``dst``: small files with one read and write (fewer system calls
    than ``copy_file_range`` needs), large ones in the kernel when it can (``size`` is the expected size)."""
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


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a copied range to disk now (``sync_file_range`` WRITE, which does
    not wait), so the durability barrier before the rename finds most of a big file written already."""
    if _sync_file_range is not None:
        _sync_file_range(fd, ctypes.c_longlong(offset), ctypes.c_longlong(length), _SYNC_FILE_RANGE_WRITE)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class LocalReplica:
    """A local directory tree. ``trash=False`` destroys replaced data instead of keeping it.

    A destination found changed since the scan is never lost: by default it goes to the trash and the
    planned write goes ahead (one-way sync: the source wins). With ``keep_changed`` (two-way sync) the
    write is not done and the changed version stays in place; the next run sees both changes.
    """

    def __init__(self, root: str | os.PathLike[str], *, trash: bool = True, keep_changed: bool = False,
                 tell_inodes: bool = False) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self._root = str(self.root)
        self.use_trash = trash
        self.keep_changed = keep_changed
        # Two-way sync records each side's inodes to recognise moves later: written paths report theirs.
        self.tell_inodes = tell_inodes
        self._trash: Trash | None = None

    # -- reading ---------------------------------------------------------------------------------------
    def features(self) -> Features:
        return Features(scan_in_child=True)

    def describe(self) -> str:
        return str(self.root)

    def scan(self, rules: Rules, digests: bool, side: str) -> Index:
        return scan(self.root, rules=rules, digests=digests, side=side)

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        return scan_dirs(self.root, dirs, rules=rules, side=side, digests=digests)

    # -- the root ----------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.root.is_dir()

    def is_empty(self) -> bool:
        with os.scandir(self.root) as it:
            return all(d.name == META_DIR or is_temp_name(d.name) for d in it)

    def create_root(self) -> None:
        try:
            self.root.mkdir(exist_ok=True)
        except FileNotFoundError:
            if self.root.parent.is_dir():  # /proc, /sys: the parent is there, its file system makes no folders
                raise FileNotFoundError(errno.ENOENT, f"cannot make a folder in {self.root.parent} (its file "
                                        "system refuses new folders)", str(self.root)) from None
            raise FileNotFoundError(errno.ENOENT, f"its parent {self.root.parent} does not exist (not mounted?)",
                                    str(self.root)) from None

    def lock(self) -> AbstractContextManager[None]:
        return root_lock(self.root)

    def read_meta(self, name: str) -> str | None:
        return read_meta_file(self.root, name)

    def write_meta(self, name: str, text: str) -> None:
        write_meta_file(self.root, name, text)

    def abspath(self, path: str) -> str:
        # Plain strings: this runs several times per file, and pathlib joins cost microseconds each.
        return f"{self._root}/{path}" if path else self._root

    def stat(self, path: str) -> Entry | None:
        return self.stat_abs(self.abspath(path))

    def stat_abs(self, p: str) -> Entry | None:
        """The entry at an absolute path (lstat; None when absent)."""
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            return None
        target = os.readlink(p) if kind_of_mode(st.st_mode) == SYMLINK else None
        return entry_of_stat(st, target)

    def being_written(self, path: str) -> bool:
        """Whether a process has the file at ``path`` open for writing right now. Linux refuses a read
        lease (``F_SETLEASE``) on such a file, and only on such a file; the lease taken is given back at
        once. False when it cannot be told (not a regular file, not the owner without CAP_LEASE, a file
        system without leases such as NFS): then the copy's own torn-read check is what guards it."""
        try:
            fd = os.open(self.abspath(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            # A writer opening the file while the lease is held makes the kernel signal this process:
            # SIGIO by default, which would end it. SIGURG is ignored unless handled.
            fcntl.fcntl(fd, _F_SETSIG, signal.SIGURG)
            fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
        except OSError as exc:
            return exc.errno == errno.EAGAIN
        finally:
            os.close(fd)  # gives the lease back too
        return False

    @contextmanager
    def open_file(self, path: str) -> Iterator[LocalSourceFile]:
        fd, st = open_regular(self.abspath(path))
        try:
            yield LocalSourceFile(fd, st)
        finally:
            os.close(fd)

    # -- writing ---------------------------------------------------------------------------------------
    @property
    def trash(self) -> Trash:
        if self._trash is None:
            self._trash = Trash(self.root)
        return self._trash

    def _temp_for(self, path: str) -> str:
        return f"{self.abspath(parent(path))}/{new_temp_name()}"

    def stage_file(self, path: str, source: SourceFile) -> LocalStaged:
        """Copy ``source`` to a temp file beside ``path`` with the source's mode and mtime."""
        temp = self._temp_for(path)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            copy_fd(source.fileno(), fd, source.entry.size)
            e = source.entry
            os.fchmod(fd, e.mode)
            os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
            inode = os.fstat(fd).st_ino if self.tell_inodes else 0
        except BaseException:
            os.close(fd)
            _unlink_quiet(temp)
            raise
        os.close(fd)
        return LocalStaged(path, source.entry.size, temp, inode)

    def _free_dir(self, path: str, expect: Entry | None) -> Outcome:
        """Remove the directory at ``path`` so something else can take its place.

        Only an empty directory the plan expected is removed (rmdir refuses anything else): nothing is lost.
        """
        if expect is None or expect.kind != DIR:
            return Outcome(False, "a directory appeared here since the scan; left alone")
        try:
            os.rmdir(self.abspath(path))
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
            if self.keep_changed:
                return Outcome(False, _KEPT_NOTE)
            self.trash.move_in(path)
            return Outcome(True, _CHANGED_NOTE, trashed=True)
        return self._dispose(path)

    def _dispose(self, path: str) -> Outcome:
        """Take the file or symlink at ``path`` away: into the trash, or destroyed with ``trash=False``."""
        if self.use_trash:
            self.trash.move_in(path)
            return Outcome(True, trashed=True)
        os.unlink(self.abspath(path))
        return Outcome(True)

    def _install(self, temp: str, path: str, expect: Entry | None) -> Outcome:
        """Put the complete ``temp`` at ``path`` atomically and dispose of what it replaces.

        The replaced file is swapped out in the same step (``RENAME_EXCHANGE``) and checked afterwards:
        unless it is exactly ``expect`` it is kept in the trash, whatever the trash setting. Without kernel
        support the check comes first and a plain rename follows. ``temp`` is gone when this returns.
        """
        final = self.abspath(path)
        done = False
        try:
            if expect is None:
                # A new file: RENAME_NOREPLACE checks for us that nothing appeared, no stat needed.
                try:
                    if rename_noreplace(temp, final):
                        done = True
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
                        if not rename_noreplace(temp, final):
                            os.rename(temp, final)
                    except FileExistsError:
                        continue  # something appeared meanwhile: look again
                    done = True
                    return Outcome(True)
                mine = os.lstat(temp).st_ino if self.keep_changed else 0
                try:
                    swapped = exchange(temp, final)
                except FileNotFoundError:
                    continue  # the destination vanished meanwhile: look again
                if swapped:
                    done = True
                    return self._dispose_swapped_safely(temp, final, path, current, expect, mine)
                outcome = self._replace_after_check(temp, path, current, expect)
                done = True
                return outcome
            return Outcome(False, "the destination kept changing; left for the next run")
        finally:
            if not done:
                _unlink_quiet(temp)

    def _dispose_swapped_safely(self, old: str, final: str, path: str, seen: Entry, expect: Entry | None,
                                mine: int) -> Outcome:
        """:meth:`_dispose_swapped`, and if that fails, the replaced version goes back in place (ours is
        dropped: the source still has it) or, failing that, stays beside it under a visible name. ``old``
        must never be left holding it: the executor discards ``old`` as a temp file after an error."""
        try:
            return self._dispose_swapped(old, path, seen, expect, mine)
        except OSError:
            if os.path.lexists(old):
                try:
                    if not exchange(old, final):
                        raise OSError(errno.ENOTSUP, "no exchange")
                except OSError:
                    os.rename(old, f"{final}.syncline-kept-{os.urandom(4).hex()}")
            raise

    def _dispose_swapped(self, old: str, path: str, seen: Entry, expect: Entry | None, mine: int = 0) -> Outcome:
        # ``old`` now holds what was at ``path``; ``mine`` is the inode of the file we put there (when
        # keep_changed). A rename changes ctime, so compare the rest.
        was = self.stat_abs(old)
        expected = (expect is not None and was is not None and was.kind == expect.kind
                    and was.size == expect.size and was.mtime_ns == expect.mtime_ns
                    and (not expect.inode or was.inode == expect.inode) and was.target == expect.target)
        if not expected:
            if self.keep_changed:
                try:
                    back = exchange(old, self.abspath(path))
                except OSError:
                    back = False  # the path changed again meanwhile: keep the version we hold in the trash
                if back:
                    # Swapped back: the changed version is in place again. ``old`` is ours again, unless
                    # the path was written once more in between: then that write goes to the trash.
                    now = self.stat_abs(old)
                    if now is not None and now.inode == mine:
                        os.unlink(old)
                    elif now is not None:
                        self.trash.adopt(old, path)
                    return Outcome(False, _KEPT_NOTE)
            self.trash.adopt(old, path)
            return Outcome(True, _CHANGED_NOTE, trashed=True)
        if self.use_trash:
            self.trash.adopt(old, path)
            return Outcome(True, trashed=True)
        os.unlink(old)
        return Outcome(True)

    def _replace_after_check(self, temp: str, path: str, current: Entry, expect: Entry | None) -> Outcome:
        if expect is None or not current.unchanged_since(expect):
            if self.keep_changed:
                os.unlink(temp)
                return Outcome(False, _KEPT_NOTE)
            self.trash.move_in(path)
            os.rename(temp, self.abspath(path))
            return Outcome(True, _CHANGED_NOTE, trashed=True)
        if self.use_trash:
            self.trash.link_in(path)
        os.replace(temp, self.abspath(path))
        return Outcome(True, trashed=self.use_trash)

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        assert isinstance(staged, LocalStaged)
        outcome = self._install(staged.temp, staged.path, expect)
        return replace(outcome, inode=staged.inode) if outcome.done and staged.inode else outcome

    def _told(self, outcome: Outcome, path: str) -> Outcome:
        """``outcome`` with the inode now at ``path``, when asked to tell inodes."""
        if not (self.tell_inodes and outcome.done):
            return outcome
        try:
            return replace(outcome, inode=os.lstat(self.abspath(path)).st_ino)
        except OSError:
            return outcome

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        current = self.stat(path)
        if current is not None and current.kind == DIR:
            return Outcome(True, inode=current.inode if self.tell_inodes else 0)
        if current is not None:
            room = self._remove(path, expect)
            if not room.done:
                return room
        # Owner-writable until the final meta pass sets the real mode (children are written first).
        os.mkdir(self.abspath(path), 0o700)
        return self._told(Outcome(True), path)

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        assert entry.target is not None
        temp = self._temp_for(path)
        os.symlink(entry.target, temp)
        try:
            os.utime(temp, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
        except BaseException:
            _unlink_quiet(temp)
            raise
        return self._told(self._install(temp, path, expect), path)

    def delete(self, path: str, expect: Entry) -> Outcome:
        current = self.stat(path)
        if current is None:
            return Outcome(True)
        if current.kind != expect.kind or (current.kind != DIR and not current.unchanged_since(expect)):
            return Outcome(False, "changed since the scan; not deleted")
        if current.kind == DIR:
            try:
                os.rmdir(self.abspath(path))
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
        source, target = self.abspath(src), self.abspath(dst)
        moved = self._rename_into(source, target, dst)
        if moved.done or src.casefold() != dst.casefold() or not _same_file(source, target):
            return moved
        # A case-only rename on a case-insensitive file system: ``dst`` "exists" because it is ``src``, and
        # rename(2) between two names of one file does nothing. Go through a name of our own beside it: not a
        # temp name (a killed run's temp files are deleted), so a crash in between leaves it visible.
        head = source.rpartition("/")[0]
        name = f".syncline-moving-{os.urandom(4).hex()}-{dst.rpartition('/')[2]}"
        via = f"{head}/{name if len(os.fsencode(name)) <= 255 else name[:26]}"
        os.rename(source, via)
        moved = self._rename_into(via, target, dst)
        if not moved.done and not self._rename_into(via, source, src).done:
            return Outcome(False, f"{moved.note}; the file is kept as {via[len(self._root) + 1:]}")
        return moved

    @staticmethod
    def _rename_into(old: str, new: str, shown: str) -> Outcome:
        """Rename ``old`` to ``new`` unless something is at ``new`` (``shown`` names it in the note)."""
        try:
            if not rename_noreplace(old, new):
                if os.path.lexists(new):
                    return Outcome(False, f"not moved: {shown} exists")
                os.rename(old, new)
        except FileExistsError:
            return Outcome(False, f"not moved: {shown} appeared since the scan")
        return Outcome(True)

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome:
        p = self.abspath(path)
        if entry.kind != DIR and expect is not None:
            current = self.stat(path)
            if current is None or not current.unchanged_since(expect):
                return Outcome(False, "changed since the scan; left as it is")
        if entry.kind == SYMLINK:
            os.utime(p, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
        elif entry.kind == DIR:
            # Through a descriptor opened without following a symlink: a directory swapped for a symlink
            # since the plan never has its target's mode changed.
            try:
                fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    return Outcome(False, "not a directory any more; left as it is")
                if exc.errno != errno.EACCES or not stat.S_ISDIR(os.lstat(p).st_mode):
                    raise
                os.chmod(p, entry.mode)  # no read permission to open it: by path, just checked
                os.utime(p, ns=(entry.mtime_ns, entry.mtime_ns))
                return Outcome(True)
            try:
                os.fchmod(fd, entry.mode)
                os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
            finally:
                os.close(fd)
        else:
            os.chmod(p, entry.mode)
            os.utime(p, ns=(entry.mtime_ns, entry.mtime_ns))
        return Outcome(True)

    def remove_temp_files(self, paths: tuple[str, ...]) -> None:
        """Remove syncline temp files a killed run left behind (the caller holds the root's lock)."""
        for path in paths:
            try:
                os.unlink(self.abspath(path))
            except (FileNotFoundError, IsADirectoryError):
                pass  # gone already; a directory under a temp-like name is not ours to remove

    def barrier(self) -> None:
        """Make every write so far durable: ``syncfs`` on the root's file system (fsync of the root when
        syncfs is missing)."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _syncfs is None or _syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)
