"""A source file the kernel refuses to read, even to root: a sysfs attribute that opens but fails every read
with EIO, bind-mounted over a file of the tree in a private mount namespace (``unshare -m``; ``-rm`` when not
root). chmod 000 cannot stand in for it when the tests run as root (CI does)."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# "autosuspend_delay_ms" of a device without runtime PM: readable mode, every read fails with EIO.
_CANDIDATES = ("/sys/devices/system/cpu/power/autosuspend_delay_ms",
               "/sys/devices/system/*/power/autosuspend_delay_ms",
               "/sys/devices/system/*/*/power/autosuspend_delay_ms")
_MOUNT_AND_RUN = 'for t in $UNREADABLE_TARGETS; do mount --bind "$UNREADABLE_SOURCE" "$t" || exit 97; done; exec "$@"'


def _unshare() -> list[str]:
    return ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]


@functools.cache
def eio_file() -> str | None:
    """A file that opens and fails to read with EIO, and that can be bind-mounted here; None if none."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return None
    for pattern in _CANDIDATES:
        for path in sorted(glob.glob(pattern)):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.pread(fd, 16, 0)
                continue
            except OSError as exc:
                if exc.errno != 5:
                    continue
            finally:
                os.close(fd)
            with tempfile.NamedTemporaryFile() as target:
                probe = subprocess.run([*_unshare(), "sh", "-c", _MOUNT_AND_RUN, "sh", "head", "-c1", target.name],
                                       env={**os.environ, "UNREADABLE_SOURCE": path,
                                            "UNREADABLE_TARGETS": target.name},
                                       capture_output=True, text=True, timeout=60, check=False)
            if probe.returncode not in (0, 97) and "Input/output error" in probe.stderr:
                return path
            return None
    return None


def need_eio_file() -> str:
    path = eio_file()
    if path is None:
        pytest.skip("no way here to make a file that fails to read (needs unshare, mount and a sysfs EIO file)")
    return path


def run_with_unreadable(targets: list[Path], *args: str | os.PathLike[str], timeout: float = 120,
                        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m syncline ARGS`` with each of ``targets`` (existing files) failing every read."""
    source = need_eio_file()
    full_env = {**os.environ, **(env or {}), "UNREADABLE_SOURCE": source,
                "UNREADABLE_TARGETS": " ".join(str(t) for t in targets), "PYTHONDONTWRITEBYTECODE": "1"}
    assert all(" " not in str(t) for t in targets)
    cmd = [*_unshare(), "sh", "-c", _MOUNT_AND_RUN, "sh", sys.executable, "-m", "syncline", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, check=False)
    assert proc.returncode != 97, f"bind mount failed: {proc.stderr}"
    return proc
