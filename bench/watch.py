"""Real-time mirroring: ``syncline watch`` side by side with lsyncd (default.rsync): latency, churn, idle CPU, memory.

    python bench/watch.py                                        # every scenario at full size (~14 min)
    python bench/watch.py latency churn --writes 200 --default-writes 20 --rates 100,500,2000 --churn-seconds 20
    python bench/watch.py idle memory --idle-files 100000 --idle-seconds 60 --folders 10000
    python bench/watch.py --tiny                                 # every scenario at toy sizes (debugging)

Scenarios:

``latency``
    A 1,000-file tree (``gen.make_small(root, 1000, seed 1)``) is mirrored; then ``--writes`` small files
    (100–1,000 B, written with open/write/close) are created one at a time in its leaf folders, each
    ``--spacing`` (0.2–0.5 s, seeded) after the previous one arrived. The latency of a write runs from just
    before ``open`` to the first poll that finds the target file with the right size and content; the
    destination is polled every 2 ms (``--poll``), so the resolution is about 2 ms plus one read. Tools:
    ``syncline watch SRC DST`` (defaults: quiet period 0.1 s, max delay 1 s), ``syncline watch
    --quiet-period 0`` (fewer writes; shows what the quiet period costs), lsyncd with ``delay = 0`` (its
    smallest), and lsyncd at its default ``delay`` (15 s; ``--default-writes`` writes only).

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
import shutil
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
        how = "exited before stop"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
                how = "SIGTERM"
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
                how = "SIGKILL (no exit within 15 s of SIGTERM)"
        try:  # leftovers in its session (e.g. an rsync child of lsyncd)
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
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
        self.env = dict(os.environ, SYNCLINE_STATE_DIR=str(self.state), LC_ALL="C")
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
def latency_run(b: Bench, tool: str, label: str, writes: int, extra: list[str] | None = None,
                delay: float | None = 0) -> dict[str, Any]:
    a = b.args
    base = run.cached(b.data / f"small-{a.latency_files}" / "src", {"files": a.latency_files, "seed": 1},
                      lambda p: print("  " + gen.make_small(str(p), a.latency_files, 1).line("small"), flush=True))
    root = b.work / "latency" / label
    run.rm_rf(root)
    root.mkdir(parents=True)
    src, dst = root / "src", root / "dst"
    run.sh("cp", "-a", base, src)
    dst.mkdir()
    leaves = sorted(str(p.relative_to(src)) for p in src.glob("*/*") if p.is_dir())
    rng = random.Random(7)
    w = b.start(tool, src, dst, f"latency-{label}", extra, delay)
    lat: list[float] = []
    lost: list[str] = []
    try:
        ready = w.wait_ready(600)
        time.sleep(1.0)
        timeout = 60.0 if delay is None or delay > 1 else 20.0
        for i in range(writes):
            time.sleep(rng.uniform(*a.spacing))
            rel = f"{rng.choice(leaves)}/lat-{i:04d}.bin"
            data = f"{rel} {label}\n".encode().ljust(rng.randint(100, 1000), b".")
            target = dst / rel
            t0 = time.perf_counter()
            with open(src / rel, "wb") as fh:
                fh.write(data)
            while True:
                try:
                    if target.stat().st_size == len(data) and target.read_bytes() == data:
                        lat.append(time.perf_counter() - t0)
                        break
                except FileNotFoundError:
                    pass
                if time.perf_counter() - t0 > timeout:
                    lost.append(rel)
                    print(f"  WARNING: {label}: {rel} not in the target after {timeout:.0f} s", flush=True)
                    break
                time.sleep(a.poll)
            if not w.alive():
                print(f"  WARNING: {label}: {tool} exited ({w.proc.returncode}) during the writes", flush=True)
                break
        time.sleep(1.5 if delay is None or delay < 1 else delay + 2)
    finally:
        stopped = w.stop()
    res: dict[str, Any] = {"tool": tool, "argv": w.argv, "writes": writes, "arrived": len(lat), "lost": lost,
                           "catch_up_s": ready, "latencies_s": [round(x, 4) for x in lat], **stopped}
    if lat:
        res |= {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "min": min(lat), "max": max(lat),
                "mean": statistics.fmean(lat)}
    synced = [ev for t, ev in w.events if ev.get("event") == "synced" and t - w.started > ready + 0.5]
    if synced:
        secs = [float(ev.get("seconds", 0)) for ev in synced]
        res["synced_events"] = len(synced)
        res["synced_seconds_median"] = statistics.median(secs)
        res["synced_seconds_max"] = max(secs)
    res["check"] = check(src, dst, label)
    p = f"p50 {res['p50']:.3f} s  p99 {res['p99']:.3f} s  max {res['max']:.3f} s" if lat else "no arrivals"
    print(f"  {label:<28} {len(lat)}/{writes} arrived  {p}  (exit {res['exit_code']}, {res['stopped_by']})",
          flush=True)
    run.rm_rf(root)
    return res


def latency(b: Bench) -> dict[str, Any]:
    a = b.args
    print(f"\n## latency: {a.writes} writes (lsyncd default delay: {a.default_writes}), "
          f"spaced {a.spacing[0]:g}–{a.spacing[1]:g} s, polled every {a.poll * 1000:g} ms", flush=True)
    return {
        "syncline": latency_run(b, "syncline", "syncline", a.writes),
        "syncline --quiet-period 0 (info)": latency_run(b, "syncline", "syncline-qp0", a.qp0_writes,
                                                        ["--quiet-period", "0"]),
        "lsyncd delay=0": latency_run(b, "lsyncd", "lsyncd-delay0", a.writes, delay=0),
        "lsyncd default (delay=15)": latency_run(b, "lsyncd", "lsyncd-default", a.default_writes, delay=None),
    }


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
        lines += ["| latency | writes (arrived) | p50 s | p90 s | p99 s | max s | target check |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, r in sc["latency"].items():
            f = [f"{r[k]:.3f}" if k in r else "—" for k in ("p50", "p90", "p99", "max")]
            lines.append(f"| {name} | {r['writes']} ({r['arrived']}) | {' | '.join(f)} | {ok(r)} |")
        s = sc["latency"]["syncline"]
        for other in ("lsyncd delay=0", "lsyncd default (delay=15)"):
            o = sc["latency"][other]
            lines.append(f"| syncline ÷ {other} | | {ratio(s.get('p50'), o.get('p50'))} | "
                         f"{ratio(s.get('p90'), o.get('p90'))} | {ratio(s.get('p99'), o.get('p99'))} | "
                         f"{ratio(s.get('max'), o.get('max'))} | |")
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
    parts = ["python", "bench/watch.py", *names, "--writes", str(args.writes), "--default-writes",
             str(args.default_writes), "--qp0-writes", str(args.qp0_writes), "--latency-files",
             str(args.latency_files), "--rates", ",".join(map(str, args.rates)), "--churn-seconds",
             f"{args.churn_seconds:g}", "--idle-files", str(args.idle_files), "--idle-seconds",
             f"{args.idle_seconds:g}", "--folders", str(args.folders)]
    if args.data is not None:
        parts += ["--data", str(args.data)]
    if args.syncline_args:
        parts += ["--syncline-args", args.syncline_args]
    return shlex.join(parts)


def ensure_lsyncd() -> None:
    if shutil.which("lsyncd") is None:
        print("lsyncd missing: apt-get update && apt-get install -y lsyncd", flush=True)
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(["apt-get", "install", "-y", "lsyncd"], check=True)


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    ap = argparse.ArgumentParser(prog="watch.py", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} [all]")
    ap.add_argument("--writes", type=int, default=200, help="latency: writes per tool [200]")
    ap.add_argument("--default-writes", type=int, default=20, help="latency: writes for lsyncd at delay 15 s [20]")
    ap.add_argument("--qp0-writes", type=int, default=50, help="latency: writes for syncline --quiet-period 0 [50]")
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
        args.writes, args.default_writes, args.qp0_writes, args.latency_files = 5, 1, 3, 100
        args.rates, args.churn_seconds, args.idle_files, args.idle_seconds = [50, 200], 3.0, 2000, 5.0
        args.folders, args.steady_wait = 300, 2.0
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {', '.join(unknown)}; pick from {', '.join(SCENARIOS)}")
    ensure_lsyncd()
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
            results["scenarios"][name] = runners[name](b)
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
    print(f"\nresults: {out.relative_to(run.ROOT) if out.is_relative_to(run.ROOT) else out}")
    print(f"total {results['seconds'] / 60:.1f} min; reproduce with:\n  {results['command']}")
    run.rm_rf(b.work / "churn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
