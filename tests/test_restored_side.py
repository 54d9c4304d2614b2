"""A side restored from an older backup halts the pair instead of rolling the other side back (issue 11,
point 5).

The star of the issue: a hub H synced with two spokes; H is copied back from a backup made with ``cp -a``
(``.syncline`` and all) after newer versions had gone through it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import syncline
from syncline.core.errors import SafetyStop
from syncline.core.paths import META_DIR

from .cli_helpers import run
from .conftest import write

pytestmark = pytest.mark.timeout(120)

T0 = 1_700_000_000


def two_way(a: Path, b: Path, **kw: object) -> syncline.TwoWayReport:
    report = syncline.sync(a, b, two_way=True, **kw)  # type: ignore[call-overload]
    assert isinstance(report, syncline.TwoWayReport)
    assert report.exit_code == 0, report.problems
    return report


def trash_files(root: Path) -> list[str]:
    trash = root / META_DIR / "trash"
    return sorted(str(p.relative_to(trash)) for p in trash.rglob("*") if p.is_file()) if trash.exists() else []


@pytest.fixture
def star(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """(hub, spoke 1, spoke 2, backup of the hub taken before newer versions went through it)."""
    hub, s1, s2 = tmp_path / "hub", tmp_path / "s1", tmp_path / "s2"
    write(hub, "doc.txt", "v1", mtime=T0)
    write(hub, "notes/a.txt", "a1", mtime=T0)
    for s in (s1, s2):
        s.mkdir()
        two_way(hub, s)
    backup = tmp_path / "backup"
    subprocess.run(["cp", "-a", str(hub), str(backup)], check=True)
    write(s1, "doc.txt", "v2 from s1", mtime=T0 + 100)
    two_way(hub, s1)
    two_way(hub, s2)
    write(s2, "notes/b.txt", "b from s2", mtime=T0 + 200)
    two_way(hub, s2)
    two_way(hub, s1)
    assert (s1 / "notes/b.txt").read_text() == "b from s2"
    return hub, s1, s2, backup


def restore(hub: Path, backup: Path) -> None:
    shutil.rmtree(hub)
    subprocess.run(["cp", "-a", str(backup), str(hub)], check=True)


def test_a_side_restored_from_an_older_backup_halts_the_pair(star: tuple[Path, Path, Path, Path]) -> None:
    hub, s1, s2, backup = star
    restore(hub, backup)
    for spoke in (s1, s2):
        trashed = trash_files(spoke)
        with pytest.raises(SafetyStop, match="restored from an older backup") as info:
            syncline.sync(hub, spoke, two_way=True)
        assert "--force" in info.value.hint
        # Nothing changed on either side: the newer versions stay, nothing went to the trash.
        assert (spoke / "doc.txt").read_text() == "v2 from s1"
        assert (spoke / "notes/b.txt").read_text() == "b from s2"
        assert trash_files(spoke) == trashed
    assert (hub / "doc.txt").read_text() == "v1" and not (hub / "notes/b.txt").exists()
    done = run("sync", "--two-way", hub, s1)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("syncline: error: ") and "--force" in done.stderr
    # Either order of the roots names the restored one.
    with pytest.raises(SafetyStop, match=str(hub)):
        syncline.sync(s2, hub, two_way=True)


def test_force_takes_the_restored_side_as_the_truth(star: tuple[Path, Path, Path, Path]) -> None:
    hub, s1, _, backup = star
    restore(hub, backup)
    trashed = trash_files(s1)
    report = two_way(hub, s1, force=True)
    assert any("restored" in n for n in report.notices)
    assert (s1 / "doc.txt").read_text() == "v1"  # the restored version wins
    new_in_trash = set(trash_files(s1)) - set(trashed)
    assert any(p.endswith("doc.txt") for p in new_in_trash)  # the newer one is in s1's trash
    assert not (s1 / "notes/b.txt").exists() and any(p.endswith("b.txt") for p in new_in_trash)
    two_way(hub, s1)  # and the pair runs on as usual


def test_runs_in_any_order_across_a_star_never_halt(tmp_path: Path) -> None:
    hub, s1, s2 = tmp_path / "hub", tmp_path / "s1", tmp_path / "s2"
    write(hub, "f.txt", "0", mtime=T0)
    s1.mkdir()
    s2.mkdir()
    for step, (spoke, other) in enumerate([(s1, s2), (s2, s1), (s2, s1), (s1, s2), (s1, s2), (s2, s1)]):
        write(spoke, f"from-{spoke.name}-{step}.txt", str(step), mtime=T0 + step)
        two_way(hub, spoke)
        two_way(other, hub)
        two_way(hub, spoke)  # a run with nothing to do
    assert sorted(os.listdir(s1)) == sorted(os.listdir(s2)) == sorted(os.listdir(hub))


def test_a_spoke_restored_from_a_backup_of_the_same_generation_is_no_restore(tmp_path: Path) -> None:
    """A backup taken after the last run holds everything the base knows: restoring it is an ordinary
    change (the user's own edits since are rolled back on that side, as they asked)."""
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "f.txt", "v1", mtime=T0)
    b.mkdir()
    two_way(a, b)
    subprocess.run(["cp", "-a", str(b), str(tmp_path / "backup")], check=True)
    write(b, "f.txt", "edited", mtime=T0 + 5)
    restore(b, tmp_path / "backup")
    two_way(a, b)
    assert (a / "f.txt").read_text() == (b / "f.txt").read_text() == "v1"
