"""A file rewritten in place by one long ``write()`` while syncline reads it (issue 11, point 10).

The kernel sets mtime at the start of the ``write()`` call, so a read that overlaps it sees the same size,
mtime and ctime before and after, and mixed bytes in between. Such a copy must never be committed (or
hashed into an index), and the next run must not take a torn copy for an up-to-date one.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import syncline
from tests.conftest import write

SIZE = 96 << 20
TRIALS = 8

# One write() call of the whole file, in place, after a signal on stdin. Its bytes come from a map of a
# file evicted from the page cache, so the call itself is slow (it reads them from disk as it goes) and a
# copy can catch up with it: the mtime the kernel set at the call's start is all a stat shows.
WRITER = r"""
import mmap, os, sys
path, byte, size, feed = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
with open(feed, "wb") as fh:
    fh.write(byte * size)
    fh.flush()
    os.fsync(fh.fileno())
    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
src = os.open(feed, os.O_RDONLY)
data = mmap.mmap(src, size, prot=mmap.PROT_READ)
fd = os.open(path, os.O_WRONLY)
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
os.write(fd, data)
os.close(fd)
data.close()
os.close(src)
os.unlink(feed)
"""


def uniform(path: Path) -> bool:
    data = path.read_bytes()
    return data == data[:1] * len(data)


def _rewrite_while(path: Path, byte: str, action, rng: random.Random) -> None:
    """Start a writer that rewrites ``path`` with ``byte`` in one call, and run ``action`` as it writes."""
    result: list[object] = []
    feed = path.parent.parent / "feed.bin"  # outside the synced trees
    with subprocess.Popen([sys.executable, "-c", WRITER, str(path), byte, str(SIZE), str(feed)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        runner = threading.Thread(target=lambda: result.append(action()))
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(rng.uniform(0, 0.06))
        runner.start()
        runner.join(timeout=300)
        assert proc.wait(timeout=300) == 0
    assert result, "the run never ended"


@pytest.mark.timeout(600)
def test_a_copy_overlapping_one_long_write_is_never_committed_torn(tmp_path: Path) -> None:
    rng = random.Random(11)
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "big.bin", b"A" * SIZE)
    assert syncline.sync(src, dst).exit_code == 0
    for trial in range(TRIALS):
        byte = "BCDEFGHIJKLMNOPQ"[trial]
        _rewrite_while(src / "big.bin", byte, lambda: syncline.sync(src, dst), rng)
        assert uniform(dst / "big.bin"), f"trial {trial}: a torn copy was committed"
        assert syncline.sync(src, dst).exit_code == 0
        assert (dst / "big.bin").read_bytes() == (src / "big.bin").read_bytes(), f"trial {trial}: never repaired"


@pytest.mark.timeout(600)
def test_a_two_way_copy_overlapping_one_long_write_is_never_committed_torn(tmp_path: Path) -> None:
    rng = random.Random(12)
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "big.bin", b"A" * SIZE)
    b.mkdir()
    assert syncline.sync(a, b, two_way=True).exit_code == 0
    for trial in range(TRIALS):
        byte = "BCDEFGHIJKLMNOPQ"[trial]
        _rewrite_while(a / "big.bin", byte, lambda: syncline.sync(a, b, two_way=True), rng)
        assert uniform(b / "big.bin"), f"trial {trial}: a torn copy was committed"
        for _ in range(3):
            if syncline.sync(a, b, two_way=True).exit_code == 0:
                break
        assert (b / "big.bin").read_bytes() == (a / "big.bin").read_bytes(), f"trial {trial}: never repaired"


@pytest.mark.timeout(600)
def test_an_index_never_records_the_digest_of_a_torn_read(tmp_path: Path) -> None:
    import blake3

    rng = random.Random(13)
    root = tmp_path / "root"
    write(root, "big.bin", b"A" * SIZE)
    good = {blake3.blake3(bytes([c]) * SIZE).digest() for c in b"ABCDEFGHIJKLMNOPQ"}
    for trial in range(TRIALS):
        byte = "BCDEFGHIJKLMNOPQ"[trial]
        found: list[syncline.Index] = []
        _rewrite_while(root / "big.bin", byte, lambda out=found: out.append(syncline.scan(root)), rng)
        entry = found[0]["big.bin"]
        assert entry.digest in good, f"trial {trial}: the digest of a state that never existed"
