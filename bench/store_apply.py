"""The server store's write path alone (``FolderStore.apply_ops``), two source trees side by side: to see what
a change to the ``Applier`` costs (issue 15: folder ETags kept per batch, ``store/davstate.py``).

    python bench/store_apply.py --compare OLD_SRC NEW_SRC [--files 10000] [--reps 5]

``OLD_SRC`` and ``NEW_SRC`` are ``src`` folders of two checkouts (``git worktree add /tmp/base HEAD~3``).
Each repetition runs both, each in a fresh process on a fresh store in a temp dir, the order rotated; for
each the scenarios are timed in process:

``initial``  ``--files`` new files (a few bytes each) in 100 folders two levels deep, batches of 1,000
``edit1pct`` 1% of them replaced (``put`` with ``expect``), one batch
``move``     a top folder (a tenth of the files) moved, one item
``delete``   1% of the files deleted, one batch

Chunks are uploaded before the clock starts (the same work for both). Prints medians with min-max and the
load average; ``--json`` writes the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = ("initial", "edit1pct", "move", "delete")


def one_run(files: int) -> dict[str, float]:
    """The scenarios on a fresh store, with whatever ``syncline`` this process imports."""
    import blake3

    from syncline.formats.wire.ops import ChunkRef, Expect, Op, OpEntry, WirePolicy, new_op_id
    from syncline.server.store import open_store

    t0 = 1_700_000_000_000_000_000
    policy = WirePolicy()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "data", min_free=0)
        try:
            uid = store.users.add("anna", "hash").id
            fs = store.folder(store.folders.create(uid, "Docs")[0])
            paths = [f"t{i % 10}/s{i // 10 % 10}/f{i:06d}" for i in range(files)]

            def content(data: bytes) -> tuple[bytes, tuple[ChunkRef, ...]]:
                digest = blake3.blake3(data).digest()
                fs.put_chunks([(digest, data)], "D1")
                return digest, (ChunkRef(digest, len(data)),)

            def put(path: str, data: bytes, expect: Expect | None = None) -> Op:
                digest, chunks = content(data)
                return Op(new_op_id(), "put", path, expect, OpEntry(t0, 0o644, len(data), digest), chunks)

            def expect(path: str) -> Expect:
                row = fs.stat_many([path])[1][0]
                return Expect.of(row.entry())  # type: ignore[union-attr]

            dirs = sorted({p.rpartition("/")[0] for p in paths} | {p.partition("/")[0] for p in paths})
            ops = [Op(new_op_id(), "mkdir", d, None, OpEntry(t0, 0o755)) for d in dirs]
            ops += [put(p, f"file {p}".encode()) for p in paths]
            started = time.perf_counter()
            for i in range(0, len(ops), 1000):
                fs.apply_ops(ops[i : i + 1000], policy, "D1")
            out["initial"] = time.perf_counter() - started

            changed = paths[:: 100]
            ops = [put(p, f"edited {p}".encode(), expect(p)) for p in changed]
            started = time.perf_counter()
            fs.apply_ops(ops, policy, "D1")
            out["edit1pct"] = time.perf_counter() - started

            ops = [Op(new_op_id(), "move", "t3", expect("t3"), to="moved")]
            started = time.perf_counter()
            fs.apply_ops(ops, policy, "D1")
            out["move"] = time.perf_counter() - started

            ops = [Op(new_op_id(), "delete", p, expect(p)) for p in paths[50:: 100] if not p.startswith("t3/")]
            started = time.perf_counter()
            fs.apply_ops(ops, policy, "D1")
            out["delete"] = time.perf_counter() - started
        finally:
            store.close()
    return out


def compare(old: str, new: str, files: int, reps: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {"old": {s: [] for s in SCENARIOS}, "new": {s: [] for s in SCENARIOS}}
    for rep in range(reps):
        order = [("old", old), ("new", new)]
        if rep % 2:
            order.reverse()
        for name, src in order:
            env = {**os.environ, "PYTHONPATH": src}
            got = subprocess.run([sys.executable, __file__, "--one", "--files", str(files)], env=env, check=True,
                                 capture_output=True, text=True, timeout=3600)
            for s, v in json.loads(got.stdout).items():
                results[name][s].append(v)
        print(f"rep {rep + 1}/{reps} done (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", nargs=2, metavar=("OLD_SRC", "NEW_SRC"))
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.files)))
        return
    if not args.compare:
        ap.error("give --compare OLD_SRC NEW_SRC")
    load = os.getloadavg()
    results = compare(args.compare[0], args.compare[1], args.files, args.reps)
    print(f"\n{args.files:,} files, {args.reps} repetitions, load average before {load[0]:.2f}, after "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| scenario | old: median (min-max) s | new: median (min-max) s | new/old |")
    print("|---|---|---|---|")
    for s in SCENARIOS:
        o, n = results["old"][s], results["new"][s]
        print(f"| {s} | {statistics.median(o):.3f} ({min(o):.3f}-{max(o):.3f}) | {statistics.median(n):.3f} "
              f"({min(n):.3f}-{max(n):.3f}) | {statistics.median(n) / statistics.median(o):.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"files": args.files, "reps": args.reps, "results": results}, indent=1))


if __name__ == "__main__":
    main()
