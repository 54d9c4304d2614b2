"""The process the kill -9 tests kill: it uploads a batch's chunks, commits the batch, then makes garbage
and collects it, on the store in ``argv[1]``. Everything it does is the same on every run (op ids and
contents come from fixed seeds), so a run after a kill resends what the killed one sent."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import blake3

from syncline.formats.wire.ops import ChunkRef, Expect, Op, OpEntry, WirePolicy
from syncline.server.store import open_store
from syncline.server.store.gc import collect

FILES = 40
T0 = 1_700_000_000_000_000_000


def main(data: Path) -> None:
    store = open_store(data, min_free=0)
    user = store.users.get("anna") or store.users.add("anna", "hash")
    fs = store.folder(store.folders.create(user.id, "Docs")[0])
    rng = random.Random(1)
    contents = [rng.randbytes(rng.choice([10, 5000, 70_000])) for _ in range(FILES)]
    frames = [(blake3.blake3(c).digest(), c) for c in contents]
    missing = set(fs.missing([i for i, _ in frames], "D1"))
    fs.put_chunks([(i, c) for i, c in frames if i in missing], "D1")
    ops = [Op("mk-batch", "mkdir", "batch", None, OpEntry(T0, 0o755))]
    ops += [Op(f"put-{n}", "put", f"batch/f{n:02d}", None, OpEntry(T0, 0o644, len(c), i), (ChunkRef(i, len(c)),))
            for n, (i, c) in enumerate(frames)]
    _, results = fs.apply_ops(ops, WirePolicy(), "D1")
    assert all(r.done for r in results), results
    for n in range(3):  # versions dropped for good: garbage for the collector
        data_n = b"garbage %d" % n
        gid = blake3.blake3(data_n).digest()
        fs.put_chunks([(gid, data_n)], "D1")
        found = fs.stat_many(["g"])[1][0]
        expect = Expect.of(found.entry()) if found is not None and not isinstance(found, Exception) else None
        fs.apply_ops([Op(f"g-{n}", "put", "g", expect, OpEntry(T0 + n, 0o644, len(data_n), gid),
                         (ChunkRef(gid, len(data_n)),))], WirePolicy(trash=False), "D1")
    collect(store, now_ns=time.time_ns() + 2 * 24 * 3600 * 10**9)
    store.close()
    print("done")


def loop(data: Path) -> None:
    """Commit batches of 200 new files (``loop/bNNN/fMMM``) until killed, each after its chunks."""
    store = open_store(data, min_free=0)
    user = store.users.get("anna") or store.users.add("anna", "hash")
    fs = store.folder(store.folders.create(user.id, "Docs")[0])
    fs.apply_ops([Op("mk-loop", "mkdir", "loop", None, OpEntry(T0, 0o755))], WirePolicy(), "D1")
    for b in range(1000):
        frames = [(blake3.blake3(c).digest(), c) for c in (b"batch %d file %d" % (b, n) for n in range(200))]
        fs.put_chunks(frames, "D1")
        ops = [Op(f"loop-{b}-dir", "mkdir", f"loop/b{b:03d}", None, OpEntry(T0, 0o755))]
        ops += [Op(f"loop-{b}-{n}", "put", f"loop/b{b:03d}/f{n:03d}", None, OpEntry(T0, 0o644, len(c), i),
                   (ChunkRef(i, len(c)),)) for n, (i, c) in enumerate(frames)]
        fs.apply_ops(ops, WirePolicy(), "D1")
        print(b, flush=True)


def restore(data: Path) -> None:
    """Write 40 files, overwrite each (their first versions kept), then restore every first version in one
    batch (op ids ``restore-N``): the batch a kill -9 at its commit must leave whole or absent."""
    store = open_store(data, min_free=0)
    user = store.users.get("anna") or store.users.add("anna", "hash")
    fs = store.folder(store.folders.create(user.id, "Docs")[0])
    for round_, name in enumerate(("first", "second")):
        frames = [(blake3.blake3(c).digest(), c) for c in (b"%s %d" % (name.encode(), n) for n in range(FILES))]
        fs.put_chunks(frames, "D1")
        ops = []
        for n, (i, c) in enumerate(frames):
            found = fs.stat_many([f"r{n:02d}"])[1][0]
            expect = Expect.of(found.entry()) if found is not None and not isinstance(found, Exception) else None
            ops.append(Op(f"{name}-{n}", "put", f"r{n:02d}", expect, OpEntry(T0 + round_, 0o644, len(c), i),
                          (ChunkRef(i, len(c)),)))
        fs.apply_ops(ops, WirePolicy(), "D1")
    ops = []
    for n in range(FILES):
        current, kept = fs.versions(f"r{n:02d}", 10)
        assert current is not None
        first = [v for v in kept if v.row.mtime_ns == T0]
        if first:
            op = Op(f"restore-{n}", "restore", f"r{n:02d}", Expect.of(current.entry()), version_id=first[0].version_id)
        else:  # restored by the run that was killed after its commit: the same item again, answered by replay
            [second] = [v for v in kept if v.row.mtime_ns == T0 + 1]
            op = Op(f"restore-{n}", "restore", f"r{n:02d}", Expect.of(second.row.entry()),
                    version_id=current.content_id)
        ops.append(op)
    _, results = fs.apply_ops(ops, WirePolicy(keep_changed=True), "D1")
    assert all(r.done for r in results), results
    store.close()
    print("done")


if __name__ == "__main__":
    if sys.argv[2:] == ["loop"]:
        loop(Path(sys.argv[1]))
    elif sys.argv[2:] == ["restore"]:
        restore(Path(sys.argv[1]))
    else:
        main(Path(sys.argv[1]))
