"""Deterministic test trees for the benchmarks (see docs/performance.md).

Every byte, size, name and mtime comes from a seeded ``random.Random``, so two runs with the same
arguments make identical trees (inodes and ctimes aside)::

    python bench/gen.py small DIR [--files 100000] [--seed 1]     # log-normal sizes around 4 KiB, ~100/dir
    python bench/gen.py tiny DIR [--files 1000000] [--seed 1]     # 0-64 byte files, ~1000/dir
    python bench/gen.py big FILE [--size 1GiB] [--seed 1]         # one large file
    python bench/gen.py mutate DIR --modify 0.01 --delete 0.001 --add 0.001 --seed 2

``mutate`` rewrites a fraction of the files (new content, new size, new mtime), deletes a fraction and
adds new files (as fractions of the files present). Content is cut from a seeded pool of random bytes,
each file starting with a header naming it, so files differ from each other and generation is fast.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

EPOCH_NS = 1_600_000_000 * 10**9  # 2020-09-13: every generated mtime is this plus an offset
MUTATE_EPOCH_NS = 1_700_000_000 * 10**9  # mtimes given by ``mutate``
MEDIAN_SIZE = 4096
SIGMA = 1.0  # log-normal shape: mean ~6.75 KiB, ~1% of files above 40 KiB
MAX_SIZE = 1 << 20
POOL_SIZE = 8 << 20
CHUNK = 4 << 20
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 10**3, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6, "mib": 1 << 20,
          "g": 1 << 30, "gb": 10**9, "gib": 1 << 30}


@dataclass
class Stats:
    """What a generator wrote."""

    files: int = 0
    dirs: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def line(self, what: str) -> str:
        return (f"{what}: {self.files:,} files, {self.dirs:,} dirs, {self.bytes / 1e6:,.1f} MB "
                f"in {self.seconds:.1f} s")


class Content:
    """Deterministic file contents: a header naming the file, then bytes cut from a seeded random pool."""

    def __init__(self, rng: random.Random, pool_size: int = POOL_SIZE) -> None:
        self.rng = rng
        self.pool = rng.randbytes(pool_size)

    def make(self, name: str, size: int) -> bytes:
        head = f"{name}\n".encode()[:size]
        rest = size - len(head)
        if rest <= 0:
            return head
        if rest > len(self.pool):
            return head + self.rng.randbytes(rest)
        off = self.rng.randrange(0, len(self.pool) - rest + 1)
        return head + self.pool[off : off + rest]


def parse_size(text: str) -> int:
    """``1GiB``, ``512M``, ``4096`` -> bytes (binary units for K/M/G and KiB/MiB/GiB, decimal for KB/MB/GB)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if m is None or m.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def lognormal_size(rng: random.Random, median: int = MEDIAN_SIZE, sigma: float = SIGMA,
                   cap: int = MAX_SIZE) -> int:
    """A file size drawn from a log-normal distribution with the given median, clamped to [0, cap]."""
    return min(cap, int(rng.lognormvariate(math.log(median), sigma)))


def write_file(path: str, data: bytes, mtime_ns: int, mode: int = 0o644) -> None:
    """Write ``data`` to a new file at ``path`` (replacing one that is there) and set its mtime."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        if data:
            os.write(fd, data)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
    finally:
        os.close(fd)


def leaf_dir(j: int) -> str:
    """The relative path of leaf directory ``j``: ``d000/d00`` (100 leaves per top directory)."""
    return f"d{j // 100:03d}/d{j % 100:02d}"


def _layout(files: int, per_dir: int) -> Iterator[tuple[int, str, str]]:
    """(file number, leaf directory, file name) for ``files`` files, ``per_dir`` to a directory."""
    width = len(str(per_dir - 1))
    for i in range(files):
        j, k = divmod(i, per_dir)
        yield i, leaf_dir(j), f"f{k:0{width}d}.bin"


def _set_dir_mtimes(root: str, dirs: list[str], base_ns: int) -> None:
    """Give every directory (deepest first) and the root a deterministic mtime."""
    for n, rel in enumerate(sorted(dirs, key=lambda p: (-p.count("/"), p))):
        os.utime(os.path.join(root, rel), ns=(base_ns + n * 10**9,) * 2)
    os.utime(root, ns=(base_ns,) * 2)


def _make_tree(root: str, files: int, per_dir: int, size_of: random.Random, content: Content,
               max_size: int, tiny: bool) -> Stats:
    started = time.perf_counter()
    stats = Stats()
    os.makedirs(root, exist_ok=True)
    if any(os.scandir(root)):
        raise SystemExit(f"{root} is not empty; give a new or empty directory")
    made: set[str] = set()
    dirs: list[str] = []
    for i, rel_dir, name in _layout(files, per_dir):
        if rel_dir not in made:
            top = rel_dir.split("/")[0]
            if top not in made:
                os.mkdir(os.path.join(root, top))
                made.add(top)
                dirs.append(top)
            os.mkdir(os.path.join(root, rel_dir))
            made.add(rel_dir)
            dirs.append(rel_dir)
        size = size_of.randint(0, max_size) if tiny else lognormal_size(size_of, cap=max_size)
        data = content.make(f"{rel_dir}/{name}", size)
        # mtimes one second apart with a sub-second part, so nanosecond handling is exercised.
        write_file(os.path.join(root, rel_dir, name), data, EPOCH_NS + i * 10**9 + (i * 7919 % 1000) * 1000)
        stats.files += 1
        stats.bytes += size
    _set_dir_mtimes(root, dirs, EPOCH_NS + files * 10**9)
    stats.dirs = len(dirs)
    stats.seconds = time.perf_counter() - started
    return stats


def make_small(root: str, files: int = 100_000, seed: int = 1) -> Stats:
    """``files`` files of log-normal sizes (median 4 KiB, at most 1 MiB), 100 to a directory."""
    rng = random.Random(seed)
    return _make_tree(root, files, 100, rng, Content(rng), MAX_SIZE, tiny=False)


def make_tiny(root: str, files: int = 1_000_000, seed: int = 1) -> Stats:
    """``files`` files of 0-64 bytes, 1000 to a directory."""
    rng = random.Random(seed)
    return _make_tree(root, files, 1000, rng, Content(rng, 1 << 16), 64, tiny=True)


def make_big(path: str, size: int = 1 << 30, seed: int = 1) -> Stats:
    """One file of ``size`` seeded random bytes."""
    started = time.perf_counter()
    rng = random.Random(seed)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        left = size
        while left:
            n = min(CHUNK, left)
            view = memoryview(rng.randbytes(n))
            while view:
                view = view[os.write(fd, view) :]
            left -= n
        os.utime(fd, ns=(EPOCH_NS, EPOCH_NS))
    finally:
        os.close(fd)
    return Stats(files=1, bytes=size, seconds=time.perf_counter() - started)


def list_files(root: str) -> list[str]:
    """Every regular file under ``root`` as a sorted list of relative paths (``.syncline`` skipped)."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".syncline")
        rel = os.path.relpath(dirpath, root)
        for name in filenames:
            out.append(name if rel == "." else f"{rel}/{name}")
    out.sort()
    return out


@dataclass
class Mutation:
    """What ``mutate`` did."""

    modified: int
    deleted: int
    added: int
    added_bytes: int
    modified_bytes: int


def mutate(root: str, modify: float = 0.01, delete: float = 0.001, add: float = 0.001, seed: int = 2) -> Mutation:
    """Modify, delete and add fractions of the files under ``root``, deterministically for a given tree."""
    rng = random.Random(seed)
    content = Content(rng)
    files = list_files(root)
    n_mod, n_del, n_add = (round(len(files) * f) for f in (modify, delete, add))
    if n_mod + n_del > len(files):
        raise SystemExit("cannot modify and delete more files than there are")
    picked = rng.sample(files, n_mod + n_del)
    mod, dele = sorted(picked[:n_mod]), sorted(picked[n_mod:])
    mod_bytes = add_bytes = 0
    for k, rel in enumerate(mod):
        size = lognormal_size(rng)
        mod_bytes += size
        write_file(os.path.join(root, rel), content.make(f"{rel} v{seed}", size), MUTATE_EPOCH_NS + k * 10**9)
    touched: set[str] = set()
    for rel in dele:
        os.unlink(os.path.join(root, rel))
        touched.add(os.path.dirname(rel))
    dirs = sorted({os.path.dirname(f) for f in files} - {""})
    for k in range(n_add):
        rel = f"{rng.choice(dirs)}/a{seed}-{k:06d}.bin" if dirs else f"a{seed}-{k:06d}.bin"
        size = lognormal_size(rng)
        add_bytes += size
        write_file(os.path.join(root, rel), content.make(rel, size), MUTATE_EPOCH_NS + (n_mod + k) * 10**9)
        touched.add(os.path.dirname(rel))
    # Deletes and adds changed these directories' mtimes to "now": make them deterministic too.
    for k, rel_dir in enumerate(sorted(touched)):
        os.utime(os.path.join(root, rel_dir), ns=(MUTATE_EPOCH_NS - (k + 1) * 10**9,) * 2)
    return Mutation(len(mod), len(dele), n_add, add_bytes, mod_bytes)


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    ap = argparse.ArgumentParser(prog="gen.py", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("small", help="many small files (log-normal around 4 KiB), ~100 per directory")
    p.add_argument("dir")
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("tiny", help="many 0-64 byte files, ~1000 per directory")
    p.add_argument("dir")
    p.add_argument("--files", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("big", help="one big file")
    p.add_argument("file")
    p.add_argument("--size", type=parse_size, default=1 << 30, help="e.g. 1GiB, 256MiB [default: 1GiB]")
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("mutate", help="modify, delete and add fractions of a tree's files")
    p.add_argument("dir")
    p.add_argument("--modify", type=float, default=0.01)
    p.add_argument("--delete", type=float, default=0.001)
    p.add_argument("--add", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=2)
    args = ap.parse_args(argv)
    if args.cmd == "small":
        print(make_small(args.dir, args.files, args.seed).line("small"))
    elif args.cmd == "tiny":
        print(make_tiny(args.dir, args.files, args.seed).line("tiny"))
    elif args.cmd == "big":
        print(make_big(args.file, args.size, args.seed).line("big"))
    else:
        m = mutate(args.dir, args.modify, args.delete, args.add, args.seed)
        print(f"mutate: modified {m.modified:,} ({m.modified_bytes / 1e6:.1f} MB), deleted {m.deleted:,}, "
              f"added {m.added:,} ({m.added_bytes / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
