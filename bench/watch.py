"""Real-time mirroring: ``syncline watch`` side by side with lsyncd (default.rsync): latency, churn, idle CPU, memory.

    python bench/watch.py                                        # every scenario at full size (~14 min)
    python bench/watch.py latency --writes 100 --latency-reps 3 --default-writes 5
    python bench/watch.py churn --rates 100,500,2000 --churn-seconds 20
    python bench/watch.py idle memory --idle-files 100000 --idle-seconds 60 --folders 10000
    python bench/watch.py --tiny                                 # every scenario at toy sizes (debugging)

Scenarios:

``latency``
    Each tool watches its own copy of a 1,000-file tree (``gen.make_small(root, 1000, seed 1)``), all of
    them at the same time. Small files (100–1,000 B, written with open/write/close) are created one at a
    time in the leaf folders, each ``--spacing`` (0.2–0.5 s, seeded) after the previous one arrived, and
    the tools take turns: one write each per round, the order rotated every round (round 1: A B C, round 2:
    B C A, ...), so every tool meets the same machine. The latency of a write runs from just before
    ``open`` to the first poll that finds the target file with the right size and content; the destination
    is polled every 2 ms (``--poll``), so the resolution is about 2 ms plus one read. ``--latency-reps``
    repetitions of ``--writes`` rounds, each with freshly started watchers (start order rotated); the
    percentiles are over all writes, with each repetition's p50 and p99 beside them (their range is the
    spread), and the load average at the start and end of each repetition. Interleaved tools
    (``--latency-tools``): ``syncline watch SRC DST`` (defaults), ``syncline watch --quiet-period 0``
    (shows what the quiet period costs) and lsyncd with ``delay = 0`` (its smallest). lsyncd at its default
    ``delay`` (15 s) runs afterwards on its own (``--default-writes`` writes; 0 leaves it out).

``churn``
    A writer creates and then rewrites files (a pool of ``10 * rate`` files over 200 leaf folders of a
    two-level tree, folders made as it goes) at ``--rates`` files per second for ``--churn-seconds``.
    Meanwhile a probe takes the newest write every 0.25 s and times until it (or a newer version) is in the
    target: the lag during the churn (median, max). After the writer stops, every file is checked until the
    target holds the final version of each: the seconds to catch up. Tools: syncline watch (defaults) and
    lsyncd (``delay = 0``).

``idle``
    A ``cp -a`` copy of bench/data/small-<idle-files>/src (made by bench/run.py's generator if missing) is
    watched by syncline and by lsyncd (``delay = 0``), each into its own empty target; after both caught up
    (syncline first, then lsyncd; each catch-up timed on its own), the CPU time of each process (utime +
    stime + reaped children, /proc/<pid>/stat) is read over ``--idle-seconds`` of idleness, as % of one core.

``memory``
    A tree of ``--folders`` folders (100 top folders, the rest below them, 3 files of 100–300 B in each leaf)
    is watched into an empty target. Peak RSS: VmHWM of the watcher and the largest sum of RSS over the
    watcher and its children (sampled every 50 ms, e.g. lsyncd's rsync); steady RSS: VmRSS 10 s after the
    catch-up.

After every run the target is compared with the source (``rsync -ani --delete --exclude=/.syncline/``) and
must show nothing. Processes are stopped with SIGTERM (SIGKILL after 15 s). syncline's state goes to a
private SYNCLINE_STATE_DIR under the work directory. lsyncd runs from a config file (``settings { nodaemon =
true }``, ``sync { default.rsync, ... }``, its rsync options left at their defaults). Data is kept under
bench/data (or ``--data``); results go to bench/results/watch-<UTC timestamp>.json and a markdown table is
printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import gen
import run

P50_LIMIT, P99_LIMIT, IDLE_CPU_LIMIT = 0.3, 1.0, 1.0  # seconds, seconds, % of one core
SCENARIOS = ("latency", "churn", "idle", "memory")
STOP_GRACE = 15.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


# -- processes ---------------------------------------------------------------------------------------------
def terminate(proc: subprocess.Popen[Any], grace: float = STOP_GRACE) -> str:
    """SIGTERM to ``proc``, SIGKILL to its process group if it has not exited after ``grace`` s, then SIGKILL
    to whatever is left in its session (e.g. an rsync child of lsyncd; ``proc`` started a new session); how
    it ended."""
    how = "exited before stop"
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
            how = "SIGTERM"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            how = f"SIGKILL (no exit within {grace:.0f} s of SIGTERM)"
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return how


class Watcher:
    """One running watcher (syncline watch or lsyncd), in its own session; its syncline JSON events."""

    def __init__(self, tool: str, argv: list[str], env: dict[str, str], log: Path, lsyncd_log: Path | None = None):
        self.tool, self.argv, self.log, self.lsyncd_log = tool, argv, log, lsyncd_log
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.started = time.perf_counter()
        self.err = log.with_suffix(".stderr").open("wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, env=env, start_new_session=True)
        self.pid = self.proc.pid
        self._out = log.open("w")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _RUNNING.append(self)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self._out.write(line)
            self._out.flush()
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                self.events.append((time.perf_counter(), ev))

    def wait_ready(self, timeout: float) -> float:
        """Wait until the catch-up is done; return the seconds since start."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.tool} exited with {self.proc.returncode} before catching up; "
                                   f"command: {shlex.join(self.argv)}; stderr: {self.stderr_tail()}")
            if self.lsyncd_log is None:
                done = [t for t, ev in self.events if ev.get("event") == "catch-up"]
                if done:
                    return done[0] - self.started
            elif self.lsyncd_log.exists() and "Startup of" in (text := self.lsyncd_log.read_text(errors="replace")) \
                    and "finished" in text.split("Startup of", 1)[1]:
                return time.perf_counter() - self.started
            time.sleep(0.01)
        raise RuntimeError(f"{self.tool} did not catch up within {timeout:.0f} s; command: {shlex.join(self.argv)}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self) -> str:
        if not self.err.closed:
            self.err.flush()
        return self.log.with_suffix(".stderr").read_text(errors="replace")[-2000:]

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then SIGKILL (to its process group) after STOP_GRACE s; the exit code and how it ended."""
        how = terminate(self.proc)
        self._reader.join(5)
        self._out.close()
        self.err.close()
        if self in _RUNNING:
            _RUNNING.remove(self)
        errors = [ev for _, ev in self.events if ev.get("event") == "error" or ev.get("errors")]
        return {"exit_code": self.proc.returncode, "stopped_by": how, "error_events": errors[:20],
                "stderr": self.stderr_tail()}


_RUNNING: list[Watcher] = []


def stop_all() -> None:
    for w in list(_RUNNING):
        try:
            w.stop()
        except Exception as exc:  # still stop the others
            print(f"  could not stop {w.tool} ({w.pid}): {exc}", flush=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid`` (own CPU and that of children it reaped)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    return sum(int(x) for x in fields[11:15]) / _CLK_TCK


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def tree_rss(pid: int) -> int:
    """RSS (bytes) of ``pid`` and of its descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
            fields = stat[stat.rindex(b")") + 2 :].split()
            parents[int(name)] = int(fields[1])
            rss[int(name)] = int(fields[21]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += [c for c, pp in parents.items() if pp == p]
    return total


WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")


def wait_watches(need: int, timeout: float = 300.0) -> None:
    """Wait until the kernel's inotify watch limit is at least ``need`` (something else, e.g. a test that
    lowers it for a while, may have changed it); this script never changes it."""
    deadline = time.perf_counter() + timeout
    limit = int(WATCHES.read_text())
    if limit >= need:
        return
    print(f"  fs.inotify.max_user_watches is {limit} (< {need}): waiting for it to be raised again", flush=True)
    while time.perf_counter() < deadline:
        time.sleep(1)
        limit = int(WATCHES.read_text())
        if limit >= need:
            print(f"  fs.inotify.max_user_watches is {limit} again", flush=True)
            return
    raise RuntimeError(f"fs.inotify.max_user_watches stayed at {limit} (< {need}) for {timeout:.0f} s")


class Bench:
    """Options, paths and the commands of the tools."""

    def __init__(self, args: argparse.Namespace, data: Path) -> None:
        self.args, self.data = args, data
        self.work = data / "work" / "watch"
        self.state = self.work / "state"
        self.env = run.bytecode_env(dict(os.environ, SYNCLINE_STATE_DIR=str(self.state), LC_ALL="C"),
                                    args.syncline)
        self.syncline = args.syncline

    def start(self, tool: str, src: Path, dst: Path, label: str, extra: list[str] | None = None,
              delay: float | None = 0) -> Watcher:
        """Start ``tool`` ("syncline" or "lsyncd") mirroring ``src`` into ``dst`` (``delay`` None: lsyncd's
        default); logs go to the work directory under ``label``."""
        wait_watches(self.args.min_watches)
        logs = self.work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if tool == "syncline":
            self.state.mkdir(parents=True, exist_ok=True)
            argv = [self.syncline, "watch", "--json", *shlex.split(self.args.syncline_args), *(extra or []),
                    str(src), str(dst)]
            return Watcher(tool, argv, self.env, logs / f"{label}.log")
        lsyncd_log = logs / f"{label}.lsyncd.log"
        lsyncd_log.unlink(missing_ok=True)
        conf = logs / f"{label}.lua"
        delay_line = "" if delay is None else f", delay = {delay:g}"
        conf.write_text(f'settings {{ nodaemon = true, logfile = "{lsyncd_log}" }}\n'
                        f'sync {{ default.rsync, source = "{src}", target = "{dst}"{delay_line} }}\n')
        return Watcher(tool, ["lsyncd", str(conf)], self.env, logs / f"{label}.log", lsyncd_log)


def check(src: Path, dst: Path, what: str) -> dict[str, Any]:
    """``rsync -ani --delete`` differences (``.syncline`` left out), with the first lines when there are any."""
    out = subprocess.run(["rsync", "-ani", "--delete", "--exclude=/.syncline/", f"{src}/", f"{dst}/"],
                         capture_output=True, text=True).stdout.splitlines()
    if out:
        print(f"  WARNING: after {what}, {dst} differs from {src} ({len(out)} lines of rsync -ani):", flush=True)
        for line in out[:10]:
            print(f"    {line}", flush=True)
    return {"equal": not out, "lines": len(out), "first_lines": out[:20]}


def fresh(path: Path) -> Path:
    run.fresh_dir(path)
    return path


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (linear between closest ranks)."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# -- latency -----------------------------------------------------------------------------------------------
# The tools of the interleaved latency run: label -> (tool, extra syncline options, lsyncd delay).
LATENCY_TOOLS: dict[str, tuple[str, list[str], float | None]] = {
    "syncline": ("syncline", [], 0),
    "syncline --quiet-period 0 (info)": ("syncline", ["--quiet-period", "0"], 0),
    "lsyncd delay=0": ("lsyncd", [], 0),
}
LATENCY_KEYS = {"syncline": "syncline", "syncline-qp0": "syncline --quiet-period 0 (info)",
                "lsyncd-delay0": "lsyncd delay=0"}


def latency_base(b: Bench) -> Path:
    a = b.args
    return run.cached(b.data / f"small-{a.latency_files}" / "src", {"files": a.latency_files, "seed": 1},
                      lambda p: print("  " + gen.make_small(str(p), a.latency_files, 1).line("small"), flush=True))


def write_and_wait(src: Path, dst: Path, rel: str, data: bytes, poll: float, timeout: float) -> float | None:
    """Write ``rel`` in ``src`` (open, write, close); the seconds until ``dst`` holds it, None after ``timeout``."""
    target = dst / rel
    t0 = time.perf_counter()
    with open(src / rel, "wb") as fh:
        fh.write(data)
    while True:
        try:
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return time.perf_counter() - t0
        except FileNotFoundError:
            pass
        if time.perf_counter() - t0 > timeout:
            return None
        time.sleep(poll)


def lat_stats(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {}
    return {"p25": pct(lat, 25), "p50": pct(lat, 50), "p75": pct(lat, 75), "p90": pct(lat, 90),
            "p99": pct(lat, 99), "min": min(lat), "max": max(lat), "mean": statistics.fmean(lat)}


def latency_interleaved(b: Bench, labels: list[str]) -> dict[str, Any]:
    """Every tool of ``labels`` watches its own copy of the same tree at the same time; the writes go to the
    tools in turn, one write each per round, the order rotated every round (round 1: A B C, round 2: B C A,
    ...), so every tool meets the same machine. ``--latency-reps`` repetitions, each with freshly started
    watchers (their start order rotated too); ``--writes`` writes per tool and repetition."""
    a = b.args
    base = latency_base(b)
    rng = random.Random(7)
    out: dict[str, Any] = {lb: {"tool": LATENCY_TOOLS[lb][0], "reps": [], "latencies_s": [], "lost": []}
                           for lb in labels}
    rounds_done = 0
    for rep in range(a.latency_reps):
        k = rep % len(labels)
        start_order = labels[k:] + labels[:k]
        trees: dict[str, tuple[Path, Path]] = {}
        watchers: dict[str, Watcher] = {}
        rep_info: dict[str, dict[str, Any]] = {}
        load_start = os.getloadavg()
        others = run.others_cpu_seconds()
        t_rep = time.perf_counter()
        try:
            for lb in start_order:
                tool, extra, delay = LATENCY_TOOLS[lb]
                key = next(x for x, v in LATENCY_KEYS.items() if v == lb)
                root = b.work / "latency" / f"{key}-{rep + 1}"
                run.rm_rf(root)
                root.mkdir(parents=True)
                src, dst = root / "src", root / "dst"
                run.sh("cp", "-a", base, src)
                dst.mkdir()
                trees[lb] = (src, dst)
                watchers[lb] = b.start(tool, src, dst, f"latency-{key}-{rep + 1}", extra, delay)
            for lb in start_order:
                rep_info[lb] = {"catch_up_s": watchers[lb].wait_ready(600), "latencies_s": [], "lost": []}
            time.sleep(1.0)
            leaves = sorted(str(p.relative_to(trees[labels[0]][0])) for p in trees[labels[0]][0].glob("*/*")
                            if p.is_dir())
            for i in range(a.writes):
                j = rounds_done % len(labels)
                rounds_done += 1
                rel = f"{rng.choice(leaves)}/lat-{i:04d}.bin"
                size = rng.randint(100, 1000)
                for lb in labels[j:] + labels[:j]:
                    time.sleep(rng.uniform(*a.spacing))
                    src, dst = trees[lb]
                    data = f"{rel} {lb}\n".encode().ljust(size, b".")
                    got = write_and_wait(src, dst, rel, data, a.poll, 20.0)
                    if got is None:
                        rep_info[lb]["lost"].append(rel)
                        print(f"  WARNING: {lb}: {rel} not in the target after 20 s", flush=True)
                    else:
                        rep_info[lb]["latencies_s"].append(got)
                    if not watchers[lb].alive():
                        raise RuntimeError(f"{lb} exited ({watchers[lb].proc.returncode}) during the writes")
            time.sleep(1.5)
        finally:
            for lb, w in watchers.items():
                rep_info.setdefault(lb, {"latencies_s": [], "lost": []})
                rep_info[lb] |= w.stop()
                rep_info[lb]["argv"] = w.argv
        load_end = os.getloadavg()
        other_cpu = run.others_cpu_seconds() - others
        wall = time.perf_counter() - t_rep
        print(f"  rep {rep + 1}/{a.latency_reps} (load {load_start[0]:.2f} -> {load_end[0]:.2f}; other processes "
              f"{other_cpu:.1f} CPU s in {wall:.0f} s):", flush=True)
        for lb in labels:
            info = rep_info[lb]
            lat = info["latencies_s"]
            synced = [ev for t, ev in watchers[lb].events if ev.get("event") == "synced"]
            info |= lat_stats(lat)
            info["synced_events"] = len(synced)
            info["check"] = check(*trees[lb], f"latency {lb} rep {rep + 1}")
            info["load_start"], info["load_end"] = load_start, load_end
            info["other_processes_cpu_s"], info["wall_s"] = round(other_cpu, 1), round(wall, 1)
            info["latencies_s"] = [round(x, 4) for x in lat]
            out[lb]["reps"].append(info)
            out[lb]["latencies_s"] += info["latencies_s"]
            out[lb]["lost"] += info["lost"]
            p = f"p50 {info['p50']:.3f} s  p99 {info['p99']:.3f} s  max {info['max']:.3f} s" if lat else "none"
            print(f"    {lb:<34} {len(lat)}/{a.writes} arrived  {p}  (exit {info['exit_code']}, "
                  f"{info['stopped_by']})", flush=True)
        for src, _ in trees.values():
            run.rm_rf(src.parent)
    for lb in labels:
        r = out[lb]
        r["writes"] = a.writes * a.latency_reps
        r["arrived"] = len(r["latencies_s"])
        r |= lat_stats(r["latencies_s"])
        for q in ("p50", "p99"):
            per_rep = [x[q] for x in r["reps"] if q in x]
            if per_rep:
                r[f"{q}_per_rep"] = per_rep
                r[f"{q}_rep_min"], r[f"{q}_rep_max"] = min(per_rep), max(per_rep)
        r["check"] = {"equal": all(x["check"]["equal"] for x in r["reps"]),
                      "lines": sum(x["check"]["lines"] for x in r["reps"])}
        r["exit_code"] = next((x["exit_code"] for x in r["reps"] if x["exit_code"] not in (0, 143)),
                              r["reps"][-1]["exit_code"] if r["reps"] else None)
        r["stopped_by"] = next((x["stopped_by"] for x in r["reps"] if x["stopped_by"] != "SIGTERM"), "SIGTERM")
        loads = [x for rr in r["reps"] for x in (rr["load_start"][0], rr["load_end"][0])]
        r["load_1min_min"], r["load_1min_max"] = min(loads), max(loads)
    return out


def latency_alone(b: Bench, label: str, writes: int, delay: float | None) -> dict[str, Any]:
    """lsyncd at its default delay (15 s), on its own: each write waits out the delay, so it is not
    interleaved with the others (it would only lengthen the run)."""
    a = b.args
    base = latency_base(b)
    root = b.work / "latency" / label
    run.rm_rf(root)
    root.mkdir(parents=True)
    src, dst = root / "src", root / "dst"
    run.sh("cp", "-a", base, src)
    dst.mkdir()
    leaves = sorted(str(p.relative_to(src)) for p in src.glob("*/*") if p.is_dir())
    rng = random.Random(8)
    load_start = os.getloadavg()
    w = b.start("lsyncd", src, dst, f"latency-{label}", None, delay)
    lat: list[float] = []
    lost: list[str] = []
    try:
        ready = w.wait_ready(600)
        time.sleep(1.0)
        for i in range(writes):
            time.sleep(rng.uniform(*a.spacing))
            rel = f"{rng.choice(leaves)}/lat-{i:04d}.bin"
            data = f"{rel} {label}\n".encode().ljust(rng.randint(100, 1000), b".")
            got = write_and_wait(src, dst, rel, data, a.poll, 60.0)
            if got is None:
                lost.append(rel)
            else:
                lat.append(got)
        time.sleep((delay or 15) + 2)
    finally:
        stopped = w.stop()
    res: dict[str, Any] = {"tool": "lsyncd", "argv": w.argv, "writes": writes, "arrived": len(lat), "lost": lost,
                           "catch_up_s": ready, "latencies_s": [round(x, 4) for x in lat], **stopped,
                           **lat_stats(lat)}
    load_end = os.getloadavg()
    res["load_1min_min"], res["load_1min_max"] = min(load_start[0], load_end[0]), max(load_start[0], load_end[0])
    res["check"] = check(src, dst, label)
    p = f"p50 {res['p50']:.3f} s  p99 {res['p99']:.3f} s" if lat else "no arrivals"
    print(f"  {label:<28} {len(lat)}/{writes} arrived  {p}  (exit {res['exit_code']}, {res['stopped_by']})",
          flush=True)
    run.rm_rf(root)
    return res


def latency(b: Bench) -> dict[str, Any]:
    a = b.args
    labels = [LATENCY_KEYS[k] for k in a.latency_tools]
    print(f"\n## latency: {len(labels)} tools interleaved ({', '.join(labels)}), {a.writes} writes each in each of "
          f"{a.latency_reps} repetitions, spaced {a.spacing[0]:g}–{a.spacing[1]:g} s, polled every "
          f"{a.poll * 1000:g} ms; then lsyncd's default delay on its own ({a.default_writes} writes)", flush=True)
    out = latency_interleaved(b, labels)
    if a.default_writes:
        out["lsyncd default (delay=15)"] = latency_alone(b, "lsyncd-default", a.default_writes, None)
    return out


# -- churn -------------------------------------------------------------------------------------------------
def churn_content(rel: str, ver: int) -> bytes:
    return f"{rel} v{ver}\n".encode().ljust(100 + (ver * 37 + len(rel) * 11) % 900, b"#")


def target_version(path: Path) -> tuple[int, bytes]:
    """The version in the target file's header (-1 when missing) and its bytes."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return -1, b""
    head = data.split(b"\n", 1)[0]
    try:
        return int(head.rsplit(b" v", 1)[1]), data
    except (IndexError, ValueError):
        return -1, data


def churn_run(b: Bench, tool: str, rate: int) -> dict[str, Any]:
    a = b.args
    label = f"{tool}-{rate}"
    root = b.work / "churn" / label
    run.rm_rf(root)
    src, dst = root / "src", root / "dst"
    src.mkdir(parents=True)
    dst.mkdir()
    pool = rate * 10
    w = b.start(tool, src, dst, f"churn-{label}", delay=0)
    last: list[Any] = [None]
    versions: dict[str, int] = {}
    stop = threading.Event()
    probes: list[float] = []
    probe_lost: list[str] = []
    res: dict[str, Any] = {"tool": tool, "rate": rate, "argv": w.argv}

    def probe() -> None:
        while not stop.is_set():
            time.sleep(0.25)
            item = last[0]
            if item is None:
                continue
            rel, ver, t0 = item
            while True:
                got, data = target_version(dst / rel)
                if got > ver or (got == ver and data == churn_content(rel, ver)):
                    probes.append(time.perf_counter() - t0)
                    break
                if time.perf_counter() - t0 > 120:
                    probe_lost.append(f"{rel} v{ver}")
                    break
                time.sleep(0.005)

    try:
        res["catch_up_s"] = w.wait_ready(120)
        time.sleep(0.5)
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        made: set[str] = set()
        ops = 0
        t_start = time.perf_counter()
        end = t_start + a.churn_seconds
        while (now := time.perf_counter()) < end:
            due = int((now - t_start) * rate)
            while ops < due:
                i = ops % pool
                d = f"c{i % 20:02d}/s{(i // 20) % 10}"
                rel = f"{d}/f{i:06d}.txt"
                if d not in made:
                    (src / d).mkdir(parents=True, exist_ok=True)
                    made.add(d)
                ver = versions.get(rel, -1) + 1
                with open(src / rel, "wb") as fh:
                    fh.write(churn_content(rel, ver))
                versions[rel] = ver
                last[0] = (rel, ver, time.perf_counter())
                ops += 1
            time.sleep(0.001)
        t_stop = time.perf_counter()
        stop.set()
        res["ops"], res["achieved_rate"] = ops, ops / (t_stop - t_start)
        res["files"] = len(versions)
        pending = dict(versions)
        converged = None
        while pending and time.perf_counter() - t_stop < a.converge_timeout:
            for rel, ver in list(pending.items()):
                got, data = target_version(dst / rel)
                if got == ver and data == churn_content(rel, ver):
                    del pending[rel]
            if not pending:
                converged = time.perf_counter() - t_stop
                break
            time.sleep(0.01)
        prober.join(130)
        res["catch_up_after_stop_s"] = converged
        res["not_converged"] = len(pending)
        res["not_converged_sample"] = sorted(pending)[:10]
        if pending:
            print(f"  WARNING: {label}: {len(pending)} files not final in the target {a.converge_timeout:.0f} s "
                  f"after the writer stopped", flush=True)
        time.sleep(1.0)
        res["alive_at_end"] = w.alive()
    finally:
        stop.set()
        res |= w.stop()
    res["probes"] = len(probes)
    res["probe_lost"] = probe_lost
    if probes:
        res |= {"lag_median_s": statistics.median(probes), "lag_p90_s": pct(probes, 90), "lag_max_s": max(probes)}
    res["check"] = check(src, dst, f"churn {label}")
    conv = f"{converged:.2f} s" if converged is not None else f"NOT converged ({len(pending)} files)"
    lag = f"lag median {res['lag_median_s']:.3f} s max {res['lag_max_s']:.3f} s" if probes else "no probes"
    print(f"  {label:<16} {res['achieved_rate']:7.0f} files/s  {lag}  caught up {conv} after stop  "
          f"(exit {res['exit_code']}, {res['stopped_by']})", flush=True)
    run.rm_rf(root)
    return res


def churn(b: Bench) -> dict[str, Any]:
    a = b.args
    print(f"\n## churn: {a.churn_seconds:g} s at {', '.join(map(str, a.rates))} files/s", flush=True)
    out: dict[str, Any] = {}
    for rate in a.rates:
        for tool in ("syncline", "lsyncd"):
            out[f"{tool} @ {rate}/s"] = churn_run(b, tool, rate)
    return out


# -- idle CPU ----------------------------------------------------------------------------------------------
def idle(b: Bench) -> dict[str, Any]:
    a = b.args
    print(f"\n## idle: {a.idle_files:,} files watched, CPU over {a.idle_seconds:g} s", flush=True)
    base = run.cached(b.data / f"small-{a.idle_files}" / "src", {"files": a.idle_files, "seed": 1},
                      lambda p: print("  " + gen.make_small(str(p), a.idle_files, 1).line("small"), flush=True))
    root = b.work / "idle"
    run.rm_rf(root)
    root.mkdir(parents=True)
    src = root / "src"
    print(f"  cp -a {base} {src}", flush=True)
    run.sh("cp", "-a", base, src)
    dsts = {"syncline": fresh(root / "syncline-dst"), "lsyncd": fresh(root / "lsyncd-dst")}
    out: dict[str, Any] = {}
    watchers: dict[str, Watcher] = {}
    try:
        for tool in ("syncline", "lsyncd"):
            os.sync()
            watchers[tool] = b.start(tool, src, dsts[tool], f"idle-{tool}", delay=0)
            ready = watchers[tool].wait_ready(900)
            out[tool] = {"tool": tool, "argv": watchers[tool].argv, "catch_up_s": ready}
            print(f"  {tool} caught up in {ready:.1f} s", flush=True)
        os.sync()
        time.sleep(5)  # let write-back and any trailing work settle
        before = {t: cpu_seconds(w.pid) for t, w in watchers.items()}
        t0 = time.perf_counter()
        time.sleep(a.idle_seconds)
        elapsed = time.perf_counter() - t0
        for t, w in watchers.items():
            used = cpu_seconds(w.pid) - before[t]
            out[t] |= {"cpu_seconds": used, "window_s": elapsed, "cpu_pct": 100 * used / elapsed,
                       "rss_mib": status_kib(w.pid, "VmRSS") / 1024, "hwm_mib": status_kib(w.pid, "VmHWM") / 1024,
                       "alive": w.alive()}
            print(f"  {t:<10} {used:.3f} CPU s over {elapsed:.1f} s = {100 * used / elapsed:.3f}% of a core",
                  flush=True)
    finally:
        for t, w in watchers.items():
            out[t] |= w.stop()
    for t in watchers:
        out[t]["check"] = check(src, dsts[t], f"idle {t}")
    run.rm_rf(root)
    return out


# -- memory ------------------------------------------------------------------------------------------------
def make_folders(root: Path, folders: int) -> None:
    """``folders`` folders: 100 top folders, the others spread below them, 3 small files in each leaf."""
    rng = random.Random(5)
    tops = min(100, folders)
    leaves = folders - tops
    root.mkdir(parents=True)
    for t in range(tops):
        (root / f"t{t:03d}").mkdir()
    for j in range(leaves):
        d = root / f"t{j % tops:03d}" / f"l{j // tops:04d}"
        d.mkdir()
        for k in range(3):
            rel = f"{d.relative_to(root)}/f{k}.txt"
            gen.write_file(str(d / f"f{k}.txt"), rel.encode().ljust(rng.randint(100, 300), b"."),
                           gen.EPOCH_NS + j * 10**9)


def memory(b: Bench) -> dict[str, Any]:
    a = b.args
    print(f"\n## memory: {a.folders:,} folders watched", flush=True)
    src = run.cached(b.data / f"watch-folders-{a.folders}" / "src", {"folders": a.folders, "seed": 5},
                     lambda p: make_folders(p, a.folders))
    out: dict[str, Any] = {}
    for tool in ("syncline", "lsyncd"):
        dst = fresh(b.work / "memory" / f"{tool}-dst")
        os.sync()
        w = b.start(tool, src, dst, f"memory-{tool}", delay=0)
        peak_tree = 0
        res: dict[str, Any] = {"tool": tool, "argv": w.argv}
        try:
            deadline = time.perf_counter() + 600
            ready = None
            while time.perf_counter() < deadline:
                peak_tree = max(peak_tree, tree_rss(w.pid))
                try:
                    ready = w.wait_ready(0.05)
                    break
                except RuntimeError:
                    if not w.alive():
                        raise
            res["catch_up_s"] = ready
            end = time.perf_counter() + a.steady_wait
            while time.perf_counter() < end:
                peak_tree = max(peak_tree, tree_rss(w.pid))
                time.sleep(0.05)
            res |= {"steady_rss_mib": status_kib(w.pid, "VmRSS") / 1024,
                    "peak_rss_mib": status_kib(w.pid, "VmHWM") / 1024,
                    "peak_tree_rss_mib": peak_tree / 2**20, "steady_tree_rss_mib": tree_rss(w.pid) / 2**20,
                    "alive": w.alive()}
        finally:
            res |= w.stop()
        res["check"] = check(src, dst, f"memory {tool}")
        print(f"  {tool:<10} caught up in {res['catch_up_s']:.1f} s; peak (VmHWM) {res['peak_rss_mib']:.1f} MiB, "
              f"steady {res['steady_rss_mib']:.1f} MiB, peak with children {res['peak_tree_rss_mib']:.1f} MiB",
              flush=True)
        out[tool] = res
        run.rm_rf(dst)
    return out


# -- report ------------------------------------------------------------------------------------------------
def ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:.2f}x" if x is not None and y else "—"


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    lat = results["scenarios"].get("latency", {}).get("syncline")
    if lat and "p50" in lat:
        rows.append({"target": f"latency p50 < {P50_LIMIT} s", "measured": f"{lat['p50']:.3f} s",
                     "met": lat["p50"] < P50_LIMIT and not lat["lost"]})
        rows.append({"target": f"latency p99 < {P99_LIMIT} s", "measured": f"{lat['p99']:.3f} s",
                     "met": lat["p99"] < P99_LIMIT and not lat["lost"]})
    idle_sl = results["scenarios"].get("idle", {}).get("syncline")
    if idle_sl and "cpu_pct" in idle_sl:
        rows.append({"target": f"idle CPU < {IDLE_CPU_LIMIT}% of a core", "measured": f"{idle_sl['cpu_pct']:.3f}%",
                     "met": idle_sl["cpu_pct"] < IDLE_CPU_LIMIT})
    return rows


def markdown(results: dict[str, Any]) -> str:
    sc = results["scenarios"]
    lines: list[str] = []

    def ok(r: dict[str, Any]) -> str:
        bad = []
        if not r.get("check", {}).get("equal", False):
            bad.append(f"target differs ({r.get('check', {}).get('lines')} lines)")
        if r.get("exit_code") not in (0, None, 143) or r.get("stopped_by", "SIGTERM") != "SIGTERM":
            bad.append(f"exit {r.get('exit_code')} by {r.get('stopped_by')}")
        return "; ".join(bad) or "ok"

    if "latency" in sc:
        lines += ["| latency | writes (arrived) | p50 s | IQR s | p90 s | p99 s | max s | p50 / p99 per rep, "
                  "min–max s | load (1 min) | target check |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for name, r in sc["latency"].items():
            f = [f"{r[k]:.3f}" if k in r else "—" for k in ("p50", "p90", "p99", "max")]
            iqr = f"{r['p25']:.3f}–{r['p75']:.3f}" if "p25" in r else "—"
            per_rep = (f"{r['p50_rep_min']:.3f}–{r['p50_rep_max']:.3f} / {r['p99_rep_min']:.3f}–"
                       f"{r['p99_rep_max']:.3f}" if "p50_rep_min" in r else "")
            load = f"{r['load_1min_min']:.2f}–{r['load_1min_max']:.2f}" if "load_1min_min" in r else "?"
            lines.append(f"| {name} | {r['writes']} ({r['arrived']}) | {f[0]} | {iqr} | {' | '.join(f[1:])} | "
                         f"{per_rep} | {load} | {ok(r)} |")
        s = sc["latency"].get("syncline", {})
        for other in ("lsyncd delay=0", "lsyncd default (delay=15)"):
            o = sc["latency"].get(other)
            if o is None:
                continue
            lines.append(f"| syncline ÷ {other} | | {ratio(s.get('p50'), o.get('p50'))} | | "
                         f"{ratio(s.get('p90'), o.get('p90'))} | {ratio(s.get('p99'), o.get('p99'))} | "
                         f"{ratio(s.get('max'), o.get('max'))} | | | |")
        lines.append("")
    if "churn" in sc:
        lines += ["| churn | files/s asked (done) | files | lag median s | lag p90 s | lag max s | "
                  "catch-up after stop s | target check |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        for name, r in sc["churn"].items():
            conv = f"{r['catch_up_after_stop_s']:.2f}" if r.get("catch_up_after_stop_s") is not None \
                else f"not in {r.get('not_converged')} files"
            lag = [f"{r[k]:.3f}" if k in r else "—" for k in ("lag_median_s", "lag_p90_s", "lag_max_s")]
            lines.append(f"| {name} | {r['rate']} ({r.get('achieved_rate', 0):.0f}) | {r.get('files', 0):,} | "
                         f"{' | '.join(lag)} | {conv} | {ok(r)} |")
        for rate in results["options"]["rates"]:
            s, o = sc["churn"].get(f"syncline @ {rate}/s"), sc["churn"].get(f"lsyncd @ {rate}/s")
            if s and o:
                lines.append(f"| syncline ÷ lsyncd @ {rate}/s | | | "
                             f"{ratio(s.get('lag_median_s'), o.get('lag_median_s'))} | "
                             f"{ratio(s.get('lag_p90_s'), o.get('lag_p90_s'))} | "
                             f"{ratio(s.get('lag_max_s'), o.get('lag_max_s'))} | "
                             f"{ratio(s.get('catch_up_after_stop_s'), o.get('catch_up_after_stop_s'))} | |")
        lines.append("")
    if "idle" in sc:
        lines += ["| idle | catch-up s | CPU s | window s | % of a core | RSS MiB | target check |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, r in sc["idle"].items():
            if "cpu_pct" in r:
                lines.append(f"| {name} | {r['catch_up_s']:.1f} | {r['cpu_seconds']:.3f} | {r['window_s']:.1f} | "
                             f"{r['cpu_pct']:.3f} | {r['rss_mib']:.1f} | {ok(r)} |")
        s, o = sc["idle"].get("syncline", {}), sc["idle"].get("lsyncd", {})
        lines.append(f"| syncline ÷ lsyncd | {ratio(s.get('catch_up_s'), o.get('catch_up_s'))} | "
                     f"{ratio(s.get('cpu_seconds'), o.get('cpu_seconds'))} | | "
                     f"{ratio(s.get('cpu_pct'), o.get('cpu_pct'))} | {ratio(s.get('rss_mib'), o.get('rss_mib'))} | |")
        lines.append("")
    if "memory" in sc:
        lines += ["| memory | catch-up s | peak RSS (VmHWM) MiB | steady RSS MiB | peak with children MiB | "
                  "target check |", "|---|---:|---:|---:|---:|---|"]
        for name, r in sc["memory"].items():
            if "steady_rss_mib" in r:
                lines.append(f"| {name} | {r['catch_up_s']:.1f} | {r['peak_rss_mib']:.1f} | "
                             f"{r['steady_rss_mib']:.1f} | {r['peak_tree_rss_mib']:.1f} | {ok(r)} |")
        s, o = sc["memory"].get("syncline", {}), sc["memory"].get("lsyncd", {})
        lines.append(f"| syncline ÷ lsyncd | {ratio(s.get('catch_up_s'), o.get('catch_up_s'))} | "
                     f"{ratio(s.get('peak_rss_mib'), o.get('peak_rss_mib'))} | "
                     f"{ratio(s.get('steady_rss_mib'), o.get('steady_rss_mib'))} | "
                     f"{ratio(s.get('peak_tree_rss_mib'), o.get('peak_tree_rss_mib'))} | |")
        lines.append("")
    lines += ["| target | measured | met? |", "|---|---:|---|"]
    for row in results["targets"]:
        lines.append(f"| {row['target']} | {row['measured']} | {'met' if row['met'] else 'MISSED'} |")
    return "\n".join(lines)


def reproduce(args: argparse.Namespace, names: list[str]) -> str:
    parts = ["python", "bench/watch.py", *names, "--writes", str(args.writes), "--latency-reps",
             str(args.latency_reps), "--latency-tools", ",".join(args.latency_tools), "--default-writes",
             str(args.default_writes), "--latency-files",
             str(args.latency_files), "--rates", ",".join(map(str, args.rates)), "--churn-seconds",
             f"{args.churn_seconds:g}", "--idle-files", str(args.idle_files), "--idle-seconds",
             f"{args.idle_seconds:g}", "--folders", str(args.folders)]
    if args.data is not None:
        parts += ["--data", str(args.data)]
    if args.syncline_args:
        parts += ["--syncline-args", args.syncline_args]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    ap = argparse.ArgumentParser(prog="watch.py", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} [all]")
    ap.add_argument("--writes", type=int, default=100, help="latency: writes per tool and repetition [100]")
    ap.add_argument("--latency-reps", type=int, default=3,
                    help="latency: repetitions, each with freshly started watchers [3]")
    ap.add_argument("--latency-tools", type=lambda x: x.split(","), default=list(LATENCY_KEYS),
                    help=f"latency: the tools interleaved, comma-separated [{','.join(LATENCY_KEYS)}]")
    ap.add_argument("--default-writes", type=int, default=5,
                    help="latency: writes for lsyncd at its default delay (15 s), run on its own; 0: none [5]")
    ap.add_argument("--latency-files", type=int, default=1000, help="latency: files of the mirrored tree [1000]")
    ap.add_argument("--spacing", type=float, nargs=2, default=(0.2, 0.5), metavar=("MIN", "MAX"),
                    help="latency: seconds between an arrival and the next write [0.2 0.5]")
    ap.add_argument("--poll", type=float, default=0.002, help="latency: seconds between polls [0.002]")
    ap.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500, 2000],
                    help="churn: files per second, comma-separated [100,500,2000]")
    ap.add_argument("--churn-seconds", type=float, default=20.0, help="churn: writer duration [20]")
    ap.add_argument("--converge-timeout", type=float, default=120.0, help="churn: give up after this [120]")
    ap.add_argument("--idle-files", type=int, default=100_000, help="idle: files watched [100000]")
    ap.add_argument("--idle-seconds", type=float, default=60.0, help="idle: CPU measured over this [60]")
    ap.add_argument("--folders", type=int, default=10_000, help="memory: folders watched [10000]")
    ap.add_argument("--steady-wait", type=float, default=10.0, help="memory: steady RSS this long after catch-up")
    ap.add_argument("--min-watches", type=int, default=50_000,
                    help="wait before each start until fs.inotify.max_user_watches is at least this [50000]")
    ap.add_argument("--tiny", action="store_true", help="toy sizes, for debugging the script")
    ap.add_argument("--data", type=Path, default=None, help="where the data goes [bench/data]")
    ap.add_argument("--syncline", default=run.default_syncline(), help="the syncline command [.venv/bin/syncline]")
    ap.add_argument("--syncline-args", default="", metavar="ARGS",
                    help="more options for every syncline watch run, e.g. '--quiet-period 0.02'")
    ap.add_argument("--out", type=Path, default=run.BENCH / "results", help="where the JSON goes [bench/results]")
    args = ap.parse_args(argv)
    if args.tiny:
        args.writes, args.latency_reps, args.default_writes, args.latency_files = 5, 2, 1, 100
        args.rates, args.churn_seconds, args.idle_files, args.idle_seconds = [50, 200], 3.0, 2000, 5.0
        args.folders, args.steady_wait = 300, 2.0
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {', '.join(unknown)}; pick from {', '.join(SCENARIOS)}")
    bad = [t for t in args.latency_tools if t not in LATENCY_KEYS]
    if bad or not args.latency_tools:
        ap.error(f"--latency-tools: pick from {', '.join(LATENCY_KEYS)}")
    run.ensure_debian({"lsyncd": "lsyncd", "rsync": "rsync"})
    data = (args.data or run.BENCH / "data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    b = Bench(args, data)
    run.rm_rf(b.work)
    b.work.mkdir(parents=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = run.machine_info(data, args.syncline)
    machine["lsyncd"] = subprocess.run(["lsyncd", "--version"], capture_output=True, text=True).stdout.strip()
    machine["inotify_max_user_watches"] = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    results: dict[str, Any] = {
        "started": stamp,
        "command": reproduce(args, names) + (" --tiny" if args.tiny else ""),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine,
        "scenarios": {},
        "targets": [],
        # CPU used meanwhile by other user processes (e.g. a test suite), lsyncd's rsync children included.
        "other_processes_cpu": {},
        # The machine's load averages (1, 5, 15 min) at the start and the end of each scenario.
        "load": {},
    }
    print(f"data in {data}; work in {b.work}; results in {args.out}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"watch-{stamp}.json"
    runners = {"latency": latency, "churn": churn, "idle": idle, "memory": memory}
    started = time.perf_counter()
    try:
        for name in names:
            others = run.others_cpu_seconds()
            t0 = time.perf_counter()
            load_start = os.getloadavg()
            results["scenarios"][name] = runners[name](b)
            results["load"][name] = {"start": load_start, "end": os.getloadavg()}
            results["other_processes_cpu"][name] = {"cpu_seconds": round(run.others_cpu_seconds() - others, 1),
                                                    "wall_seconds": round(time.perf_counter() - t0, 1)}
            results["targets"] = judge(results)
            results["seconds"] = time.perf_counter() - started
            tmp = out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(results, indent=1, default=str) + "\n")
            tmp.replace(out)
    finally:
        stop_all()
    print("\n" + markdown(results))
    print("\nother processes' CPU during each scenario (incl. lsyncd's rsync children): " + "; ".join(
        f"{k} {v['cpu_seconds']:.0f} CPU s over {v['wall_seconds']:.0f} s"
        for k, v in results["other_processes_cpu"].items()))
    print("load averages (1, 5, 15 min) at start -> end: " + "; ".join(
        f"{k} {' '.join(f'{x:.2f}' for x in v['start'])} -> {' '.join(f'{x:.2f}' for x in v['end'])}"
        for k, v in results["load"].items()))
    print(f"\nresults: {out.relative_to(run.ROOT) if out.is_relative_to(run.ROOT) else out}")
    print(f"total {results['seconds'] / 60:.1f} min; reproduce with:\n  {results['command']}")
    run.rm_rf(b.work / "churn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
