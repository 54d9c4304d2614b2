"""Atomic renames that cannot clobber: Linux ``renameat2`` with ``RENAME_NOREPLACE`` / ``RENAME_EXCHANGE``.

``exchange`` swaps two names in one step, so a destination file is replaced and the replaced file is still
at hand (under the temp name) to be checked and kept: no window between a re-check and the rename in
which someone else's write could be lost. ``rename_noreplace`` puts a new file in place only if nothing
appeared there. Both return False when the kernel or file system does not support the flag; the caller
then falls back to a re-check followed by a plain rename.
"""

from __future__ import annotations

import ctypes
import errno
import os

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2

_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    _renameat2.restype = ctypes.c_int
_unsupported = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}


def _call(src_dir: int, src: str | os.PathLike[str], dst_dir: int, dst: str | os.PathLike[str], flags: int) -> bool:
    if _renameat2 is None:
        return False
    if _renameat2(src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in _unsupported:
        return False
    raise OSError(err, os.strerror(err), os.fspath(dst))


def exchange_at(a_dir: int, a: str, b_dir: int, b: str) -> bool:
    """Swap ``a`` (in the folder open as ``a_dir``) and ``b`` (in ``b_dir``) atomically; neither name is
    followed. False if unsupported; OSError (ENOENT, ...) otherwise."""
    return _call(a_dir, a, b_dir, b, _RENAME_EXCHANGE)


def rename_noreplace_at(src_dir: int, src: str, dst_dir: int, dst: str) -> bool:
    """Rename ``src`` to ``dst`` (each in the folder open as its ``*_dir``) only if ``dst`` does not exist
    (``FileExistsError`` if it does). False if unsupported."""
    return _call(src_dir, src, dst_dir, dst, _RENAME_NOREPLACE)


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """:func:`exchange_at` of two paths (resolved by the kernel: use only where no symlink can be planted)."""
    return _call(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE)


def rename_noreplace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> bool:
    """:func:`rename_noreplace_at` of two paths (resolved by the kernel: use only where no symlink can be
    planted)."""
    return _call(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE)
