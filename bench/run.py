"""syncline side by side with rsync, rclone, cp and find: wall time, peak memory, ratios, targets.

    python bench/run.py                                   # every scenario, 3 repetitions
    python bench/run.py small-nochange small-1pct --reps 5 --files 100000
    python bench/run.py index-1m --tiny-files 1000000 --index-reps 2
    make bench BENCH="small-initial --reps 3"

Scenarios: small-initial, small-nochange, small-1pct, big-initial, startup, index-1m, twoway-first, twoway-nochange,
twoway-1pct (see SCENARIOS below and
docs/performance.md). Within each repetition every tool runs once (tools interleaved, their order rotated
from one repetition to the next where the scenario allows), each against a target set up the same way
beforehand (set-up not timed). Before every timed command the page cache's dirty data is written back
(``sync``), so no tool pays for another's writes; ``--cold`` also drops the page cache (root only).

The data (generated once by bench/gen.py, reused while the parameters match) goes under bench/data/ or
``--data DIR``. Results go to bench/results/<UTC timestamp>.json; a markdown table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gen

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RCLONE_FLAGS = ["--transfers", "8", "--checkers", "16"]
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None  # GNU time, for peak RSS
GEN_VERSION = 2  # bump when gen.py's output changes, so cached data is made again
NOISY = 0.25  # a run during which other processes used more than a quarter core is noisy


# -- measuring ---------------------------------------------------------------------------------------------
@dataclass
class Measurement:
    """One timed command: wall seconds, peak resident memory of the process tree (bytes), exit code."""

    seconds: float
    maxrss: int
    rc: int
    stderr: str = ""
    # CPU seconds other user processes used on the machine meanwhile: a sign of a noisy neighbour.
    foreign_cpu: float = 0.0
    # CPU seconds the hypervisor took from this machine meanwhile (another sign of noise).
    steal: float = 0.0
    # CPU seconds (user + system) of the command itself.
    cpu: float = 0.0
    # The machine's load averages (1, 5, 15 minutes) just before and just after the command.
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def drop_caches() -> None:
    """Write back dirty data and drop the page, dentry and inode caches (needs root)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--cold: cannot drop the page cache ({exc.strerror}); run as root or leave --cold out") \
            from None


def others_cpu_seconds() -> float:
    """CPU seconds used so far by the user processes other than this one (and the children they reaped).

    Kernel threads are left out: their work (write-back, journaling) is mostly done for the command being
    measured. Processes that started and ended unseen between two calls are counted through the parent
    that reaped them. This process's own children (the measured command) are never counted.
    """
    me = os.getpid()
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        # fields[0] is field 3 (state): ppid=4, flags=9, utime=14, stime=15, cutime=16, cstime=17.
        ppid, flags = int(fields[1]), int(fields[6])
        if flags & 0x00200000 or ppid == 2 or ppid == me:  # PF_KTHREAD, or one of our own children
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / _CLK_TCK


def steal_seconds() -> float:
    """CPU seconds the hypervisor has taken from this machine's CPUs since boot (0 on bare metal)."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / _CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float, limit: float = 0.25, step: float = 0.5) -> float:
    """Wait (up to ``max_wait`` seconds) until the machine's other processes use less than ``limit`` of a
    core over ``step`` seconds; returns the seconds waited."""
    waited = 0.0
    while waited < max_wait:
        before = others_cpu_seconds()
        time.sleep(step)
        waited += step
        if others_cpu_seconds() - before < limit * step:
            break
    return waited


def measure(argv: list[str], env: dict[str, str], cold: bool) -> Measurement:
    """Run ``argv`` once (stdout to /dev/null) and return its wall time and peak RSS.

    The peak RSS comes from GNU time (``%M``: the largest RSS of the command and of any descendant it
    waited for, so a shell wrapper reports its biggest command). Not from this process's ``wait4``:
    Linux carries the RSS high-water mark of a process across ``exec``, so a child forked from this
    (large) Python process would report this process's RSS as its own. Without /usr/bin/time the
    ``wait4`` figure is used and is an upper bound.
    """
    os.sync()
    if cold:
        drop_caches()
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        cmd = [TIME, "-f", "%M", "-o", rss.name, *argv] if TIME else argv
        others, steal = others_cpu_seconds(), steal_seconds()
        load_before = os.getloadavg()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        foreign, steal = others_cpu_seconds() - others, steal_seconds() - steal
        load_after = os.getloadavg()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-2000:].decode(errors="replace")
        maxrss_kib = usage.ru_maxrss
        if TIME:
            # GNU time writes "Command exited with non-zero status N" first when the command fails.
            lines = rss.read().split()
            maxrss_kib = int(lines[-1]) if lines and lines[-1].isdigit() else maxrss_kib
    return Measurement(seconds, maxrss_kib * 1024, proc.returncode, tail, foreign, steal,
                       usage.ru_utime + usage.ru_stime, load_before, load_after)


def sh(*argv: str | os.PathLike[str]) -> None:
    """Run an untimed helper command; stop the benchmark if it fails."""
    subprocess.run([os.fspath(a) for a in argv], check=True)


def rm_rf(path: Path) -> None:
    """Remove a tree (``rm -rf`` is faster than shutil for 100k files)."""
    if os.path.lexists(path):
        sh("rm", "-rf", path)


def fresh_dir(path: Path) -> None:
    """An empty directory at ``path``, whatever was there."""
    rm_rf(path)
    path.mkdir(parents=True)


def differences(src: Path, dst: Path, exclude: tuple[str, ...] = ()) -> dict[str, int]:
    """How ``dst`` differs from ``src`` by rsync's quick check (``rsync -ani --delete``), syncline's
    ``.syncline`` folder and the ``exclude`` patterns (e.g. Syncthing's ``/.stfolder/``) left out: ``files``
    (files and symlinks to copy, fix or delete) and ``dirs`` (directory metadata only, e.g. rclone does not
    keep directory mtimes)."""
    excludes = [f"--exclude={x}" for x in ("/.syncline/", *exclude)]
    out = subprocess.run(["rsync", "-ani", "--delete", *excludes, f"{src}/", f"{dst}/"],
                         check=True, capture_output=True, text=True).stdout
    files = dirs = 0
    for line in out.splitlines():
        is_dir = line.endswith("/") or (len(line) > 1 and line[1] == "d")
        if is_dir:
            dirs += 1
        else:
            files += 1
    return {"files": files, "dirs": dirs}


# -- data sets -------------------------------------------------------------------------------------------
def cached(path: Path, key: dict[str, Any], make: Callable[[Path], None]) -> Path:
    """``path``, made by ``make`` unless a completed one with the same ``key`` is there already.

    Completion is recorded in a marker file beside ``path`` (never inside a tree that gets synced).
    """
    marker = path.with_name(path.name + ".complete.json")
    want = {"gen_version": GEN_VERSION, **key}
    if marker.exists() and os.path.lexists(path):
        try:
            if json.loads(marker.read_text()) == want:
                return path
        except (OSError, ValueError):
            pass
    marker.unlink(missing_ok=True)
    rm_rf(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"  making {path} ...", flush=True)
    started = time.perf_counter()
    make(path)
    print(f"  made {path} in {time.perf_counter() - started:.1f} s", flush=True)
    marker.write_text(json.dumps(want))
    return path


@dataclass
class Context:
    """Options and paths shared by the scenarios."""

    data: Path
    files: int
    tiny_files: int
    big_size: int
    syncline: str
    cold: bool
    env: dict[str, str] = field(default_factory=dict)
    settle: float = 60.0
    retries: int = 1
    before: str | None = None  # another syncline to time beside this one ("syncline (before)")
    skip: tuple[str, ...] = ()  # peers left out
    _baseline: int | None = None

    @property
    def rclone(self) -> list[str]:
        """rclone with the benchmark's flags and an empty config (no notice about a missing one)."""
        conf = self.data / "rclone.conf"
        if not conf.exists():
            conf.write_text("")
        return ["rclone", *RCLONE_FLAGS, "--config", str(conf), "-q"]

    def baseline_rss(self) -> int:
        """Peak RSS of ``syncline --version``: the interpreter and imports, before any work."""
        if self._baseline is None:
            self._baseline = min(measure([self.syncline, "--version"], self.env, cold=False).maxrss for _ in range(3))
        return self._baseline

    def synclines(self) -> dict[str, str]:
        """The syncline tools of the re-sync scenarios: this one, and the one to compare with."""
        return {"syncline": self.syncline, **({BEFORE: self.before} if self.before else {})}

    def keep(self, runs: list[ToolRun]) -> list[ToolRun]:
        return [r for r in runs if r.tool not in self.skip]

    def work(self, scenario: str, tool: str) -> Path:
        return self.data / "work" / scenario / tool.replace(" ", "_").replace("/", "_")

    def small_src(self) -> Path:
        return cached(self.data / f"small-{self.files}" / "src", {"files": self.files, "seed": 1},
                      lambda p: print("  " + gen.make_small(str(p), self.files, 1).line("small")))

    def small_base(self) -> Path:
        """A pristine copy of the small tree: the state 1% re-sync targets are reset to."""
        src = self.small_src()
        return cached(self.data / f"small-{self.files}" / "base", {"files": self.files, "copy_of": str(src)},
                      lambda p: sh("cp", "-a", src, p))

    def small_mutated(self) -> Path:
        """The small tree after ``gen.py mutate --modify 0.01 --delete 0.001 --add 0.001 --seed 2``."""
        src = self.small_src()

        def make(p: Path) -> None:
            sh("cp", "-a", src, p)
            m = gen.mutate(str(p), 0.01, 0.001, 0.001, 2)
            print(f"  mutated: {m.modified} modified, {m.deleted} deleted, {m.added} added")

        return cached(self.data / f"small-{self.files}" / "mutated", {"files": self.files, "mutate": [1, 1, 1, 2]},
                      make)

    def tiny_src(self) -> Path:
        return cached(self.data / f"tiny-{self.tiny_files}" / "src", {"files": self.tiny_files, "seed": 1},
                      lambda p: print("  " + gen.make_tiny(str(p), self.tiny_files, 1).line("tiny")))

    def big_src(self) -> Path:
        """A directory holding one file of ``big_size`` bytes."""

        def make(p: Path) -> None:
            p.mkdir()
            print("  " + gen.make_big(str(p / "big.bin"), self.big_size, 1).line("big"))
            os.utime(p, ns=(gen.EPOCH_NS, gen.EPOCH_NS))

        return cached(self.data / f"big-{self.big_size}" / "src", {"size": self.big_size, "seed": 1}, make)


# -- scenarios -------------------------------------------------------------------------------------------
@dataclass
class ToolRun:
    """One tool's command in a scenario: untimed ``setup`` before each repetition, ``check`` after the first.

    ``info`` marks a reference run that no target is judged against (e.g. rsync followed by ``sync``).
    """

    tool: str
    argv: list[str]
    setup: Callable[[], None] | None = None
    check: Callable[[], dict[str, int]] | None = None
    info: bool = False


@dataclass
class Scenario:
    """A named comparison: ``prepare`` makes the data and returns the tool runs; ``files`` is the number of
    files the syncline runs handle (for memory per file)."""

    name: str
    title: str
    prepare: Callable[[Context], list[ToolRun]]
    files: Callable[[Context], int]
    rotate: bool = True
    reps_option: str = "reps"
    # (subject, peer) pairs whose ratio of medians is reported; None: every syncline tool against every other.
    pairs: tuple[tuple[str, str], ...] | None = None


def _small_initial(ctx: Context) -> list[ToolRun]:
    src = ctx.small_src()
    dst = {t: ctx.work("small-initial", t) for t in ("syncline", "rsync", "rclone", "cp", "rsync+sync")}

    def fresh(t: str) -> Callable[[], None]:
        return lambda: fresh_dir(dst[t])

    def check(t: str) -> Callable[[], dict[str, int]]:
        return lambda: differences(src, dst[t])

    runs = [
        ToolRun("syncline", [ctx.syncline, "sync", str(src), str(dst["syncline"])]),
        ToolRun("rsync", ["rsync", "-a", f"{src}/", f"{dst['rsync']}/"]),
        ToolRun("rclone", [*ctx.rclone, "sync", str(src), str(dst["rclone"])]),
        ToolRun("cp", ["cp", "-a", f"{src}/.", f"{dst['cp']}/"], info=True),
        ToolRun("rsync+sync", ["sh", "-c", 'rsync -a "$1/" "$2/" && sync', "sh", str(src), str(dst["rsync+sync"])],
                info=True),
    ]
    for r in runs:
        r.setup, r.check = fresh(r.tool), check(r.tool)
    return runs


def _small_nochange(ctx: Context) -> list[ToolRun]:
    src = ctx.small_src()
    runs = ctx.keep([
        *(ToolRun(t, [cmd, "sync", "--delete", str(src), str(ctx.work("small-nochange", t))])
          for t, cmd in ctx.synclines().items()),
        ToolRun("rsync", ["rsync", "-a", "--delete", f"{src}/", f"{ctx.work('small-nochange', 'rsync')}/"]),
        ToolRun("rclone", [*ctx.rclone, "sync", str(src), str(ctx.work("small-nochange", "rclone"))]),
    ])
    for r in runs:
        dst = ctx.work("small-nochange", r.tool)
        print(f"  {dst}: cp -a of the source, then one untimed run of {r.tool}", flush=True)
        rm_rf(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        sh("cp", "-a", src, dst)
        warm = measure(r.argv, ctx.env, cold=False)
        if warm.rc != 0:
            raise SystemExit(f"{r.tool} failed on its warm-up run:\n{warm.stderr}")
        r.check = (lambda d: lambda: differences(src, d))(dst)
    return runs


def _small_1pct(ctx: Context) -> list[ToolRun]:
    base, mutated = ctx.small_base(), ctx.small_mutated()
    tools = {
        **{t: [cmd, "sync", "--delete"] for t, cmd in ctx.synclines().items()},
        "rsync": ["rsync", "-a", "--delete"],
        "rclone": [*ctx.rclone, "sync"],
        "syncline --no-trash": [ctx.syncline, "sync", "--delete", "--no-trash"],
    }
    runs = []
    for tool, cmd in tools.items():
        if tool in ctx.skip:
            continue
        dst = ctx.work("small-1pct", tool)
        print(f"  {dst}: cp -a of the tree before the mutation", flush=True)
        rm_rf(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        sh("cp", "-a", base, dst)
        argv = [*cmd, f"{mutated}/", f"{dst}/"] if tool == "rsync" else [*cmd, str(mutated), str(dst)]
        # Reset to the pre-mutation state: rsync puts back the changed, deleted and added files and
        # removes syncline's trash folder; every other file is untouched.
        reset = (lambda d: lambda: sh("rsync", "-a", "--delete", f"{base}/", f"{d}/"))(dst)
        check = (lambda d: lambda: differences(mutated, d))(dst)
        runs.append(ToolRun(tool, argv, reset, check, info=tool not in ctx.synclines() and tool.startswith("syncline")))
    return runs


def _big_initial(ctx: Context) -> list[ToolRun]:
    src = ctx.big_src()
    dst = {t: ctx.work("big-initial", t) for t in ("syncline", "rsync", "cp", "rclone", "cp+sync")}
    runs = [
        ToolRun("syncline", [ctx.syncline, "sync", str(src), str(dst["syncline"])]),
        ToolRun("rsync", ["rsync", "-a", f"{src}/", f"{dst['rsync']}/"]),
        ToolRun("cp", ["cp", "-a", f"{src}/.", f"{dst['cp']}/"]),
        ToolRun("rclone", [*ctx.rclone, "sync", str(src), str(dst["rclone"])]),
        ToolRun("cp+sync", ["sh", "-c", 'cp -a "$1/." "$2/" && sync', "sh", str(src), str(dst["cp+sync"])],
                info=True),
    ]
    for r in runs:
        r.setup = (lambda d: lambda: fresh_dir(d))(dst[r.tool])
        r.check = (lambda d: lambda: differences(src, d))(dst[r.tool])
    return runs


def _startup(ctx: Context) -> list[ToolRun]:
    """The fixed cost of a run: ``--version``, and a re-sync of an empty tree into its synced copy."""
    src = ctx.data / "empty" / "src"
    fresh_dir(src)
    os.utime(src, ns=(gen.EPOCH_NS, gen.EPOCH_NS))
    runs = [
        ToolRun("syncline --version", [ctx.syncline, "--version"]),
        ToolRun("rsync --version", ["rsync", "--version"]),
        ToolRun("syncline sync (empty)", [ctx.syncline, "sync", "--delete", str(src),
                                          str(ctx.work("startup", "syncline"))]),
        ToolRun("rsync -a (empty)", ["rsync", "-a", "--delete", f"{src}/", f"{ctx.work('startup', 'rsync')}/"]),
    ]
    for r in runs[2:]:
        dst = Path(r.argv[-1])
        fresh_dir(dst)
        warm = measure(r.argv, ctx.env, cold=False)  # the timed runs find the empty tree already synced
        if warm.rc != 0:
            raise SystemExit(f"{r.tool} failed on its warm-up run:\n{warm.stderr}")
        r.check = (lambda d: lambda: differences(src, d))(dst)
    return runs


def _index_1m(ctx: Context) -> list[ToolRun]:
    src = ctx.tiny_src()
    out = ctx.work("index-1m", "syncline") / "tree.slidx"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ctx.syncline, "index", str(src), "-o", str(out)]
    return [
        ToolRun("find", ["find", str(src), "-printf", r"%s %T@\n"]),
        ToolRun("syncline index (first)", cmd, setup=lambda: out.unlink(missing_ok=True)),
        ToolRun("syncline index (reuse)", cmd),
    ]


# -- two-way -----------------------------------------------------------------------------------------------
TWO_WAY_TOOLS = ("syncline", "unison", "rclone bisync")
BEFORE = "syncline (before)"


def _pair(ctx: Context, scenario: str, tool: str) -> tuple[Path, Path, Path]:
    """Side A, side B and the tool's own state directory for one tool of a two-way scenario."""
    w = ctx.work(scenario, tool)
    return w / "a", w / "b", w / "state"


def _two_way_argv(ctx: Context, tool: str, a: Path, b: Path, state: Path, first: bool = False) -> list[str]:
    """The tool's two-way command, its state kept in ``state`` (so it can be reset)."""
    if tool in ctx.synclines():
        return ["env", f"SYNCLINE_STATE_DIR={state}", ctx.synclines()[tool], "sync", "--two-way", "-q", str(a), str(b)]
    if tool == "unison":
        # -times: sync mtimes as the others do; -prefer newer: settle conflicts instead of skipping them.
        return ["env", f"UNISON={state}", "unison", str(a), str(b), "-batch", "-times", "-prefer", "newer",
                "-silent", "-confirmbigdel=false"]
    return [*ctx.rclone, "bisync", str(a), str(b), "--workdir", str(state), *(["--resync"] if first else [])]


def _two_way_pairs(ctx: Context, scenario: str, warm: bool) -> list[ToolRun]:
    """Each tool's pair: two cp -a copies of the small tree, then (``warm``) one untimed first run."""
    src = ctx.small_src()
    runs = []
    for tool in (t for t in (*ctx.synclines(), *TWO_WAY_TOOLS[1:]) if t not in ctx.skip):
        a, b, state = _pair(ctx, scenario, tool)
        print(f"  {a.parent}: two cp -a copies of the small tree" + (", then a first run" if warm else ""),
              flush=True)
        rm_rf(a.parent)
        a.parent.mkdir(parents=True)
        sh("cp", "-a", src, a)
        sh("cp", "-a", src, b)
        state.mkdir()
        if warm:
            first = measure(_two_way_argv(ctx, tool, a, b, state, first=True), ctx.env, cold=False)
            if first.rc != 0:
                raise SystemExit(f"{tool} failed on its first run:\n{first.stderr}")
        runs.append(ToolRun(tool, _two_way_argv(ctx, tool, a, b, state),
                            check=(lambda x, y: lambda: differences(x, y))(a, b)))
    return runs


def _two_way_first(ctx: Context) -> list[ToolRun]:
    runs = _two_way_pairs(ctx, "twoway-first", warm=False)
    for r in runs:
        a, b, state = _pair(ctx, "twoway-first", r.tool)
        r.argv = _two_way_argv(ctx, r.tool, a, b, state, first=True)

        def reset(a: Path = a, b: Path = b, state: Path = state) -> None:
            fresh_dir(state)  # forget the pair, and syncline's markers in the roots
            rm_rf(a / ".syncline")
            rm_rf(b / ".syncline")

        r.setup = reset
    return runs


def _two_way_nochange(ctx: Context) -> list[ToolRun]:
    return _two_way_pairs(ctx, "twoway-nochange", warm=True)


def _two_way_1pct(ctx: Context) -> list[ToolRun]:
    runs = _two_way_pairs(ctx, "twoway-1pct", warm=True)
    for r in runs:
        a, b, _ = _pair(ctx, "twoway-1pct", r.tool)
        reps = iter(range(1_000_000))

        def mutate_both(a: Path = a, b: Path = b, reps: Any = reps) -> None:
            # 1% modified, 0.1% deleted and 0.1% added on each side, other files on each side; the same
            # seeds for every tool, so each repetition brings every tool the same changes.
            k = next(reps)
            gen.mutate(str(a), 0.01, 0.001, 0.001, 100 + 2 * k)
            gen.mutate(str(b), 0.01, 0.001, 0.001, 101 + 2 * k)

        r.setup = mutate_both
    return runs


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("small-initial", "initial copy of the small-file tree into an empty directory", _small_initial,
                 lambda c: c.files),
        Scenario("small-nochange", "re-sync with --delete, nothing changed", _small_nochange, lambda c: c.files),
        Scenario("small-1pct", "re-sync with --delete after 1% modified, 0.1% deleted, 0.1% added", _small_1pct,
                 lambda c: c.files),
        Scenario("big-initial", "copy of one big file into an empty directory", _big_initial, lambda c: 1),
        Scenario("startup", "start-up: --version, and a re-sync of an empty tree, against rsync", _startup,
                 lambda c: 1, pairs=(("syncline --version", "rsync --version"),
                                     ("syncline sync (empty)", "rsync -a (empty)"))),
        Scenario("index-1m", "index a tree of tiny files: first run, re-run reusing digests, vs a find walk",
                 _index_1m, lambda c: c.tiny_files, rotate=False, reps_option="index_reps"),
        Scenario("twoway-first", "two-way: first run over two identical copies of the small tree",
                 _two_way_first, lambda c: 2 * c.files),
        Scenario("twoway-nochange", "two-way: re-run, nothing changed", _two_way_nochange, lambda c: 2 * c.files),
        Scenario("twoway-1pct", "two-way: 1% modified, 0.1% deleted, 0.1% added on each side",
                 _two_way_1pct, lambda c: 2 * c.files),
    )
}


@dataclass(frozen=True)
class Target:
    """A goal: ``numerator`` median at most ``limit`` times ``denominator`` median in ``scenario``."""

    scenario: str
    numerator: str
    denominator: str
    limit: float

    def label(self) -> str:
        return f"{self.scenario}: {self.numerator} <= {self.limit:g}x {self.denominator}"


TARGETS = (
    Target("small-nochange", "syncline", "rsync", 1.0),
    Target("small-1pct", "syncline", "rsync", 1.0),
    Target("small-initial", "syncline", "rclone", 1.0),
    Target("big-initial", "syncline", "cp", 1.5),
    Target("index-1m", "syncline index (reuse)", "find", 2.0),
    Target("twoway-nochange", "syncline", "unison", 0.5),
    Target("twoway-1pct", "syncline", "unison", 0.5),
)
MEMORY_LIMIT = 500  # bytes of peak RSS per file


# -- running and reporting ---------------------------------------------------------------------------------
def run_scenario(sc: Scenario, ctx: Context, reps: int) -> dict[str, Any]:
    """Prepare ``sc``, run every tool ``reps`` times interleaved, and summarize."""
    print(f"\n## {sc.name}: {sc.title}", flush=True)
    runs = sc.prepare(ctx)
    samples: dict[str, list[Measurement]] = {r.tool: [] for r in runs}
    checks: dict[str, dict[str, int]] = {}
    orders: list[list[str]] = []
    load_start = os.getloadavg()
    for rep in range(reps):
        k = rep % len(runs) if sc.rotate else 0
        order = runs[k:] + runs[:k]
        orders.append([r.tool for r in order])
        for r in order:
            for attempt in range(ctx.retries + 1):
                if r.setup is not None:
                    r.setup()
                os.sync()
                wait_quiet(ctx.settle)
                m = measure(r.argv, ctx.env, ctx.cold)
                if m.foreign_cpu <= max(NOISY * m.seconds, 0.3) or attempt == ctx.retries:
                    break
                print(f"  rep {rep + 1}/{reps} {r.tool:<24} {m.seconds:8.2f} s  noisy (other processes used "
                      f"{m.foreign_cpu:.1f} CPU s): again", flush=True)
            samples[r.tool].append(m)
            flag = "" if m.rc == 0 else f"  EXIT {m.rc}: {m.stderr.strip()[-500:]}"
            noise = f"  (other processes used {m.foreign_cpu:.1f} CPU s)" if m.foreign_cpu > NOISY * m.seconds else ""
            print(f"  rep {rep + 1}/{reps} {r.tool:<24} {m.seconds:8.3f} s  {m.maxrss / 2**20:8.1f} MiB  "
                  f"load {m.load_before[0]:.2f}{flag}{noise}", flush=True)
            if rep == 0 and r.check is not None:
                checks[r.tool] = r.check()
                if checks[r.tool]["files"]:
                    print(f"  WARNING: {r.tool} left {checks[r.tool]['files']} files differing", flush=True)
    files = sc.files(ctx)
    baseline = ctx.baseline_rss()
    tools: dict[str, Any] = {}
    for r in runs:
        ms = samples[r.tool]
        times = [m.seconds for m in ms]
        peak = max(m.maxrss for m in ms)
        q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (times[0], 0.0, times[0])
        loads = [x for m in ms for x in (m.load_before[0], m.load_after[0])]
        tools[r.tool] = {
            "argv": r.argv,
            "info": r.info,
            "seconds": times,
            "median": statistics.median(times),
            "min": min(times),
            "max": max(times),
            "q1": q1,
            "q3": q3,
            # 1-minute load average before and after each run, in the order of ``seconds``.
            "load_1min": [[m.load_before[0], m.load_after[0]] for m in ms],
            "load_1min_min": min(loads),
            "load_1min_max": max(loads),
            "maxrss": [m.maxrss for m in ms],
            "peak_rss": peak,
            "rss_per_file": peak / files if files > 1 else None,
            # Above the RSS of a bare ``syncline --version`` (interpreter and imports), syncline runs only.
            "rss_per_file_marginal": (peak - baseline) / files if files > 1 and r.tool.startswith("syncline")
            else None,
            "exit_codes": [m.rc for m in ms],
            "cpu_seconds": [round(m.cpu, 2) for m in ms],
            "foreign_cpu_seconds": [round(m.foreign_cpu, 2) for m in ms],
            "steal_seconds": [round(m.steal, 2) for m in ms],
            "check": checks.get(r.tool),
            "stderr": next((m.stderr for m in ms if m.rc != 0), ""),
        }
    pairs = sc.pairs or tuple((a, b) for a in tools if a.startswith("syncline")
                              for b in tools if not b.startswith("syncline"))
    ratios = {f"{a} / {b}": tools[a]["median"] / tools[b]["median"] for a, b in pairs if tools[b]["median"] > 0}
    all_loads = [x for t in tools.values() for pair in t["load_1min"] for x in pair]
    return {"title": sc.title, "reps": reps, "files": files, "syncline_startup_rss": baseline, "tools": tools,
            "ratios": ratios, "orders": orders,
            "load": {"start": load_start, "end": os.getloadavg(), "min_1min": min(all_loads),
                     "median_1min": statistics.median(all_loads), "max_1min": max(all_loads)}}


def filesystem_of(path: Path) -> str:
    """``type device options`` of the mount that holds ``path`` (from /proc/mounts)."""
    best, found = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fstype, opts = line.split()[:4]
            if (str(path) + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best):
                best, found = mnt, f"{fstype} on {dev} at {mnt} ({opts})"
    except (OSError, ValueError):
        pass
    return found


def machine_info(data: Path, syncline: str) -> dict[str, Any]:
    """Where the numbers were taken: CPU, memory, file system, tool versions, syncline's commit."""

    def first_line(*argv: str) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
        mem_gib = int(mem.split()[1]) / 2**20
    except (OSError, StopIteration):
        mem_gib = 0.0
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True,
                           text=True).stdout.splitlines()
    return {
        "host": socket.gethostname(),
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "filesystem": filesystem_of(data),
        "python": platform.python_version(),
        "syncline": first_line(syncline, "--version"),
        "syncline_commit": first_line("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        "syncline_src_dirty_files": len(dirty),
        "rsync": first_line("rsync", "--version"),
        "rclone": first_line("rclone", "version"),
        "cp": first_line("cp", "--version"),
        "find": first_line("find", "--version"),
        "rclone_flags": RCLONE_FLAGS,
    }


def fmt_s(x: float) -> str:
    return f"{x:.4f}" if x < 0.1 else f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown: one table of tools, one of targets."""
    lines = ["| scenario | tool | median s | min–max s | IQR s | runs | load (1 min) | peak RSS MiB "
             "| RSS B/file (above start-up) | syncline ÷ tool |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, sc in results["scenarios"].items():
        subject = next((t for t in sc["tools"] if t.startswith("syncline")), None)
        peer_of = {b: a for a, b in (k.split(" / ", 1) for k in sc["ratios"])}
        for tool, t in sc["tools"].items():
            ratio = ""
            mine = peer_of.get(tool, subject)
            if mine is not None and not tool.startswith("syncline") and t["median"] > 0:
                ratio = f"{sc['tools'][mine]['median'] / t['median']:.2f}x"
            per_file = f"{t['rss_per_file']:,.0f}" if t["rss_per_file"] is not None else ""
            if t.get("rss_per_file_marginal") is not None:
                per_file += f" ({t['rss_per_file_marginal']:,.0f})"
            note = " (ref)" if t["info"] else ""
            bad = "" if all(c == 0 for c in t["exit_codes"]) else f" exit {t['exit_codes']}"
            load = f"{t['load_1min_min']:.2f}–{t['load_1min_max']:.2f}" if "load_1min_min" in t else "?"
            lines.append(f"| {name} | {tool}{note}{bad} | {fmt_s(t['median'])} | {fmt_s(t['min'])}–{fmt_s(t['max'])}"
                         f" | {fmt_s(t['q1'])}–{fmt_s(t['q3'])} | {len(t['seconds'])} | {load} "
                         f"| {t['peak_rss'] / 2**20:,.1f} | {per_file} | {ratio} |")
    lines += ["", "| scenario | ratio of medians | value |", "|---|---|---:|"]
    for name, sc in results["scenarios"].items():
        lines += [f"| {name} | {k} | {v:.2f}x |" for k, v in sc["ratios"].items()]
    lines += ["", "| target | measured | met? |", "|---|---:|---|"]
    for row in results["targets"]:
        lines.append(f"| {row['target']} | {row['measured']} | {'met' if row['met'] else 'MISSED'} |")
    return "\n".join(lines)


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets that can be judged from the scenarios run."""
    rows: list[dict[str, Any]] = []
    scs = results["scenarios"]
    for t in TARGETS:
        sc = scs.get(t.scenario)
        if sc is None or t.numerator not in sc["tools"] or t.denominator not in sc["tools"]:
            continue
        ratio = sc["tools"][t.numerator]["median"] / sc["tools"][t.denominator]["median"]
        rows.append({"target": t.label(), "ratio": ratio, "measured": f"{ratio:.2f}x", "met": ratio <= t.limit})
    for name, sc in scs.items():
        if name.startswith("twoway") and "unison" in sc["tools"] and "syncline" in sc["tools"]:
            mine, theirs = sc["tools"]["syncline"]["peak_rss"], sc["tools"]["unison"]["peak_rss"]
            rows.append({"target": f"{name}: syncline peak RSS < unison's", "ratio": mine / theirs,
                         "measured": f"{mine / 2**20:.0f} MiB vs {theirs / 2**20:.0f} MiB", "met": mine < theirs})
            continue
        for tool, r in sc["tools"].items():
            if tool.startswith("syncline") and not r["info"] and r["rss_per_file"] is not None:
                per = r["rss_per_file"]
                marginal = r["rss_per_file_marginal"]
                rows.append({"target": f"{name}: {tool} peak RSS < {MEMORY_LIMIT} B/file", "ratio": per,
                             "measured": f"{per:,.0f} B/file ({marginal:,.0f} above start-up)",
                             "met": per < MEMORY_LIMIT})
    return rows


def reproduce(args: argparse.Namespace, names: list[str]) -> str:
    """The command line that runs this benchmark again."""
    parts = ["python", "bench/run.py", *names, "--reps", str(args.reps), "--index-reps", str(args.index_reps),
             "--files", str(args.files), "--tiny-files", str(args.tiny_files), "--big-size", str(args.big_size)]
    if args.data is not None:
        parts += ["--data", str(args.data)]
    if args.cold:
        parts.append("--cold")
    if args.settle != 60.0:
        parts += ["--settle", f"{args.settle:g}"]
    if args.retries != 1:
        parts += ["--retries", str(args.retries)]
    if args.before:
        parts += ["--before", args.before]
    for tool in args.skip:
        parts += ["--skip", tool]
    return shlex.join(parts)


def ensure_debian(commands: dict[str, str]) -> None:
    """Install (``apt-get install``) the Debian package of each command that is missing: ``{command: package}``."""
    missing = sorted({pkg for cmd, pkg in commands.items() if shutil.which(cmd) is None})
    if not missing:
        return
    print(f"missing {', '.join(missing)}: apt-get update && apt-get install -y {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", *missing], check=True, env=env)
    still = [cmd for cmd in commands if shutil.which(cmd) is None]
    if still:
        raise SystemExit(f"{', '.join(still)} still missing after apt-get install")


def bytecode_env(env: dict[str, str], *synclines: str) -> dict[str, str]:
    """``env`` for timing syncline as installed: its modules compiled once, bytecode used.

    An editable install (``pip install -e``) writes no bytecode for syncline's own modules, and with
    ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI) every run compiles about 90 modules from
    source again, which adds tens of milliseconds to each run. A user's ``pip install`` compiles them once.
    """
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for syncline in synclines:
        python = Path(syncline).with_name("python")
        if python.exists():
            ask = "import os, syncline; print(os.path.dirname(syncline.__file__))"
            where = subprocess.run([str(python), "-c", ask], check=False, env=env, capture_output=True,
                                   text=True).stdout.strip()
            subprocess.run([str(python), "-m", "compileall", "-q", where or str(ROOT / "src" / "syncline")],
                           check=False, env=env, stdout=subprocess.DEVNULL)
    return env


def default_syncline() -> str:
    venv = ROOT / ".venv" / "bin" / "syncline"
    return str(venv) if venv.exists() else shutil.which("syncline") or "syncline"


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    ap = argparse.ArgumentParser(prog="run.py", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} [all]")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per tool [3]")
    ap.add_argument("--index-reps", type=int, default=2, help="repetitions of index-1m [2]")
    ap.add_argument("--files", type=int, default=100_000, help="files of the small tree [100000]")
    ap.add_argument("--tiny-files", type=int, default=1_000_000, help="files of the index-1m tree [1000000]")
    ap.add_argument("--big-size", type=gen.parse_size, default=1 << 30, help="big-initial file size [1GiB]")
    ap.add_argument("--data", type=Path, default=None, help="where the data goes [bench/data]")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before every timed run (root)")
    ap.add_argument("--syncline", default=default_syncline(), help="the syncline command [.venv/bin/syncline]")
    ap.add_argument("--before", default=None, metavar="SYNCLINE",
                    help="another syncline command (e.g. a worktree of an older commit) timed beside this one "
                         "in the re-sync scenarios, as 'syncline (before)'")
    ap.add_argument("--skip", action="append", default=[], metavar="TOOL",
                    help="leave out a peer of the re-sync scenarios (e.g. rclone, 'rclone bisync'); repeatable")
    ap.add_argument("--settle", type=float, default=60.0,
                    help="wait up to this many seconds for other processes to go quiet before each run [60]")
    ap.add_argument("--retries", type=int, default=1,
                    help="run a measurement again when other processes used over 1/4 core meanwhile [1]")
    ap.add_argument("--clean", action="store_true", help="remove the data directory at the end")
    ap.add_argument("--out", type=Path, default=BENCH / "results", help="where the JSON goes [bench/results]")
    args = ap.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {', '.join(unknown)}; pick from {', '.join(SCENARIOS)}")
    peers = {"rsync": "rsync", "rclone": "rclone", "cp": "coreutils", "find": "findutils"}
    if any(n.startswith("twoway") for n in names):
        peers["unison"] = "unison"
    ensure_debian(peers)
    data = (args.data or BENCH / "data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    env = bytecode_env(dict(os.environ, SYNCLINE_STATE_DIR=str(data / "state"), LC_ALL="C"), args.syncline,
                       *([args.before] if args.before else []))
    ctx = Context(data, args.files, args.tiny_files, args.big_size, args.syncline, args.cold, env, args.settle,
                  args.retries, args.before, tuple(args.skip))
    free = shutil.disk_usage(data).free
    print(f"data in {data} ({free / 2**30:.0f} GiB free); results in {args.out}", flush=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "started": stamp,
        "command": reproduce(args, names),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine_info(data, args.syncline),
        "scenarios": {},
        "targets": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{stamp}.json"
    started = time.perf_counter()
    for name in names:
        sc = SCENARIOS[name]
        results["scenarios"][name] = run_scenario(sc, ctx, getattr(args, sc.reps_option))
        results["targets"] = judge(results)
        results["seconds"] = time.perf_counter() - started
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
        tmp.replace(out)
    print("\n" + markdown(results))
    print(f"\nresults: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    print(f"total {results['seconds'] / 60:.1f} min; reproduce with:\n  {results['command']}")
    if args.clean:
        rm_rf(data)
    return 0


def _json_default(o: object) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)  # type: ignore[call-overload]
    raise TypeError(f"cannot serialize {type(o).__name__}")


if __name__ == "__main__":
    sys.exit(main())
