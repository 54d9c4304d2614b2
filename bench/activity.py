"""A folder's activity (protocol 1.3) read from the change journal: what one request costs, and what an
index on ``changes (folder_id, made_ns)`` would save (``store/activity.py`` says why there is none).

    python bench/activity.py [--changes 100000] [--reps 5]

A real store in a temp dir; the journal rows of two folders (``--changes`` each, one every
``120 days / --changes``, as a busy folder kept past 30 days by the 100,000-change floor would hold) are
written with SQL, as the ``Applier`` writes them. Each window (7, 30, 90 days) is timed without the index,
then again after the index is made; medians of ``--reps``. Also times 2,000 journal rows written one
transaction each, without and with the index (what every commit would pay).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    from syncline.formats.wire.activity import DAY_NS
    from syncline.server.store import open_store
    from syncline.server.store.activity import activity

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp), min_free=0)
        owner = store.users.add("anna", "x").id
        folders = [store.folders.create(owner, name)[0] for name in ("A", "B")]
        now = time.time_ns()
        step = 120 * DAY_NS // args.changes
        ops = ("put",) * 6 + ("delete", "move", "mkdir", "meta")
        with store.db.write() as conn:
            for folder in folders:
                conn.exec_driver_sql(
                    "INSERT INTO changes (folder_id, seq, op, path, from_path, device_id, op_id, op_digest, result,"
                    " made_ns) VALUES (?, ?, ?, ?, NULL, 'D0123456789012345678', ?, ?, ?, ?)",
                    [(folder.id, i + 1, ops[i % len(ops)], f"dir{i % 100}/file{i}.txt", f"op{folder.id}-{i}",
                      os.urandom(32), f'{{"done":true,"version":{i + 1},"file_id":"F0123456789"}}',
                      now - 120 * DAY_NS + i * step) for i in range(args.changes)])

        def timed(days: int) -> float:
            runs = []
            for _ in range(args.reps):
                start = time.perf_counter()
                activity(store.db, folders[0].id, "A", days, now)
                runs.append(time.perf_counter() - start)
            return statistics.median(runs) * 1000

        def commits(first_seq: int) -> float:
            start = time.perf_counter()
            for i in range(2000):
                with store.db.write() as conn:
                    conn.exec_driver_sql(
                        "INSERT INTO changes (folder_id, seq, op, path, device_id, made_ns) VALUES (?, ?, 'put', ?,"
                        " 'D', ?)", (folders[1].id, first_seq + i, f"x/{i}", now))
            return (time.perf_counter() - start) * 1000

        plain = {days: timed(days) for days in (7, 30, 90)}
        plain_commits = commits(10**9)
        with store.db.write() as conn:
            conn.exec_driver_sql("CREATE INDEX bench_changes_made ON changes (folder_id, made_ns, op)")
        indexed = {days: timed(days) for days in (7, 30, 90)}
        indexed_commits = commits(2 * 10**9)
        store.close()
    print(f"{args.changes:,} journal rows per folder over 120 days; median of {args.reps}; "
          f"load {os.getloadavg()[0]:.2f}")
    for days in (7, 30, 90):
        print(f"  days={days:<3} primary key {plain[days]:7.1f} ms   with the index {indexed[days]:7.1f} ms")
    print(f"  2,000 commits of one row: {plain_commits:.0f} ms, with the index {indexed_commits:.0f} ms")


if __name__ == "__main__":
    main()
