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


def _call(src: str | os.PathLike[str], dst: str | os.PathLike[str], flags: int) -> bool:
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in _unsupported:
        return False
    raise OSError(err, os.strerror(err), os.fspath(dst))


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap ``a`` and ``b`` atomically. False if unsupported; OSError (ENOENT, ...) otherwise."""
    return _call(a, b, _RENAME_EXCHANGE)


def rename_noreplace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> bool:
    """Rename ``src`` to ``dst`` only if ``dst`` does not exist (OSError EEXIST if it does).
    False if unsupported."""
    return _call(src, dst, _RENAME_NOREPLACE)
