"""Projecting indexes onto what a target can keep: table tests of the pure step, and syncs into a target
that stores 2 s mtimes, no permissions and no symlinks (a FAT-like wrapper of a LocalReplica)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from syncline.core.entry import DIR, FILE, SYMLINK, Attrs, Compare, CompareMode, Entry, Keep
from syncline.core.index import Index
from syncline.core.oneway import mirror
from syncline.core.plan import Action, Plan
from syncline.core.project import (
    DEFAULT_MODES,
    NO_SYMLINKS,
    Keeps,
    case_clash,
    effective_compare,
    effective_keep,
    fold_case,
    give_modes,
    no_symlinks,
    project,
    project_index,
    project_pair,
    respell,
)
from syncline.core.reconcile import ReconcilePolicy, reconcile
from syncline.engine.oneway import SyncOptions, sync_dirs, sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import Features, SourceFile, Staged

from .conftest import write

S = 10**9
T0 = 1_600_000_000 * S
FAT = 2 * S


def f(mtime: int = T0, mode: int = 0o640) -> Entry:
    return Entry(FILE, 3, mtime, mode)


def d(mtime: int = T0, mode: int = 0o750) -> Entry:
    return Entry(DIR, 0, mtime, mode)


LINK = Entry(SYMLINK, 1, T0 + S // 2, 0o777, target="t")

# (name, entry, precision, symlinks, permissions, the entry as the target stores it; None: not kept)
INDEX_CASES = [
    ("ns target keeps all", f(T0 + 1), 1, True, True, f(T0 + 1)),
    ("1 s truncates", f(T0 + S - 1), S, True, True, f(T0)),
    ("2 s truncates to the even second", f(T0 + 3 * S + 5), FAT, True, True, f(T0 + 2 * S)),
    ("2 s keeps an even second", f(T0 + 2 * S), FAT, True, True, f(T0 + 2 * S)),
    ("before 1970 truncates down", f(-S - 1), S, True, True, f(-2 * S)),
    ("no permissions: no mode bits", f(mode=0o600), 1, True, False, f(mode=0)),
    ("a dir: no mode bits, truncated", d(T0 + 1), FAT, True, False, d(T0, mode=0)),
    ("a symlink stays where it can", LINK, 1, True, True, LINK),
    ("a symlink's mtime truncates", LINK, S, True, True, LINK._replace(mtime_ns=T0)),
    ("no symlinks: dropped", LINK, 1, False, True, None),
]


@pytest.mark.parametrize(("name", "entry", "precision", "symlinks", "permissions", "want"), INDEX_CASES,
                         ids=[c[0] for c in INDEX_CASES])
def test_an_entry_as_the_target_stores_it(name: str, entry: Entry, precision: int, symlinks: bool,
                                           permissions: bool, want: Entry | None) -> None:
    got = project_index(Index({"p": entry}), mtime_ns_precision=precision, symlinks=symlinks,
                        permissions=permissions)
    assert got.entries.get("p") == want


def test_a_target_that_keeps_everything_gets_the_same_objects() -> None:
    src, dst = Index({"a": f(T0 + 1)}), Index({"a": f()})
    compare, keep = Compare(), Keep(owner=True, group=True)
    fit = project(src, dst, compare, keep, mtime_ns_precision=1, symlinks=True, permissions=True, owner=True)
    assert fit.source is src and fit.target is dst and fit.compare is compare and fit.keep is keep


def test_the_root_and_the_header_are_projected_and_kept() -> None:
    src = Index({"a": f()}, root=d(T0 + 1, 0o700), temp_files=("t",), hard_links={"b": "a"})
    got = project_index(src, mtime_ns_precision=FAT, permissions=False)
    assert got.root == d(T0, 0) and got.temp_files == ("t",) and got.hard_links == {"b": "a"}


def test_each_symlink_becomes_a_notice_and_its_path_is_kept_at_the_target() -> None:
    src = Index({"a": f(), "l1": LINK, "x/l2": LINK, "x": d()})
    got = project_index(src, symlinks=False, side="source")
    assert list(got.entries) == ["a", "x"]
    assert [(p.path, p.message, p.side, p.error) for p in got.problems] == [
        ("l1", NO_SYMLINKS, "source", False), ("x/l2", NO_SYMLINKS, "source", False)]
    # What the target holds where the source has a symlink is not deleted for it.
    plan = mirror(got, Index({"a": f(), "x": d(), "l1": f(), "x/l2": f()}), delete=True)
    assert [a for a in plan.actions if a.op == "delete"] == []


def test_the_targets_own_mtimes_stay_as_seen_its_modes_go() -> None:
    fit = project(Index({"a": f(T0 + 1)}), Index({"a": f(T0 + 2 * S, 0o644)}), Compare(), Keep(),
                  mtime_ns_precision=FAT, symlinks=False, permissions=False, owner=False)
    assert fit.source.entries["a"] == f(T0, 0) and fit.target.entries["a"] == f(T0 + 2 * S, 0)
    assert mirror(fit.source, fit.target, compare=fit.compare, keep=fit.keep).actions == ()


# (name, compare, precision, the effective modify window)
COMPARE_CASES = [
    ("ns: as asked", Compare(), 1, 0),
    ("1 s: a 1 s window", Compare(), S, S),
    ("FAT: a 2 s window", Compare(), FAT, FAT),
    ("a wider window asked stays", Compare(modify_window_ns=3 * S), FAT, 3 * S),
    ("checksum keeps its mode", Compare(CompareMode.CHECKSUM), FAT, FAT),
]


@pytest.mark.parametrize(("name", "compare", "precision", "window"), COMPARE_CASES,
                         ids=[c[0] for c in COMPARE_CASES])
def test_the_effective_compare_rule(name: str, compare: Compare, precision: int, window: int) -> None:
    got = effective_compare(compare, precision)
    assert got.modify_window_ns == window and got.mode is compare.mode


MINE = frozenset({100})
# (name, keep, target gives owners, (owner, group) kept)
KEEP_CASES = [
    ("root to a target with owners", Keep(owner=True, group=True), True, (True, True)),
    ("root to a target without", Keep(owner=True, group=True), False, (False, False)),
    ("a user keeps their own groups", Keep(group=True, groups=MINE), False, (False, True)),
    ("nothing kept stays so", Keep(), False, (False, False)),
]


@pytest.mark.parametrize(("name", "keep", "owner", "want"), KEEP_CASES, ids=[c[0] for c in KEEP_CASES])
def test_the_effective_keep_rule(name: str, keep: Keep, owner: bool, want: tuple[bool, bool]) -> None:
    got = effective_keep(keep, owner)
    assert (got.owner, got.group) == want and got.groups == keep.groups


def test_without_owners_no_meta_is_planned_for_an_owner() -> None:
    src = Index({"a": f()._replace(attrs=Attrs(1, 2))})
    dst = Index({"a": f()._replace(attrs=Attrs(0, 0))})
    keep = Keep(owner=True, group=True)
    assert [a.op for a in mirror(src, dst, keep=keep).actions] == ["meta"]
    fit = project(src, dst, Compare(), keep, owner=False)
    assert mirror(fit.source, fit.target, compare=fit.compare, keep=fit.keep).actions == ()


# -- syncs into a target that cannot keep everything -----------------------------------------------------


def _fat(mtime_ns: int) -> int:
    return -(-mtime_ns // FAT) * FAT  # FAT as Windows writes it: rounded up to an even second


class _AsStored:
    """A source file whose entry is what the FAT-like target stores."""

    def __init__(self, inner: SourceFile, entry: Entry) -> None:
        self.inner, self.entry = inner, entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def readinto(self, buffer: memoryview) -> int:
        return self.inner.readinto(buffer)

    def changed(self) -> bool:
        return self.inner.changed()


class FatLike:
    """A LocalReplica that stores what a FAT stick does: mtimes rounded up to 2 s, no permission bits
    (every file 0o644, every folder 0o755: chmods are ignored), no symlinks."""

    def __init__(self, inner: LocalReplica) -> None:
        self.inner = inner
        self.policy = inner.policy

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @staticmethod
    def _stored(entry: Entry) -> Entry:
        return entry._replace(mtime_ns=_fat(entry.mtime_ns), mode=0o755 if entry.kind == DIR else 0o644)

    def features(self) -> Features:
        return Features(mtime_ns_precision=FAT, symlinks=False, permissions=False)

    @contextmanager
    def lock(self) -> Iterator[None]:
        with self.inner.lock():
            yield

    def stage_file(self, path: str, source: SourceFile) -> Staged:
        return self.inner.stage_file(path, _AsStored(source, self._stored(source.entry)))

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Any:
        return self.inner.make_dir(path, self._stored(entry), expect)

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Any:
        raise AssertionError(f"a symlink was written to a target without symlinks: {path}")

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Any:
        return self.inner.set_meta(path, self._stored(entry), expect)


def _odd_tree(src: Path) -> None:
    """Files and folders with mtimes a FAT cannot hold and modes it cannot keep, and a symlink."""
    half = 0.5
    write(src, "a.txt", "alpha", mtime=1_600_000_001 + half, mode=0o600)
    write(src, "d/b.txt", "beta", mtime=1_600_000_003 + half, mode=0o640)
    write(src, "d/e/c.txt", "gamma", mtime=1_600_000_004, mode=0o755)
    os.symlink("a.txt", src / "d/link")
    for rel, t in (("d/e", 1_600_000_005.25), ("d", 1_600_000_007.75), ("", 1_600_000_009.5)):
        os.chmod(src / rel, 0o700)
        os.utime(src / rel, (t, t))


def test_a_second_sync_into_a_fat_like_target_plans_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _odd_tree(src)
    opts = SyncOptions(delete=True)
    first = sync_replicas(LocalReplica(src), FatLike(LocalReplica(dst)), opts)
    assert not first.errors and first.copied == 3
    assert (dst / "d/e/c.txt").read_text() == "gamma" and not os.path.lexists(dst / "d/link")
    assert os.stat(dst / "a.txt").st_mtime_ns == 1_600_000_002 * S
    again = sync_replicas(LocalReplica(src), FatLike(LocalReplica(dst)), opts)
    assert again.plan is not None and again.plan.actions == ()
    assert [(str(p), p.error) for p in again.problems] == [(f"source: d/link: {NO_SYMLINKS}", False)]
    shallow = sync_dirs(LocalReplica(src), FatLike(LocalReplica(dst)), [("", True)], opts)
    assert shallow.plan is not None and shallow.plan.actions == ()


def test_a_change_still_reaches_a_fat_like_target(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _odd_tree(src)
    sync_replicas(LocalReplica(src), FatLike(LocalReplica(dst)))
    write(src, "d/b.txt", "beta2", mtime=1_600_000_103.5)
    report = sync_dirs(LocalReplica(src), FatLike(LocalReplica(dst)), [("d", False)])
    assert not report.errors and report.copied == 1 and (dst / "d/b.txt").read_text() == "beta2"


def test_a_symlink_is_not_an_error_and_what_the_target_holds_there_stays(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", "alpha", mtime=1_600_000_000)
    os.symlink("a.txt", src / "l")
    write(dst, "l", "a file the stick had", mtime=1_600_000_000)
    report = sync_replicas(LocalReplica(src), FatLike(LocalReplica(dst)), SyncOptions(delete=True))
    assert not report.errors and report.exit_code == 0
    assert (dst / "l").read_text() == "a file the stick had"
    assert [p.path for p in report.problems if not p.error] == ["l"]


# -- a case-insensitive target ---------------------------------------------------------------------------


def test_of_names_that_differ_in_case_the_first_in_byte_order_is_kept() -> None:
    src = Index({"A.txt": f(), "a.txt": f(T0 + S), "b.txt": f()})
    got = fold_case(src, Index({}))
    assert list(got.entries) == ["A.txt", "b.txt"] and "a.txt" in got.unreadable
    assert [(p.path, p.message, p.side, p.error) for p in got.problems] == [
        ("A.txt", case_clash(["a.txt"], "the destination"), "source", True)]
    assert "case clash: 'a.txt' cannot exist beside it" in got.problems[0].message
    assert "rename one of them" in got.problems[0].message


def test_the_name_the_target_holds_is_kept_and_nothing_there_is_deleted_for_the_other() -> None:
    src = Index({"A.txt": f(), "B.txt": f(), "a.txt": f(T0 + S)})
    target = Index({"a.txt": f(T0 + S)})
    fit = project(src, target, Compare(), Keep(), case_sensitive=False)
    assert list(fit.source.entries) == ["B.txt", "a.txt"] and [p.path for p in fit.source.problems] == ["a.txt"]
    plan = mirror(fit.source, fit.target, delete=True, compare=fit.compare, keep=fit.keep)
    assert [(a.op, a.path) for a in plan.actions] == [("copy", "B.txt")]


def test_a_clash_of_folders_leaves_out_the_folder_with_everything_below_it() -> None:
    src = Index({"Docs": d(), "Docs/x": f(), "Docs/y": f(), "docs": d(), "docs/X": f(), "docs/y": f()})
    got = fold_case(src, Index({}))
    assert list(got.entries) == ["Docs", "Docs/x", "Docs/y"]
    assert [(p.path, p.message) for p in got.problems] == [("Docs", case_clash(["docs"], "the destination"))]


def test_what_the_target_holds_under_a_folder_left_out_is_not_deleted() -> None:
    # The target (case-insensitive) holds docs/x from when the source had it there; now the source has
    # x under Docs, which clashes with docs: the target's docs is kept, and so is all of it.
    src = Index({"Docs": d(), "Docs/x": f(), "docs": d(), "docs/y": f()})
    target = Index({"docs": d(), "docs/x": f(), "docs/y": f()})
    fit = project(src, target, Compare(), Keep(), case_sensitive=False)
    assert list(fit.source.entries) == ["docs", "docs/y"]
    plan = mirror(fit.source, fit.target, delete=True, compare=fit.compare, keep=fit.keep)
    assert [a for a in plan.actions if a.op == "delete"] == []


def test_without_a_clash_or_onto_a_case_sensitive_target_the_source_is_the_same_object() -> None:
    src = Index({"A.txt": f(), "b.txt": f()})
    assert fold_case(src, Index({"a.txt": f()})) is src
    clashing = Index({"A.txt": f(), "a.txt": f()})
    assert project(clashing, Index({}), Compare(), Keep()).source is clashing


# -- a two-way pair ----------------------------------------------------------------------------------


def test_a_pair_that_keeps_everything_gets_the_same_objects() -> None:
    a, b, compare = Index({"x": f(T0 + 1)}), Index({"x": f()}), Compare()
    fit = project_pair(a, b, compare, Keeps(), Keeps(owner=False, case_sensitive=False))
    assert fit.a is a and fit.b is b and fit.compare is compare and fit.modes


# (name, side A keeps, side B keeps, A's entry as planned, B's entry as planned, modify window)
PAIR_CASES = [
    ("2 s on B: the window, no mtime truncated", Keeps(), Keeps(mtime_ns_precision=FAT),
     f(T0 + 1), f(T0 + 1), FAT),
    ("1 s on A, 2 s on B: the coarser", Keeps(mtime_ns_precision=S), Keeps(mtime_ns_precision=FAT),
     f(T0 + 1), f(T0 + 1), FAT),
    ("no permissions on B: no modes on either", Keeps(), Keeps(permissions=False),
     f(T0 + 1, 0), f(T0 + 1, 0), 0),
    ("no permissions on A: the same", Keeps(permissions=False), Keeps(), f(T0 + 1, 0), f(T0 + 1, 0), 0),
    ("no owners: nothing to do", Keeps(owner=False), Keeps(owner=False), f(T0 + 1), f(T0 + 1), 0),
]


@pytest.mark.parametrize(("name", "keeps_a", "keeps_b", "want_a", "want_b", "window"), PAIR_CASES,
                         ids=[c[0] for c in PAIR_CASES])
def test_a_pair_projected(name: str, keeps_a: Keeps, keeps_b: Keeps, want_a: Entry, want_b: Entry,
                          window: int) -> None:
    fit = project_pair(Index({"x": f(T0 + 1)}), Index({"x": f(T0 + 1)}), Compare(), keeps_a, keeps_b)
    assert fit.a.entries["x"] == want_a and fit.b.entries["x"] == want_b
    assert fit.compare.modify_window_ns == window and fit.modes == (keeps_a.permissions and keeps_b.permissions)


@pytest.mark.parametrize(("name", "keeps_a", "keeps_b", "user", "windows"), [
    ("1 s on A, 2 s on B: each its own", Keeps(mtime_ns_precision=S), Keeps(mtime_ns_precision=FAT), 0,
     (FAT, S, FAT)),
    ("2 s on A, ns on B: B exact", Keeps(mtime_ns_precision=FAT), Keeps(), 0, (FAT, FAT, 0)),
    ("--modify-window wider than both: for all three", Keeps(mtime_ns_precision=S),
     Keeps(mtime_ns_precision=FAT), 3 * S, (3 * S, 3 * S, 3 * S)),
    ("--modify-window between: the coarser side's precision beyond it", Keeps(),
     Keeps(mtime_ns_precision=FAT), S, (FAT, S, FAT)),
])
def test_a_pair_compares_each_side_with_the_base_in_its_own_window(
        name: str, keeps_a: Keeps, keeps_b: Keeps, user: int, windows: tuple[int, int, int]) -> None:
    fit = project_pair(Index({}), Index({}), Compare(modify_window_ns=user), keeps_a, keeps_b)
    assert (fit.compare.modify_window_ns, fit.compare_a.modify_window_ns, fit.compare_b.modify_window_ns) == windows
    assert fit.compare_a.mode is fit.compare_b.mode is CompareMode.MTIME


def test_a_pair_of_one_precision_gets_one_compare_rule() -> None:
    compare = Compare(CompareMode.CHECKSUM)
    fit = project_pair(Index({}), Index({}), compare, Keeps(), Keeps(owner=False))
    assert fit.compare is fit.compare_a is fit.compare_b is compare


def test_a_pair_leaves_out_the_symlinks_of_the_side_whose_other_cannot_hold_them() -> None:
    a, b = Index({"l": LINK, "x": f()}), Index({"m": LINK})
    fit = project_pair(a, b, Compare(), Keeps(), Keeps(symlinks=False))
    assert list(fit.a.entries) == ["x"] and "l" in fit.a.unreadable
    assert [(p.path, p.message, p.side, p.error) for p in fit.a.problems] == [
        ("l", no_symlinks("side B"), "a", False)]
    assert fit.b is b  # A holds symlinks: B's link can be made there


def test_give_modes_hands_a_side_its_own_modes_back() -> None:
    own = {"f": f(mode=0o600), "d": d(mode=0o700)}
    other = {"f": f(mode=0o644), "d": d(mode=0o755), "new": d(mode=0o751), "g": f(mode=0o640)}
    plan = Plan((Action("meta", "f", f(T0 + 9, 0), f(mode=0)), Action("mkdir", "new", d(mode=0), None),
                 Action("meta", "new", d(mode=0), None), Action("meta", "d", d(mode=0), d(mode=0)),
                 Action("meta", "lost", d(mode=0), None), Action("copy", "g", f(mode=0), None)))
    got = give_modes(plan, own, other)
    assert [(a.op, a.path, a.entry.mode if a.entry else None, a.expect.mode if a.expect else None)
            for a in got.actions] == [
        ("meta", "f", 0o600, 0o600), ("mkdir", "new", 0, None), ("meta", "new", 0o751, None),
        ("meta", "d", 0o700, 0o700), ("meta", "lost", DEFAULT_MODES[DIR], None), ("copy", "g", 0, None)]
    assert got.actions[0].entry is not None and got.actions[0].entry.mtime_ns == T0 + 9
    no_meta = Plan((Action("copy", "g", f(mode=0), None),))
    assert give_modes(no_meta, own, other) is no_meta


def test_the_two_way_planner_words_a_case_clash_as_one_way_does() -> None:
    r = reconcile({}, Index({"A.txt": f(), "a.txt": f()}), Index({}), ReconcilePolicy(case_insensitive_b=True))
    assert [(p.path, p.message) for p in r.problems if p.error] == [("A.txt", case_clash(["a.txt"], "side B"))]


def test_respell_names_the_targets_entry_as_the_source_spells_it() -> None:
    source = Index({"Docs": Entry(DIR, 0, T0, 0o755), "Docs/a.txt": f(), "b.txt": f()})
    target = Index({"docs": Entry(DIR, 0, T0, 0o755), "docs/a.txt": f(), "B.TXT": f(), "gone.txt": f()},
                   unreadable=frozenset({"docs/a.txt"}))
    out = respell(target, source)
    assert list(out) == ["Docs", "Docs/a.txt", "b.txt", "gone.txt"]
    assert out["b.txt"] == target["B.TXT"] and out.unreadable == {"Docs/a.txt"}
    same = Index({"Docs": Entry(DIR, 0, T0, 0o755)})
    assert respell(same, source) is same  # nothing to respell: the same object
