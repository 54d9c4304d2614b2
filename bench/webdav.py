#!/usr/bin/env python3
"""WebDAV clients of one syncline server, side by side (issue 15): syncline's WebDAV replica
(``syncline sync --two-way DIR http://.../remote.php/dav/files/USER/FOLDER``), ``rclone sync`` (vendor
owncloud) and ``nextcloudcmd``, each on its own copy of the same tree on the same server: a run after no
change, and a run after 1% of the files changed locally. Wall time of each run, and the PROPFINDs (and
all requests) the server counted for it: folder ETags should make a no-change run one PROPFIND for the
clients that use them.

    python bench/webdav.py [--files 10000] [--reps 5] [--peers syncline,rclone,nextcloudcmd]

The server runs in this process (the app of ``syncline serve`` behind uvicorn on 127.0.0.1, with a
counter of requests by method in front); the clients are the real programs. Each repetition runs the
peers in a rotated order. Results: medians with min-max, the load average, and bench/results/webdav-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from syncline.server.app import make_app
from syncline.server.auth import Authenticator
from syncline.server.checksummer import Checksummer
from syncline.server.notify import InProcessNotifier
from syncline.server.store import open_store

USER, PASSWORD = "bench", "bench-password-long"
EXCLUDES = "/etc/Nextcloud/sync-exclude.lst"
RESULTS = Path(__file__).resolve().parent / "results"


class Counting:
    """ASGI middleware counting requests by method."""

    def __init__(self, app: Any) -> None:
        self.app, self.counts, self.lock = app, Counter[str](), threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            with self.lock:
                self.counts[scope["method"]] += 1
        await self.app(scope, receive, send)

    def take(self) -> Counter[str]:
        with self.lock:
            out, self.counts = self.counts, Counter()
        return out


def serve(data: Path) -> tuple[str, str, Counting, Callable[[], None]]:
    """The server on ``data``: (its URL, an app password, the counter, a stop function)."""
    store = open_store(data, min_free=0)
    auth = Authenticator(store)
    store.users.add(USER, auth.passwords.hash(PASSWORD))
    token, _ = auth.login(USER, PASSWORD, "bench-clients")
    counting = Counting(make_app(store, auth, InProcessNotifier()))
    config = uvicorn.Config(counting, host="127.0.0.1", port=0, http="h11", loop="asyncio", ws="none",
                            lifespan="on", log_level="warning", limit_concurrency=1000)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    summer = Checksummer(store)
    summer.start()

    def stop() -> None:
        summer.stop()
        server.should_exit = True
        thread.join(30)
        store.close()

    return f"http://127.0.0.1:{port}", token, counting, stop


def tree(root: Path, files: int, seed: int = 1) -> None:
    """``files`` files of 1-64 KiB in 100 folders (10 x 10) under ``root``."""
    rng = random.Random(seed)
    for i in range(files):
        path = root / f"d{i % 10}" / f"e{i // 10 % 10}" / f"f{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(1024, 65536)))


def change(root: Path, fraction: float, rep: int) -> int:
    """Rewrite ``fraction`` of the files under ``root`` with new bytes; how many."""
    files = sorted(p for p in root.rglob("*.bin"))
    rng = random.Random(1000 + rep)
    picked = rng.sample(files, max(1, int(len(files) * fraction)))
    for p in picked:
        p.write_bytes(rng.randbytes(p.stat().st_size))
    return len(picked)


class Peer:
    """One client with its own local copy and its own server folder."""

    def __init__(self, name: str, base: Path, url: str, token: str) -> None:
        self.name, self.base, self.url, self.token = name, base, url, token
        self.local = base / name / "local"
        self.home = base / name / "home"
        self.local.mkdir(parents=True)
        self.home.mkdir(parents=True)
        self.folder = f"Bench-{name}"
        self.env = {**os.environ, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                    "XDG_DATA_HOME": str(self.home / ".local"), "QT_QPA_PLATFORM": "offscreen",
                    "SYNCLINE_STATE_DIR": str(self.home / "state"), "SYNCLINE_WEBDAV_USER": USER,
                    "SYNCLINE_WEBDAV_PASSWORD": token, "RCLONE_CONFIG": "/dev/null"}

    def command(self, first: bool = False) -> list[str]:
        """The client's run (``first``: the one that brings the tree down; rclone's sync is one-way)."""
        dav = f"{self.url}/remote.php/dav/files/{USER}/{self.folder}"
        if self.name == "syncline":
            return [str(Path(sys.executable).with_name("syncline")), "sync", "--two-way", str(self.local), dav]
        if self.name == "rclone":
            obscured = subprocess.run(["rclone", "obscure", self.token], capture_output=True, text=True,
                                      check=True).stdout.strip()
            ends = [f":webdav:{self.folder}", str(self.local)] if first else [str(self.local), f":webdav:{self.folder}"]
            return ["rclone", "sync", *ends, f"--webdav-url={self.url}/remote.php/webdav/", "--webdav-vendor=owncloud",
                    f"--webdav-user={USER}", f"--webdav-pass={obscured}"]
        return ["nextcloudcmd", "--non-interactive", "--trust", "-u", USER, "-p", self.token, "--exclude", EXCLUDES,
                "--path", f"/{self.folder}", str(self.local), self.url]

    def run(self, first: bool = False) -> None:
        done = subprocess.run(self.command(first), capture_output=True, text=True, env=self.env, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name} failed: {(done.stdout + done.stderr)[-2000:]}")


def upload(seed: Path, url: str, folder: str, home: Path) -> None:
    """The seed tree into ``folder`` on the server, through syncline's own protocol (batched: fast; not
    timed). The WebDAV clients then see files uploaded natively, as they would beside a daemon."""
    syncline = str(Path(sys.executable).with_name("syncline"))
    env = {**os.environ, "SYNCLINE_STATE_DIR": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config")}
    for args, stdin in ((["connect", url, "--user", USER, "--password-stdin", "--device", "seed"], PASSWORD + "\n"),
                        (["sync", str(seed), f"{url}/{folder}"], "")):
        done = subprocess.run([syncline, *args], input=stdin, capture_output=True, text=True, env=env, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"seeding {folder} failed: {done.stderr[-2000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--peers", default="syncline,rclone,nextcloudcmd")
    ap.add_argument("--data", type=Path, default=None, help="work folder (default: a temp dir, removed)")
    args = ap.parse_args()
    names = [n for n in args.peers.split(",") if n]
    work = Path(args.data or tempfile.mkdtemp(prefix="bench-webdav-"))
    load_before = os.getloadavg()[0]
    url, token, counting, stop = serve(work / "data")
    results: dict[str, dict[str, list[Any]]] = {n: {"nochange_s": [], "nochange_propfind": [], "nochange_requests": [],
                                                    "1pct_s": [], "1pct_propfind": [], "1pct_requests": []}
                                                for n in names}
    try:
        seed = work / "seed"
        tree(seed, args.files)
        peers = []
        for name in names:
            upload(seed, url, f"Bench-{name}", work / "seeder")
            peer = Peer(name, work, url, token)
            peer.run(first=True)  # the first run brings the tree down (not timed)
            peer.run()  # and one to settle (a client's first run may list twice)
            peers.append(peer)
        print(f"set up: {args.files:,} files on the server for each of {', '.join(names)}", file=sys.stderr)
        for rep in range(args.reps):
            order = peers[rep % len(peers):] + peers[:rep % len(peers)]
            for peer in order:
                for kind in ("nochange", "1pct"):
                    if kind == "1pct":
                        change(peer.local, 0.01, rep)
                    counting.take()
                    started = time.perf_counter()
                    peer.run()
                    took = time.perf_counter() - started
                    counts = counting.take()
                    r = results[peer.name]
                    r[f"{kind}_s"].append(took)
                    r[f"{kind}_propfind"].append(counts["PROPFIND"])
                    r[f"{kind}_requests"].append(sum(counts.values()))
                peer.run()  # settles: a client that listed before its own uploads lists those folders again
            print(f"rep {rep + 1}/{args.reps} (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    finally:
        stop()
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    print(f"\n{args.files:,} files in 100 folders, {args.reps} repetitions, load average {load_before:.2f} before, "
          f"{load_after:.2f} after\n")
    print("| client | no change: s | PROPFINDs | requests | 1% changed: s | PROPFINDs | requests |")
    print("|---|---|---|---|---|---|---|")

    def cell(xs: list[float], digits: int = 2) -> str:
        return f"{statistics.median(xs):.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"

    for name in names:
        r = results[name]
        print(f"| {name} | {cell(r['nochange_s'])} | {statistics.median(r['nochange_propfind']):.0f} | "
              f"{statistics.median(r['nochange_requests']):.0f} | {cell(r['1pct_s'])} | "
              f"{statistics.median(r['1pct_propfind']):.0f} | {statistics.median(r['1pct_requests']):.0f} |")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"webdav-{stamp}.json").write_text(json.dumps(
        {"files": args.files, "reps": args.reps, "load": [load_before, load_after], "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
