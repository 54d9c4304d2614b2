"""Running a test script with a small tmpfs mounted, in a private mount namespace.

The mount exists only inside ``unshare -m``: no other process on the machine ever sees it, and it goes
away with the script, whatever happens to the test. Needs root (and ``unshare``); tests skip otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="mounting a tmpfs needs root and unshare")


def run_with_tmpfs(mount_point: Path, size: str, script: str, *args: str | os.PathLike[str],
                   timeout: float = 100) -> str:
    """Run the Python ``script`` with a tmpfs of ``size`` on ``mount_point`` (created if needed) and
    ``args`` as its arguments; returns its stdout. Fails the test when the script fails; skips it when no
    tmpfs can be mounted here."""
    mount_point.mkdir(parents=True, exist_ok=True)
    path = mount_point.parent / f"{mount_point.name}-script.py"
    path.write_text(script)
    argv = " ".join(f"'{a}'" for a in args)
    shell = (f"mount -t tmpfs -o size={size} syncline-test '{mount_point}' || exit 77\n"
             f"exec '{sys.executable}' '{path}' {argv}\n")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", shell],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ})
    if done.returncode == 77:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout
