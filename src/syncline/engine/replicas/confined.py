"""A directory tree reached only through descriptors of its own directories (``openat``-style).

Every call names a path relative to the root. Its parent directory is reached by opening each component
from the root's descriptor with ``O_NOFOLLOW | O_DIRECTORY``, and the final component is acted on with the
``*at`` system calls without following it (extended attributes, which have none, through
``/proc/self/fd/<parent>/<name>``). So no component of a path can be a symlink at the moment it is
used: a folder swapped for a symlink to somewhere else fails with ``NotADirectoryError`` (ENOTDIR) instead of
leading a write out of the tree. The root itself is followed once, when it is opened, as ``rsync SRC/ DST/``
follows ``DST``.

What this cannot stop, and nothing in user space can: a process that *renames* one of the tree's folders to
a place outside the tree while a write into it is under way. Such a process needs write permission where the
folder lands, so the write only reaches a place that process could write itself (docs/safety.md).

Descriptors of recently used folders are cached (a sorted plan touches one folder many times): each is an
``O_PATH`` descriptor, which needs no read permission and holds no lock. A cached descriptor stays with its
folder when that folder is renamed, so :meth:`forget` must be called for a folder syncline itself moves or
removes, and :meth:`refresh` when the root may have been replaced (a remount). Every call runs under one lock,
so the pool of copying threads can share the cache; each call is one or two system calls, never a copy.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from .renames import exchange_at, rename_noreplace_at

T = TypeVar("T")
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CACHED_DIRS = 64


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _bad_path(path: str) -> OSError:
    return OSError(errno.EINVAL, "not a path inside the tree (an empty, '.' or '..' component)", path)


def _not_beneath(path: str) -> NotADirectoryError:
    return NotADirectoryError(errno.ENOTDIR, "a parent folder is a symlink or a file here (not followed)", path)


class Confined:
    """The tree at ``root`` (an absolute path). Not opened until first used; :meth:`close` releases it."""

    def __init__(self, root: str, *, cached_dirs: int = CACHED_DIRS) -> None:
        self.root = root
        self._cap = max(2, cached_dirs)
        self._lock = threading.RLock()
        self._root_fd = -1
        self._fds: OrderedDict[str, int] = OrderedDict()
        # How many cached folders are at or below each path: forgetting a path nothing is cached under (a
        # file renamed into place, the common case) costs one lookup.
        self._under: Counter[str] = Counter()

    # -- descriptors ------------------------------------------------------------------------------------
    def _root(self) -> int:
        if self._root_fd < 0:
            self._root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._root_fd

    def _dir(self, path: str) -> int:
        """The descriptor of folder ``path`` ("" is the root); the caller holds the lock."""
        if not path:
            return self._root()
        fds = self._fds
        fd = fds.get(path)
        if fd is not None:
            fds.move_to_end(path)
            return fd
        # Walk down from the deepest folder on the way that is cached already.
        parts = path.split("/")
        i = len(parts) - 1
        while i > 0 and "/".join(parts[:i]) not in fds:
            i -= 1
        start = "/".join(parts[:i])
        fd = self._dir(start) if start else self._root()
        try:
            return self._walk(fd, start, parts[i:], path)
        except FileNotFoundError:
            if not self._stale(start, fd):
                raise
        return self._dir(path)

    def _walk(self, fd: int, here: str, names: list[str], path: str) -> int:
        for name in names:
            if name in ("", ".", ".."):
                raise _bad_path(path)
            here = f"{here}/{name}" if here else name
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise _not_beneath(path) from None
                raise
            self._cache(here, fd)
        return fd

    def _cache(self, path: str, fd: int) -> None:
        self._fds[path] = fd
        self._count(path, 1)

    def _trim(self) -> None:
        """Close the least recently used descriptors past the cache's size. Only ever at the end of a call:
        a descriptor a call is using is never closed under it."""
        while len(self._fds) > self._cap:
            old, old_fd = self._fds.popitem(last=False)
            self._count(old, -1)
            os.close(old_fd)

    def _count(self, path: str, n: int) -> None:
        under = self._under
        while True:
            left = under[path] + n
            if left:
                under[path] = left
            else:
                del under[path]
            cut = path.rfind("/")
            if cut < 0:
                return
            path = path[:cut]

    def _at(self, path: str) -> tuple[int, str]:
        """(descriptor of the parent folder, final name) of a non-root ``path``."""
        head, _, name = path.rpartition("/")
        if name in ("", ".", ".."):
            raise _bad_path(path)
        return self._dir(head), name

    def forget(self, path: str) -> None:
        """Drop cached descriptors of folder ``path`` and everything below it (after syncline moved or
        removed it). ``""`` drops them all, the root's too."""
        with self._lock:
            if not path:
                self._close_all()
                return
            if path not in self._under:
                return
            below = path + "/"
            for p in [p for p in self._fds if p == path or p.startswith(below)]:
                self._count(p, -1)
                os.close(self._fds.pop(p))

    def refresh(self) -> None:
        """Start afresh if the root's path now leads to another folder (replaced, remounted) than the one
        held open; cheap (one stat) when it does not."""
        with self._lock:
            if self._root_fd < 0:
                return
            try:
                now = os.stat(self.root)
            except OSError:
                self._close_all()
                return
            held = os.fstat(self._root_fd)
            if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
                self._close_all()

    def _close_all(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._under.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def close(self) -> None:
        with self._lock:
            self._close_all()

    def _stale(self, head: str, fd: int) -> bool:
        """Whether the cached descriptor ``fd`` of folder ``head`` is of a folder removed since (someone
        emptied the trash, deleted and made a folder again): then it is dropped, and the call is worth one
        more try through a fresh walk. One fstat, and only after an ENOENT."""
        if not head or head not in self._fds or os.fstat(fd).st_nlink:
            return False
        self.forget(head)
        return True

    def _call(self, path: str, fn: Callable[[int, str], T]) -> T:
        """``fn(parent descriptor, name)`` for ``path``, under the lock."""
        with self._lock:
            try:
                head = path.rpartition("/")[0]
                d, name = self._at(path)
                try:
                    return fn(d, name)
                except FileNotFoundError:
                    if not self._stale(head, d):
                        raise
                d, name = self._at(path)
                return fn(d, name)
            finally:
                self._trim()

    def _call2(self, a: str, b: str, fn: Callable[[int, str, int, str], T]) -> T:
        """``fn(parent of a, name of a, parent of b, name of b)``, under the lock."""
        with self._lock:
            try:
                ad, aname = self._at(a)
                bd, bname = self._at(b)
                try:
                    return fn(ad, aname, bd, bname)
                except FileNotFoundError:
                    stale_a = self._stale(a.rpartition("/")[0], ad)
                    if not (self._stale(b.rpartition("/")[0], bd) or stale_a):
                        raise
                ad, aname = self._at(a)
                bd, bname = self._at(b)
                return fn(ad, aname, bd, bname)
            finally:
                self._trim()

    # -- reading ----------------------------------------------------------------------------------------
    def lstat(self, path: str) -> os.stat_result:
        """The stat of ``path`` itself (a symlink is not followed); the root's when ``path`` is ""."""
        if not path:
            with self._lock:
                return os.stat(self._root())
        return self._call(path, lambda d, name: os.stat(name, dir_fd=d, follow_symlinks=False))

    def readlink(self, path: str) -> str:
        return self._call(path, lambda d, name: os.readlink(name, dir_fd=d))

    def open(self, path: str, flags: int, mode: int = 0o777) -> int:
        """``os.open`` of ``path`` without following it (``O_NOFOLLOW``); the caller closes the result."""
        flags |= os.O_NOFOLLOW | os.O_CLOEXEC
        return self._call(path, lambda d, name: os.open(name, flags, mode, dir_fd=d))

    @contextmanager
    def listing(self, path: str) -> Iterator[Iterator[os.DirEntry[str]]]:
        """``os.scandir`` of folder ``path`` (entries carry names only; stat them through this tree)."""
        if path:
            fd = self.open(path, os.O_RDONLY | os.O_DIRECTORY)
        else:
            fd = self.open_root()
        try:
            with os.scandir(fd) as it:
                yield it
        finally:
            os.close(fd)

    # -- writing ----------------------------------------------------------------------------------------
    def mkdir(self, path: str, mode: int = 0o777) -> None:
        self._call(path, lambda d, name: os.mkdir(name, mode, dir_fd=d))

    def rmdir(self, path: str) -> None:
        with self._lock:
            self._call(path, lambda d, name: os.rmdir(name, dir_fd=d))
            self.forget(path)

    def unlink(self, path: str) -> None:
        self._call(path, lambda d, name: os.unlink(name, dir_fd=d))

    def symlink(self, target: str, path: str) -> None:
        self._call(path, lambda d, name: os.symlink(target, name, dir_fd=d))

    def link(self, src: str, dst: str) -> None:
        """Hard-link the file at ``src`` (not followed) as ``dst``."""
        self._call2(src, dst, lambda sd, sname, dd, dname: os.link(sname, dname, src_dir_fd=sd, dst_dir_fd=dd,
                                                                  follow_symlinks=False))

    def rename(self, src: str, dst: str) -> None:
        """``rename(2)``: replaces a file at ``dst``."""
        with self._lock:
            self._call2(src, dst, lambda sd, sname, dd, dname: os.rename(sname, dname, src_dir_fd=sd,
                                                                        dst_dir_fd=dd))
            self._moved(src, dst)

    def rename_noreplace(self, src: str, dst: str) -> bool:
        """Rename unless something is at ``dst`` (``FileExistsError``); False when the kernel or file system
        cannot say (the caller checks and renames instead)."""
        with self._lock:
            done = self._call2(src, dst, rename_noreplace_at)
            if done:
                self._moved(src, dst)
            return done

    def exchange(self, a: str, b: str) -> bool:
        """Swap ``a`` and ``b`` in one step; False when unsupported."""
        with self._lock:
            done = self._call2(a, b, exchange_at)
            if done:
                self._moved(a, b)
            return done

    def _moved(self, a: str, b: str) -> None:
        self.forget(a)
        self.forget(b)

    def chmod(self, path: str, mode: int) -> None:
        """Set the mode of the file or folder at ``path``; a symlink there is refused (ELOOP), never
        followed. Through an ``O_PATH`` descriptor of the thing itself, as glibc's ``fchmodat`` does it, so
        that no read permission is needed."""
        if not path:
            with self._lock:
                os.chmod(f"/proc/self/fd/{self._root()}", mode)
            return
        fd = self._call(path, lambda d, name: os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d))
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.ELOOP, "a symlink here (not followed)", path)
            os.chmod(f"/proc/self/fd/{fd}", mode)
        finally:
            os.close(fd)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Set the owner and group (-1: leave it) of ``path`` itself: a symlink's own, never its
        target's (``fchownat`` with ``AT_SYMLINK_NOFOLLOW``)."""
        if not path:
            with self._lock:
                os.chown(f"/proc/self/fd/{self._root()}", uid, gid)
            return
        self._call(path, lambda d, name: os.chown(name, uid, gid, dir_fd=d, follow_symlinks=False))

    # Extended attributes have no ``*at`` calls: ``/proc/self/fd/<parent>/<name>`` reaches the final name
    # through the parent's descriptor (held under the lock), and the name itself is not followed.
    def _xattr(self, path: str, fn: Callable[[str, bool], T]) -> T:
        if not path:
            with self._lock:
                return fn(f"/proc/self/fd/{self._root()}", True)
        return self._call(path, lambda d, name: fn(f"/proc/self/fd/{d}/{name}", False))

    def listxattr(self, path: str) -> list[str]:
        """The names of the extended attributes of ``path`` itself (not followed)."""
        return self._xattr(path, lambda p, follow: os.listxattr(p, follow_symlinks=follow))

    def getxattr(self, path: str, name: str) -> bytes:
        return self._xattr(path, lambda p, follow: os.getxattr(p, name, follow_symlinks=follow))

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        self._xattr(path, lambda p, follow: os.setxattr(p, name, value, follow_symlinks=follow))

    def removexattr(self, path: str, name: str) -> None:
        self._xattr(path, lambda p, follow: os.removexattr(p, name, follow_symlinks=follow))

    @contextmanager
    def held(self, path: str) -> Iterator[str]:
        """A path that names folder ``path`` (reached without following symlinks) while the block runs:
        ``/proc/self/fd/N`` of a descriptor of its own, for code that takes paths (an atomic output file).
        Nothing that path leads to can be swapped away: the kernel goes straight to the folder held."""
        with self._lock:
            try:
                fd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self._dir(path))
            finally:
                self._trim()
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)

    def open_root(self) -> int:
        """A readable descriptor of the root folder (for ``syncfs``); the caller closes it."""
        with self._lock:
            return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self._root())

    def utime(self, path: str, mtime_ns: int, atime_ns: int | None = None) -> None:
        """Set mtime (and atime: ``atime_ns``, else the mtime) of ``path`` itself (a symlink's own, never
        its target's)."""
        times = (mtime_ns if atime_ns is None else atime_ns, mtime_ns)
        if not path:
            with self._lock:
                os.utime(f"/proc/self/fd/{self._root()}", ns=times)
            return
        self._call(path, lambda d, name: os.utime(name, ns=times, dir_fd=d, follow_symlinks=False))

    def rmtree(self, path: str) -> None:
        """Remove folder ``path`` and everything in it (``shutil.rmtree`` by descriptors: it never follows
        a symlink it meets)."""
        with self._lock:
            self._call(path, lambda d, name: shutil.rmtree(name, dir_fd=d))
            self.forget(path)

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        """Make folder ``path`` and any missing parents (existing ones are fine if they are real folders)."""
        parts = path.split("/")
        here = ""
        for name in parts:
            here = f"{here}/{name}" if here else name
            try:
                self.mkdir(here, mode)
            except FileExistsError:
                with self._lock:
                    self._dir(here)  # a real folder, or NotADirectoryError
