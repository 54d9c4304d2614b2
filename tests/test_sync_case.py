"""One-way sync onto a case-insensitive target (a case-insensitive ``MemoryReplica``): of the source's
names that differ only in case, one is synced (the one the target holds, else the first in byte order),
each other one is left out with a "case clash" error, nothing at the target is written twice or deleted
for them, and a second run plans nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncline.engine.oneway import SyncOptions, sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.report import Report
from syncline.testing import MemoryReplica

from .conftest import write

T0 = 1_700_000_000
S = 10**9


def sync(src: Path, target: MemoryReplica) -> Report:
    source = LocalReplica(src)
    try:
        return sync_replicas(source, target, SyncOptions(delete=True))
    finally:
        source.close()


def files(target: MemoryReplica) -> dict[str, bytes]:
    return {p: target.read(p) for p in target.paths() if target.stat(p).kind == "file"}  # type: ignore[union-attr]


def clashes(report: Report) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in report.errors if "case clash" in p.message]


def test_two_files_that_differ_in_case_sync_as_one_with_an_error_for_the_other(src: Path) -> None:
    write(src, "A.txt", "upper", mtime=T0)
    write(src, "a.txt", "lower", mtime=T0)
    write(src, "b.txt", "bee", mtime=T0)
    target = MemoryReplica("nocase", case_sensitive=False)
    first = sync(src, target)
    assert files(target) == {"A.txt": b"upper", "b.txt": b"bee"}
    assert [path for path, _ in clashes(first)] == ["A.txt"] and "'a.txt'" in clashes(first)[0][1]
    assert "rename one of them" in clashes(first)[0][1] and first.exit_code == 1
    assert first.copied == 2 and not first.trashed and not target.trash
    for _ in range(2):
        again = sync(src, target)
        assert again.plan is not None and again.plan.actions == (), again.plan
        assert clashes(again) == clashes(first) and files(target) == {"A.txt": b"upper", "b.txt": b"bee"}
    assert (src / "A.txt").read_text() == "upper" and (src / "a.txt").read_text() == "lower"


def test_the_name_the_target_holds_is_the_one_synced(src: Path) -> None:
    write(src, "A.txt", "upper", mtime=T0)
    write(src, "a.txt", "lower, edited", mtime=T0 + 10)
    target = MemoryReplica("nocase", case_sensitive=False)
    target.put_file("a.txt", b"lower", T0 * S)
    report = sync(src, target)
    assert [path for path, _ in clashes(report)] == ["a.txt"] and "'A.txt'" in clashes(report)[0][1]
    assert files(target) == {"a.txt": b"lower, edited"} and report.copied == 1
    assert [t.data for t in target.trash] == [b"lower"]  # the replaced version, as any overwrite
    again = sync(src, target)
    assert again.plan is not None and again.plan.actions == ()


def test_two_folders_that_differ_in_case_sync_as_one_and_nothing_below_is_lost(src: Path) -> None:
    write(src, "Docs/x.txt", "upper x", mtime=T0)
    write(src, "docs/y.txt", "lower y", mtime=T0)
    write(src, "docs/x.txt", "lower x", mtime=T0)
    target = MemoryReplica("nocase", case_sensitive=False)
    first = sync(src, target)
    assert files(target) == {"Docs/x.txt": b"upper x"}
    assert [path for path, _ in clashes(first)] == ["Docs"]  # one error: the folder, not each file below
    again = sync(src, target)
    assert again.plan is not None and again.plan.actions == () and files(target) == {"Docs/x.txt": b"upper x"}


def test_what_the_target_holds_for_a_name_left_out_is_not_deleted(src: Path) -> None:
    # The target was synced when the source had docs/x.txt and docs/y.txt; then x.txt moved to a new
    # folder Docs, which clashes with docs. The target's docs (its copy of both) is kept whole.
    write(src, "Docs/x.txt", "x", mtime=T0)
    write(src, "docs/y.txt", "y", mtime=T0)
    target = MemoryReplica("nocase", case_sensitive=False)
    target.put_file("docs/x.txt", b"x", T0 * S)
    target.put_file("docs/y.txt", b"y", T0 * S)
    for _ in range(2):
        report = sync(src, target)
        assert [path for path, _ in clashes(report)] == ["docs"]
        assert report.deleted == 0 and not target.trash, report.plan
        assert files(target) == {"docs/x.txt": b"x", "docs/y.txt": b"y"}


def test_a_case_sensitive_target_takes_both_names(src: Path) -> None:
    write(src, "A.txt", "upper", mtime=T0)
    write(src, "a.txt", "lower", mtime=T0)
    target = MemoryReplica("case")
    report = sync(src, target)
    assert not report.errors and files(target) == {"A.txt": b"upper", "a.txt": b"lower"}


def test_a_name_the_target_holds_in_another_case_is_updated_in_place_never_deleted(src: Path) -> None:
    write(src, "Report.pdf", "v1", mtime=T0)
    write(src, "Docs/notes.txt", "notes", mtime=T0)
    target = MemoryReplica("nocase", case_sensitive=False)
    target.put_dir("docs")
    target.put_file("report.pdf", b"v1", T0 * S)
    target.put_file("docs/notes.txt", b"notes", T0 * S)
    first = sync(src, target)  # the folders' mtimes are given; nothing is copied or deleted
    assert first.plan is not None and {a.op for a in first.plan.actions} <= {"meta"}, first.plan
    assert not first.copied and not first.deleted and not first.errors and not target.trash
    write(src, "Report.pdf", "v2, longer", mtime=T0 + 10)
    second = sync(src, target)
    assert second.copied == 1 and not second.deleted and not second.errors
    # One file, in either spelling (a replace by rename may take the new one, as on APFS); what the target
    # held before went to its trash with the replace, nothing else.
    assert {p.casefold(): data for p, data in files(target).items()} == {"report.pdf": b"v2, longer",
                                                                         "docs/notes.txt": b"notes"}
    assert [t.data for t in target.trash] in ([], [b"v1"])
    again = sync(src, target)
    assert again.plan is not None and again.plan.actions == (), again.plan


def test_a_local_destination_that_ignores_case_is_asked_and_planned_for(src: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # No case-insensitive file system here: the probe is told this destination is one (as a FAT stick's
    # would find), and the one-way run of two folders plans for it: one name synced, the other an error.
    from syncline.engine import marker, oneway

    dst = tmp_path / "stick"
    dst.mkdir()
    asked: list[tuple[Path, bool]] = []

    def insensitive(root: Path, *, probe: bool = True) -> bool:
        asked.append((root, probe))
        return root == dst

    monkeypatch.setattr(marker, "case_insensitive", insensitive)
    write(src, "A.txt", "upper", mtime=T0)
    write(src, "a.txt", "lower", mtime=T0)
    dry = oneway.sync(src, dst, SyncOptions(dry_run=True))
    assert asked == [(dst, False)]  # a dry run writes no probe file
    assert [path for path, _ in clashes(dry)] == ["A.txt"]
    report = oneway.sync(src, dst, SyncOptions(delete=True))
    assert asked[-1] == (dst, True)
    assert [path for path, _ in clashes(report)] == ["A.txt"] and report.copied == 1
    assert sorted(p.name for p in dst.iterdir()) == ["A.txt"]
    assert (src / "a.txt").read_text() == "lower"  # the source keeps both, always


def test_a_case_sensitive_disk_is_not_taken_for_a_case_insensitive_one_by_links(tmp_path: Path) -> None:
    from syncline.engine.marker import case_insensitive

    linked = tmp_path / "symlinked"
    write(linked, "ABC", "x")
    os.symlink("ABC", linked / "abc")  # one file reached by both spellings, through a symlink: two names
    assert case_insensitive(linked, probe=False) is False
    hard = tmp_path / "hard"
    write(hard, "ABC", "x")
    os.link(hard / "ABC", hard / "abc")  # the same inode under both spellings: tells nothing, so it probes
    assert case_insensitive(hard, probe=True) is False
    assert sorted(p.name for p in hard.iterdir()) == ["ABC", "abc"]  # the probe left no trace
    plain = tmp_path / "plain"
    write(plain, "Docs/a.txt", "x")
    assert case_insensitive(plain, probe=False) is False
