"""Applying an archive again, or resuming a killed apply, after it deleted folders or replaced one by a file:
nothing changes and nothing is reported (the deletes below a folder that is gone are done)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import syncline

from .cli_helpers import run
from .conftest import write
from .test_archive import contents, snapshot

T0 = 1_700_000_000


@pytest.fixture
def folder_deleting_archive(tmp_path: Path) -> tuple[Path, Path]:
    """(far tree, archive) where the archive deletes two nested folders and replaces a folder by a file."""
    office, far = tmp_path / "office", tmp_path / "far"
    for rel in ("keep/a.txt", "gone/a.txt", "gone/b.txt", "gone/sub/c.txt", "gone/sub/deeper/d.txt",
                "becomes-file/x.txt", "becomes-file/y/z.txt"):
        write(far, rel, rel, mtime=T0)
    for i in range(10):  # enough kept files to stay under the default --max-delete
        write(far, f"keep/k{i}.txt", "k", mtime=T0)
        write(office, f"keep/k{i}.txt", "k", mtime=T0)
    syncline.index(far, tmp_path / "far.slidx")
    write(office, "keep/a.txt", "keep/a.txt", mtime=T0)
    write(office, "becomes-file", "now a file", mtime=T0 + 5)
    archive = tmp_path / "delta.slar"
    made = syncline.archive(office, tmp_path / "far.slidx", archive, delete=True, max_delete=1.0)
    assert made.exit_code == 0 and made.deletes >= 9
    return far, archive


def test_applying_twice_after_a_folder_deletion_changes_and_reports_nothing(folder_deleting_archive) -> None:
    far, archive = folder_deleting_archive
    first = syncline.apply(archive, far)
    assert first.exit_code == 0, first.problems
    assert sorted(contents(far))[:3] == ["becomes-file", "keep", "keep/a.txt"] and not (far / "gone").exists()
    after_first = snapshot(far)
    again = syncline.apply(archive, far)
    assert again.exit_code == 0 and not again.problems, again.problems
    assert again.done.changed == 0
    assert snapshot(far) == after_first


def test_a_killed_apply_that_deleted_folders_resumes_cleanly(folder_deleting_archive, tmp_path: Path) -> None:
    far, archive = folder_deleting_archive
    reference = tmp_path / "reference"
    shutil.copytree(far, reference, symlinks=True)
    assert syncline.apply(archive, reference).exit_code == 0
    for n in range(1, 41):  # after each delete (deepest first), mkdir and metadata change
        target = tmp_path / f"far-{n}"
        shutil.copytree(far, target, symlinks=True)
        killed = run("apply", archive, target, env={"SYNCLINE_CRASH_AT": f"direct:{n}"})
        if killed.returncode == 0:
            assert n > 10  # at least the ten deletes were crash points
            break  # every crash point was tried: this run went through
        assert killed.returncode == -9, (n, killed.stderr)
        resumed = run("apply", archive, target)
        assert resumed.returncode == 0, (n, resumed.stdout, resumed.stderr)
        assert "parent is not a directory" not in resumed.stderr
        assert contents(target) == contents(reference), n
    else:
        pytest.fail("the apply passed more crash points than the test expects")
    assert contents(far) != contents(reference)  # the copies were made of the tree before any apply
