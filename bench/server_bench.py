"""The server benchmark (issue 13): syncline's server with a daemon per device, Syncthing and rsync over ssh,
on 127.0.0.1.

    python bench/server_bench.py                                   # every scenario, 100,000 files
    python bench/server_bench.py --files 1000 --reps 2 --edits 10 --default-edits 3 --idle-seconds 10
    python bench/server_bench.py big --size 64MiB --reps 3      # the big file, small, for development

Scenarios (see docs/performance.md, "Server benchmark" and "syncline server"; syncline: ``syncline serve``
on 127.0.0.1, plain HTTP or ``--tls`` self-signed, devices A and B each running ``syncline daemon``):

``initial``  N small files (bench/gen.py's small tree) from A to B: syncline from starting A's daemon (B's
             runs already) until B equals A; Syncthing from sharing the folder until B equals A (fresh
             servers and instances each repetition); rsync -a --delete over ssh into an empty folder.
             Repetitions interleaved, the order rotated.
``edit``     one small edit on A until it is on B: syncline's daemons; Syncthing at its default watcher delay (10 s,
             ``--default-edits`` edits) and at its smallest (1 s, ``--edits`` edits); rsync over ssh: the
             write plus one whole-tree run. p50/p99.
``1pct``     the changes of bench/run.py's 1% tree (1% modified, 0.1% deleted, 0.1% added) made on A until
             all are on B: syncline's daemons; Syncthing waiting for its watcher, and with ``POST
             /rest/db/scan`` right after; rsync over ssh into a copy of the tree before the changes. Interleaved,
             the order rotated.
``big``      one file of ``--size`` bytes (1 GiB) with 1 MiB overwritten in place and 4 KiB inserted (the rest
             shifted; other bytes each repetition): syncline's daemons, Syncthing with a rescan right after
             the change, rsync over ssh into the old file. Bytes on the wire counted by
             ``syncline.testing.NetProxy`` between each syncline device and the server, between the two
             Syncthing instances and in front of the sshd (rsync's ``--stats`` kept beside), against the
             1 MiB + 4 KiB changed.
``idle``     CPU (from /proc) and RSS over ``--idle-seconds`` with the tree in sync: of the two Syncthing
             instances; of syncline's server with 20 devices connected (A, B and 18 more) and of each daemon.

Each peer is a ``peers.Peer`` (``initial``, and a ``session`` holding a tree on A and B with ``edit``,
``changes`` and ``idle``): ``peers.syncline_server``, ``peers.syncthing``, ``peers.rsync_ssh``.

Every process started (syncline serve and daemons, Syncthing, sshd) runs on 127.0.0.1 with its home and
config under the data folder (``--data``, default bench/data) and is stopped at the end, also on Ctrl-C or
an error. Results: bench/results/server-<UTC timestamp>.json, and a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import peers
import run
import watch
from peers import Peer, Session, rsync_ssh, syncline_server, syncthing

SCENARIOS = ("initial", "edit", "1pct", "big", "idle")
CHANGED, INSERTED = 1 << 20, 4096  # the big file's edit: bytes overwritten in place, bytes inserted
T = TypeVar("T")


def summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {}
    return {"n": len(seconds), "median": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
            "p50": watch.pct(seconds, 50), "p99": watch.pct(seconds, 99)}


def rotated(tools: list[T], rep: int) -> list[T]:
    k = rep % len(tools)
    return tools[k:] + tools[:k]


def edit_content(i: int, rng: random.Random) -> bytes:
    return f"edit {i}\n".encode() + rng.randbytes(rng.randint(100, 1000))


def make_big_edit(src: Path, dst: Path, changed: int = CHANGED, inserted: int = INSERTED, seed: int = 4) -> None:
    """``dst``: ``src`` with ``changed`` bytes overwritten at a third of it and ``inserted`` bytes put in at two
    thirds (so everything after shifts), other seeded random bytes; its mtime a day later than ``src``'s."""
    rng = random.Random(seed)
    size = src.stat().st_size
    at_change, at_insert = size // 3, 2 * size // 3
    with src.open("rb") as fi, dst.open("wb") as fo:
        pos = 0
        for at, what in ((at_change, "change"), (at_insert, "insert")):
            while pos < at:
                pos += fo.write(fi.read(min(1 << 22, at - pos)))
            if what == "change":
                fo.write(rng.randbytes(changed))
                fi.seek(changed, os.SEEK_CUR)
                pos += changed
            else:
                fo.write(rng.randbytes(inserted))
        while block := fi.read(1 << 22):
            fo.write(block)
    st = src.stat()
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns + 86400 * 10**9))


class Bench:
    def __init__(self, args: argparse.Namespace, data: Path) -> None:
        self.args, self.data = args, data
        self.work = data / "work" / "server"
        self.env = dict(os.environ, LC_ALL="C")
        self.ctx = run.Context(data, args.files, args.files, args.size, run.default_syncline(), False, self.env)
        peers: list[Peer] = [syncline_server.Peer(self.ctx.syncline, self.env, args.timeout, args.tls),
                             syncthing.Peer(args.timeout), rsync_ssh.Peer(self.env)]
        self.peers = [p for p in peers if p.name not in args.skip]

    def initial(self) -> dict[str, Any]:
        src = self.ctx.small_src()
        out: dict[str, Any] = {p.name: {"runs": []} for p in self.peers}
        for rep in range(self.args.reps):
            for peer in rotated(self.peers, rep):
                run.wait_quiet(self.args.settle)
                r = peer.initial(src, self.work / f"{peer.name}-initial")
                print(f"  initial rep {rep + 1} {peer.name}: {r['seconds']:.2f} s", flush=True)
                out[peer.name]["runs"].append(r)
        for t in out.values():
            t |= summary([r["seconds"] for r in t["runs"]])
        return out

    def edit(self) -> dict[str, Any]:
        base = self.ctx.small_base()
        files = run.gen.list_files(str(base))
        rng = random.Random(3)
        out: dict[str, Any] = {}
        for peer in self.peers:
            with peer.session(base, self.work / f"{peer.name}-edit", count_bytes=False) as session:
                for mode, slow in session.edit_modes():
                    lat, stamps = [], []
                    for i in range(self.args.default_edits if slow else self.args.edits):
                        time.sleep(rng.uniform(0.2, 0.5))
                        rel = rng.choice(files)
                        written = time.time()  # wall clock, to read next to the daemons' and server's logs
                        lat.append(session.edit(mode, rel, edit_content(i, rng)))
                        stamps.append({"file": rel, "written": written, "arrived": written + lat[-1]})
                    key = f"{peer.name} {mode}"
                    out[key] = {"seconds": lat, "edits": stamps, **summary(lat)}
                    print(f"  edit {key}: p50 {out[key]['p50']:.2f} s, p99 {out[key]['p99']:.2f} s", flush=True)
        return out

    def changes(self, scenario: str, chs: list[peers.Changes], count_bytes: bool) -> dict[str, Any]:
        """Every peer's session holding ``chs[0].old`` (the same for all), open together; repetition ``i``
        makes ``chs[i % len(chs)]`` in each of its modes, interleaved, the order rotated."""
        ch = chs[0]
        out: dict[str, Any] = {}
        with ExitStack() as stack:
            runs: list[tuple[str, Session, str]] = []
            for peer in self.peers:
                session = stack.enter_context(peer.session(ch.old, self.work / f"{peer.name}-{scenario}",
                                                           count_bytes))
                runs += [(f"{peer.name} {mode}", session, mode) for mode in session.change_modes(scenario)]
            out = {label: {"runs": []} for label, _, _ in runs}
            for rep in range(self.args.reps):
                for label, session, mode in rotated(runs, rep):
                    run.wait_quiet(self.args.settle)
                    r = session.changes(mode, chs[rep % len(chs)])
                    wire = f", wire {r['wire_up'] + r['wire_down']:,} B" if "wire_up" in r else ""
                    print(f"  {scenario} rep {rep + 1} {label}: {r['seconds']:.2f} s{wire}", flush=True)
                    out[label]["runs"].append(r)
        for t in out.values():
            t |= summary([r["seconds"] for r in t["runs"]])
            if all("wire_up" in r for r in t["runs"]):
                wire = [r["wire_up"] + r["wire_down"] for r in t["runs"]]
                t |= {"wire_median": statistics.median(wire), "wire_min": min(wire), "wire_max": max(wire),
                      "changed_bytes": CHANGED + INSERTED if scenario == "big" else None}
        return out

    def pct1(self) -> dict[str, Any]:
        ch = peers.Changes.between(self.ctx.small_base(), self.ctx.small_mutated())
        print(f"  1%: {len(ch.copy)} files to copy, {len(ch.delete)} to delete", flush=True)
        return self.changes("1pct", [ch], count_bytes=False)

    def big(self) -> dict[str, Any]:
        old = self.ctx.big_src()

        def edited(seed: int) -> Path:
            def make(p: Path) -> None:
                p.mkdir()
                make_big_edit(old / "big.bin", p / "big.bin", seed=seed)

            name = "edited" if seed == 4 else f"edited-{seed}"
            return run.cached(old.with_name(name), {"size": self.args.size, "changed": CHANGED,
                                                    "inserted": INSERTED, "seed": seed}, make)

        # Other random bytes each repetition: a server that keeps old versions (syncline's) must not find
        # the previous repetition's chunks in its store.
        chs = [peers.Changes(old, edited(4 + rep), ["big.bin"], []) for rep in range(self.args.reps)]
        print(f"  big: {self.args.size:,} B, {CHANGED:,} B changed in place and {INSERTED:,} B inserted "
              "(other bytes each repetition)", flush=True)
        return self.changes("big", chs, count_bytes=True)

    def idle(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for peer in self.peers:
            with peer.session(self.ctx.small_base(), self.work / f"{peer.name}-idle", count_bytes=False) as session:
                r = session.idle(self.args.idle_seconds)
            if r is not None and "server_cpu_pct" in r:
                out[peer.name] = r
                print(f"  idle {peer.name}: server {r['server_cpu_pct']:.3f}% of a core with {r['devices']} devices, "
                      f"RSS {r['server_rss_mib']:.1f} MiB ({r['server_rss_per_device_mib']:.2f} MiB a device since "
                      f"start, {r['server_rss_per_extra_device_mib']:.2f} MiB a device past A and B); daemons "
                      f"{r['daemon_cpu_pct_sum']:.3f}% together over {r['window_s']:.0f} s", flush=True)
            elif r is not None:
                out[peer.name] = r
                print(f"  idle {peer.name}: {r['cpu_pct_both']:.3f}% of a core (both), RSS "
                      f"{sum(r['rss_mib'].values()):.1f} MiB (both) over {r['window_s']:.0f} s", flush=True)
        return out


def markdown(results: dict[str, Any]) -> str:
    lines = ["| scenario | tool | median s | p50 s | p99 s | min–max s | n | bytes on the wire (median; x changed) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, sc in results["scenarios"].items():
        for tool, t in sc.items():
            if "median" in t:
                wire = ""
                if "wire_median" in t:
                    wire = f"{t['wire_median']:,.0f}"
                    if t.get("changed_bytes"):
                        wire += f" ({t['wire_median'] / t['changed_bytes']:.2f}x)"
                lines.append(f"| {name} | {tool} | {t['median']:.2f} | {t['p50']:.2f} | {t['p99']:.2f} "
                             f"| {t['min']:.2f}–{t['max']:.2f} | {t['n']} | {wire} |")
            elif "server_cpu_pct" in t:
                lines.append(f"| {name} | {tool} | server CPU {t['server_cpu_pct']:.3f}% of a core with {t['devices']} "
                             f"devices, daemons {t['daemon_cpu_pct_sum']:.3f}% together "
                             f"(A {t['daemon_cpu_pct']['A']:.3f}%) over {t['window_s']:.0f} s; "
                             f"server RSS {t['server_rss_mib']:.1f} MiB, "
                             f"{t['server_rss_per_device_mib']:.2f} MiB a device | | | | | |")
            elif "cpu_pct_both" in t:
                lines.append(f"| {name} | {tool} | CPU {t['cpu_pct_both']:.3f}% of a core (both instances) "
                             f"over {t['window_s']:.0f} s, RSS {sum(t['rss_mib'].values()):.1f} MiB (both) "
                             "| | | | | |")
    return "\n".join(lines)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="server_bench.py", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} [all]")
    ap.add_argument("--files", type=int, default=100_000, help="files of the small tree [100000]")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of initial, 1pct and big [3]")
    ap.add_argument("--keep-work", action="store_true",
                    help="keep the work folders (daemon and server logs, state) under DATA/work/server; "
                         "also SYNCLINE_BENCH_KEEP=1")
    ap.add_argument("--edits", type=int, default=50, help="edits at Syncthing's smallest delay and rsync [50]")
    ap.add_argument("--default-edits", type=int, default=10, help="edits at Syncthing's default delay [10]")
    ap.add_argument("--size", type=run.gen.parse_size, default=1 << 30, help="the big file's size [1GiB]")
    ap.add_argument("--idle-seconds", type=float, default=60.0, help="idle CPU window [60]")
    ap.add_argument("--timeout", type=float, default=1800.0, help="give up waiting for a sync after this [1800]")
    ap.add_argument("--settle", type=float, default=30.0, help="wait up to this for a quiet machine [30]")
    ap.add_argument("--skip", action="append", default=[], choices=["syncline", "syncthing", "rsync-ssh"],
                    help="leave a peer out")
    ap.add_argument("--tls", action="store_true", help="syncline serve --tls self-signed (default: plain HTTP on "
                    "127.0.0.1, which syncline allows on loopback)")
    ap.add_argument("--data", type=Path, default=None, help="where the data goes [bench/data]")
    ap.add_argument("--out", type=Path, default=run.BENCH / "results", help="where the JSON goes [bench/results]")
    args = ap.parse_args(argv)
    args.keep_work = args.keep_work or bool(os.environ.get("SYNCLINE_BENCH_KEEP"))
    if args.keep_work:
        os.environ["SYNCLINE_BENCH_KEEP"] = "1"  # read by peers.syncline_server
    names = args.scenarios or list(SCENARIOS)
    if bad := [n for n in names if n not in SCENARIOS]:
        ap.error(f"unknown scenario {', '.join(bad)}; pick from {', '.join(SCENARIOS)}")
    run.ensure_debian({"syncthing": "syncthing", "rsync": "rsync", "ssh": "openssh-client",
                       "ssh-keygen": "openssh-client"})
    if not rsync_ssh.have_sshd():
        run.ensure_debian({rsync_ssh.SSHD: "openssh-server"})
    signal.signal(signal.SIGTERM, _stop)
    data = (args.data or run.BENCH / "data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    b = Bench(args, data)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = run.machine_info(data, b.ctx.syncline)
    machine |= {"syncthing": syncthing.version(), "rsync_ssh": rsync_ssh.version(),
                "syncline_server": f"{syncline_server.version(b.ctx.syncline)}, {'TLS' if args.tls else 'HTTP'}"}
    results: dict[str, Any] = {"started": stamp, "command": " ".join(["python", "bench/server_bench.py",
                                                                       *(sys.argv[1:] if argv is None else argv)]),
                               "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                               "machine": machine, "scenarios": {}, "load": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"server-{stamp}.json"
    runners = {"initial": b.initial, "edit": b.edit, "1pct": b.pct1, "big": b.big, "idle": b.idle}
    try:
        for name in names:
            print(f"\n## {name}", flush=True)
            load = os.getloadavg()
            results["scenarios"][name] = runners[name]()
            results["load"][name] = {"start": load, "end": os.getloadavg()}
            tmp = out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(results, indent=1, default=str) + "\n")
            tmp.replace(out)
    finally:
        if not args.keep_work:
            run.rm_rf(b.work)
    print("\n" + markdown(results))
    print(f"\nresults: {out}\nreproduce with:\n  {results['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
