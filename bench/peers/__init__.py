"""The peers of the server benchmark (issue 13): Syncthing and rsync over ssh, on 127.0.0.1 only.

``syncthing`` and ``rsync_ssh`` hold the set-up of each peer and its measurements; ``bench/server_bench.py``
runs them. This module holds what both need: free ports, processes that die with the benchmark, and the
change set between two trees (so both peers, and later syncline, get the same edits).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import run
import watch

STOP_GRACE = 15.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark's process goes, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime (and reaped children's) of ``pid`` and of every live descendant (e.g. the process that
    Syncthing's monitor starts)."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
                parents[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += watch.cpu_seconds(p)
        except OSError:
            pass
        todo += [c for c, pp in parents.items() if pp == p]
    return total


@dataclass
class Service:
    """A long-running helper (a Syncthing instance, an sshd) in its own session, logging to ``log``.

    Stopped by ``stop`` (SIGTERM, SIGKILL to its process group after STOP_GRACE s); it also gets SIGTERM
    if the benchmark dies without stopping it.
    """

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True, preexec_fn=_die_with_parent)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log {self.log}:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> str:
        how = "exited before stop"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
                how = "SIGTERM"
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
                how = "SIGKILL"
        try:  # anything left in its session
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return how


@dataclass
class Changes:
    """How to turn tree ``old`` into tree ``new``: files to copy from ``new``, files to delete."""

    old: Path
    new: Path
    copy: list[str]
    delete: list[str]

    @classmethod
    def between(cls, old: Path, new: Path) -> Changes:
        """From ``rsync -ani --delete new/ old/`` (file entries only; directories are made as needed)."""
        out = subprocess.run(["rsync", "-ani", "--delete", f"{new}/", f"{old}/"], check=True, capture_output=True,
                             text=True).stdout
        copy, delete = [], []
        for line in out.splitlines():
            if line.startswith("*deleting "):
                rel = line[len("*deleting "):].strip()
                if not rel.endswith("/"):
                    delete.append(rel)
            elif len(line) > 12 and line[1] == "f":
                copy.append(line[12:])
        return cls(old, new, sorted(copy), sorted(delete))

    def reverse(self) -> Changes:
        """The changes that put ``old`` back: copy back what was changed or deleted, delete what was added."""
        added = [r for r in self.copy if not (self.old / r).exists()]
        changed = [r for r in self.copy if (self.old / r).exists()]
        return Changes(self.new, self.old, sorted(changed + self.delete), sorted(added))

    def apply(self, target: Path) -> float:
        """Make the changes in ``target`` (copies with their mtimes, in place, as an editor would); seconds taken."""
        t0 = time.perf_counter()
        for rel in self.copy:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.new / rel, target / rel)
        for rel in self.delete:
            (target / rel).unlink(missing_ok=True)
        return time.perf_counter() - t0

    def pending(self, dst: Path, todo: list[str] | None = None) -> list[str]:
        """The changes (of ``todo``, default all) not yet in ``dst``: a copied file whose bytes differ from
        ``new``'s, a deleted one still there."""
        gone = set(self.delete)
        left = []
        for rel in self.copy + self.delete if todo is None else todo:
            if rel in gone:
                if os.path.lexists(dst / rel):
                    left.append(rel)
                continue
            try:
                if (dst / rel).read_bytes() != (self.new / rel).read_bytes():
                    left.append(rel)
            except OSError:
                left.append(rel)
        return left

    def wait_arrived(self, dst: Path, t0: float, timeout: float, poll: float = 0.02) -> float | None:
        """Seconds from ``t0`` (perf_counter) until every change is in ``dst``; None after ``timeout``."""
        todo = self.pending(dst)
        while todo:
            if time.perf_counter() - t0 > timeout:
                return None
            time.sleep(poll)
            todo = self.pending(dst, todo)
        return time.perf_counter() - t0

    def __len__(self) -> int:
        return len(self.copy) + len(self.delete)


def tree_equal(src: Path, dst: Path, exclude: tuple[str, ...] = ()) -> bool:
    """No file differs between the trees (rsync's quick check; directory metadata not counted)."""
    return run.differences(src, dst, exclude)["files"] == 0
