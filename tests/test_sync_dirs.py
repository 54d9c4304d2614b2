"""``sync_dirs``: syncing only the folders that changed ends exactly where a full sync ends."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.core.paths import parent
from syncline.engine.oneway import SyncOptions, sync, sync_dirs
from syncline.engine.replicas.local import LocalReplica

from .conftest import write
from .test_archive import snapshot


def _tree(root: Path, rng: random.Random) -> None:
    for i in range(40):
        write(root, f"d{i % 3}/s{i % 5}/f{i}.txt", rng.randbytes(rng.randint(0, 50)), mtime=1_700_000_000 + i)


def _dirs_of(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != ".syncline"]
        else:
            out.append(rel)
    return sorted(out)


def _files_of(root: Path) -> list[str]:
    return sorted(p for p, v in snapshot(root).items() if v[0] == "file")


def _mutate(root: Path, rng: random.Random, steps: int,
            named: dict[str, set[str]] | None = None) -> set[tuple[str, bool]]:
    """Random changes, and the folders a watcher would report for them (deep for a folder that appeared);
    ``named`` gets, for each folder reported shallow, the names of its children that changed."""
    dirty: set[tuple[str, bool]] = set()

    def changed(path: str) -> None:
        dirty.add((parent(path), False))
        if named is not None:
            named.setdefault(parent(path), set()).add(path.rpartition("/")[2])

    for n in range(steps):
        files, dirs = _files_of(root), _dirs_of(root)
        what = rng.choice(["write", "new", "delete", "rmdir", "mkdir", "move-file", "move-dir", "chmod"])
        if what == "write" and files:
            p = rng.choice(files)
            write(root, p, rng.randbytes(rng.randint(0, 80)), mtime=1_700_100_000 + n)
            changed(p)
        elif what == "new" and dirs:
            p = f"{rng.choice(dirs)}/new{n}.txt"
            write(root, p, b"new", mtime=1_700_100_000 + n)
            changed(p)
        elif what == "delete" and files:
            p = rng.choice(files)
            os.unlink(root / p)
            changed(p)
        elif what == "rmdir" and dirs:
            p = rng.choice(dirs)
            shutil.rmtree(root / p)
            changed(p)
        elif what == "mkdir" and dirs:
            p = f"{rng.choice(dirs)}/dir{n}"
            write(root, f"{p}/inside.txt", b"in", mtime=1_700_100_000 + n)
            changed(p)
            dirty.add((p, True))
        elif what == "move-file" and files and dirs:
            src = rng.choice(files)
            dst = f"{rng.choice(dirs)}/moved{n}.txt"
            if (root / parent(dst)).is_dir():
                os.rename(root / src, root / dst)
                changed(src)
                changed(dst)
        elif what == "move-dir" and len(dirs) > 1:
            src = rng.choice(dirs)
            target = rng.choice([d for d in dirs if not (d == src or d.startswith(src + "/"))] or [""])
            dst = f"{target}/mv{n}" if target else f"mv{n}"
            os.rename(root / src, root / dst)
            changed(src)
            changed(dst)
            dirty.add((dst, True))
        elif what == "chmod" and files:
            p = rng.choice(files)
            os.chmod(root / p, 0o600)
            changed(p)
    return dirty


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), steps=st.integers(1, 12), delete=st.booleans())
def test_syncing_the_changed_folders_equals_a_full_sync(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                                          steps: int, delete: bool) -> None:
    base = tmp_path_factory.mktemp("dirs")
    src, dst, ref = base / "src", base / "dst", base / "ref"
    rng = random.Random(seed)
    _tree(src, rng)
    opts = SyncOptions(delete=delete, force=True)  # a random run may delete most of the tree
    sync(src, dst, opts)
    shutil.copytree(dst, ref, symlinks=True, ignore=shutil.ignore_patterns(".syncline"))
    dirty = _mutate(src, rng, steps)
    sync_dirs(LocalReplica(src), LocalReplica(dst), dirty, opts)
    sync(src, ref, opts)
    assert snapshot(dst) == snapshot(ref)


def test_only_the_named_folders_are_looked_at(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, random.Random(1))
    sync(src, dst)
    write(src, "d0/s0/f0.txt", b"changed", mtime=1_800_000_000)
    write(src, "d1/s1/f1.txt", b"changed too", mtime=1_800_000_000)
    report = sync_dirs(LocalReplica(src), LocalReplica(dst), [("d0/s0", False)])
    assert report.copied == 1
    assert (dst / "d0/s0/f0.txt").read_bytes() == b"changed"
    assert (dst / "d1/s1/f1.txt").read_bytes() != b"changed too"


def test_an_empty_source_stops_a_folder_sync_that_would_delete(tmp_path: Path) -> None:
    from syncline.core.errors import SafetyStop

    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a/f.txt", b"f")
    write(src, "g.txt", b"g")
    sync(src, dst)
    for p in (src / "a/f.txt", src / "g.txt"):
        p.unlink()
    (src / "a").rmdir()  # as an unmounted disk's mount point looks
    with pytest.raises(SafetyStop, match="source is empty"):
        sync_dirs(LocalReplica(src), LocalReplica(dst), [("", False)], SyncOptions(delete=True))
    assert (dst / "a/f.txt").exists() and (dst / "g.txt").exists()
    sync_dirs(LocalReplica(src), LocalReplica(dst), [("", False)], SyncOptions(delete=True, force=True))
    assert not (dst / "g.txt").exists()
