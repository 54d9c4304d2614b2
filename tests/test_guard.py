"""The one deletion guard (``core/guard.py``): table tests of the check, and each mode's stop, word for word."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import syncline
from syncline.core.entry import DIR, FILE, SYMLINK, Entry
from syncline.core.errors import SafetyStop
from syncline.core.guard import DEFAULT_MAX_DELETE, ONE_WAY, DeleteWording, check_deletes, files_of

from . import test_apply_safety
from .conftest import write
from .test_archive import T0


@pytest.mark.parametrize(("max_delete", "deletes", "files", "stops"), [
    (0.5, 0, 0, False),  # nothing to delete: never a stop, even in an empty tree
    (0.5, 1, 0, True),  # a fraction of no files allows none
    (0.5, 2, 4, False),  # exactly at the limit goes ahead
    (0.5, 3, 4, True),
    (1.0, 4, 4, False),  # --max-delete 100%
    (0, 0, 10, False),
    (0, 1, 10, True),
    (3, 3, 3, False),  # a count ignores the total
    (3, 4, 100, True),
])
def test_the_check_is_a_count_or_a_fraction(max_delete: int | float, deletes: int, files: int, stops: bool) -> None:
    assert (check_deletes(max_delete, deletes, files) is not None) is stops


def test_the_default_is_half_of_the_files() -> None:
    assert DEFAULT_MAX_DELETE == 0.5
    assert check_deletes(DEFAULT_MAX_DELETE, 5, 10) is None
    assert check_deletes(DEFAULT_MAX_DELETE, 6, 10) is not None


def test_the_stop_is_worded_by_the_mode() -> None:
    stop = check_deletes(0.5, 3, 4)
    assert isinstance(stop, SafetyStop)
    assert stop.message == "would delete 3 of 4 files, more than --max-delete (50% of the destination's files)"
    assert stop.hint == ONE_WAY.hint
    counted = check_deletes(2, 3, 4)
    assert counted is not None and counted.message == "would delete 3 of 4 files, more than --max-delete (2 files)"
    wording = DeleteWording("{deletes}/{files} in {where}: {limit}", "{share:.0%} of {files}", "go")
    braces = check_deletes(0.25, 2, 4, wording, where="/x/{odd}")  # a place is a value, never a template
    assert braces is not None and str(braces) == "2/4 in /x/{odd}: 25% of 4 (go)"


def test_folders_are_not_files() -> None:
    entries = {"a": Entry(FILE, 1, 0, 0o644), "d": Entry(DIR, 0, 0, 0o755),
               "l": Entry(SYMLINK, 1, 0, 0o777, target="a")}
    assert files_of(entries) == 2


# ------------------------------------------------------------------------------------- each mode's stop


def _message(exc: pytest.ExceptionInfo[SafetyStop]) -> str:
    return exc.value.message


def test_one_way_wording(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "keep", "k")
    for i in range(3):
        write(dst, f"old{i}", "x")
    with pytest.raises(SafetyStop) as stop:
        syncline.sync(src, dst, delete=True)
    assert _message(stop) == "would delete 3 of 3 files, more than --max-delete (50% of the destination's files)"
    with pytest.raises(SafetyStop) as stop:
        syncline.sync(src, dst, delete=True, max_delete=2)
    assert _message(stop) == "would delete 3 of 3 files, more than --max-delete (2 files)"
    assert stop.value.hint == "check the source; raise --max-delete or add --force to go ahead"


def test_two_way_wording(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(4):
        write(a, f"f{i}", str(i), mtime=T0)
    b.mkdir()
    syncline.sync(a, b, two_way=True)
    for i in range(3):
        (a / f"f{i}").unlink()
    with pytest.raises(SafetyStop) as stop:
        syncline.sync(a, b, two_way=True)
    assert _message(stop) == f"would delete 3 of 4 files in {b}, more than --max-delete (50% of its files)"
    assert stop.value.hint == "check the other side; raise --max-delete or add --force to go ahead"


far = test_apply_safety.far  # office, laptop and laptop's index: two equal trees of 4 files


def _delete_three(office: Path) -> None:
    for name in ("d/a.txt", "d/b.txt", "f.txt"):  # 3 of the far side's 4 files
        os.unlink(office / name)


def test_archive_wording(far: tuple[Path, Path, Path], tmp_path: Path) -> None:
    office, _laptop, idx = far
    _delete_three(office)
    with pytest.raises(SafetyStop) as stop:
        syncline.archive(office, idx, tmp_path / "d.slar", delete=True)
    assert _message(stop) == "the archive would delete 3 files on the far side, more than --max-delete " \
                             "(50% of its 4 files)"
    assert stop.value.hint == "check the source; raise --max-delete or add --force to go ahead"


def test_apply_wording_counts_the_files_there(far: tuple[Path, Path, Path], tmp_path: Path) -> None:
    office, laptop, idx = far
    _delete_three(office)
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out, delete=True, force=True)
    for i in range(2):  # made here since: counted among DIR's files, so 3 of 6 pass the default 50%
        write(laptop, f"new/n{i}", "n")
    with pytest.raises(SafetyStop) as stop:
        syncline.apply(out, laptop, max_delete=0.4)
    assert _message(stop) == f"the archive would delete 3 files in {laptop}, more than --max-delete " \
                             "(40% of its 6 files)"
    assert stop.value.hint == "check where the archive comes from; add --force (or --no-delete) to go ahead"
    with pytest.raises(SafetyStop) as stop:
        syncline.apply(out, laptop, max_delete=2)
    assert _message(stop) == f"the archive would delete 3 files in {laptop}, more than --max-delete (2 files)"
    assert syncline.apply(out, laptop).done.deleted == 3
