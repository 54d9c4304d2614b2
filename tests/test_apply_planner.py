"""The apply planner as a pure function (indexes in, plan out: no folder needed), and the scan up front
that feeds it: what the index leaves out still keeps a folder from being deleted."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

import syncline
from syncline.core.entry import DIR, FILE, Entry
from syncline.core.errors import Problem
from syncline.core.index import Index
from syncline.engine.offline.apply import planner, running
from syncline.engine.offline.apply.planner import Here, Planned, Planner
from syncline.formats.archivefile import NONE, WHOLE, ArchiveHeader, ArchiveOp, IndexRef

from .conftest import write
from .test_archive import T0, contents

NS = 10**9
HEADER = ArchiveHeader(source=IndexRef("/src", "office", 1, bytes(32)),
                       against=IndexRef("/far", "laptop", 1, bytes(32)),
                       delete=True, compare="mtime", ops=0, content_bytes=0, created_ns=1)


def f(size: int = 3, mtime: int = T0, mode: int = 0o644, file_id: int = 0) -> Entry:
    return Entry(FILE, size, mtime * NS, mode, file_id=file_id)


def d(mtime: int = T0, mode: int = 0o755) -> Entry:
    return Entry(DIR, 0, mtime * NS, mode)


def plan(entries: dict[str, Entry], ops: list[ArchiveOp], *, staged: tuple[str, ...] = (),
         in_place: dict[str, Entry] | None = None, delete: bool = True, dry_run: bool = False,
         unlisted: frozenset[str] = frozenset(), unreadable: frozenset[str] = frozenset(),
         problems: tuple[Problem, ...] = ()) -> Planned:
    here = Here(Index(entries, unreadable=unreadable, problems=problems), d(), unlisted=unlisted)
    return Planner(here, HEADER, staged, in_place or {}, set(), delete=delete, dry_run=dry_run).plan(ops)


def acts(planned: Planned) -> list[tuple[str, str]]:
    return [(a.op, a.path) for a in planned.plan.actions]


def test_an_update_as_expected_is_a_copy_that_expects_what_the_scan_saw() -> None:
    here = f(file_id=7)
    out = plan({"a": here}, [ArchiveOp("a", f(), f(size=5, mtime=T0 + 1), WHOLE)], staged=("a",))
    assert acts(out) == [("copy", "a")]
    assert out.plan.actions[0].expect == here
    assert (out.already, out.kept, out.conflicts, out.problems) == (0, 0, [], [])


def test_a_file_changed_here_stays_and_the_incoming_one_lands_beside_it() -> None:
    out = plan({"a.txt": f(mtime=T0 + 5)}, [ArchiveOp("a.txt", f(), f(size=5, mtime=T0 + 1), WHOLE)],
               staged=("a.txt",))
    [(path, copy)] = out.conflicts
    assert path == "a.txt" and copy.startswith("a.sync-conflict-") and copy.endswith("-office.txt")
    assert acts(out) == [("copy", copy)]
    assert out.content == {copy: "a.txt"}  # the copy takes the staged file of a.txt


def test_what_is_already_there_is_counted_not_planned() -> None:
    out = plan({"a": f(size=5, mtime=T0 + 1)}, [ArchiveOp("a", f(), f(size=5, mtime=T0 + 1), NONE),
                                               ArchiveOp("gone", f(), None)])
    assert acts(out) == [] and out.already == 2


def test_no_delete_counts_what_it_leaves() -> None:
    out = plan({"a": f()}, [ArchiveOp("a", f(), None)], delete=False)
    assert acts(out) == [] and out.not_deleted == 1


def test_deletes_go_children_first_after_the_creates() -> None:
    entries = {"d": d(), "d/x": f(), "d/y": f()}
    ops = [ArchiveOp("d", d(), None), ArchiveOp("d/x", f(), None), ArchiveOp("d/y", f(), None),
           ArchiveOp("n", None, f(), WHOLE)]
    assert acts(plan(entries, ops, staged=("n",))) == [("copy", "n"), ("delete", "d/y"), ("delete", "d/x"),
                                                       ("delete", "d")]


@pytest.mark.parametrize("hidden", ["d/.syncline", "d/fifo", "d/.syncline-tmp-0123456789abcdef-1"])
def test_a_folder_holding_what_the_index_leaves_out_is_not_deleted(hidden: str) -> None:
    entries = {"d": d(), "d/x": f()}
    out = plan(entries, [ArchiveOp("d", d(), None), ArchiveOp("d/x", f(), None)], unlisted=frozenset({hidden}))
    assert acts(out) == [("delete", "d/x")]
    assert out.kept == 1 and "holds entries added here" in out.problems[0].message


def test_a_folder_the_scan_could_not_list_is_held_and_nothing_below_it_is_applied() -> None:
    entries = {"d": d(), "e": d(), "e/x": f()}
    listing = Problem("d", "cannot list directory: Permission denied", "destination", errno=errno.EACCES)
    out = plan(entries, [ArchiveOp("d", d(), None), ArchiveOp("d/x", f(), None), ArchiveOp("e", d(), None),
                         ArchiveOp("e/x", f(), None)], unreadable=frozenset({"d"}), problems=(listing,))
    assert acts(out) == [("delete", "e/x"), ("delete", "e")]
    assert [(p.path, p.message) for p in out.problems if p.error] == [
        ("d/x", f"not applied: cannot read what is here ({os.strerror(errno.EACCES)})")]
    assert out.kept == 1  # d: it may hold anything


def test_a_dry_run_plans_as_if_everything_were_staged() -> None:
    ops = [ArchiveOp("n", None, f(), WHOLE)]
    assert acts(plan({}, ops)) == []  # really run, nothing staged: not applied
    assert acts(plan({}, ops, dry_run=True)) == [("copy", "n")]


# ------------------------------------------------------------------------------ the scan feeding it


@pytest.fixture
def far(tmp_path: Path) -> tuple[Path, Path, Path]:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    for name in ("d/a.txt", "d/b.txt", "f.txt", "k1", "k2", "k3"):
        write(office, name, name.encode(), mtime=T0)
    shutil.copytree(office, laptop)
    idx = tmp_path / "laptop.slidx"
    syncline.index(laptop, idx)
    return office, laptop, idx


def test_a_folder_holding_a_nested_syncline_folder_or_a_fifo_is_kept(far, tmp_path: Path) -> None:
    office, laptop, idx = far
    shutil.rmtree(office / "d")
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out, delete=True)
    (laptop / "d/.syncline").mkdir()
    write(laptop, "d/.syncline/snapshots/catalog.jsonl", "{}")
    report = syncline.apply(out, laptop)
    assert (laptop / "d/.syncline/snapshots/catalog.jsonl").exists()
    assert report.exit_code == 0 and report.kept == 1 and report.done.deleted == 2
    shutil.rmtree(laptop / "d/.syncline")
    os.mkfifo(laptop / "d/pipe")
    again = syncline.apply(out, laptop)
    assert (laptop / "d/pipe").exists() and again.exit_code == 0 and again.kept == 1


def test_the_scan_comes_after_staging(far, monkeypatch: pytest.MonkeyPatch) -> None:
    office, laptop, idx = far
    write(office, "f.txt", b"F.TXT", mtime=T0 + 10)
    write(laptop, "f.txt", b"F.TXT", mtime=T0 + 20)  # the far side already has the content
    real_stage = running.verify_and_stage

    def stage_then_edit(*args, **kw):  # type: ignore[no-untyped-def]
        verified = real_stage(*args, **kw)
        write(laptop, "f.txt", b"EDIT!", mtime=T0 + 30)  # same size, saved before DIR is scanned
        return verified

    monkeypatch.setattr(running, "verify_and_stage", stage_then_edit)
    seen: list[Here] = []
    real_init = planner.Planner.__init__

    def keep_here(self, here, *args, **kw):  # type: ignore[no-untyped-def]
        seen.append(here)
        real_init(self, here, *args, **kw)

    monkeypatch.setattr(planner.Planner, "__init__", keep_here)
    syncline.apply(_archive(office, idx), laptop)
    seen_f = seen[0].at("f.txt")
    assert seen_f is not None and seen_f.mtime_ns == (T0 + 30) * NS  # the planner saw the edit
    assert (laptop / "f.txt").read_bytes() == b"EDIT!"
    assert (laptop / "f.txt").stat().st_mtime_ns == (T0 + 30) * NS


def _archive(office: Path, idx: Path) -> Path:
    out = office.parent / "d.slar"
    syncline.archive(office, idx, out, delete=True)
    return out


def test_contents_unchanged_by_a_dry_run(far, tmp_path: Path) -> None:
    office, laptop, idx = far
    write(office, "n.txt", b"new", mtime=T0 + 10)
    before = contents(laptop)
    report = syncline.apply(_archive(office, idx), laptop, dry_run=True)
    assert contents(laptop) == before and ("copy", "n.txt") in [(a.op, a.path) for a in report.done.plan.actions]
