"""Unreadable source files and folders in ``archive`` and ``snapshot``: left out, named, exit 1; the rest is
written as usual."""

from __future__ import annotations

import json
import os
from pathlib import Path

import syncline
from syncline.formats.archivefile import open_archive
from syncline.formats.indexfile import load_index

from .cli_helpers import NOBODY, give_to, run
from .conftest import write
from .unreadable import run_with_unreadable

T0 = 1_700_000_000


def _archive_paths(path: Path) -> list[str]:
    fh, reader = open_archive(path)
    with fh:
        return [op.path for op, _ in reader]


def test_archive_leaves_out_a_file_that_fails_to_read_and_names_it(tmp_path: Path) -> None:
    far, office = tmp_path / "far", tmp_path / "office"
    write(far, "same.txt", "same", mtime=T0)
    write(far, "bad-old.bin", "old", mtime=T0)
    for rel, data in (("same.txt", "same"), ("new.txt", "new"), ("bad-old.bin", "changed"), ("bad-new.bin", "x"),
                      ("sub/more.txt", "more")):
        write(office, rel, data, mtime=T0 if rel == "same.txt" else T0 + 10)
    syncline.index(far, tmp_path / "far.slidx")
    out = tmp_path / "d.slar"
    proc = run_with_unreadable([office / "bad-old.bin", office / "bad-new.bin"],
                               "archive", office, "--against", tmp_path / "far.slidx", "-o", out,
                               env={"SYNCLINE_STATE_DIR": str(tmp_path / "state")})
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "bad-old.bin: cannot read: Input/output error; left out" in proc.stderr
    assert "bad-new.bin: cannot read: Input/output error; left out" in proc.stderr
    assert _archive_paths(out) == ["new.txt", "sub", "sub/more.txt"]
    report = syncline.apply(out, far)
    assert not report.errors
    assert (far / "new.txt").read_text() == "new" and (far / "sub/more.txt").read_text() == "more"
    assert (far / "bad-old.bin").read_text() == "old"  # left as it was
    assert not (far / "bad-new.bin").exists()


def test_snapshot_reports_a_file_that_fails_to_read_like_index(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "ok.txt", "ok")
    write(root, "bad.bin", "x")
    env = {"SYNCLINE_STATE_DIR": str(tmp_path / "state")}
    indexed = run_with_unreadable([root / "bad.bin"], "index", root, "-o", tmp_path / "i.slidx", env=env)
    snap = run_with_unreadable([root / "bad.bin"], "snapshot", root, env=env)
    assert indexed.returncode == 1 and "bad.bin: cannot read: Input/output error" in indexed.stderr
    assert snap.returncode == 1, (snap.stdout, snap.stderr)
    assert "Traceback" not in snap.stderr
    assert "syncline: error: bad.bin: cannot read: Input/output error" in snap.stderr
    (taken,) = syncline.log(root)
    assert "bad.bin" in load_index(taken.path(root)).unreadable


def test_snapshot_reports_unreadable_files_and_folders_and_exits_1(shared_base: Path) -> None:
    root = shared_base / "root"
    write(root, "ok.txt", "ok")
    write(root, "locked/inside.txt", "secret")
    write(root, "noread.txt", "no")
    give_to(shared_base, NOBODY)
    os.chmod(root / "locked", 0)
    os.chmod(root / "noread.txt", 0)
    env = {"SYNCLINE_STATE_DIR": str(shared_base / "state")}
    proc = run("snapshot", root, "--json", user=NOBODY, env=env)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "syncline: error: locked: cannot list directory: Permission denied" in proc.stderr
    assert "syncline: error: noread.txt: cannot read: Permission denied" in proc.stderr
    assert sorted(json.loads(proc.stdout)["errors"]) == ["locked: cannot list directory: Permission denied",
                                                         "noread.txt: cannot read: Permission denied"]
    (taken,) = syncline.log(root)
    assert "errors" not in (root / ".syncline/snapshots/catalog.jsonl").read_text()
    assert {"locked", "noread.txt"} <= load_index(taken.path(root)).unreadable
