"""The server benchmark (issue 13), peers only for now: Syncthing and rsync over ssh, on 127.0.0.1.

    python bench/server_bench.py                                   # every scenario, 100,000 files
    python bench/server_bench.py --files 1000 --reps 2 --edits 10 --default-edits 3 --idle-seconds 10

Scenarios (syncline's side comes with the server; see docs/performance.md, "Server benchmark peers"):

``initial``  N small files (bench/gen.py's small tree) from A to B: Syncthing from sharing the folder until
             B equals A (fresh instances each repetition); rsync -a --delete over ssh into an empty folder.
             Repetitions interleaved, the order rotated.
``edit``     one small edit on A until it is on B: Syncthing at its default watcher delay (10 s,
             ``--default-edits`` edits) and at its smallest (1 s, ``--edits`` edits); rsync over ssh: the
             write plus one whole-tree run. p50/p99.
``1pct``     the changes of bench/run.py's 1% tree (1% modified, 0.1% deleted, 0.1% added) made on A until
             all are on B: Syncthing waiting for its watcher, and with ``POST /rest/db/scan`` right after;
             rsync over ssh into a copy of the tree before the changes. Interleaved, the order rotated.
``idle``     CPU of the two Syncthing instances over ``--idle-seconds`` with the tree in sync.

Every process started (Syncthing, sshd) runs on 127.0.0.1 with its home and config under the data folder
(``--data``, default bench/data) and is stopped at the end, also on Ctrl-C or an error. Results:
bench/results/server-<UTC timestamp>.json, and a markdown table.
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
from pathlib import Path
from typing import Any

import run
import watch
from peers import Changes, rsync_ssh, syncthing

SCENARIOS = ("initial", "edit", "1pct", "idle")


def summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {}
    return {"n": len(seconds), "median": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
            "p50": watch.pct(seconds, 50), "p99": watch.pct(seconds, 99)}


def rotated(tools: list[str], rep: int) -> list[str]:
    k = rep % len(tools)
    return tools[k:] + tools[:k]


def edit_content(i: int, rng: random.Random) -> bytes:
    return f"edit {i}\n".encode() + rng.randbytes(rng.randint(100, 1000))


class Bench:
    def __init__(self, args: argparse.Namespace, data: Path) -> None:
        self.args, self.data = args, data
        self.work = data / "work" / "server"
        self.env = dict(os.environ, LC_ALL="C")
        self.ctx = run.Context(data, args.files, args.files, 1 << 20, run.default_syncline(), False, self.env)
        self.tools = [t for t in ("syncthing", "rsync-ssh") if t not in args.skip]

    def initial(self) -> dict[str, Any]:
        src = self.ctx.small_src()
        out: dict[str, Any] = {t: {"runs": []} for t in self.tools}
        with rsync_ssh.sshd(self.work / "sshd") as s:
            for rep in range(self.args.reps):
                for tool in rotated(self.tools, rep):
                    run.wait_quiet(self.args.settle)
                    if tool == "syncthing":
                        r = syncthing.initial_sync(self.work / "syncthing-initial", src, self.args.timeout)
                    else:
                        r = rsync_ssh.initial_sync(s, src, self.work / "rsync-initial", self.env)
                    print(f"  initial rep {rep + 1} {tool}: {r['seconds']:.2f} s", flush=True)
                    out[tool]["runs"].append(r)
        for t in out.values():
            t |= summary([r["seconds"] for r in t["runs"]])
        return out

    def edit(self) -> dict[str, Any]:
        base = self.ctx.small_base()
        files = run.gen.list_files(str(base))
        rng = random.Random(3)
        out: dict[str, Any] = {}
        if "syncthing" in self.tools:
            with syncthing.synced_pair(self.work / "syncthing-edit", base, self.args.timeout) as p:
                for delay, count in ((syncthing.DEFAULT_DELAY, self.args.default_edits),
                                     (syncthing.SMALLEST_DELAY, self.args.edits)):
                    p.set_delay(delay)
                    lat = []
                    for i in range(count):
                        time.sleep(rng.uniform(0.2, 0.5))
                        lat.append(syncthing.edit(p, rng.choice(files), edit_content(i, rng), self.args.timeout))
                    key = f"syncthing fsWatcherDelayS={delay}"
                    out[key] = {"seconds": lat, **summary(lat)}
                    print(f"  edit {key}: p50 {out[key]['p50']:.2f} s, p99 {out[key]['p99']:.2f} s", flush=True)
        if "rsync-ssh" in self.tools:
            src, dst = self.work / "rsync-edit-src", self.work / "rsync-edit-dst"
            run.rm_rf(src)
            run.sh("cp", "-a", base, src)
            with rsync_ssh.sshd(self.work / "sshd") as s:
                run.fresh_dir(dst)
                rsync_ssh.initial_sync(s, src, dst, self.env)
                lat = [rsync_ssh.edit(s, src, dst, rng.choice(files), edit_content(i, rng), self.env)["seconds"]
                       for i in range(self.args.edits)]
            out["rsync-ssh"] = {"seconds": lat, **summary(lat)}
            print(f"  edit rsync-ssh: p50 {out['rsync-ssh']['p50']:.2f} s, p99 {out['rsync-ssh']['p99']:.2f} s",
                  flush=True)
        return out

    def pct1(self) -> dict[str, Any]:
        base, mutated = self.ctx.small_base(), self.ctx.small_mutated()
        ch = Changes.between(base, mutated)
        print(f"  1%: {len(ch.copy)} files to copy, {len(ch.delete)} to delete", flush=True)
        labels = [x for t in self.tools for x in
                  (("syncthing watcher", "syncthing rescan") if t == "syncthing" else ("rsync-ssh",))]
        out: dict[str, Any] = {x: {"runs": []} for x in labels}
        dst = self.work / "rsync-1pct"
        run.rm_rf(dst)
        run.sh("cp", "-a", base, dst)
        with rsync_ssh.sshd(self.work / "sshd") as s, \
                syncthing.synced_pair(self.work / "syncthing-1pct", base, self.args.timeout) as p:
            for rep in range(self.args.reps):
                for label in rotated(labels, rep):
                    run.wait_quiet(self.args.settle)
                    if label == "rsync-ssh":
                        r = rsync_ssh.changes(s, ch, dst, self.env)
                    else:
                        r = syncthing.changes(p, ch, self.args.timeout, rescan=label.endswith("rescan"))
                    print(f"  1% rep {rep + 1} {label}: {r['seconds']:.2f} s", flush=True)
                    out[label]["runs"].append(r)
        for t in out.values():
            t |= summary([r["seconds"] for r in t["runs"]])
        return out

    def idle(self) -> dict[str, Any]:
        with syncthing.synced_pair(self.work / "syncthing-idle", self.ctx.small_base(), self.args.timeout) as p:
            time.sleep(5)
            r = syncthing.idle(p, self.args.idle_seconds)
        print(f"  idle syncthing: {r['cpu_pct_both']:.3f}% of a core (both) over {r['window_s']:.0f} s", flush=True)
        return {"syncthing": r}


def markdown(results: dict[str, Any]) -> str:
    lines = ["| scenario | tool | median s | p50 s | p99 s | min–max s | n |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, sc in results["scenarios"].items():
        for tool, t in sc.items():
            if "median" in t:
                lines.append(f"| {name} | {tool} | {t['median']:.2f} | {t['p50']:.2f} | {t['p99']:.2f} "
                             f"| {t['min']:.2f}–{t['max']:.2f} | {t['n']} |")
            elif "cpu_pct_both" in t:
                lines.append(f"| {name} | {tool} | CPU {t['cpu_pct_both']:.3f}% of a core (both instances) "
                             f"over {t['window_s']:.0f} s | | | | |")
    return "\n".join(lines)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="server_bench.py", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} [all]")
    ap.add_argument("--files", type=int, default=100_000, help="files of the small tree [100000]")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of initial and 1pct [3]")
    ap.add_argument("--edits", type=int, default=50, help="edits at Syncthing's smallest delay and rsync [50]")
    ap.add_argument("--default-edits", type=int, default=10, help="edits at Syncthing's default delay [10]")
    ap.add_argument("--idle-seconds", type=float, default=60.0, help="idle CPU window [60]")
    ap.add_argument("--timeout", type=float, default=1800.0, help="give up waiting for a sync after this [1800]")
    ap.add_argument("--settle", type=float, default=30.0, help="wait up to this for a quiet machine [30]")
    ap.add_argument("--skip", action="append", default=[], choices=["syncthing", "rsync-ssh"], help="leave a peer out")
    ap.add_argument("--data", type=Path, default=None, help="where the data goes [bench/data]")
    ap.add_argument("--out", type=Path, default=run.BENCH / "results", help="where the JSON goes [bench/results]")
    args = ap.parse_args(argv)
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
    machine |= {"syncthing": syncthing.version(), "rsync_ssh": rsync_ssh.version()}
    results: dict[str, Any] = {"started": stamp, "command": " ".join(["python", "bench/server_bench.py",
                                                                       *(sys.argv[1:] if argv is None else argv)]),
                               "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                               "machine": machine, "scenarios": {}, "load": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"server-{stamp}.json"
    runners = {"initial": b.initial, "edit": b.edit, "1pct": b.pct1, "idle": b.idle}
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
        run.rm_rf(b.work)
    print("\n" + markdown(results))
    print(f"\nresults: {out}\nreproduce with:\n  {results['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
