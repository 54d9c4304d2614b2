"""Relative path rules shared by every layer.

A relative path is a ``str``, ``/``-separated, without empty, ``.`` or ``..`` components, never absolute;
bytes that are not UTF-8 travel as surrogate escapes. Sorting is by the path's raw bytes (``sort_key``),
which is the order index files are written in.
"""

from __future__ import annotations

import itertools
import os
import re

from .errors import IndexFormatError

# The folder syncline owns in a root (trash, markers, run records). Never synced, at any depth: a nested
# pair's own folder is not an outer pair's business either.
META_DIR = ".syncline"
# <root>/.syncline/runs/<run id>: one record per run that writes into the root (see engine/replicas/runs.py).
RUNS_DIR = "runs"
TEMP_PREFIX = ".syncline-tmp-"
# A run's temp names in a tree: ``.syncline-tmp-<run>-<n>`` holds new content being staged (cleanup removes
# it); ``.syncline-old-<run>-<n>`` holds a replaced version on its way to the trash (cleanup trashes it).
# Such a name is syncline's only while ``<run>`` is recorded in the root's run records: any other file with
# a name of that shape is a user's file like every other.
RUN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_RUN_TEMP_RE = re.compile(r"^\.syncline-(tmp|old)-([0-9a-f]{16})-[0-9a-f]{1,16}$")
STAGED, REPLACED = "tmp", "old"


def run_temp(name: str) -> tuple[str, str] | None:
    """``(STAGED or REPLACED, run id)`` when ``name`` has the shape of a run's temp name, else None."""
    m = _RUN_TEMP_RE.match(name) if name.startswith(".syncline-") else None
    return (m.group(1), m.group(2)) if m is not None else None


def run_temp_name(kind: str, run: str, n: int) -> str:
    """The ``n``-th temp name of ``kind`` (STAGED or REPLACED) of run ``run``."""
    return f".syncline-{kind}-{run}-{n:x}"

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


_temp_prefix = os.urandom(4).hex()
_temp_counter = itertools.count()


def new_temp_name() -> str:
    """A fresh temp file name for a file syncline writes outside any synced tree (its state directory,
    ``.syncline``, an output file's folder): a per-process random half and a counter, so no system call
    per file; files are created with O_EXCL, so a clash can never clobber. In a synced tree, temp names
    come from the run's record (``engine/replicas/runs.py``) instead."""
    n = next(_temp_counter)
    if n >= 1 << 32:  # pragma: no cover - four billion temp files in one process
        _new_temp_prefix()
        n &= 0xFFFFFFFF
    return f"{TEMP_PREFIX}{_temp_prefix}{n:08x}"


def _new_temp_prefix() -> None:
    global _temp_prefix
    _temp_prefix = os.urandom(4).hex()


# A forked child must not repeat its parent's names.
os.register_at_fork(after_in_child=_new_temp_prefix)


def sort_key(path: str) -> bytes:
    """Byte order of a path: the order of index files and of every listing."""
    return os.fsencode(path)


def parent(path: str) -> str:
    """The parent of a relative path ("" for a top-level name)."""
    i = path.rfind("/")
    return path[:i] if i >= 0 else ""


def join(base: str, name: str) -> str:
    """Join a relative directory path (possibly "") and a name."""
    return f"{base}/{name}" if base else name


def is_name(name: str) -> bool:
    """Whether ``name`` is one path component: not empty, ``.`` or ``..``, with no ``/`` or NUL."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def is_under(path: str, top: str) -> bool:
    """Whether ``path`` is ``top`` or inside it ("" is the root and contains everything)."""
    return top == "" or path == top or path.startswith(top + "/")


def check_relpath(path: str) -> str:
    """Validate a relative path that came from outside (an index file, an archive, a request).

    Returns the path unchanged. Raises :class:`IndexFormatError` for an empty, absolute or over-long path,
    an empty, ``.`` or ``..`` component, or a NUL byte.
    """
    raw = os.fsencode(path)
    if not raw or len(raw) > MAX_PATH_BYTES:
        raise IndexFormatError(f"invalid path of {len(raw)} bytes", "the file is corrupt or hostile")
    if b"\0" in raw or raw.startswith(b"/"):
        raise IndexFormatError(f"invalid path {path!r}", "the file is corrupt or hostile")
    for part in raw.split(b"/"):
        if part in (b"", b".", b"..") or len(part) > MAX_NAME_BYTES:
            raise IndexFormatError(f"invalid path {path!r}", "the file is corrupt or hostile")
    return path
