"""Offline sync (index, archive, apply) side by side with rsync's batch mode: sizes, times, ratios, targets.

    python bench/offline.py                                      # both scenarios, 200,000 files, 3 repetitions
    python bench/offline.py --files 200000 --reps 3 --data bench/data   # the same, spelled out
    python bench/offline.py offline-1g --reps 1                          # one scenario, once

Scenarios:

``offline-200k``
    The far side ("laptop") is ``gen.make_small(files, seed 1)`` (bench/data/small-<files>/src, shared with
    bench/run.py); the source ("office") is a copy of it after ``gen.mutate(modify=0.01, delete=0.002,
    add=0.002, seed=2)``. Timed: ``syncline index FAR -o far.slidx`` (no chunk lists; first run, then a
    re-run that reuses the digests), ``syncline archive OFFICE --against far.slidx -o d.slar --delete``,
    ``syncline apply d.slar COPY`` (COPY a fresh ``cp -a`` of the far tree, not timed), and rsync's
    ``rsync -a --delete --stats --only-write-batch=BATCH OFFICE/ FARCOPY/`` (changes nothing) and
    ``rsync -a --delete --read-batch=BATCH COPY2/``. The archive is measured against the bytes of the
    office tree's modified and added files (sorted by path, concatenated, compressed in one frame by
    python-zstandard at level 3).

``offline-1g``
    The far side is one 1 GiB file (bench/data/big-1073741824/src, shared with bench/run.py); the source is
    a copy with 4 KiB of new random bytes inserted at offset 100,000 and 1 MiB overwritten with new random
    bytes in the middle. The far side is indexed with ``--chunks``; the archive's size and literal bytes
    are set beside rsync's ``Literal data`` and batch size for the same update
    (``rsync -a --no-whole-file --stats --only-write-batch=BATCH SRC/ FARCOPY/``, then
    ``rsync -a --no-whole-file --read-batch=BATCH COPY2/``).

Within a repetition every step runs once (syncline's and rsync's interleaved); each applied copy is
checked against the source (``rsync -ani --delete``, syncline's ``.syncline`` folder left out; ``cmp`` for
the big file). The page cache is warm (no dropping): the numbers are CPU and metadata cost, not disk
reads. Data is generated once under bench/data (or ``--data``) and reused while its parameters match;
results go to bench/results/offline-<UTC timestamp>.json and a markdown table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zstandard

import gen
import run

MUTATION = (0.01, 0.002, 0.002, 2)  # modify, delete, add, seed
INSERT_AT, INSERT_LEN = 100_000, 4096  # offline-1g: new bytes inserted here
OVERWRITE_LEN = 1 << 20  # offline-1g: this many bytes overwritten in the middle
ZSTD_LEVEL = 3
INDEX_BYTES_PER_FILE = 60  # target: index without chunk lists < 60 bytes per file
ARCHIVE_VS_ZSTD = 1.05  # target: archive <= 1.05x the zstd-compressed changed data
BIG_ARCHIVE_LIMIT = 1_500_000  # target: the 1 GiB update archive < 1.5 MB (decimal)
SCENARIOS = ("offline-200k", "offline-1g")
SETTLE = 30.0  # default --settle


# -- running one step --------------------------------------------------------------------------------------
class Steps:
    """The timed steps of one scenario: every repetition's measurement, and the stdout of each."""

    def __init__(self, ctx: run.Context, work: Path, settle: float) -> None:
        self.ctx, self.work, self.settle = ctx, work, settle
        self.samples: dict[str, list[run.Measurement]] = {}
        self.argv: dict[str, list[str]] = {}
        self.tools: dict[str, str] = {}
        self.overhead: dict[str, float] = {}

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        """Add the time spent in the ``with`` block to ``label`` (to show where a run's time goes)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.overhead[label] = self.overhead.get(label, 0.0) + time.perf_counter() - started

    def copy(self, src: Path, dst: Path) -> None:
        with self.phase("cp -a copies of the far side (and rm -rf)"):
            copy_of(src, dst)

    def check(self, src: Path, dst: Path, what: str) -> dict[str, int]:
        with self.phase("checks (rsync -ani, cmp)"):
            return check_tree(src, dst, what)

    def cmp(self, a: Path, b: Path) -> bool:
        with self.phase("checks (rsync -ani, cmp)"):
            return cmp_ok(a, b)

    def time(self, step: str, tool: str, argv: list[str], rep: int, reps: int) -> str:
        """Run ``argv`` timed (after an untimed ``sync`` and a wait for quiet); returns its stdout.

        stdout goes to a file through ``sh -c 'exec ...'``, so GNU time still sees the command itself.
        """
        out = self.work / f"{step}.out".replace(" ", "_")
        wrapped = ["sh", "-c", 'out=$1; shift; exec "$@" >"$out"', "sh", str(out), *argv]
        with self.phase("sync before the timed steps"):
            os.sync()
        with self.phase("waiting for other processes to go quiet"):
            run.wait_quiet(self.settle)
        with self.phase("timed steps (incl. measure's own sync)"):
            m = run.measure(wrapped, self.ctx.env, cold=False)
        self.samples.setdefault(step, []).append(m)
        self.argv[step], self.tools[step] = argv, tool
        flag = "" if m.rc == 0 else f"  EXIT {m.rc}: {m.stderr.strip()[-800:]}"
        noise = f"  (other processes used {m.foreign_cpu:.1f} CPU s)" if m.foreign_cpu > run.NOISY * m.seconds else ""
        print(f"  rep {rep + 1}/{reps} {step:<34} {m.seconds:8.2f} s  {m.maxrss / 2**20:8.1f} MiB{flag}{noise}",
              flush=True)
        if m.rc != 0:
            print(f"  command: {shlex.join(argv)}", flush=True)
        return out.read_text(errors="replace") if out.exists() else ""

    def breakdown(self, started: float) -> dict[str, float]:
        """Where the scenario's wall time went (seconds), printed and returned."""
        total = time.perf_counter() - started
        out = {k: round(v, 1) for k, v in sorted(self.overhead.items(), key=lambda kv: -kv[1])}
        out["other (removing files, reading results)"] = round(total - sum(self.overhead.values()), 1)
        out["total"] = round(total, 1)
        print("  wall time: " + "; ".join(f"{k} {v:.1f} s" for k, v in out.items()), flush=True)
        return out

    def summary(self) -> dict[str, Any]:
        steps: dict[str, Any] = {}
        for step, ms in self.samples.items():
            times = [m.seconds for m in ms]
            steps[step] = {
                "tool": self.tools[step],
                "argv": self.argv[step],
                "seconds": [round(t, 3) for t in times],
                "median": statistics.median(times),
                "min": min(times),
                "max": max(times),
                "peak_rss": max(m.maxrss for m in ms),
                "exit_codes": [m.rc for m in ms],
                "cpu_seconds": [round(m.cpu, 2) for m in ms],
                "foreign_cpu_seconds": [round(m.foreign_cpu, 2) for m in ms],
                "steal_seconds": [round(m.steal, 2) for m in ms],
                # 1-minute load average before and after each run.
                "load_1min": [[round(m.load_before[0], 2), round(m.load_after[0], 2)] for m in ms],
                "stderr": next((m.stderr for m in ms if m.rc != 0), ""),
            }
        return steps


def parse_json(text: str) -> dict[str, Any]:
    """The JSON object syncline printed with ``--json`` (empty when it printed none)."""
    try:
        return json.loads(text)
    except ValueError:
        return {}


def rsync_stat(text: str, label: str) -> int | None:
    """A byte count from ``rsync --stats`` output, e.g. ``Literal data: 1,234 bytes``."""
    m = re.search(rf"^{re.escape(label)}: ([\d,]+)", text, re.M)
    return int(m.group(1).replace(",", "")) if m else None


def unlink(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def copy_of(src: Path, dst: Path) -> None:
    """A fresh ``cp -a`` copy of ``src`` at ``dst`` (not timed)."""
    run.rm_rf(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    run.sh("cp", "-a", src, dst)


def pristine_copy(src: Path, dst: Path) -> None:
    """``dst`` equal to ``src`` (by ``rsync -ani``): kept from an earlier run when it still is, else copied."""
    if dst.exists() and run.differences(src, dst) == {"files": 0, "dirs": 0} and not (dst / ".syncline").exists():
        return
    print(f"  {dst}: cp -a of {src}", flush=True)
    copy_of(src, dst)


def check_tree(src: Path, dst: Path, what: str) -> dict[str, int]:
    diff = run.differences(src, dst)
    if diff["files"] or diff["dirs"]:
        out = subprocess.run(["rsync", "-ani", "--delete", "--exclude=/.syncline/", f"{src}/", f"{dst}/"],
                             capture_output=True, text=True).stdout.splitlines()
        print(f"  WARNING: after {what}, {dst} differs from {src}: {diff}; first lines of rsync -ani:", flush=True)
        for line in out[:10]:
            print(f"    {line}", flush=True)
    return diff


# -- offline-200k ------------------------------------------------------------------------------------------
def office_tree(ctx: run.Context) -> Path:
    """The far tree after ``gen.mutate(modify=0.01, delete=0.002, add=0.002, seed=2)``."""
    far = ctx.small_src()
    modify, delete, add, seed = MUTATION

    def make(p: Path) -> None:
        run.sh("cp", "-a", far, p)
        m = gen.mutate(str(p), modify, delete, add, seed)
        print(f"  mutated: {m.modified} modified ({m.modified_bytes:,} B), {m.deleted} deleted, "
              f"{m.added} added ({m.added_bytes:,} B)", flush=True)

    return run.cached(far.parent / "office", {"files": ctx.files, "copy_of": str(far), "mutate": list(MUTATION)},
                      make)


def changed_data(far: Path, office: Path) -> dict[str, Any]:
    """The office tree's files that are new or differ from the far tree's by size or mtime, and their bytes
    compressed by zstd: all of them concatenated (sorted by path) in one frame, and each file on its own."""
    def stats(root: Path) -> dict[str, tuple[int, int]]:
        out = {}
        for rel in gen.list_files(str(root)):
            st = os.stat(root / rel)
            out[rel] = (st.st_size, st.st_mtime_ns)
        return out

    a, b = stats(far), stats(office)
    modified = sorted(rel for rel in b if rel in a and a[rel] != b[rel])
    added = sorted(rel for rel in b if rel not in a)
    deleted = sorted(rel for rel in a if rel not in b)
    cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    parts = [(office / rel).read_bytes() for rel in sorted(modified + added)]
    whole = b"".join(parts)
    return {
        "modified": len(modified),
        "added": len(added),
        "deleted": len(deleted),
        "raw_bytes": len(whole),
        "zstd_level": ZSTD_LEVEL,
        "zstd_concatenated_bytes": len(cctx.compress(whole)),
        "zstd_per_file_bytes": sum(len(cctx.compress(p)) for p in parts),
        "compared": f"the bytes of the office tree's {len(modified)} modified and {len(added)} added files "
                    f"(sorted by path, concatenated), compressed in one frame by python-zstandard "
                    f"{zstandard.__version__} level {ZSTD_LEVEL}",
    }


def offline_tree(ctx: run.Context, reps: int, settle: float) -> dict[str, Any]:
    name = "offline-200k"
    print(f"\n## {name}: {ctx.files:,} files; 1% modified, 0.2% added, 0.2% deleted", flush=True)
    started = time.perf_counter()
    work = ctx.data / "work" / name
    work.mkdir(parents=True, exist_ok=True)
    steps = Steps(ctx, work, settle)
    with steps.phase("data: make or reuse the far and office trees"):
        far, office = ctx.small_src(), office_tree(ctx)
    print("  comparing the trees and compressing the changed data ...", flush=True)
    with steps.phase("data: compare the trees, zstd the changed data"):
        changed = changed_data(far, office)
    print(f"  changed: {changed['modified']} modified + {changed['added']} added files, {changed['raw_bytes']:,} B"
          f" -> zstd-{ZSTD_LEVEL} {changed['zstd_concatenated_bytes']:,} B; {changed['deleted']} deleted", flush=True)
    wb_target = work / "rsync-farcopy"
    with steps.phase("rsync write-batch target: check or copy"):
        pristine_copy(far, wb_target)
    idx, arc, batch = work / "far.slidx", work / "d.slar", work / "rsync.batch"
    sl_target, rb_target = work / "syncline-apply", work / "rsync-read-batch"
    sl = ctx.syncline
    reports: dict[str, list[Any]] = {"index_bytes": [], "index_bytes_rerun": [], "archive": [], "apply": [],
                                     "archive_file_bytes": [], "batch_bytes": [], "rsync_literal": [],
                                     "check_syncline": [], "check_rsync": []}
    for rep in range(reps):
        unlink(idx)
        steps.time("index far (first)", "syncline", [sl, "index", str(far), "-o", str(idx), "--json"], rep, reps)
        reports["index_bytes"].append(idx.stat().st_size if idx.exists() else None)
        steps.time("index far (re-run)", "syncline", [sl, "index", str(far), "-o", str(idx), "--json"], rep, reps)
        reports["index_bytes_rerun"].append(idx.stat().st_size if idx.exists() else None)

        unlink(arc)
        out = steps.time("archive", "syncline",
                         [sl, "archive", str(office), "--against", str(idx), "-o", str(arc), "--delete", "--json"],
                         rep, reps)
        reports["archive"].append(parse_json(out))
        reports["archive_file_bytes"].append(arc.stat().st_size if arc.exists() else None)

        unlink(batch, batch.with_name(batch.name + ".sh"))
        out = steps.time("rsync write-batch", "rsync",
                         ["rsync", "-a", "--delete", "--stats", f"--only-write-batch={batch}", f"{office}/",
                          f"{wb_target}/"], rep, reps)
        reports["rsync_literal"].append(rsync_stat(out, "Literal data"))
        reports["batch_bytes"].append(batch.stat().st_size if batch.exists() else None)

        steps.copy(far, sl_target)
        out = steps.time("apply", "syncline", [sl, "apply", str(arc), str(sl_target), "--json"], rep, reps)
        reports["apply"].append(parse_json(out))
        reports["check_syncline"].append(steps.check(office, sl_target, "syncline apply"))

        steps.copy(far, rb_target)
        steps.time("rsync read-batch", "rsync", ["rsync", "-a", "--delete", f"--read-batch={batch}", f"{rb_target}/"],
                   rep, reps)
        reports["check_rsync"].append(steps.check(office, rb_target, "rsync --read-batch"))
    # --only-write-batch must not have changed its destination.
    with steps.phase("checks (rsync -ani, cmp)"):
        reports["write_batch_target_unchanged"] = run.differences(far, wb_target) == {"files": 0, "dirs": 0}
    return {"title": f"{ctx.files:,} files; the office copy has 1% modified, 0.2% added, 0.2% deleted",
            "files": ctx.files, "far": str(far), "office": str(office), "changed": changed, "reps": reps,
            "steps": steps.summary(), "reports": reports, "wall_time": steps.breakdown(started)}


# -- offline-1g --------------------------------------------------------------------------------------------
def big_source(ctx: run.Context, far: Path) -> Path:
    """A copy of the far big file with ``INSERT_LEN`` new bytes at ``INSERT_AT`` and ``OVERWRITE_LEN`` bytes
    overwritten in the middle (of the new file), all new bytes from ``random.Random(3)``."""
    size = ctx.big_size
    middle = (size + INSERT_LEN) // 2 - OVERWRITE_LEN // 2

    def make(p: Path) -> None:
        rng = random.Random(3)
        p.mkdir()
        with (far / "big.bin").open("rb") as src, (p / "big.bin").open("wb") as dst:
            dst.write(src.read(INSERT_AT))
            dst.write(rng.randbytes(INSERT_LEN))
            while block := src.read(gen.CHUNK):
                dst.write(block)
            dst.seek(middle)
            dst.write(rng.randbytes(OVERWRITE_LEN))
        os.utime(p / "big.bin", ns=(gen.MUTATE_EPOCH_NS, gen.MUTATE_EPOCH_NS))
        os.utime(p, ns=(gen.EPOCH_NS, gen.EPOCH_NS))

    return run.cached(far.parent / "offline-src", {"size": size, "copy_of": str(far), "insert": [INSERT_AT, INSERT_LEN],
                                                   "overwrite": [middle, OVERWRITE_LEN], "seed": 3}, make)


def cmp_ok(a: Path, b: Path) -> bool:
    done = subprocess.run(["cmp", str(a), str(b)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  WARNING: cmp {a} {b}: {(done.stdout + done.stderr).strip()}", flush=True)
    return done.returncode == 0


def offline_big(ctx: run.Context, reps: int, settle: float) -> dict[str, Any]:
    name = "offline-1g"
    print(f"\n## {name}: one {ctx.big_size:,} byte file; {INSERT_LEN} B inserted at {INSERT_AT:,}, "
          f"{OVERWRITE_LEN:,} B overwritten in the middle", flush=True)
    started = time.perf_counter()
    work = ctx.data / "work" / name
    work.mkdir(parents=True, exist_ok=True)
    steps = Steps(ctx, work, settle)
    with steps.phase("data: make or reuse the far and source files"):
        far = ctx.big_src()
        src = big_source(ctx, far)
    wb_target = work / "rsync-farcopy"
    with steps.phase("rsync write-batch target: check or copy"):
        pristine_copy(far, wb_target)
    idx, arc, batch = work / "far.slidx", work / "d.slar", work / "rsync.batch"
    sl_target, rb_target = work / "syncline-apply", work / "rsync-read-batch"
    sl = ctx.syncline
    reports: dict[str, list[Any]] = {"index": [], "index_bytes": [], "archive": [], "apply": [],
                                     "archive_file_bytes": [], "batch_bytes": [], "rsync_literal": [],
                                     "rsync_matched": [], "check_syncline": [], "check_rsync": []}
    for rep in range(reps):
        unlink(idx)
        out = steps.time("index far --chunks (first)", "syncline",
                         [sl, "index", str(far), "-o", str(idx), "--chunks", "--json"], rep, reps)
        reports["index"].append(parse_json(out))
        reports["index_bytes"].append(idx.stat().st_size if idx.exists() else None)
        steps.time("index far --chunks (re-run)", "syncline",
                   [sl, "index", str(far), "-o", str(idx), "--chunks", "--json"], rep, reps)

        unlink(arc)
        out = steps.time("archive", "syncline", [sl, "archive", str(src), "--against", str(idx), "-o", str(arc),
                                                 "--json"], rep, reps)
        reports["archive"].append(parse_json(out))
        reports["archive_file_bytes"].append(arc.stat().st_size if arc.exists() else None)

        unlink(batch, batch.with_name(batch.name + ".sh"))
        out = steps.time("rsync write-batch", "rsync",
                         ["rsync", "-a", "--no-whole-file", "--stats", f"--only-write-batch={batch}", f"{src}/",
                          f"{wb_target}/"], rep, reps)
        reports["rsync_literal"].append(rsync_stat(out, "Literal data"))
        reports["rsync_matched"].append(rsync_stat(out, "Matched data"))
        reports["batch_bytes"].append(batch.stat().st_size if batch.exists() else None)

        steps.copy(far, sl_target)
        out = steps.time("apply", "syncline", [sl, "apply", str(arc), str(sl_target), "--json"], rep, reps)
        reports["apply"].append(parse_json(out))
        reports["check_syncline"].append({"cmp_equal": steps.cmp(src / "big.bin", sl_target / "big.bin"),
                                          **steps.check(src, sl_target, "syncline apply")})

        steps.copy(far, rb_target)
        steps.time("rsync read-batch", "rsync",
                   ["rsync", "-a", "--no-whole-file", f"--read-batch={batch}", f"{rb_target}/"], rep, reps)
        reports["check_rsync"].append({"cmp_equal": steps.cmp(src / "big.bin", rb_target / "big.bin"),
                                       **steps.check(src, rb_target, "rsync --read-batch")})
    reports["write_batch_target_unchanged"] = steps.cmp(far / "big.bin", wb_target / "big.bin")
    return {"title": f"one {ctx.big_size:,} B file; {INSERT_LEN} B inserted at {INSERT_AT:,}, {OVERWRITE_LEN:,} B "
                     "overwritten in the middle", "size": ctx.big_size, "far": str(far), "source": str(src),
            "reps": reps, "steps": steps.summary(), "reports": reports, "wall_time": steps.breakdown(started)}


# -- ratios, targets, report -------------------------------------------------------------------------------
def first(values: list[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def derive(sc: dict[str, Any]) -> dict[str, float]:
    """Ratios of medians (times) and of sizes, syncline over rsync (or over the compressed changed data)."""
    st, rp = sc["steps"], sc["reports"]

    def med(step: str) -> float | None:
        return st[step]["median"] if step in st else None

    ratios: dict[str, float] = {}
    pairs = [("archive / rsync write-batch (s)", med("archive"), med("rsync write-batch")),
             ("apply / rsync read-batch (s)", med("apply"), med("rsync read-batch"))]
    archive = med("archive")
    for which in ("first", "re-run"):
        index = med(f"index far ({which})") or med(f"index far --chunks ({which})")
        if index is not None and archive is not None:
            pairs.append((f"index ({which}) + archive / rsync write-batch (s)", index + archive,
                          med("rsync write-batch")))
    size = first(rp["archive_file_bytes"])
    pairs.append(("archive / rsync batch (bytes)", size, first(rp["batch_bytes"])))
    literal = first([a.get("literal_bytes") for a in rp["archive"]])
    pairs.append(("archive literal / rsync literal (bytes)", literal, first(rp["rsync_literal"])))
    if "changed" in sc:
        pairs.append(("archive / zstd-3 of changed+added data (bytes)", size, sc["changed"]["zstd_concatenated_bytes"]))
        pairs.append(("rsync batch / zstd-3 of changed+added data (bytes)", first(rp["batch_bytes"]),
                      sc["changed"]["zstd_concatenated_bytes"]))
    for label, a, b in pairs:
        if a is not None and b:
            ratios[label] = a / b
    return ratios


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    tree = results["scenarios"].get("offline-200k")
    if tree is not None:
        size = first(tree["reports"]["index_bytes"])
        if size is not None:
            per = size / tree["files"]
            rows.append({"target": f"offline-200k: index (no chunk lists) < {INDEX_BYTES_PER_FILE} B/file",
                         "value": per, "measured": f"{per:.1f} B/file ({size:,} B / {tree['files']:,} files)",
                         "met": per < INDEX_BYTES_PER_FILE})
        arc, z = first(tree["reports"]["archive_file_bytes"]), tree["changed"]["zstd_concatenated_bytes"]
        if arc is not None:
            rows.append({"target": f"offline-200k: archive <= {ARCHIVE_VS_ZSTD}x zstd-{ZSTD_LEVEL} of the changed and "
                                   "added files", "value": arc / z,
                         "measured": f"{arc / z:.3f}x ({arc:,} B vs {z:,} B)", "met": arc <= ARCHIVE_VS_ZSTD * z})
    big = results["scenarios"].get("offline-1g")
    if big is not None:
        arc = first(big["reports"]["archive_file_bytes"])
        if arc is not None:
            rows.append({"target": f"offline-1g: update archive < 1.5 MB ({BIG_ARCHIVE_LIMIT:,} B)", "value": arc,
                         "measured": f"{arc:,} B", "met": arc < BIG_ARCHIVE_LIMIT})
    return rows


def markdown(results: dict[str, Any]) -> str:
    lines = ["| scenario | step | tool | median s | min–max s | runs | peak RSS MiB |",
             "|---|---|---|---:|---:|---:|---:|"]
    for name, sc in results["scenarios"].items():
        for step, s in sc["steps"].items():
            bad = "" if all(c == 0 for c in s["exit_codes"]) else f" exit {s['exit_codes']}"
            lines.append(f"| {name} | {step}{bad} | {s['tool']} | {run.fmt_s(s['median'])} | {run.fmt_s(s['min'])}–"
                         f"{run.fmt_s(s['max'])} | {len(s['seconds'])} | {s['peak_rss'] / 2**20:,.1f} |")
    lines += ["", "| scenario | size | bytes |", "|---|---|---:|"]
    for name, sc in results["scenarios"].items():
        rp = sc["reports"]
        arc = first(rp["archive"]) or {}
        rows = [("index file" + (" (--chunks)" if name == "offline-1g" else ""), first(rp["index_bytes"]))]
        if "files" in sc and first(rp["index_bytes"]) is not None:
            rows.append(("index file per file", round(first(rp["index_bytes"]) / sc["files"], 1)))
        rows += [("syncline archive", first(rp["archive_file_bytes"])),
                 ("syncline archive: content_bytes", arc.get("content_bytes")),
                 ("syncline archive: literal_bytes", arc.get("literal_bytes")),
                 ("rsync batch file", first(rp["batch_bytes"])),
                 ("rsync Literal data", first(rp["rsync_literal"]))]
        if "rsync_matched" in rp:
            rows.append(("rsync Matched data", first(rp["rsync_matched"])))
        if "changed" in sc:
            ch = sc["changed"]
            rows += [(f"changed data: {ch['modified']} modified + {ch['added']} added files, raw", ch["raw_bytes"]),
                     (f"changed data, zstd-{ZSTD_LEVEL}, concatenated (one frame)", ch["zstd_concatenated_bytes"]),
                     (f"changed data, zstd-{ZSTD_LEVEL}, file by file (sum)", ch["zstd_per_file_bytes"])]
        for label, v in rows:
            lines.append(f"| {name} | {label} | {v:,} |" if isinstance(v, int | float) else f"| {name} | {label} | — |")
    lines += ["", "| scenario | ratio | value |", "|---|---|---:|"]
    for name, sc in results["scenarios"].items():
        lines += [f"| {name} | {k} | {v:.3f}x |" for k, v in sc["ratios"].items()]
    lines += ["", "| scenario | where the wall time went | s |", "|---|---|---:|"]
    for name, sc in results["scenarios"].items():
        lines += [f"| {name} | {k} | {v:.1f} |" for k, v in sc["wall_time"].items()]
    lines += ["", "| target | measured | met? |", "|---|---:|---|"]
    for row in results["targets"]:
        lines.append(f"| {row['target']} | {row['measured']} | {'met' if row['met'] else 'MISSED'} |")
    return "\n".join(lines)


def src_state() -> dict[str, str]:
    """syncline's commit and a digest of its uncommitted source changes: the editable install runs whatever
    src/ holds at each step, so a change during the run mixes versions."""
    def git(*argv: str) -> bytes:
        return subprocess.run(["git", "-C", str(run.ROOT), *argv], capture_output=True).stdout

    diff = git("diff", "HEAD", "--", "src") + git("ls-files", "--others", "--exclude-standard", "--", "src")
    return {"commit": git("rev-parse", "--short", "HEAD").decode().strip(),
            "uncommitted_src_sha1": hashlib.sha1(diff).hexdigest() if diff else ""}


def reproduce(args: argparse.Namespace, names: list[str]) -> str:
    parts = ["python", "bench/offline.py", *names, "--files", str(args.files), "--reps", str(args.reps),
             "--big-size", str(args.big_size)]
    if args.data is not None:
        parts += ["--data", str(args.data)]
    if args.settle != SETTLE:
        parts += ["--settle", f"{args.settle:g}"]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    ap = argparse.ArgumentParser(prog="offline.py", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} [both]")
    ap.add_argument("--files", type=int, default=200_000, help="files of the offline-200k tree [200000]")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every step [3]")
    ap.add_argument("--big-size", type=gen.parse_size, default=1 << 30, help="offline-1g file size [1GiB]")
    ap.add_argument("--data", type=Path, default=None, help="where the data goes [bench/data]")
    ap.add_argument("--syncline", default=run.default_syncline(), help="the syncline command [.venv/bin/syncline]")
    ap.add_argument("--settle", type=float, default=SETTLE,
                    help=f"wait up to this many seconds for other processes to go quiet before each step [{SETTLE:g}]")
    ap.add_argument("--out", type=Path, default=run.BENCH / "results", help="where the JSON goes [bench/results]")
    args = ap.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {', '.join(unknown)}; pick from {', '.join(SCENARIOS)}")
    data = (args.data or run.BENCH / "data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    env = run.bytecode_env(dict(os.environ, SYNCLINE_STATE_DIR=str(data / "state"), LC_ALL="C"), args.syncline)
    ctx = run.Context(data, args.files, 0, args.big_size, args.syncline, False, env)
    print(f"data in {data} ({shutil.disk_usage(data).free / 2**30:.0f} GiB free); results in {args.out}",
          flush=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "started": stamp,
        "command": reproduce(args, names),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": run.machine_info(data, args.syncline),
        "src_at_start": src_state(),
        "scenarios": {},
        "targets": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"offline-{stamp}.json"
    runners: dict[str, Callable[[run.Context, int, float], dict[str, Any]]] = {
        "offline-200k": offline_tree, "offline-1g": offline_big}
    started = time.perf_counter()
    for name in names:
        sc = runners[name](ctx, args.reps, args.settle)
        sc["ratios"] = derive(sc)
        results["scenarios"][name] = sc
        results["targets"] = judge(results)
        results["seconds"] = time.perf_counter() - started
        results["src_at_end"] = src_state()
        results["src_changed_during_run"] = results["src_at_end"] != results["src_at_start"]
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
        tmp.replace(out)
    print("\n" + markdown(results))
    if results["src_changed_during_run"]:
        print(f"\nWARNING: syncline's source changed during the run ({results['src_at_start']} -> "
              f"{results['src_at_end']}): the figures mix versions; run again on a quiet tree")
    print(f"\nresults: {out.relative_to(run.ROOT) if out.is_relative_to(run.ROOT) else out}")
    print(f"total {results['seconds'] / 60:.1f} min; reproduce with:\n  {results['command']}")
    return 0


_json_default = run._json_default


if __name__ == "__main__":
    sys.exit(main())
