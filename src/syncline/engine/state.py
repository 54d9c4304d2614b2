"""Where syncline keeps per-user state, and the per-destination run lock.

The state directory is ``$SYNCLINE_STATE_DIR``, else ``$XDG_STATE_HOME/syncline``, else
``~/.local/state/syncline``. Locks live there (not in the destination) so that a plain mirror leaves no
files of syncline's in the destination tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import BusyError, UsageError


def state_dir() -> Path:
    return xdg_dir("SYNCLINE_STATE_DIR", "XDG_STATE_HOME", ".local/state")


def xdg_dir(override: str, xdg: str, home_default: str, *below: str) -> Path:
    """``$override`` if set; else ``$xdg/syncline/*below``, ``$xdg`` defaulting to ``~/home_default`` (the
    XDG base directory rule; the server's data directory uses it too)."""
    env = os.environ.get(override)
    if env:
        return Path(env)
    base = os.environ.get(xdg)
    return (Path(base) if base else Path.home() / home_default).joinpath("syncline", *below)


def state_subdir(name: str) -> Path:
    """``<state dir>/<name>``, created if needed; :class:`UsageError` when it cannot be."""
    folder = state_dir() / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the state directory {folder}: {exc.strerror}",
                         "set SYNCLINE_STATE_DIR to a writable directory") from None
    return folder


@contextmanager
def root_lock(root: Path) -> Iterator[None]:
    """Hold the exclusive lock for writing into ``root``; :class:`BusyError` if another run holds it."""
    locks = state_subdir("locks")
    name = hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:32] + ".lock"
    fd = os.open(locks / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"another syncline run is writing into {root}",
                            "wait for it to finish, then run again") from None
        yield
    finally:
        os.close(fd)
