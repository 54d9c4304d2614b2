#!/usr/bin/env python3
"""Edit latency to a share member's device, next to the owner's own second device (issue 14).

One ``syncline serve``; the owner (``bench``) has devices A and B syncing the folder; a second user
(``member``) accepts it read-write on device C (``syncline share``, ``share accept --local``). Each edit is
written on A, and the seconds until B and until C hold it are taken from the same write: the two paths
measured side by side in one run, on the same data. No peer has users and shares to set beside it
(Syncthing shares a folder between devices, which is the owner's-second-device path here: its figures
are in docs/performance.md under "one edit"). Medians with their spread, and the machine's load.

    python bench/share_edit.py [--files N] [--edits N] [--timeout S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run
import watch
from peers.syncline_server import FOLDER, Device, _run, server, wait_state

MEMBER, MEMBER_PASSWORD = "member", "member-password-1"


def _arrivals(a: Path, targets: list[Path], rel: str, data: bytes, timeout: float) -> list[float]:
    """Write ``rel`` on ``a``; the seconds until each of ``targets`` holds it."""
    t0 = time.perf_counter()
    with open(a / rel, "wb") as fh:
        fh.write(data)
    seen: list[float | None] = [None] * len(targets)
    while any(s is None for s in seen):
        for i, t in enumerate(targets):
            if seen[i] is None:
                try:
                    if (t / rel).read_bytes() == data:
                        seen[i] = time.perf_counter() - t0
                except FileNotFoundError:
                    pass
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"an edit of {rel} not everywhere after {timeout:.0f} s")
        time.sleep(0.002)
    return [s for s in seen if s is not None]


def main() -> int:
    ap = argparse.ArgumentParser(prog="share_edit.py", description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000, help="files of the folder [1000]")
    ap.add_argument("--edits", type=int, default=30, help="edits timed [30]")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up after this [300]")
    ap.add_argument("--out", type=Path, default=run.BENCH / "results", help="where the JSON goes")
    args = ap.parse_args()
    env = dict(os.environ, LC_ALL="C")
    syncline = run.default_syncline()
    work = (run.BENCH / "data" / "work" / "share").resolve()
    run.fresh_dir(work)
    a_dir, b_dir, c_dir = work / "a", work / "b", work / "c"
    a_dir.mkdir()
    b_dir.mkdir()
    rng = random.Random(7)
    names = [f"d{i % 20:02}/f{i:05}.txt" for i in range(args.files)]
    for rel in names:
        (a_dir / rel).parent.mkdir(exist_ok=True)
        (a_dir / rel).write_bytes(rng.randbytes(rng.randint(100, 4000)))
    load = {"start": os.getloadavg()}
    lat_b: list[float] = []
    lat_c: list[float] = []
    try:
        with server(syncline, work / "server", env, False) as srv:
            data = work / "server" / "data"
            _run([syncline, "user", "add", MEMBER, "--data", str(data), "--password-stdin"], env,
                 MEMBER_PASSWORD + "\n")
            a = Device("A", work / "device-a", a_dir, syncline, env)
            b = Device("B", work / "device-b", b_dir, syncline, env)
            c = Device("C", work / "device-c", c_dir, syncline, env)
            a.set_up(srv)
            b.set_up(srv)
            c.home.mkdir(parents=True)
            _run([syncline, "connect", srv.url, "--user", MEMBER, "--password-stdin", "--device", "C"], c.env,
                 MEMBER_PASSWORD + "\n")
            _run([syncline, "share", FOLDER, "--with", MEMBER], a.env)
            _run([syncline, "share", "accept", f"bench/{FOLDER}", "--local", str(c_dir)], c.env)
            try:
                a.start()
                wait_state([a], time.monotonic() + args.timeout)
                b.start()
                c.start()
                deadline = time.monotonic() + args.timeout
                while not all((c_dir / rel).is_file() and (b_dir / rel).is_file() for rel in names[-5:]):
                    if time.monotonic() > deadline:
                        raise RuntimeError("B and C did not get the folder")
                    time.sleep(0.1)
                wait_state([a, b, c], time.monotonic() + args.timeout)
                run.wait_quiet(30)
                load["edits"] = os.getloadavg()
                for i in range(args.edits):
                    time.sleep(rng.uniform(0.3, 0.6))
                    rel = rng.choice(names)
                    to_b, to_c = _arrivals(a_dir, [b_dir, c_dir], rel, f"edit {i}\n".encode() * (i + 1), args.timeout)
                    lat_b.append(to_b)
                    lat_c.append(to_c)
                    print(f"  edit {i + 1}: owner's device {to_b:.3f} s, member's device {to_c:.3f} s", flush=True)
                    wait_state([a, b, c], time.monotonic() + args.timeout)
            finally:
                for d in (a, b, c):
                    d.stop()
    finally:
        run.rm_rf(work)
    load["end"] = os.getloadavg()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {"started": stamp, "command": "python bench/share_edit.py " + " ".join(sys.argv[1:]),
              "machine": run.machine_info(run.BENCH / "data", syncline), "load": load,
              "owner_device": {"seconds": lat_b, **watch.lat_stats(lat_b)},
              "member_device": {"seconds": lat_c, **watch.lat_stats(lat_c)}}
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"share-{stamp}.json"
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    for key in ("owner_device", "member_device"):
        r = result[key]
        print(f"{key}: p50 {r['p50']:.3f} s, p99 {r['p99']:.3f} s (min {r['min']:.3f}, max {r['max']:.3f}, "
              f"mean {statistics.fmean(r['seconds']):.3f})")
    print(f"load {load}\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
