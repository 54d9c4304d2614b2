"""The pieces of the system tests: a ``syncline serve`` process, devices that run ``syncline sync --two-way``
as processes, and the comparison of their folders.

Every process is bounded in time (a run past its deadline is killed and fails the test) and every server
is killed at teardown. Deadlines are generous (a busy machine is slow) and never asserted as durations.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from syncline.core.paths import META_DIR, TEMP_PREFIX
from syncline.engine.replicas.remote import Credentials, save_credentials
from syncline.engine.replicas.remote.client import ssl_context

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
USER = "anna"
PASSWORD = "a system-test password"
FOLDER = "Docs"
START_S = 90.0  # for a process to start on a busy machine
RUN_S = 180.0  # for one sync run
WAIT_S = 120.0  # for a condition to come true
LEASE_S = 60 + 90.0  # for the lease of a killed run to lapse (the client's LOCK_TTL, and a margin)
BUSY = "another syncline run of this device"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_with(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNCLINE_CRASH_AT"}
    env["PYTHONPATH"] = str(REPO / "src")
    env.update(extra)
    return env


def wait_for(what: str, cond: Callable[[], Any], timeout: float = WAIT_S, every: float = 0.1) -> Any:
    """Poll ``cond`` until it returns something true, and return that; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(every)


class Server:
    """``python -m syncline serve --data DATA --listen 127.0.0.1:PORT --tls self-signed`` with one user
    ``anna``, made with ``syncline user add`` before the first start. ``tmpfs`` (a size such as ``"1100m"``)
    runs it in a private mount namespace (``unshare -m``) with DATA on a tmpfs of that size: nothing outside
    the namespace ever sees the mount, and it goes away with the server."""

    def __init__(self, root: Path, tmpfs: str | None = None) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.tmpfs = tmpfs
        self.proc: subprocess.Popen[bytes] | None = None
        self.pem = ""
        self.server_id = ""
        self.starts = 0
        root.mkdir(parents=True, exist_ok=True)
        self._log = root / "server.log"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-6000:]

    def path(self, relative: str = "") -> Path:
        """A path under DATA as the server sees it (inside its mount namespace for a tmpfs)."""
        base = Path(f"/proc/{self.proc.pid}/root") / self.data.relative_to("/") if self.tmpfs and self.proc \
            else self.data
        return base / relative if relative else base

    def start(self, crash_at: str | None = None) -> None:
        """Start the server (again, on the same data dir and port) and wait until ``/v1/info`` answers.
        ``crash_at`` sets ``SYNCLINE_CRASH_AT`` for this run of it only."""
        assert self.proc is None or self.proc.poll() is not None, "the server is running"
        serve = [PYTHON, "-m", "syncline", "serve", "--data", str(self.data),
                 "--listen", f"127.0.0.1:{self.port}", "--tls", "self-signed"]
        add = [PYTHON, "-m", "syncline", "user", "add", USER, "--password-stdin", "--data", str(self.data)]
        env = env_with(**({"SYNCLINE_CRASH_AT": crash_at} if crash_at else {}))
        log = open(self._log, "ab")  # noqa: SIM115 - the process holds it; closed right below
        try:
            if self.tmpfs:
                script = (f"mount -t tmpfs -o size={self.tmpfs} syncline-system '{self.data}' || exit 77\n"
                          f"printf '%s\\n' '{PASSWORD}' | {_sh(add)} || exit 1\n"
                          f"exec {_sh(serve)}\n")
                self.data.mkdir(parents=True, exist_ok=True)
                argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
            else:
                if self.starts == 0:
                    subprocess.run(add, input=f"{PASSWORD}\n".encode(), env=env_with(), check=True,
                                   capture_output=True, timeout=START_S)
                argv = serve
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root)
        finally:
            log.close()
        self.starts += 1
        deadline = time.monotonic() + START_S
        with httpx.Client(verify=False, timeout=5) as probe:  # the certificate is read once it answers
            while True:
                try:
                    info = probe.get(f"{self.url}/v1/info").json()
                    break
                except httpx.TransportError:
                    code = self.proc.poll()
                    if code == 77 and self.tmpfs:
                        import pytest

                        pytest.skip(f"cannot mount a tmpfs here: {self.log()}")
                    if code is not None or time.monotonic() > deadline:
                        raise AssertionError(f"the server did not start (exit {code}): {self.log()}") from None
                    time.sleep(0.1)
        pem = self.path("tls/cert.pem").read_text()
        assert not self.pem or pem == self.pem, "the server's certificate changed across a restart"
        assert not self.server_id or info["server_id"] == self.server_id, "the server's id changed"
        self.pem, self.server_id = pem, info["server_id"]

    def wait_dead(self, timeout: float = RUN_S) -> int:
        """Wait until the server exits by itself (a crash point); its exit status."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """kill -9."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, a graceful stop; kill -9 if it takes more than 30 s."""
        end(self.proc, 30)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.kill()

    def client(self, token: str, url: str | None = None) -> httpx.Client:
        """An HTTP client of the protocol with the server's certificate pinned and ``token``."""
        return httpx.Client(base_url=f"{url or self.url}/v1/", verify=ssl_context(self.pem), timeout=30,
                            headers={"Authorization": f"Bearer {token}"})

    def login(self, device: str) -> str:
        """A device token for ``anna`` (``POST /v1/login``)."""
        with httpx.Client(verify=ssl_context(self.pem), timeout=60) as c:
            answer = c.post(f"{self.url}/v1/login", json={"user": USER, "password": PASSWORD, "device": device})
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
        return token


def end(proc: subprocess.Popen[Any] | None, grace: float) -> None:
    """Stop ``proc`` with SIGTERM; kill -9 when it is still there after ``grace`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def write_file(root: Path, rel: str, data: bytes | str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _sh(argv: list[str]) -> str:
    return " ".join(f"'{a}'" for a in argv)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


@dataclass
class Device:
    """A device: its folder, its state dir (``SYNCLINE_STATE_DIR``, with the credentials), and the address
    it reaches the server at (through a proxy when ``port`` is the proxy's)."""

    name: str
    dir: Path
    state: Path
    server: Server
    port: int
    token: str = ""
    folder: str = FOLDER
    options: tuple[str, ...] = ()
    runs: list[Run] = field(default_factory=list)

    @classmethod
    def connected(cls, root: Path, name: str, server: Server, port: int | None = None) -> Device:
        """A device with an empty folder, logged in to ``server`` (as ``syncline connect`` leaves it)."""
        device = cls(name, root / name, root / f"{name}-state", server, port or server.port)
        device.dir.mkdir(parents=True)
        device.token = server.login(f"device-{name}")
        save_credentials(device.state, Credentials(device.server_url, device.token, server.pem, server.server_id))
        return device

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def remote(self) -> str:
        return f"{self.server_url}/{self.folder}"

    def on(self, folder: str, where: Path, *options: str) -> Device:
        """This device (same state dir, same token) with another local folder ``where`` bound to the server
        folder ``folder``, its runs given ``options``."""
        where.mkdir(parents=True)
        return replace(self, dir=where, folder=folder, options=options, runs=[])

    def start_sync(self, crash_at: str | None = None) -> subprocess.Popen[str]:
        """``syncline sync --two-way DIR https://127.0.0.1:PORT/Docs`` (and ``options``) started (the caller
        waits)."""
        env = env_with(SYNCLINE_STATE_DIR=str(self.state), **({"SYNCLINE_CRASH_AT": crash_at} if crash_at else {}))
        return subprocess.Popen([PYTHON, "-m", "syncline", "sync", "--two-way", *self.options, str(self.dir),
                                 self.remote],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def finish(self, proc: subprocess.Popen[str], timeout: float = RUN_S) -> Run:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"{self.name}: a sync ran past {timeout:.0f} s:\n{out}\n{err}") from None
        run = Run(proc.returncode, out, err)
        self.runs.append(run)
        return run

    def sync(self, crash_at: str | None = None, expect: int | None = 0) -> Run:
        """One run to its end; ``expect`` its exit code (None: any)."""
        run = self.finish(self.start_sync(crash_at))
        if expect is not None:
            assert run.code == expect, f"{self.name}: {run}"
        return run

    def sync_when_free(self) -> Run:
        """One run to its end, after the lease a killed run of this device left on the server folder lapses:
        until then a run is refused (exit 2, "another syncline run of this device"; LOCK_TTL is 60 s)."""
        deadline = time.monotonic() + LEASE_S
        while True:
            run = self.sync(expect=None)
            if not (run.code == 2 and BUSY in run.err) or time.monotonic() > deadline:
                assert run.code == 0, f"{self.name}: {run}"
                return run
            time.sleep(2)

    def write(self, rel: str, data: bytes | str) -> None:
        write_file(self.dir, rel, data)

    def tree(self) -> dict[str, bytes]:
        return tree(self.dir)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (its ``.syncline`` folder left out) by relative path, with its bytes;
    fails on a temp file (``.syncline-tmp-...``) left anywhere."""
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != META_DIR]
        for name in dirnames + filenames:
            assert not name.startswith(TEMP_PREFIX), f"a temp file left in {root}: {rel_dir / name}"
        for name in filenames:
            files[(rel_dir / name).as_posix()] = (Path(dirpath) / name).read_bytes()
    return files


def dirs(root: Path) -> set[str]:
    """Every folder under ``root`` (``.syncline`` left out)."""
    found = set()
    for dirpath, dirnames, _ in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != META_DIR]
        found.update((rel_dir / d).as_posix() for d in dirnames)
    return found


def conflict_copies(files: dict[str, bytes], path: str) -> list[bytes]:
    """The contents of the conflict copies of ``path`` (``name.sync-conflict-...ext``) in ``files``."""
    stem, dot, ext = path.rpartition(".") if "." in path.rsplit("/", 1)[-1] else (path, "", "")
    return [data for name, data in files.items()
            if name.startswith(f"{stem}.sync-conflict-") and name.endswith(f"{dot}{ext}")]


def converge(devices: list[Device], rounds: int = 3) -> dict[str, bytes]:
    """Sync every device in turn until a whole round changes no folder; all trees equal; that tree."""
    for _ in range(rounds):
        before = [d.tree() for d in devices]
        for d in devices:
            d.sync()
        after = [d.tree() for d in devices]
        if before == after and all(t == after[0] for t in after):
            return after[0]
    trees = [d.tree() for d in devices]
    for d, t in zip(devices[1:], trees[1:], strict=True):
        assert t == trees[0], f"{d.name} differs from {devices[0].name}: {sorted(set(t) ^ set(trees[0]))}"
    return trees[0]


def changes(server: Server, token: str, since: int = 0) -> list[list[Any]]:
    """The folder's change feed from ``since`` (``[seq, op, path, from, device]`` each), every page."""
    found: list[list[Any]] = []
    with server.client(token) as c:
        while True:
            page = c.get(f"folders/{FOLDER}/changes", params={"since": since}).json()
            found.extend(page["changes"])
            if not page["more"]:
                return found
            since = page["next"]


def snapshot(root: Path) -> dict[str, bytes] | None:
    """``root``'s files as :func:`tree` reads them, None while a process is writing in it (a temp file
    present, or a file gone between listing and reading): for polling a folder a daemon works in."""
    try:
        return tree(root)
    except (AssertionError, OSError):
        return None


@dataclass
class Daemon:
    """A device running ``syncline daemon`` as a process: connected with ``syncline connect`` (the
    self-signed certificate pinned by its fingerprint) and its folder bound with ``syncline folder add``."""

    name: str
    dir: Path
    env: dict[str, str]
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def connected(cls, root: Path, name: str, server: Server, port: int | None = None) -> Daemon:
        """A daemon (not started yet) connected to ``server`` at ``port`` (a proxy's; default the server's)."""
        from syncline.server.tls import fingerprint

        home = root / f"{name}-home"
        daemon = cls(name, root / name, {"SYNCLINE_STATE_DIR": str(home / "state"),
                                         "XDG_CONFIG_HOME": str(home / "config")}, home)
        daemon.dir.mkdir(parents=True)
        daemon.cli("connect", f"https://127.0.0.1:{port or server.port}", "--user", USER, "--password-stdin",
                   "--fingerprint", fingerprint(server.pem), "--device", f"daemon-{name}", stdin=f"{PASSWORD}\n")
        daemon.cli("folder", "add", str(daemon.dir), "--remote", FOLDER, "--create")
        return daemon

    def cli(self, *args: str, stdin: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([PYTHON, "-m", "syncline", *args], input=stdin, capture_output=True, text=True,
                              env=env_with(**self.env), timeout=RUN_S)
        assert not check or done.returncode == 0, f"syncline {' '.join(args)}: {done.stderr}"
        return done

    def start(self, crash_at: str | None = None) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the daemon is running"
        env = env_with(**self.env, **({"SYNCLINE_CRASH_AT": crash_at} if crash_at else {}))
        with open(self.root / "daemon.log", "ab") as log:
            self.proc = subprocess.Popen([PYTHON, "-m", "syncline", "daemon"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)

    def log(self) -> str:
        return (self.root / "daemon.log").read_text(errors="replace")[-4000:]

    def status(self) -> str:
        return self.cli("status", check=False).stdout

    def stop(self) -> None:
        """SIGTERM (a run in flight ends first); kill -9 after 60 s."""
        end(self.proc, 60)

    def write(self, rel: str, data: bytes | str) -> None:
        write_file(self.dir, rel, data)


def settle(daemons: list[Daemon], want: dict[str, bytes], timeout: float = LEASE_S + 60) -> None:
    """Wait until every daemon's folder holds exactly ``want`` (no temp file left)."""
    def done() -> bool:
        return all(snapshot(d.dir) == want for d in daemons)

    try:
        wait_for("the daemons' folders to settle", done, timeout, every=0.2)
    except AssertionError:
        raise AssertionError(f"not settled; want {outline(want)}; " + "; ".join(
            f"{d.name}: {outline(snapshot(d.dir) or {})}\n{d.log()[-1500:]}" for d in daemons)) from None


def outline(files: dict[str, bytes]) -> str:
    """A tree for a message: each path with its size and the start of its bytes."""
    return ", ".join(f"{k} ({len(v)} B {v[:12]!r})" for k, v in sorted(files.items()))
