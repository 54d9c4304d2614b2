"""Output files of ``index -o``, ``archive -o`` and ``snapshot``: written through a temp file that is
recorded before it exists, so that a run killed midway leaves nothing behind for good.

Each output gets a record in ``<state dir>/outputs/``: the absolute path of its temp file, written and
fsynced before the temp file is created, and held under an exclusive ``flock`` for as long as the run
lives. The record is put in place by renaming it into its ``.rec`` name while already locked, so no other
run ever sees it unlocked while its owner lives. The next run of any of these commands (``sweep``) takes
each record it can lock (the lock of a dead run is free: the kernel drops it with the process), removes the
temp file named there, then the record. Only paths syncline recorded are ever removed: a user's file that
merely looks like a temp name is never touched (issue 11, point 3).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..core.paths import new_temp_name
from ..formats.framing import atomic_file, fsync_dir
from .crashpoints import crash_point
from .state import state_subdir

OUTPUTS = "outputs"
_MAGIC = b"syncline-output-temp v1\n"
_PART_AGE = 3600  # seconds


def sweep(folder: Path | None = None) -> list[str]:
    """Remove the temp files of dead runs' records (and those records); returns the temp paths removed.

    Records of live runs are locked and left alone. A temp file that cannot be removed keeps its record for
    a later sweep. Never raises for a record it cannot read: that record is left as it is."""
    folder = folder if folder is not None else state_subdir(OUTPUTS)
    removed: list[str] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return removed
    for name in names:
        if not (name.endswith(".rec") or name.endswith(".part")):
            continue
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live run's record
            data = _read(fd)
            if name.endswith(".part"):
                # A run that died before its record was complete created no temp file. A young one may be a
                # live run between creating and locking it: leave that to a later sweep.
                if time.time() - os.fstat(fd).st_mtime > _PART_AGE:
                    with contextlib.suppress(OSError):
                        os.unlink(folder / name)
                continue
            if not data.startswith(_MAGIC):
                continue
            temps = [t for t in data[len(_MAGIC):].split(b"\0") if t]
            if all(_remove(t, removed) for t in temps):
                with contextlib.suppress(OSError):
                    os.unlink(folder / name)
        finally:
            os.close(fd)
    return removed


def _read(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 65536):
        parts.append(chunk)
    return b"".join(parts)


def _remove(temp: bytes, removed: list[str]) -> bool:
    """Unlink one recorded temp file; True when it is gone (or was never created, or was renamed into place)."""
    try:
        os.unlink(temp)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    removed.append(os.fsdecode(temp))
    return True


@contextlib.contextmanager
def _record(temp: Path, recorded: Path) -> Iterator[None]:
    """Hold a durable, locked record naming ``recorded`` (``temp``'s path for a later run) while the body
    runs; the record is gone afterwards."""
    folder = state_subdir(OUTPUTS)
    stem = f"{os.getpid()}-{os.urandom(8).hex()}"
    part, rec = folder / f"{stem}.part", folder / f"{stem}.rec"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, _MAGIC + os.fsencode(recorded) + b"\0")
        os.fsync(fd)
        os.rename(part, rec)  # the lock belongs to the open file, so it stays with the renamed record
        fsync_dir(folder)
        yield
    finally:
        # Renamed into place, or removed on an error: the record has nothing left to name. Otherwise it
        # stays (unlocked once closed), and the next sweep removes what it names.
        if not os.path.lexists(temp):
            with contextlib.suppress(OSError):
                os.unlink(rec)
        os.close(fd)


@contextlib.contextmanager
def output_file(path: Path, shown: Path | None = None) -> Iterator[BinaryIO]:
    """Write ``path`` all or nothing (as :func:`~syncline.formats.framing.atomic_file`), through a temp file
    that is recorded before it is created; first sweep the leftovers of dead runs. ``shown`` is the real
    path when ``path`` goes through a held folder (``/proc/self/fd/N/...``): it is what the record names."""
    sweep()
    temp = path.parent / new_temp_name()
    recorded = (shown.parent / temp.name) if shown is not None else temp
    with _record(temp, recorded), atomic_file(path, temp) as fh:
        yield fh
        fh.flush()
        crash_point("output")  # the temp file holds everything and is not renamed yet: kill -9 leaves it
