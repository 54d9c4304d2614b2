"""Helpers of the daemon's tests against a real server: ``syncline serve`` as a process on 127.0.0.1
(restartable on the same port), a user, and devices, each a daemon in a thread with its own state
directory, config and local folder, connected as ``syncline connect`` connects."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.services.daemon import Daemon, Timing, read_status
from syncline.services.daemon import connect as c
from syncline.services.daemon.account import connected, ensure_folder
from syncline.services.daemon.configfile import add_folder, set_server_url
from syncline.services.daemon.serverfeed import FeedTiming, server_feeds

DEADLINE = 60.0
SYNCLINE = str(Path(sys.executable).parent / "syncline")
USER, PASSWORD = "anna", "a-long-enough-password"


def wait_for(what: Callable[[], Any], deadline: float = DEADLINE, describe: Callable[[], Any] | None = None) -> Any:
    """``what()`` once it is truthy; fails after ``deadline`` seconds (a file vanishing under ``what``
    is "not yet")."""
    end = time.monotonic() + deadline
    while True:
        try:
            got = what()
        except (FileNotFoundError, NotADirectoryError):
            got = None
        if got:
            return got
        if time.monotonic() > end:
            seen = f" ({describe()})" if describe is not None else ""
            pytest.fail(f"still not so after {deadline} s: {what.__doc__ or what}{seen}")
        time.sleep(0.02)


def syncline(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYNCLINE, *args], input=stdin, capture_output=True, text=True, timeout=DEADLINE,
                          env={**os.environ, **(env or {})})


@dataclass
class Server:
    """``syncline serve`` on ``data``: :meth:`start` (on ``port``, 0 the first time), :meth:`stop`."""

    data: Path
    tls: bool = False
    url: str = ""
    fingerprint: str = ""
    port: int = 0
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def add_user(self, user: str = USER, password: str = PASSWORD) -> None:
        done = syncline("user", "add", user, "--password-stdin", "--data", str(self.data), stdin=password + "\n")
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        extra = ["--tls", "self-signed"] if self.tls else []
        self.lines = []  # this start's: a restart waits for its own "on a device" line
        self.proc = subprocess.Popen([SYNCLINE, "serve", "--data", str(self.data), "--listen",
                                      f"127.0.0.1:{self.port}", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: queue.Queue[str] = queue.Queue()
        out = self.proc.stdout
        self.reader = threading.Thread(target=lambda: [lines.put(line) for line in out or ()], daemon=True)
        self.reader.start()
        end = time.monotonic() + DEADLINE
        first = len(self.lines)  # a restart waits for its own lines, not those of the start before
        while not re.search(r"on a device", "".join(self.lines[first:][-3:])):
            try:
                line = lines.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                pytest.fail("the server did not start: " + "".join(self.lines))
            self.lines.append(line)
            if m := re.search(r"server on (\S+) ", line):
                self.url = m[1]
                self.port = int(self.url.rsplit(":", 1)[1])
            if m := re.search(r"fingerprint: (\S+)", line):
                self.fingerprint = m[1]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=DEADLINE)
        if self.reader is not None:
            self.reader.join(DEADLINE)  # the process is gone: its output ends, and so does the reader
            self.reader = None
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


@contextmanager
def serving(data: Path, tls: bool = False, port: int = 0) -> Iterator[Server]:
    """A started server on ``data`` with the user ``anna``, stopped at the end."""
    server = Server(data, tls=tls, port=port)
    server.add_user()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Device:
    """One device: ``base/local`` bound to the server's ``folder``, a daemon in a thread (:meth:`start`,
    :meth:`stop`, as often as wanted), its state and config under ``base``. ``url`` is where the device
    reaches the server (a proxy in front of it); the server's own URL when None."""

    def __init__(self, base: Path, server: Server, folder: str | None, name: str, url: str | None = None,
                 user: str = USER, password: str = PASSWORD) -> None:
        self.base, self.server, self.name = base, server, name
        self.local = base / "local"
        self.state = base / "state"
        self.config = base / "daemon.toml"
        self.local.mkdir(parents=True)
        meeting = c.meet(url or server.url)
        login = c.log_in(meeting, user, password, name, None)
        c.save(self.state, login)
        self.device_id = login.device_id
        self.token = login.credentials.token
        set_server_url(self.config, meeting.url)
        if folder is not None:  # None: a device that binds its folders later
            with connected(self.state, meeting.url) as client:
                ensure_folder(client, folder, create=True)
            add_folder(self.config, str(self.local), folder)
        self.thread: threading.Thread | None = None
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> None:
        self.halt = threading.Event()
        daemon = Daemon(self.config, self.state, timing=Timing(config_every=0.2, quiet=0.02, max_backoff=1.0),
                        feeds=server_feeds(self.state, FeedTiming(first_delay=0.2, max_delay=1.0)))

        def run() -> None:
            try:
                daemon.run(self.halt)
            except BaseException as exc:  # the test says it
                self.error = exc

        self.thread = threading.Thread(target=run, name=f"daemon {self.name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        if self.thread is not None:
            self.thread.join(DEADLINE)
            assert not self.thread.is_alive(), f"the daemon of {self.name} did not stop"
        assert self.error is None, self.error

    def status(self, local: Path | None = None) -> dict[str, Any] | None:
        """The status of the folder ``local`` (None: the first one)."""
        folders = (read_status(self.state) or {}).get("folders", [])
        if local is not None:
            folders = [f for f in folders if f["local"] == str(local)]
        return dict(folders[0]) if folders else None

    def status_text(self) -> str:
        """What ``syncline status`` prints for this device."""
        return syncline("status", "--state", str(self.state)).stdout

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``syncline ARGS`` as this device (its config and state)."""
        return syncline(*args, "--config", str(self.config), "--state", str(self.state))

    def state_of(self) -> str | None:
        status = self.status()
        return status["state"] if status else None


@contextmanager
def two_devices(base: Path, folder: str, tls: bool = False) -> Iterator[tuple[Server, Device, Device]]:
    """A server on ``base/data`` and two devices of its ``folder``, ``laptop`` and ``desk``, each in sync;
    all stopped at the end."""
    devices: list[Device] = []
    with serving(base / "data", tls=tls) as server:
        try:
            # One after the other: two first runs at once on a new server folder race to mark it with their
            # own folder id (the two-way engine's marker is not written conditionally yet).
            for name in ("laptop", "desk"):
                device = Device(base / name, server, folder, name)
                devices.append(device)
                device.start()
                wait_for(lambda d=device: d.state_of() == "in sync", describe=device.status)  # type: ignore[misc]
            yield server, devices[0], devices[1]
        finally:
            for device in devices:
                device.stop()


def make_conflict(a: Device, b: Device, name: str, first: bytes, mine: bytes, theirs: bytes,
                  deadline: float = DEADLINE) -> None:
    """Both devices hold ``name`` as ``first``; then, while ``b`` is stopped, ``a`` writes ``mine`` and
    sends it, and ``b`` writes ``theirs``; ``b`` starts again and meets ``a``'s version. Returns once ``b``
    runs: the conflict is being settled."""
    (a.local / name).write_bytes(first)
    wait_for(lambda: _bytes(b.local / name) == first, deadline)
    wait_for(lambda: b.state_of() == "in sync", deadline)
    b.stop()
    (a.local / name).write_bytes(mine)
    (b.local / name).write_bytes(theirs)
    wait_for(lambda: a.state_of() == "in sync" and (a.status() or {}).get("files") == 0, deadline)
    b.start()


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def journal(server: Server, token: str, folder: str, since: int = 0) -> list[list[Any]]:
    """The folder's change rows after ``since``, read as a client reads them."""
    with httpx.Client(base_url=server.url, verify=False, timeout=DEADLINE,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        r = http.get(f"/v1/folders/{folder}/changes", params={"since": since, "limit": 10000})
        assert r.status_code == 200, r.text
        return list(r.json()["changes"])
