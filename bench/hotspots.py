"""Profile one syncline run of a benchmark scenario, to find where its time goes.

    python bench/hotspots.py small-nochange                # py-spy (sampling, every thread, wall time)
    python bench/hotspots.py small-1pct --profiler cprofile  # cProfile, cumulative time (main thread only)
    python bench/hotspots.py small-initial --files 100000 --py-spy /path/to/py-spy

Scenarios: small-initial, small-nochange, small-1pct, big-initial, index-reuse, twoway-nochange,
twoway-1pct. The data and the target are
set up as bench/run.py sets them up (same ``--data`` and ``--files``), then syncline runs once in
``python -m syncline`` under the profiler.

With py-spy (``pip install py-spy``; sampled with ``--threads --idle``) the report gives each thread's share
of the wall time, the main thread's inclusive time per function (waiting included), and the functions
where the samples of all threads land (self time, by source line). cProfile sees only the main thread:
work done in the copy, scan and hash threads shows up as time spent waiting on their futures.

cProfile runs the command in-process through ``syncline.cli.main.main(argv)``, which returns by
``SystemExit`` (with the cyclic GC off, as the ``syncline`` program runs). ``python -m cProfile -m syncline``
prints nothing: the ``syncline`` program leaves with ``os._exit`` after flushing its output, which skips
cProfile's report (see ``main`` in ``src/syncline/cli/main.py``).
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import gen
import run

_THREAD = re.compile(r"^thread \((?P<tid>(?:0x)?[0-9a-fA-F]+)\)(?:: ?(?P<name>.*))?$")
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Leaf frames of a thread that waits (for a lock, a future, a queue): not busy.
_IDLE_LEAVES = ("wait (threading.py", "select (selectors.py", "_worker (concurrent/futures/thread.py",
                "result (concurrent/futures", "get (queue.py", "_wait_for_tstate_lock")


def setup(scenario: str, ctx: run.Context) -> list[str]:
    """Make the data and the target state of ``scenario``; returns syncline's arguments."""
    if scenario == "small-initial":
        src, dst = ctx.small_src(), ctx.work("profile", "small-initial")
        run.fresh_dir(dst)
        return ["sync", str(src), str(dst)]
    if scenario == "small-nochange":
        src, dst = ctx.small_src(), ctx.work("profile", "small-nochange")
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            run.sh("cp", "-a", src, dst)
        argv = ["sync", "--delete", str(src), str(dst)]
        run.measure([ctx.syncline, *argv], ctx.env, cold=False)  # converge (nothing to do after this)
        return argv
    if scenario == "small-1pct":
        base, mutated, dst = ctx.small_base(), ctx.small_mutated(), ctx.work("profile", "small-1pct")
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            run.sh("cp", "-a", base, dst)
        run.sh("rsync", "-a", "--delete", f"{base}/", f"{dst}/")
        return ["sync", "--delete", str(mutated), str(dst)]
    if scenario == "big-initial":
        src, dst = ctx.big_src(), ctx.work("profile", "big-initial")
        run.fresh_dir(dst)
        return ["sync", str(src), str(dst)]
    if scenario == "index-reuse":
        src = ctx.tiny_src()
        out = ctx.work("profile", "index") / "tree.slidx"
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = ["index", str(src), "-o", str(out)]
        if not out.exists():
            run.measure([ctx.syncline, *argv], ctx.env, cold=False)
        return argv
    if scenario in ("twoway-nochange", "twoway-1pct"):
        w = ctx.work("profile", "twoway")
        a, b = w / "a", w / "b"
        argv = ["sync", "--two-way", "-q", str(a), str(b)]
        if not b.exists():
            w.mkdir(parents=True, exist_ok=True)
            run.sh("cp", "-a", ctx.small_src(), a)
            run.sh("cp", "-a", ctx.small_src(), b)
        run.measure([ctx.syncline, *argv], ctx.env, cold=False)  # converge: nothing left to do
        if scenario == "twoway-1pct":
            seed = 1000 + 2 * int(time.time()) % 100_000  # new changes every time
            gen.mutate(str(a), 0.01, 0.001, 0.001, seed)
            gen.mutate(str(b), 0.01, 0.001, 0.001, seed + 1)
        return argv
    raise SystemExit(f"unknown scenario {scenario}")


# Run by the venv's python: profile one syncline command in-process (imports included) and write pstats data
# to argv[1].
# ``main(argv)`` with an argument list returns through SystemExit instead of ``os._exit``.
PROFILE_CODE = """
import cProfile, gc, sys
def command(argv):
    from syncline.cli.main import main  # imports inside the profile: they are part of a run's cost
    main(argv)
gc.disable()  # as the syncline program runs
prof = cProfile.Profile()
code = 0
try:
    prof.runcall(command, sys.argv[2:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
finally:
    prof.dump_stats(sys.argv[1])
sys.exit(code)
"""


def cprofile(python: str, sl_args: list[str], env: dict[str, str], top: int, keep: Path | None) -> int:
    """Profile ``syncline SL_ARGS`` with cProfile; print the top functions by cumulative and by own time."""
    with tempfile.TemporaryDirectory() as tmp:
        prof = keep or Path(tmp) / "syncline.prof"
        cmd = [python, "-c", PROFILE_CODE, str(prof), *sl_args]
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not prof.exists():
            print(done.stderr, file=sys.stderr)
            return 1
        print(f"$ syncline {' '.join(sl_args)}   (exit {done.returncode}; in-process under cProfile)\n")
        for key, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
            text = io.StringIO()
            pstats.Stats(str(prof), stream=text).strip_dirs().sort_stats(key).print_stats(top)
            body = text.getvalue()
            # Keep the totals line and the table; drop pstats' preamble (file name, blank lines).
            lines = [x for x in body.splitlines() if x.strip() and not x.strip().endswith(".prof")]
            print(f"top {top} by {title}:")
            print("\n".join(lines))
            print()
        if keep is not None:
            print(f"profile kept in {keep} (python -m pstats {keep})")
    return done.returncode


def _func(frame: str, lines: bool) -> str:
    """``func (file:line)`` -> ``func (file)`` or, with ``lines``, the frame as it is."""
    m = _FRAME.match(frame)
    if m is None or lines:
        return frame
    return f"{m.group('func')} ({m.group('file')})"


def analyse(raw: Path, top: int) -> str:
    """A text report of py-spy's raw (collapsed) stacks.

    py-spy names a thread only in the samples taken after Python knew its name, so samples are grouped by
    thread id and named afterwards; the main thread is the one that lives longest (it has the most samples).
    """
    names: dict[str, str] = {}
    stacks: list[tuple[str, list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        frames = stack.split(";")
        m = _THREAD.match(frames[0])
        tid = m.group("tid") if m else "?"
        if m and m.group("name"):
            names[tid] = m.group("name")
        stacks.append((tid, frames[1:] if m else frames, int(count_s)))
    per_tid: Counter[str] = Counter()
    for tid, _, count in stacks:
        per_tid[tid] += count
    if not per_tid:
        return "no samples"
    main_tid = next((t for t, n in names.items() if n == "MainThread"), per_tid.most_common(1)[0][0])

    def group(tid: str) -> str:
        return "MainThread" if tid == main_tid else re.sub(r"_\d+$", "", names.get(tid, f"thread {tid}"))

    per_group: Counter[str] = Counter()
    busy_by_group: Counter[str] = Counter()
    main_incl: Counter[str] = Counter()
    self_busy: Counter[str] = Counter()
    for tid, frames, count in stacks:
        g = group(tid)
        per_group[g] += count
        leaf = frames[-1] if frames else "?"
        idle = not frames or any(p in leaf for p in _IDLE_LEAVES)
        if not idle:
            self_busy[leaf] += count
            busy_by_group[g] += count
        if tid == main_tid:
            for f in {_func(x, lines=False) for x in frames}:
                main_incl[f] += count
    main_total = per_tid[main_tid]
    out = [f"samples of the main thread: {main_total} (= wall time)", "",
           "threads (samples as % of wall time; busy = not waiting; a thread pool counts once per thread):"]
    for g, n in per_group.most_common():
        busy = 100 * busy_by_group[g] / main_total
        out.append(f"  {g:<24} {100 * n / main_total:6.1f}%   busy {busy:6.1f}%")
    out += ["", f"main thread, inclusive % of wall time, syncline's functions (top {top}):"]
    ours = [(f, n) for f, n in main_incl.most_common() if "(syncline/" in f]
    for f, n in ours[:top]:
        out.append(f"  {100 * n / main_total:6.1f}%  {f}")
    total_busy = sum(self_busy.values()) or 1
    out += ["", f"self time of busy samples, all threads (% of busy samples, top {top}):"]
    for f, n in self_busy.most_common(top):
        out.append(f"  {100 * n / total_busy:6.1f}%  {f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    ap = argparse.ArgumentParser(prog="hotspots.py", description=__doc__.splitlines()[0])
    ap.add_argument("scenario", choices=["small-initial", "small-nochange", "small-1pct", "big-initial",
                                         "twoway-nochange", "twoway-1pct",
                                         "index-reuse"])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--tiny-files", type=int, default=1_000_000)
    ap.add_argument("--big-size", type=gen.parse_size, default=1 << 30)
    ap.add_argument("--data", type=Path, default=None, help="where the data goes [bench/data]")
    ap.add_argument("--profiler", choices=["py-spy", "cprofile"], default="py-spy")
    ap.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy", help="the py-spy command")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second [250]")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--raw", type=Path, default=None,
                    help="keep py-spy's raw stacks (cProfile: the pstats data) in this file")
    args = ap.parse_args(argv)
    data = (args.data or run.BENCH / "data").resolve()
    env = run.bytecode_env(dict(os.environ, SYNCLINE_STATE_DIR=str(data / "state"), LC_ALL="C"),
                           run.default_syncline())
    ctx = run.Context(data, args.files, args.tiny_files, args.big_size, run.default_syncline(), False, env)
    sl_args = setup(args.scenario, ctx)
    python = str(Path(ctx.syncline).with_name("python"))
    cmd = [python, "-m", "syncline", *sl_args]
    os.sync()
    if args.profiler == "cprofile":
        return cprofile(python, sl_args, env, args.top, args.raw)
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.raw or Path(tmp) / "stacks.txt"
        done = subprocess.run([args.py_spy, "record", "--threads", "--idle", "--rate", str(args.rate), "--format",
                               "raw", "-o", str(raw), "--", *cmd], env=env, capture_output=True, text=True)
        if not raw.exists():
            print(done.stderr, file=sys.stderr)
            return 1
        print(f"$ {' '.join(cmd)}\n")
        print(analyse(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
