"""Property: for random source and destination trees, one sync gives what a user expects, and loses
nothing: every byte the destination held is still in it or in its trash."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncline

DIR = object()
T0 = 1_600_000_000
_clock = itertools.count()

names = st.sampled_from(["a", "b", "c", "é"])
paths = st.lists(names, min_size=1, max_size=3).map("/".join)
leaf = st.one_of(
    st.binary(max_size=24),
    st.just(DIR),
    st.sampled_from(["a", "../b", "/abs"]).map(lambda t: ("link", t)),
)
trees = st.dictionaries(paths, st.tuples(leaf, st.sampled_from([0o644, 0o600, 0o755])), max_size=10)


def build(root: Path, spec: dict[str, tuple[object, int]]) -> None:
    root.mkdir()
    taken: dict[str, bool] = {}  # path -> is a directory
    for path in sorted(spec):
        parts = path.split("/")
        if any(taken.get("/".join(parts[:i])) is False for i in range(1, len(parts))):
            continue  # an ancestor is a file or link
        if path in taken:
            continue
        for i in range(1, len(parts)):
            taken["/".join(parts[:i])] = True
        value, mode = spec[path]
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        if value is DIR:
            p.mkdir(exist_ok=True)
            taken[path] = True
            continue
        if isinstance(value, tuple):
            os.symlink(value[1], p)
        else:
            assert isinstance(value, bytes)
            p.write_bytes(value)
            os.chmod(p, mode)
            # Every write gets its own mtime, so the quick check never mistakes different content for equal.
            t = T0 + next(_clock)
            os.utime(p, (t, t))
        taken[path] = False


def snapshot(root: Path) -> dict[str, tuple[str, object, int, int]]:
    out: dict[str, tuple[str, object, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != ".syncline"]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st_ = os.lstat(p)
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p), 0, st_.st_mtime_ns)
            elif p.is_dir():
                out[rel] = ("dir", None, st_.st_mode & 0o7777, 0)
            else:
                out[rel] = ("file", p.read_bytes(), st_.st_mode & 0o7777, st_.st_mtime_ns)
    return out


def file_contents(root: Path) -> Counter[bytes]:
    found: Counter[bytes] = Counter()
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                found[p.read_bytes()] += 1
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(src_spec=trees, dst_spec=trees, delete=st.booleans())
def test_one_way_sync_property(src_spec: dict[str, tuple[object, int]], dst_spec: dict[str, tuple[object, int]],
                               delete: bool) -> None:
    base = Path(tempfile.mkdtemp(prefix="syncline-prop-"))
    try:
        src, dst = base / "src", base / "dst"
        build(src, src_spec)
        build(dst, dst_spec)
        before_src = snapshot(src)
        before_dst_contents = {
            v[1] for v in snapshot(dst).values() if v[0] == "file"
        }
        report = syncline.sync(src, dst, delete=delete, force=True, max_delete=1.0)
        after = snapshot(dst)
        assert snapshot(src) == before_src, "the source must never change"
        if delete:
            assert report.errors == []
            assert after == before_src
            assert len(syncline.sync(src, dst, delete=True).plan or ()) == 0
        else:
            blocked = [p.path for p in report.errors]
            for path, value in before_src.items():
                if any(path == b or path.startswith(b + "/") for b in blocked):
                    continue
                got = after.get(path)
                assert got is not None, path
                if value[0] == "dir":
                    assert got[0] == "dir"
                else:
                    assert got == value, path
        # Nothing the destination held is lost: it is still there, or in the trash.
        kept = file_contents(dst)  # includes dst/.syncline/trash
        for content in before_dst_contents:
            assert isinstance(content, bytes)
            assert kept[content] >= 1, content
    finally:
        shutil.rmtree(base)
