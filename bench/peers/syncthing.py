"""Syncthing as a peer of the server benchmark: two instances on 127.0.0.1, one folder shared A -> B.

Debian's package (``apt-get install syncthing``; 1.19.2 on Debian 12). Each instance has its own home under
the benchmark's data folder (``syncthing generate --home``), listens only on 127.0.0.1 (its GUI/REST port
and its sync port), and has global and local discovery, relays, NAT traversal, usage and crash reporting
and upgrades off: written into its config.xml before its first start (so it never opens a socket on
another address) and set again through ``PATCH /rest/config/options``. Devices and the folder are added
through the REST API (``/rest/config/devices``, ``/rest/config/folders``). Completion: A reports B at 100%
(``/rest/db/completion``), B has ``needFiles`` 0 and both are ``idle`` (``/rest/db/status``), and then the
trees on disk are equal (``rsync -ani``; the API alone is not trusted).

Bytes on the wire (``count_bytes``): A reaches B only through a ``syncline.testing.NetProxy`` in front of
B's sync port (A's device entry for B names the proxy; B's entry for A is ``dynamic``, and with discovery
off B never dials A), so every byte between the two, TLS included, is counted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import run
import watch
from peers import Changes, Service, free_port, tree_cpu_seconds, wait_port
from syncline.testing.netproxy import NetProxy

FOLDER = "bench"
EXCLUDE = ("/.stfolder/", "/.stversions/", "/.stignore")  # Syncthing's own entries in a folder root
DEFAULT_DELAY = 10  # fsWatcherDelayS, Syncthing's default
SMALLEST_DELAY = 1  # an integer number of seconds in 1.19; 0 is refused
# Network off except 127.0.0.1: options of config.xml (also sent through PATCH /rest/config/options).
OFFLINE_OPTIONS: dict[str, Any] = {
    "globalAnnounceEnabled": False, "localAnnounceEnabled": False, "relaysEnabled": False, "natEnabled": False,
    "urAccepted": -1, "crashReportingEnabled": False, "autoUpgradeIntervalH": 0, "startBrowser": False,
    "announceLANAddresses": False, "stunServers": [],
}


def version() -> str:
    return subprocess.run(["syncthing", "--version"], capture_output=True, text=True).stdout.strip()


@dataclass
class Instance:
    """One running Syncthing: its home, ports, device ID, API key and process."""

    name: str
    home: Path
    gui_port: int
    sync_port: int
    apikey: str
    device_id: str
    service: Service

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.sync_port}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        """Call the REST API; the decoded JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.gui_port}{path}", data=data, method=method,
                                     headers={"X-API-Key": self.apikey, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{self.name}: {method} {path} -> {exc.code} {exc.read()[:500]!r}") from None
        return json.loads(raw) if raw.strip() else None

    def status(self) -> dict[str, Any]:
        return dict(self.api("GET", f"/rest/db/status?folder={FOLDER}"))

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.service.pid)

    def rss_mib(self) -> float:
        return watch.tree_rss(self.service.pid) / 2**20


def _write_offline_config(home: Path, gui_port: int, sync_port: int, apikey: str) -> None:
    """Set the GUI address, API key, listen address and the network options in config.xml."""
    path = home / "config.xml"
    tree = ET.parse(path)
    root = tree.getroot()
    gui = root.find("gui")
    assert gui is not None
    gui.find("address").text = f"127.0.0.1:{gui_port}"  # type: ignore[union-attr]
    gui.find("apikey").text = apikey  # type: ignore[union-attr]
    opts = root.find("options")
    assert opts is not None
    for el in opts.findall("listenAddress") + opts.findall("globalAnnounceServer") + opts.findall("stunServer"):
        opts.remove(el)
    ET.SubElement(opts, "listenAddress").text = f"tcp://127.0.0.1:{sync_port}"
    for key, value in OFFLINE_OPTIONS.items():
        el = opts.find(key)
        if el is not None and not isinstance(value, list):
            el.text = str(value).lower() if isinstance(value, bool) else str(value)
    tree.write(path)


def start_instance(name: str, home: Path) -> Instance:
    """Generate a home (keys, config) and start ``syncthing serve`` on 127.0.0.1 with it."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "STNOUPGRADE": "1", "STNODEFAULTFOLDER": "1", "STNORESTART": "1",
           "all_proxy": "", "http_proxy": "", "https_proxy": ""}
    out = subprocess.run(["syncthing", "generate", "--home", str(home), "--no-default-folder"], env=env,
                         capture_output=True, text=True, check=True)
    device_id = next(line.split("Device ID:", 1)[1].strip() for line in (out.stdout + out.stderr).splitlines()
                     if "Device ID:" in line)
    gui_port, sync_port, apikey = free_port(), free_port(), secrets.token_hex(16)
    _write_offline_config(home, gui_port, sync_port, apikey)
    argv = ["syncthing", "serve", "--home", str(home), "--no-browser", "--no-restart", "--no-upgrade",
            "--no-default-folder", "--skip-port-probing", f"--gui-address=http://127.0.0.1:{gui_port}",
            f"--gui-apikey={apikey}", "--logflags=3"]
    inst = Instance(name, home, gui_port, sync_port, apikey, device_id,
                    Service(f"syncthing {name}", argv, home / "syncthing.log", env))
    try:
        deadline = time.monotonic() + 60
        while True:
            inst.service.check_alive()
            try:
                wait_port(gui_port, timeout=1)
                inst.api("GET", "/rest/system/ping")
                break
            except (RuntimeError, OSError):
                if time.monotonic() > deadline:
                    raise
        inst.api("PATCH", "/rest/config/options", {**OFFLINE_OPTIONS,
                                                   "listenAddresses": [inst.address]})
    except BaseException:
        inst.service.stop()
        raise
    return inst


@dataclass
class Pair:
    """Two connected instances and the two folder paths (A sends, B receives; both send-receive)."""

    a: Instance
    b: Instance
    a_dir: Path
    b_dir: Path
    proxy: NetProxy | None = None

    def wire(self) -> tuple[int, int]:
        """Bytes A -> B and B -> A through the proxy so far (0, 0 without one)."""
        return (self.proxy.bytes_up, self.proxy.bytes_down) if self.proxy else (0, 0)

    def share(self, delay: int = DEFAULT_DELAY) -> float:
        """Add the folder on B (empty), then on A; returns the perf_counter time A's folder was added."""
        for inst, path, peer in ((self.b, self.b_dir, self.a), (self.a, self.a_dir, self.b)):
            folder = {"id": FOLDER, "label": FOLDER, "path": str(path), "type": "sendreceive",
                      "devices": [{"deviceID": inst.device_id}, {"deviceID": peer.device_id}],
                      "fsWatcherEnabled": True, "fsWatcherDelayS": delay, "rescanIntervalS": 3600,
                      "ignorePerms": False}
            t0 = time.perf_counter()
            inst.api("POST", "/rest/config/folders", folder)
        return t0

    def set_delay(self, delay: int) -> None:
        """Change the watcher delay of the folder on both instances (the folder restarts)."""
        for inst in (self.a, self.b):
            inst.api("PATCH", f"/rest/config/folders/{FOLDER}", {"fsWatcherDelayS": delay})
        self.wait_idle(60)

    def scan(self) -> None:
        """Ask A to rescan the folder now (``POST /rest/db/scan``; returns once the scan is done)."""
        self.a.api("POST", f"/rest/db/scan?folder={FOLDER}", timeout=3600)

    def api_done(self) -> bool:
        """A reports B complete, B needs nothing, both idle."""
        comp = self.a.api("GET", f"/rest/db/completion?folder={FOLDER}&device={self.b.device_id}")
        sa, sb = self.a.status(), self.b.status()
        return (comp.get("completion") == 100 and comp.get("needItems", 0) == 0 and sb.get("needFiles") == 0
                and sb.get("needDeletes", 0) == 0 and sa.get("state") == "idle" and sb.get("state") == "idle")

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not (self.a.status().get("state") == "idle" and self.b.status().get("state") == "idle"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Syncthing not idle after {timeout:.0f} s")
            time.sleep(0.1)

    def wait_synced(self, t0: float, timeout: float, poll: float = 0.1) -> float:
        """Seconds from ``t0`` until the API says done and B's tree equals A's (checked on disk)."""
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            self.a.service.check_alive()
            self.b.service.check_alive()
            if self.api_done():
                done = time.perf_counter() - t0
                if run.differences(self.a_dir, self.b_dir, EXCLUDE)["files"] == 0:
                    return done
            time.sleep(poll)
        raise RuntimeError(f"Syncthing: B not equal to A after {timeout:.0f} s")

    def wait_changes(self, changes: Changes, t0: float, timeout: float) -> float:
        """Seconds from ``t0`` until ``changes`` are all on B (polled on disk), then the API done and the
        trees equal (not timed: a check)."""
        took = changes.wait_arrived(self.b_dir, t0, timeout)
        if took is None:
            raise RuntimeError(f"Syncthing: changes not on B after {timeout:.0f} s")
        self.wait_synced(time.perf_counter(), timeout)
        return took


@contextmanager
def pair(root: Path, a_dir: Path, b_dir: Path, count_bytes: bool = False) -> Iterator[Pair]:
    """Start two instances (homes ``root/home-a``, ``root/home-b``), make them known to each other on
    127.0.0.1 and wait until they are connected; stop both on the way out. The folder is not shared yet.
    With ``count_bytes`` A dials B through a NetProxy (``Pair.proxy``) and B does not dial A."""
    with ExitStack() as stack:
        a = start_instance("A", root / "home-a")
        stack.callback(a.service.stop)
        b = start_instance("B", root / "home-b")
        stack.callback(b.service.stop)
        proxy = stack.enter_context(NetProxy("127.0.0.1", b.sync_port)) if count_bytes else None
        addresses = {b.name: [f"tcp://127.0.0.1:{proxy.port}" if proxy else b.address],
                     a.name: ["dynamic"] if proxy else [a.address]}
        for inst, peer in ((a, b), (b, a)):
            inst.api("POST", "/rest/config/devices", {"deviceID": peer.device_id, "name": peer.name,
                                                       "addresses": addresses[peer.name], "compression": "metadata",
                                                       "autoAcceptFolders": False})
        deadline = time.monotonic() + 90
        while not a.api("GET", "/rest/system/connections")["connections"].get(b.device_id, {}).get("connected"):
            a.service.check_alive()
            b.service.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"Syncthing A and B not connected after 90 s; logs in {root}")
            time.sleep(0.2)
        for inst in (a, b):
            if inst.api("GET", "/rest/config/restart-required").get("requiresRestart"):
                print(f"  note: Syncthing {inst.name} says a restart is required", flush=True)
        if proxy and not proxy.active:
            raise RuntimeError("Syncthing A and B connected around the byte-counting proxy")
        yield Pair(a, b, a_dir, b_dir, proxy)


# -- measurements (one repetition each, so a runner can interleave them with the other tools) --------------
def initial_sync(work: Path, src: Path, timeout: float) -> dict[str, Any]:
    """A holds a ``cp -a`` of ``src``, B is empty; from sharing the folder (A scans and hashes, then B
    pulls) until B's tree equals A's. Fresh instances and homes every time."""
    run.fresh_dir(work)
    a_dir, b_dir = work / "a", work / "b"
    run.sh("cp", "-a", src, a_dir)
    b_dir.mkdir(parents=True)
    os.sync()
    with pair(work, a_dir, b_dir) as p:
        cpu0 = p.a.cpu_seconds() + p.b.cpu_seconds()
        t0 = p.share()
        seconds = p.wait_synced(t0, timeout)
        cpu = p.a.cpu_seconds() + p.b.cpu_seconds() - cpu0
        rss = p.a.rss_mib() + p.b.rss_mib()
    run.rm_rf(work)
    return {"seconds": seconds, "cpu_seconds": cpu, "rss_mib_both": rss}


@contextmanager
def synced_pair(work: Path, base: Path, timeout: float, delay: int = DEFAULT_DELAY,
                count_bytes: bool = False) -> Iterator[Pair]:
    """A pair sharing a folder that holds ``base`` on both sides (``cp -a`` each), in sync."""
    run.fresh_dir(work)
    a_dir, b_dir = work / "a", work / "b"
    run.sh("cp", "-a", base, a_dir)
    run.sh("cp", "-a", base, b_dir)
    with pair(work, a_dir, b_dir, count_bytes) as p:
        p.wait_synced(p.share(delay), timeout)
        yield p
    run.rm_rf(work)


def edit(p: Pair, rel: str, data: bytes, timeout: float, poll: float = 0.002) -> float:
    """Write ``data`` over ``rel`` on A; seconds until B holds it (polled on disk), then wait for idle."""
    took = watch.write_and_wait(p.a_dir, p.b_dir, rel, data, poll, timeout)
    if took is None:
        raise RuntimeError(f"Syncthing: an edit of {rel} not on B after {timeout:.0f} s")
    deadline = time.monotonic() + timeout
    while not p.api_done():
        if time.monotonic() > deadline:
            raise RuntimeError("Syncthing not done after an edit")
        time.sleep(0.05)
    return took


def changes(p: Pair, ch: Changes, timeout: float, rescan: bool) -> dict[str, Any]:
    """Make ``ch`` on A (and, ``rescan``, ask A to rescan right after); seconds until all are on B. Then
    put A back (``ch.reverse()``) and wait until B follows (not timed)."""
    cpu0 = p.a.cpu_seconds() + p.b.cpu_seconds()
    wire0 = p.wire()
    t0 = time.perf_counter()
    applied = ch.apply(p.a_dir)
    if rescan:
        p.scan()
    seconds = p.wait_changes(ch, t0, timeout)
    cpu = p.a.cpu_seconds() + p.b.cpu_seconds() - cpu0
    wire = p.wire()
    ch.verify(p.b_dir)
    back = ch.reverse()
    t1 = time.perf_counter()
    back.apply(p.a_dir)
    if rescan:
        p.scan()
    p.wait_changes(back, t1, timeout)
    out = {"seconds": seconds, "apply_seconds": applied, "cpu_seconds": cpu}
    if p.proxy:
        out |= {"wire_up": wire[0] - wire0[0], "wire_down": wire[1] - wire0[1]}
    return out


def idle(p: Pair, seconds: float) -> dict[str, Any]:
    """CPU of both instances over ``seconds`` with nothing to do, as % of one core."""
    before = {i.name: i.cpu_seconds() for i in (p.a, p.b)}
    t0 = time.perf_counter()
    time.sleep(seconds)
    window = time.perf_counter() - t0
    used = {i.name: i.cpu_seconds() - before[i.name] for i in (p.a, p.b)}
    return {"window_s": window, "cpu_seconds": used, "cpu_pct": {k: 100 * v / window for k, v in used.items()},
            "cpu_pct_both": 100 * sum(used.values()) / window,
            "rss_mib": {i.name: i.rss_mib() for i in (p.a, p.b)}}


# -- the peer interface (peers.Peer, peers.Session) -------------------------------------------------------
@dataclass
class Session:
    """A synced pair as a ``peers.Session``."""

    p: Pair
    timeout: float
    delay: int = DEFAULT_DELAY

    def edit_modes(self) -> list[tuple[str, bool]]:
        return [(f"fsWatcherDelayS={DEFAULT_DELAY}", True), (f"fsWatcherDelayS={SMALLEST_DELAY}", False)]

    def edit(self, mode: str, rel: str, data: bytes) -> float:
        delay = int(mode.split("=")[1])
        if delay != self.delay:
            self.p.set_delay(delay)
            self.delay = delay
        return edit(self.p, rel, data, self.timeout)

    def change_modes(self, scenario: str) -> list[str]:
        # A big file: only the rescan, which leaves the watcher's delay out of the time and the bytes the same.
        return ["rescan"] if scenario == "big" else ["watcher", "rescan"]

    def changes(self, mode: str, ch: Changes) -> dict[str, Any]:
        return changes(self.p, ch, self.timeout, rescan=mode == "rescan")

    def idle(self, seconds: float) -> dict[str, Any]:
        time.sleep(5)  # let the folder's start-up work end
        return idle(self.p, seconds)


@dataclass
class Peer:
    """Syncthing as a ``peers.Peer``."""

    timeout: float
    name: str = "syncthing"

    def initial(self, src: Path, work: Path) -> dict[str, Any]:
        return initial_sync(work, src, self.timeout)

    def session(self, base: Path, work: Path, count_bytes: bool) -> AbstractContextManager[Session]:
        @contextmanager
        def opened() -> Iterator[Session]:
            with synced_pair(work, base, self.timeout, count_bytes=count_bytes) as p:
                yield Session(p, self.timeout)

        return opened()
