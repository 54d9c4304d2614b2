"""syncline's own server as a peer of the server benchmark: ``syncline serve`` and one ``syncline daemon``
per device, on 127.0.0.1.

The server runs from a data folder under the benchmark's work folder, on a free port of 127.0.0.1, plain
HTTP (allowed on loopback) or ``--tls self-signed`` (``tls=True``; the devices pin the fingerprint it
prints with ``connect --fingerprint``). A user is added with ``syncline user add --password-stdin``. Each
device has its own state folder (``SYNCLINE_STATE_DIR``) and config home (``XDG_CONFIG_HOME``, also
``XDG_STATE_HOME``/``XDG_DATA_HOME``), and is set up as a person would: ``syncline connect URL --user
--password-stdin``, ``syncline folder add DIR --remote NAME --create``, then ``syncline daemon``.
Completion: both daemons say ``in sync`` (``STATE/daemon/status.json``) and B's tree equals A's on disk
(``rsync -ani``, ``.syncline`` left out; the status alone is not trusted).

Bytes on the wire (``count_bytes``): each device reaches the server only through its own
``syncline.testing.NetProxy`` (the URL it connects to is the proxy's), so the upload hop (A <-> server)
and the download hop (server <-> B) are counted apart, both directions, the event streams included.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run
import watch
from peers import Changes, Service, free_port, tree_cpu_seconds, wait_listening
from syncline.testing.netproxy import NetProxy

FOLDER = "bench"
USER, PASSWORD = "bench", "bench-password-1"
IDLE_DEVICES = 20


def version(syncline: str) -> str:
    return subprocess.run([syncline, "--version"], capture_output=True, text=True).stdout.strip()


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} ... failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass
class Server:
    """A running ``syncline serve``: its URL, the certificate fingerprint (TLS) and process."""

    url: str
    port: int
    fingerprint: str | None
    service: Service
    rss_start_mib: float = 0.0  # right after start and ``user add``, before any device connected

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.service.pid)

    def rss_mib(self) -> float:
        return watch.tree_rss(self.service.pid) / 2**20


@contextmanager
def server(syncline: str, root: Path, env: dict[str, str], tls: bool) -> Iterator[Server]:
    """Start ``syncline serve`` with its data in ``root/data``, add the benchmark's user; stop it on the way out."""
    data, port = root / "data", free_port()
    argv = [syncline, "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}"]
    service = Service("syncline serve", argv + (["--tls", "self-signed"] if tls else []), root / "serve.log", env)
    try:
        wait_listening(service, port, 60)
        deadline = time.monotonic() + 60
        fingerprint = None
        if tls:
            while not (m := re.search(r"fingerprint:\s*(SHA256:[0-9A-Fa-f:]+)", service.log_tail())):
                service.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"syncline serve printed no fingerprint:\n{service.log_tail()}")
                time.sleep(0.05)
            fingerprint = m.group(1)
        _run([syncline, "user", "add", USER, "--data", str(data), "--password-stdin"], env, PASSWORD + "\n")
        srv = Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}", port, fingerprint, service)
        srv.rss_start_mib = srv.rss_mib()
        yield srv
    finally:
        service.stop()


@dataclass
class Device:
    """One device: its folder, state and config homes, and (once started) its daemon."""

    name: str
    home: Path
    folder: Path
    syncline: str
    base_env: dict[str, str]
    proxy: NetProxy | None = None
    daemon: Service | None = field(default=None)

    @property
    def env(self) -> dict[str, str]:
        h = self.home
        return {**self.base_env, "SYNCLINE_STATE_DIR": str(h / "state"), "XDG_CONFIG_HOME": str(h / "config"),
                "XDG_STATE_HOME": str(h / "xdg-state"), "XDG_DATA_HOME": str(h / "xdg-data")}

    def set_up(self, srv: Server, remote: str = FOLDER, create: bool = True) -> None:
        """``connect`` (through the device's proxy, when it has one) and ``folder add``."""
        self.home.mkdir(parents=True, exist_ok=True)
        url = f"{srv.url.rsplit(':', 1)[0]}:{self.proxy.port}" if self.proxy else srv.url
        argv = [self.syncline, "connect", url, "--user", USER, "--password-stdin", "--device", self.name]
        _run(argv + (["--fingerprint", srv.fingerprint] if srv.fingerprint else []), self.env, PASSWORD + "\n")
        _run([self.syncline, "folder", "add", str(self.folder), "--remote", remote,
              *(["--create"] if create else [])], self.env)

    def start(self) -> None:
        self.daemon = Service(f"syncline daemon {self.name}", [self.syncline, "daemon"], self.home / "daemon.log",
                              self.env)

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()

    def state(self) -> str | None:
        """The folder's state in the daemon's status file (None before it is written)."""
        assert self.daemon is not None
        self.daemon.check_alive()
        try:
            folders = json.loads((self.home / "state" / "daemon" / "status.json").read_bytes())["folders"]
        except (OSError, ValueError, KeyError):
            return None
        return str(folders[0]["state"]) if folders else None

    def cpu_seconds(self) -> float:
        assert self.daemon is not None
        return tree_cpu_seconds(self.daemon.pid)

    def rss_mib(self) -> float:
        assert self.daemon is not None
        return watch.tree_rss(self.daemon.pid) / 2**20

    def wire(self) -> tuple[int, int]:
        return (self.proxy.bytes_up, self.proxy.bytes_down) if self.proxy else (0, 0)


@dataclass
class Setup:
    """A server and devices A and B bound to one folder, daemons running."""

    srv: Server
    a: Device
    b: Device
    stack: ExitStack

    def done(self) -> bool:
        """Both daemons in sync and B's tree equal to A's."""
        return (self.a.state() == "in sync" and self.b.state() == "in sync"
                and run.differences(self.a.folder, self.b.folder)["files"] == 0)

    def wait_synced(self, t0: float, timeout: float, poll: float = 0.05) -> float:
        """Seconds from ``t0`` until ``done``."""
        while time.perf_counter() - t0 < timeout:
            self.srv.service.check_alive()
            if self.done():
                return time.perf_counter() - t0
            time.sleep(poll)
        raise RuntimeError(f"syncline: B not equal to A after {timeout:.0f} s\n{self.report()}")

    def report(self) -> str:
        """What went wrong, for an error: the states, the differences and the logs' tails."""
        lines = [f"states: A {self.a.state()}, B {self.b.state()}; "
                 f"differences {run.differences(self.a.folder, self.b.folder)}"]
        for name, svc in (("server", self.srv.service), ("A", self.a.daemon), ("B", self.b.daemon)):
            if svc is not None:
                lines.append(f"--- {name} ({svc.log}):\n{svc.log_tail()}")
        return "\n".join(lines)

    def wire(self) -> dict[str, int]:
        """Bytes through each device's proxy so far: A -> server, server -> A, B -> server, server -> B."""
        (au, ad), (bu, bd) = self.a.wire(), self.b.wire()
        return {"a_up": au, "a_down": ad, "b_up": bu, "b_down": bd}


@contextmanager
def setup(syncline: str, work: Path, a_dir: Path, b_dir: Path, env: dict[str, str], tls: bool,
          count_bytes: bool = False, start: bool = True) -> Iterator[Setup]:
    """Server, user, devices A and B connected with their folders added; daemons started when ``start``.
    Everything stopped on the way out."""
    with ExitStack() as stack:
        srv = stack.enter_context(server(syncline, work / "server", env, tls))
        devs = []
        for name, folder in (("A", a_dir), ("B", b_dir)):
            proxy = stack.enter_context(NetProxy("127.0.0.1", srv.port)) if count_bytes else None
            dev = Device(name, work / f"device-{name.lower()}", folder, syncline, env, proxy)
            dev.set_up(srv)
            stack.callback(dev.stop)
            devs.append(dev)
        s = Setup(srv, devs[0], devs[1], stack)
        if start:
            for dev in devs:
                dev.start()
        yield s


def _clean(work: Path) -> None:
    """Remove ``work`` unless ``SYNCLINE_BENCH_KEEP`` is set (``--keep-work``): its logs are read next to
    each edit's timing."""
    if not os.environ.get("SYNCLINE_BENCH_KEEP"):
        run.rm_rf(work)


def wait_state(devices: list[Device], deadline: float, state: str = "in sync") -> None:
    """Until every device's daemon reports ``state``; RuntimeError at ``deadline`` (monotonic)."""
    for dev in devices:
        while dev.state() != state:
            if time.monotonic() > deadline:
                raise RuntimeError(f"syncline daemon {dev.name} not {state}; log {dev.home / 'daemon.log'}")
            time.sleep(0.1)


# -- measurements (one repetition each) -------------------------------------------------------------------
def initial_sync(syncline: str, work: Path, src: Path, env: dict[str, str], tls: bool,
                 timeout: float) -> dict[str, Any]:
    """A holds a ``cp -a`` of ``src``, B is empty, both connected with the folder added (made empty on the
    server by A); B's daemon runs and is in sync with the empty folder; from starting A's daemon (its
    start-up included) until B's tree equals A's.

    B's daemon starts first: before main 8bfcece two daemons making their first run on a new server folder
    at once could stop one of them ("... belongs to another synced folder since the last run")."""
    run.fresh_dir(work)
    a_dir, b_dir = work / "a", work / "b"
    run.sh("cp", "-a", src, a_dir)
    b_dir.mkdir(parents=True)
    os.sync()
    with setup(syncline, work, a_dir, b_dir, env, tls, start=False) as s:
        s.b.start()
        wait_state([s.b], time.monotonic() + timeout)
        cpu0 = {"server": s.srv.cpu_seconds(), "B": s.b.cpu_seconds()}
        t0 = time.perf_counter()
        s.a.start()
        seconds = s.wait_synced(t0, timeout)
        cpu = {"server": s.srv.cpu_seconds() - cpu0["server"], "A": s.a.cpu_seconds(),
               "B": s.b.cpu_seconds() - cpu0["B"]}
        rss = {"server": s.srv.rss_mib(), "A": s.a.rss_mib(), "B": s.b.rss_mib()}
    _clean(work)
    return {"seconds": seconds, "cpu_seconds": cpu, "rss_mib": rss}


@contextmanager
def synced(syncline: str, work: Path, base: Path, env: dict[str, str], tls: bool, timeout: float,
           count_bytes: bool = False) -> Iterator[Setup]:
    """A server and two devices holding ``base`` (``cp -a`` each; A's daemon uploads it, B's finds it
    there), in sync."""
    run.fresh_dir(work)
    a_dir, b_dir = work / "a", work / "b"
    run.sh("cp", "-a", base, a_dir)
    run.sh("cp", "-a", base, b_dir)
    with setup(syncline, work, a_dir, b_dir, env, tls, count_bytes, start=False) as s:
        s.a.start()
        wait_state([s.a], time.monotonic() + timeout)  # A first: B then finds the server holding what it holds
        s.b.start()
        s.wait_synced(time.perf_counter(), timeout)
        yield s
    _clean(work)


def edit(s: Setup, rel: str, data: bytes, timeout: float, poll: float = 0.002) -> float:
    """Write ``data`` over ``rel`` on A; seconds until B holds it (polled on disk), then wait until both
    daemons are in sync (not timed)."""
    took = watch.write_and_wait(s.a.folder, s.b.folder, rel, data, poll, timeout)
    if took is None:
        raise RuntimeError(f"syncline: an edit of {rel} not on B after {timeout:.0f} s")
    s.wait_synced(time.perf_counter(), timeout)
    return took


def changes(s: Setup, ch: Changes, timeout: float) -> dict[str, Any]:
    """Make ``ch`` on A; seconds until all are on B. Then put A back (``ch.reverse()``) and wait until B
    follows (not timed)."""
    cpu0 = {"server": s.srv.cpu_seconds(), "A": s.a.cpu_seconds(), "B": s.b.cpu_seconds()}
    wire0 = s.wire()
    t0 = time.perf_counter()
    applied = ch.apply(s.a.folder)
    took = ch.wait_arrived(s.b.folder, t0, timeout)
    if took is None:
        raise RuntimeError(f"syncline: changes not on B after {timeout:.0f} s\n{s.report()}")
    s.wait_synced(time.perf_counter(), timeout)
    cpu = {"server": s.srv.cpu_seconds(), "A": s.a.cpu_seconds(), "B": s.b.cpu_seconds()}
    wire = s.wire()
    ch.verify(s.b.folder)
    back = ch.reverse()
    t1 = time.perf_counter()
    back.apply(s.a.folder)
    back.wait_arrived(s.b.folder, t1, timeout)
    s.wait_synced(time.perf_counter(), timeout)
    out: dict[str, Any] = {"seconds": took, "apply_seconds": applied,
                           "cpu_seconds": {k: cpu[k] - cpu0[k] for k in cpu}}
    if s.a.proxy:
        hop = {k: wire[k] - wire0[k] for k in wire}
        # A -> B is the upload hop's up plus the download hop's down; the hops are kept apart too.
        out |= {"wire_up": hop["a_up"] + hop["b_down"], "wire_down": hop["a_down"] + hop["b_up"],
                "wire_hops": hop, "wire_upload_hop": hop["a_up"] + hop["a_down"],
                "wire_download_hop": hop["b_up"] + hop["b_down"]}
    return out


def idle(s: Setup, seconds: float, devices: int = IDLE_DEVICES) -> dict[str, Any]:
    """``devices`` connected devices (A and B with the tree, the others each with an empty folder bound to
    one more server folder), all idle: the server's CPU over ``seconds`` and its RSS growth per device, and
    every daemon's own CPU."""
    rss_ab = s.srv.rss_mib()
    work = s.a.home.parent
    others = []
    for i in range(devices - 2):
        dev = Device(f"idle{i:02d}", work / f"device-idle{i:02d}", work / f"idle{i:02d}", s.a.syncline,
                     s.a.base_env)
        dev.folder.mkdir(parents=True, exist_ok=True)
        dev.set_up(s.srv, remote="idle", create=True)
        s.stack.callback(dev.stop)
        dev.start()
        others.append(dev)
    wait_state(others, time.monotonic() + 600)
    time.sleep(5)  # let the start-up work end
    every = [s.a, s.b, *others]
    srv0, dev0 = s.srv.cpu_seconds(), {d.name: d.cpu_seconds() for d in every}
    t0 = time.perf_counter()
    time.sleep(seconds)
    window = time.perf_counter() - t0
    srv_cpu = s.srv.cpu_seconds() - srv0
    dev_pct = {d.name: 100 * (d.cpu_seconds() - dev0[d.name]) / window for d in every}
    rss_all = s.srv.rss_mib()
    return {"window_s": window, "devices": devices, "server_cpu_pct": 100 * srv_cpu / window,
            "server_rss_mib_start": s.srv.rss_start_mib, "server_rss_mib_2_devices": rss_ab,
            "server_rss_mib": rss_all,
            # growth since start / all devices (includes the tree's folder, served to A and B) ...
            "server_rss_per_device_mib": (rss_all - s.srv.rss_start_mib) / devices,
            # ... and growth from the 2 devices holding the tree to all of them / the others (empty folder)
            "server_rss_per_extra_device_mib": (rss_all - rss_ab) / (devices - 2),
            "daemon_cpu_pct": dev_pct, "daemon_cpu_pct_sum": sum(dev_pct.values()),
            "daemon_rss_mib": {d.name: d.rss_mib() for d in every},
            "cpu_pct_both": 100 * srv_cpu / window + dev_pct["A"] + dev_pct["B"],
            "rss_mib": {"server": rss_all, "A": s.a.rss_mib(), "B": s.b.rss_mib()}}


# -- the peer interface (peers.Peer, peers.Session) -------------------------------------------------------
@dataclass
class Session:
    """A synced server + two daemons as a ``peers.Session``."""

    s: Setup
    timeout: float

    def edit_modes(self) -> list[tuple[str, bool]]:
        return [("daemon", False)]

    def edit(self, mode: str, rel: str, data: bytes) -> float:
        return edit(self.s, rel, data, self.timeout)

    def change_modes(self, scenario: str) -> list[str]:
        return ["daemon"]

    def changes(self, mode: str, ch: Changes) -> dict[str, Any]:
        return changes(self.s, ch, self.timeout)

    def idle(self, seconds: float) -> dict[str, Any]:
        return idle(self.s, seconds)


@dataclass
class Peer:
    """syncline's server with a daemon on A and on B, as a ``peers.Peer``."""

    syncline: str
    env: dict[str, str]
    timeout: float
    tls: bool = False
    name: str = "syncline"

    def initial(self, src: Path, work: Path) -> dict[str, Any]:
        return initial_sync(self.syncline, work, src, self.env, self.tls, self.timeout)

    def session(self, base: Path, work: Path, count_bytes: bool) -> AbstractContextManager[Session]:
        @contextmanager
        def opened() -> Iterator[Session]:
            with synced(self.syncline, work, base, self.env, self.tls, self.timeout, count_bytes) as s:
                yield Session(s, self.timeout)

        return opened()
