"""What apply reads of DIR: only the folders the archive's ops name (not the whole tree), and DIR's file
count only when a fractional ``--max-delete`` meets a deletion (a listing, no stat per entry)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import syncline
from syncline.core.guard import files_of
from syncline.core.scan import count_files, scan
from syncline.engine.offline.apply import running
from syncline.engine.replicas.local import LocalReplica

from .conftest import write

T0 = 1_600_000_000


@pytest.fixture
def far(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(office, laptop, the laptop's index): three zones of two folders each, the same on both sides."""
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    for root in (office, laptop):
        for z in range(3):
            for s in range(2):
                write(root, f"zone{z}/street{s}/plan.dwg", f"plan {z}{s}", mtime=T0)
        for folder in sorted(root.rglob("*"), reverse=True):
            if folder.is_dir():
                os.utime(folder, (T0, T0))  # the same folders on both sides: no op for them
    idx = tmp_path / "laptop.slidx"
    syncline.index(laptop, idx)
    return office, laptop, idx


def _heres(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``Here`` each planner is given, collected."""
    seen: list[Any] = []
    planner = running.Planner

    def spy(here: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(here)
        return planner(here, *args, **kwargs)

    monkeypatch.setattr(running, "Planner", spy)
    return seen


def _counts(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The roots whose files the guard counted."""
    counted: list[Path] = []

    def spy(root: Path) -> int:
        counted.append(root)
        return count_files(root)

    monkeypatch.setattr(running, "count_files", spy)
    return counted


def test_apply_lists_only_the_folders_its_ops_name(far: tuple[Path, Path, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    office, laptop, idx = far
    write(office, "zone1/street0/plan.dwg", "plan 10, revised", mtime=T0 + 60)
    write(office, "zone1/street0/new/notes.txt", "new", mtime=T0 + 60)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta)
    heres = _heres(monkeypatch)
    report = syncline.apply(delta, laptop)
    assert not report.errors and (laptop / "zone1/street0/new/notes.txt").read_text() == "new"
    [here] = heres
    assert sorted(here.index.entries) == ["zone0", "zone1", "zone1/street0", "zone1/street0/plan.dwg",
                                          "zone1/street1", "zone2"]


def test_a_removed_folder_is_scanned_whole(far: tuple[Path, Path, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    office, laptop, idx = far
    (office / "zone2/street1/plan.dwg").unlink()
    (office / "zone2/street1").rmdir()
    write(laptop, "zone2/street1/deeper/added here.txt", "mine", mtime=T0 + 60)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    heres = _heres(monkeypatch)
    report = syncline.apply(delta, laptop)
    [here] = heres
    assert "zone2/street1/deeper/added here.txt" in here.index.entries and "zone0/street0" not in here.index
    assert (laptop / "zone2/street1/deeper/added here.txt").read_text() == "mine" and report.kept == 1


@pytest.mark.parametrize(("max_delete", "counted"), [(0.5, True), (5, False)])
def test_the_files_are_counted_only_for_a_fractional_limit_that_meets_a_delete(
        far: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_delete: float,
        counted: bool) -> None:
    office, laptop, idx = far
    (office / "zone0/street0/plan.dwg").unlink()
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    counts = _counts(monkeypatch)
    syncline.apply(delta, laptop, max_delete=max_delete)
    assert counts == ([laptop] if counted else []) and not (laptop / "zone0/street0/plan.dwg").exists()


def test_an_archive_without_deletes_counts_nothing(far: tuple[Path, Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    office, laptop, idx = far
    write(office, "zone0/street0/plan.dwg", "plan 00, revised", mtime=T0 + 60)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    counts = _counts(monkeypatch)
    syncline.apply(delta, laptop)
    assert counts == []


def test_a_guard_stop_still_counts_every_file_of_dir(far: tuple[Path, Path, Path], tmp_path: Path) -> None:
    office, laptop, idx = far
    for z in range(3):
        for s in range(2):
            (office / f"zone{z}/street{s}/plan.dwg").unlink()
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True, force=True)
    with pytest.raises(syncline.SafetyStop, match=r"more than --max-delete \(50% of its 6 files\)"):
        syncline.apply(delta, laptop)


def test_the_count_is_what_a_scan_records(tmp_path: Path) -> None:
    root = tmp_path / "dir"
    write(root, "a.txt")
    write(root, "d/e/b.txt")
    write(root, "d/.syncline/not counted")
    write(root, ".syncline/snapshots/not counted either")
    (root / "empty").mkdir()
    os.symlink("a.txt", root / "d/link")
    os.symlink("nowhere", root / "dangling")
    os.mkfifo(root / "d/fifo")
    replica = LocalReplica(root)
    temp = replica.new_temp("d")
    write(root, temp, "half written")
    assert count_files(root) == files_of(scan(root).entries) == 4
    replica.close()
