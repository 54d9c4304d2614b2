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


if __name__ == "__main__":
    main(Path(sys.argv[1]))
