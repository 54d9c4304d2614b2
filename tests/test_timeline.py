"""The timeline: snapshots in a folder's catalog, references to them, diffs, and deltas since a snapshot."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

import syncline
from syncline.core.errors import UsageError
from syncline.engine.timeline import catalog, resolve, take_snapshot

from .cli_helpers import run
from .conftest import write
from .test_archive import contents

T0 = 1_700_000_000


def evolve(root: Path, step: int) -> None:
    """The changes between snapshot ``step`` and ``step + 1``."""
    if step == 1:
        write(root, "docs/b.txt", b"b v2", mtime=T0 + 100)
        write(root, "docs/new.txt", b"new in 2", mtime=T0 + 101)
    elif step == 2:
        os.unlink(root / "docs/a.txt")
        write(root, "pics/p2.jpg", b"p2" * 500, mtime=T0 + 200)
        os.rename(root / "pics/p1.jpg", root / "pics/p1-renamed.jpg")
    elif step == 3:
        shutil.rmtree(root / "old")
        write(root, "docs/b.txt", b"b v4, longer", mtime=T0 + 300)
        os.symlink("docs/b.txt", root / "shortcut")


@pytest.fixture
def timeline(tmp_path: Path) -> tuple[Path, dict[int, Path]]:
    """A folder with four labelled snapshots s1..s4, and a copy of the tree as it was at each."""
    root = tmp_path / "folder"
    write(root, "docs/a.txt", b"a", mtime=T0)
    write(root, "docs/b.txt", b"b", mtime=T0)
    write(root, "pics/p1.jpg", b"p1" * 1000, mtime=T0)
    write(root, "old/x.txt", b"x", mtime=T0)
    copies: dict[int, Path] = {}
    for step in range(1, 5):
        if step > 1:
            evolve(root, step - 1)
        take_snapshot(root, f"s{step}")
        copies[step] = tmp_path / f"copy{step}"
        shutil.copytree(root, copies[step], symlinks=True, ignore=shutil.ignore_patterns(".syncline"))
    return root, copies


def test_log_lists_the_snapshots_with_their_changes(timeline) -> None:
    root, _ = timeline
    snaps = catalog(root)
    assert [s.label for s in snaps] == ["s1", "s2", "s3", "s4"]
    assert snaps[0].changes == {} and snaps[0].files == 4
    assert snaps[1].changes == {"added": 1, "modified": 1}
    assert snaps[2].changes == {"added": 1, "deleted": 1, "moved": 1}
    out = run("log", root)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert len(lines) == 4 and "s1" in lines[0] and "first snapshot" in lines[0]
    assert "1 added, 1 modified" in lines[1]
    assert json.loads(run("log", root, "--json").stdout)[3]["label"] == "s4"


@pytest.mark.parametrize("old, new", [(1, 2), (1, 3), (1, 4), (2, 4), (3, 4), (4, 1)])
def test_diff_between_any_two_snapshots(timeline, old: int, new: int) -> None:
    root, copies = timeline
    got = syncline.diff(f"{root}@s{old}", f"{root}@s{new}")
    want = syncline.diff(copies[old], copies[new])
    assert [(c.kind, c.path) for c in got] == [(c.kind, c.path) for c in want]
    assert not got.equal
    cli = run("diff", f"{root}@s{old}", f"{root}@s{new}")
    assert cli.returncode == 1 and cli.stdout.splitlines()[-1] != "no differences"


def test_diff_of_a_snapshot_and_now(timeline) -> None:
    root, _ = timeline
    assert syncline.diff(f"{root}@latest", root).equal
    write(root, "docs/after.txt", b"after", mtime=T0 + 900)
    changes = syncline.diff(f"{root}@s4", root)
    assert [(c.kind, c.path) for c in changes] == [("added", "docs/after.txt")]


def test_an_archive_since_snapshot_1_brings_a_copy_at_1_to_snapshot_4(timeline, tmp_path: Path) -> None:
    root, copies = timeline
    out = tmp_path / "since1.slar"
    made = run("archive", root, "--since", "s1", "-o", out, "--delete", "--max-delete", "100%")
    assert made.returncode == 0, made.stderr
    far = tmp_path / "far"
    shutil.copytree(copies[1], far, symlinks=True)
    applied = run("apply", out, far, "--max-delete", "100%")
    assert applied.returncode == 0, applied.stderr
    assert contents(far) == contents(copies[4])


def test_sync_since_applies_the_delta_directly(timeline, tmp_path: Path) -> None:
    root, copies = timeline
    far = tmp_path / "far"
    shutil.copytree(copies[2], far, symlinks=True)
    write(far, "docs/far-only.txt", b"made on the far copy", mtime=T0 + 50)
    result = run("sync", root, far, "--since", "s2", "--delete", "--max-delete", "100%")
    assert result.returncode == 0, result.stderr
    got = contents(far)
    assert got.pop("docs/far-only.txt") == ("file", b"made on the far copy")
    assert got == contents(copies[4])
    again = run("sync", root, far, "--since", "s2", "--delete", "--max-delete", "100%", "--json")
    assert json.loads(again.stdout)["copied"] == 0


def test_references_by_date_and_name(timeline) -> None:
    root, _ = timeline
    snaps = catalog(root)
    today = time.strftime("%Y-%m-%d")
    assert resolve(root, today) == snaps[-1]
    assert resolve(root, "latest") == snaps[-1]
    assert resolve(root, snaps[1].file) == snaps[1]
    assert resolve(root, snaps[1].file.removesuffix(".slidx")) == snaps[1]
    with pytest.raises(UsageError, match="no snapshot as old as"):
        resolve(root, "1999-01-01")
    with pytest.raises(UsageError, match="no snapshot 'nope'"):
        resolve(root, "nope")
    bad = run("diff", f"{root}@nope", root)
    assert bad.returncode == 2 and "syncline log" in bad.stderr


def test_a_label_that_reads_as_a_date_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "f", "a", b"a")
    for label in ("2026-08-15", "latest", "a/b", "x@y"):
        with pytest.raises(UsageError):
            take_snapshot(tmp_path / "f", label)
    assert catalog(tmp_path / "f") == []


def test_snapshots_reuse_digests_and_are_not_scanned_as_content(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write(root, "a", b"a" * 100, mtime=T0)
    take_snapshot(root, "one")
    second = run("snapshot", root, "--label", "two")
    assert second.returncode == 0 and "no changes" in second.stdout
    # The catalog lives in .syncline, which no scan sees: a sync of the folder does not copy it.
    other = tmp_path / "copy"
    syncline.sync(root, other)
    assert not (other / ".syncline").exists()


def test_the_python_api_covers_the_timeline(tmp_path: Path) -> None:
    root, far = tmp_path / "f", tmp_path / "far"
    write(root, "a.txt", b"a", mtime=T0)
    first = syncline.snapshot(root, "start")
    shutil.copytree(root, far, ignore=shutil.ignore_patterns(".syncline"))
    write(root, "b.txt", b"b", mtime=T0)
    syncline.snapshot(root, "next")
    assert [s.label for s in syncline.log(root)] == ["start", "next"] and first.files == 1
    assert [c.path for c in syncline.diff(f"{root}@start", f"{root}@next")] == ["b.txt"]
    report = syncline.sync_since(root, far, "start")
    assert report.done.copied == 1 and (far / "b.txt").read_bytes() == b"b"
    made = syncline.archive(root, f"{root}@start", tmp_path / "d.slar")
    assert made.files == 1
