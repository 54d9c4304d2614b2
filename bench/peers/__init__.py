"""The peers of the server benchmark (issue 13): Syncthing and rsync over ssh, on 127.0.0.1 only.

``syncthing`` and ``rsync_ssh`` hold the set-up of each peer and its measurements; ``bench/server_bench.py``
runs them. This module holds what both need: the interface every peer offers (:class:`Peer`, :class:`Session`;
syncline's server with two daemons is to be one more class of it), free ports, processes that die with the
benchmark, and the change set between two trees (so every peer gets the same edits).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import run
import watch

STOP_GRACE = 15.0
_PR_SET_PDEATHSIG = 1
CONTENT_CHECK_MAX = 1 << 20  # files up to this size are compared byte for byte while waiting; larger by stat


class Session(Protocol):
    """Two places A and B of one tool holding the same tree, in sync; each call is one timed repetition, so a
    runner can interleave the peers. Results are dicts with at least ``seconds``; ``wire_up``/``wire_down``
    (bytes A -> B and B -> A, counted by ``syncline.testing.NetProxy``) when the session counts bytes."""

    def edit_modes(self) -> list[tuple[str, bool]]:
        """The ways ``edit`` can run, as (label, slow): a slow mode gets fewer edits."""
        ...

    def edit(self, mode: str, rel: str, data: bytes) -> float:
        """Write ``data`` over ``rel`` on A; seconds until B holds it."""
        ...

    def change_modes(self, scenario: str) -> list[str]:
        """The ways ``changes`` runs in ``scenario`` ("1pct", "big")."""
        ...

    def changes(self, mode: str, ch: Changes) -> dict[str, Any]:
        """Make ``ch`` on A; until all of it is on B (checked on disk). B is back at ``ch.old`` afterwards."""
        ...

    def idle(self, seconds: float) -> dict[str, Any] | None:
        """CPU and memory of the tool over ``seconds`` with nothing to do; None for a tool with no daemon."""
        ...


class Peer(Protocol):
    """A tool the server benchmark measures (Syncthing, rsync over ssh; syncline's server + daemons next)."""

    name: str

    def initial(self, src: Path, work: Path) -> dict[str, Any]:
        """``src`` on A, B empty, fresh state; seconds until B equals A. ``work`` is scratch space."""
        ...

    def session(self, base: Path, work: Path, count_bytes: bool) -> AbstractContextManager[Session]:
        """A synced session holding ``base`` on both sides; with ``count_bytes``, traffic goes through a NetProxy."""
        ...


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


def wait_listening(service: Service, port: int, timeout: float = 30.0) -> None:
    """Wait until ``service`` accepts connections on 127.0.0.1:``port``; RuntimeError (with its log) when it
    exits first, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        service.check_alive()
        try:
            wait_port(port, timeout=1)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise


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
        return watch.terminate(self.proc, STOP_GRACE)


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
            elif not self._arrived(dst, rel):
                left.append(rel)
        return left

    def _arrived(self, dst: Path, rel: str) -> bool:
        """``dst/rel`` has ``new``'s size and mtime, and (small files) its bytes: a large file is checked by
        ``verify`` once it has arrived, not read again at every poll."""
        try:
            st, ref = (dst / rel).stat(), (self.new / rel).stat()
            if (st.st_size, st.st_mtime_ns) != (ref.st_size, ref.st_mtime_ns):
                return False
            return st.st_size > CONTENT_CHECK_MAX or (dst / rel).read_bytes() == (self.new / rel).read_bytes()
        except OSError:
            return False

    def verify(self, dst: Path) -> None:
        """Every copied file of ``dst`` holds ``new``'s bytes and every deleted one is gone; else RuntimeError."""
        for rel in self.copy:
            if not _same_bytes(dst / rel, self.new / rel):
                raise RuntimeError(f"{dst / rel} differs from {self.new / rel}")
        if stale := [rel for rel in self.delete if os.path.lexists(dst / rel)]:
            raise RuntimeError(f"{len(stale)} deleted files still in {dst}, e.g. {stale[0]}")

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


def _same_bytes(a: Path, b: Path, chunk: int = 1 << 22) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True


def tree_equal(src: Path, dst: Path, exclude: tuple[str, ...] = ()) -> bool:
    """No file differs between the trees (rsync's quick check; directory metadata not counted)."""
    return run.differences(src, dst, exclude)["files"] == 0
