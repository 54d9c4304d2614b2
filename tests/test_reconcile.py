"""The two-way planner, case by case (pure functions, no I/O). The table is ``docs/reconcile.md``'s."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from syncline.core.conflicts import conflict_name
from syncline.core.entry import DIR, FILE, SYMLINK, Compare, CompareMode, Entry
from syncline.core.index import Index
from syncline.core.reconcile import BaseEntry, ReconcilePolicy, reconcile

from .twoway_model import Tree, apply, base_of, index_of

# Content is told apart by size and mtime (the default quick check); a higher mtime is newer.
S: dict[str, Entry | None] = {
    "-": None,
    "f1": Entry(FILE, 1, 1000, 0o644),
    "f2": Entry(FILE, 2, 2000, 0o644),
    "f3": Entry(FILE, 3, 3000, 0o644),
    "f4": Entry(FILE, 4, 2000, 0o644),  # as new as f2: a tie
    "d": Entry(DIR, 0, 500, 0o755),
    "l1": Entry(SYMLINK, 2, 1500, 0o777, target="t1"),
    "l2": Entry(SYMLINK, 2, 2500, 0o777, target="t2"),
}
OPTS = ReconcilePolicy(device_a="hosta", device_b="hostb")

# base, A, B -> the entry both sides hold at "x" afterwards, and the conflict copy's content (if any)
TABLE = [
    # nothing changed, or one side changed: it propagates
    ("f1", "f1", "f1", "f1", None),
    ("f1", "f2", "f1", "f2", None),
    ("f1", "f1", "f2", "f2", None),
    ("f1", "-", "f1", "-", None),
    ("f1", "f1", "-", "-", None),
    ("f1", "d", "f1", "d", None),
    ("f1", "f1", "d", "d", None),
    ("f1", "l1", "f1", "l1", None),
    ("f1", "f1", "l1", "l1", None),
    ("-", "f1", "-", "f1", None),
    ("-", "-", "f1", "f1", None),
    ("-", "d", "-", "d", None),
    ("-", "-", "d", "d", None),
    ("-", "l1", "-", "l1", None),
    ("-", "-", "l1", "l1", None),
    ("d", "d", "d", "d", None),
    ("d", "-", "d", "-", None),
    ("d", "d", "-", "-", None),
    ("d", "f1", "d", "f1", None),
    ("d", "d", "f1", "f1", None),
    ("d", "l1", "d", "l1", None),
    ("d", "d", "l1", "l1", None),
    ("l1", "l1", "l1", "l1", None),
    ("l1", "l2", "l1", "l2", None),
    ("l1", "l1", "l2", "l2", None),
    ("l1", "-", "l1", "-", None),
    ("l1", "l1", "-", "-", None),
    ("l1", "f1", "l1", "f1", None),
    ("l1", "d", "l1", "d", None),
    ("l1", "l1", "d", "d", None),
    # both changed the same way: no conflict
    ("f1", "f2", "f2", "f2", None),
    ("f1", "-", "-", "-", None),
    ("-", "f1", "f1", "f1", None),
    ("-", "d", "d", "d", None),
    ("-", "l1", "l1", "l1", None),
    ("d", "-", "-", "-", None),
    ("l1", "l2", "l2", "l2", None),
    ("f1", "d", "d", "d", None),
    ("d", "f1", "f1", "f1", None),
    ("l1", "-", "-", "-", None),
    # a change beats a delete
    ("f1", "f2", "-", "f2", None),
    ("f1", "-", "f2", "f2", None),
    ("f1", "d", "-", "d", None),
    ("f1", "-", "d", "d", None),
    ("f1", "l1", "-", "l1", None),
    ("l1", "l2", "-", "l2", None),
    ("l1", "-", "f1", "f1", None),
    ("d", "f1", "-", "f1", None),
    ("d", "-", "l1", "l1", None),
    # both changed differently: the newer keeps the name (a tie goes to A), the other is a conflict copy;
    # a directory always keeps the name
    ("f1", "f2", "f3", "f3", "f2"),
    ("f1", "f3", "f2", "f3", "f2"),
    ("-", "f1", "f2", "f2", "f1"),
    ("-", "f2", "f1", "f2", "f1"),
    ("-", "d", "f1", "d", "f1"),
    ("-", "f1", "d", "d", "f1"),
    ("-", "l1", "f1", "l1", "f1"),
    ("-", "f2", "l1", "f2", "l1"),
    ("f1", "d", "f2", "d", "f2"),
    ("f1", "f2", "d", "d", "f2"),
    ("f1", "l1", "f2", "f2", "l1"),
    ("d", "f1", "l1", "l1", "f1"),
    ("d", "f1", "f2", "f2", "f1"),
    ("l1", "l2", "f1", "l2", "f1"),
    ("l1", "f2", "l2", "l2", "f2"),
    ("-", "l1", "l2", "l2", "l1"),
    ("f1", "f2", "l2", "l2", "f2"),
    ("d", "l1", "l2", "l2", "l1"),
    ("l1", "d", "f1", "d", "f1"),
    ("-", "d", "l1", "d", "l1"),
    ("f1", "f2", "f4", "f2", "f4"),
    ("f1", "f4", "f2", "f4", "f2"),
]


def _tree(state: str) -> Tree:
    e = S[state]
    return {} if e is None else {"x": e}


def _run(base: str, a: str, b: str, opts: ReconcilePolicy = OPTS) -> tuple[Tree, Tree, object]:
    ta, tb = _tree(a), _tree(b)
    r = reconcile(base_of(_tree(base)), index_of(ta), index_of(tb), opts)
    errors = apply(r, ta, tb)
    assert errors == []
    return ta, tb, r


def test_the_table_has_the_cases_the_issue_asks_for() -> None:
    assert len(TABLE) >= 60
    assert len({row[:3] for row in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("base", "a", "b", "want", "copy"), TABLE)
def test_decision(base: str, a: str, b: str, want: str, copy: str | None) -> None:
    ta, tb, r = _run(base, a, b)
    assert ta == tb, "both sides end the same"
    assert ta.get("x") == S[want]
    copies = {p: e for p, e in ta.items() if p != "x"}
    if copy is None:
        assert copies == {}
        assert not r.conflicts  # type: ignore[attr-defined]
    else:
        lost = S[copy]
        assert lost is not None
        loser_device = "hosta" if S[a] == lost else "hostb"
        assert copies == {conflict_name("x", lost.mtime_ns, loser_device): lost}


@pytest.mark.parametrize(("base", "a", "b"), list(itertools.product(S, S, S)))
def test_every_combination_converges_and_loses_no_change(base: str, a: str, b: str) -> None:
    ta, tb, _ = _run(base, a, b)
    assert ta == tb
    kept = set(ta.values())
    for side in (a, b):
        e = S[side]
        if e is not None and e != S[base]:
            assert e in kept or e.kind == DIR, f"the change {side} was lost"


@pytest.mark.parametrize(("policy", "want"), [("newer", "f3"), ("older", "f2"), ("a", "f2"), ("b", "f3")])
def test_conflict_policies_replace_the_loser(policy: str, want: str) -> None:
    ta, tb, r = _run("f1", "f2", "f3", ReconcilePolicy(conflict=policy))  # type: ignore[arg-type]
    assert ta == tb == {"x": S[want]}
    assert [c.copy for c in r.conflicts] == [None]  # type: ignore[attr-defined]


def test_a_policy_never_replaces_a_directory() -> None:
    ta, tb, _ = _run("-", "d", "f1", ReconcilePolicy(conflict="b"))
    assert ta == tb and ta["x"] == S["d"] and len(ta) == 2


def test_a_second_run_after_a_conflict_does_nothing() -> None:
    ta, tb = {"x": S["f2"]}, {"x": S["f3"]}
    base = dict(base_of({"x": S["f1"]}))
    r = reconcile(base, index_of(ta), index_of(tb), OPTS)
    assert apply(r, ta, tb, base) == []
    again = reconcile(base, index_of(ta), index_of(tb), OPTS)
    assert again.empty and not again.conflicts


def test_merge_mode_deletes_nothing_and_keeps_both() -> None:
    a = {"only-a": S["f1"], "same": S["f2"], "differ": S["f1"]}
    b = {"only-b": S["f1"], "same": S["f2"], "differ": S["f3"]}
    # a stale base that would delete everything it lists
    stale = base_of({"only-a": S["f1"], "only-b": S["f1"], "same": S["f2"], "differ": S["f1"]})
    r = reconcile(stale, index_of(a), index_of(b), ReconcilePolicy(merge=True, conflict="newer"))
    assert apply(r, a, b) == []
    assert a == b
    assert set(a) == {"only-a", "only-b", "same", "differ", conflict_name("differ", 1000, "a")}
    assert "same" in r.adopt and not any(act.path == "same" for act in r.to_a.actions + r.to_b.actions)


def _f(size: int, mtime: int, inode: int) -> Entry:
    return Entry(FILE, size, mtime, 0o644, file_id=inode)


def _d(inode: int) -> Entry:
    return Entry(DIR, 0, 1, 0o755, file_id=inode)


def test_a_deleted_directory_goes_only_when_nothing_below_it_changed() -> None:
    both = {"d": _d(1), "d/keep": _f(1, 10, 2), "d/sub": _d(3), "d/sub/y": _f(2, 20, 4)}
    base = base_of(both)
    a: Tree = {}  # A deleted the whole directory
    b = dict(both)
    b["d/sub/y"] = _f(3, 30, 4)  # B changed one file deep inside
    r = reconcile(base, index_of(a), index_of(b), OPTS)
    assert apply(r, a, b) == []
    assert a == {"d": both["d"], "d/sub": both["d/sub"], "d/sub/y": _f(3, 30, 4)} == b


def test_a_deleted_directory_goes_when_the_other_side_did_not_touch_it() -> None:
    both = {"d": _d(1), "d/x": _f(1, 10, 2), "d/e": _d(3), "d/e/y": _f(2, 20, 4), "other": _f(5, 50, 5)}
    a: Tree = {"other": both["other"]}
    b = dict(both)
    r = reconcile(base_of(both), index_of(a), index_of(b), OPTS)
    assert apply(r, a, b) == []
    assert a == b == {"other": both["other"]}
    assert [act.path for act in r.to_b.actions] == ["d/x", "d/e/y", "d/e", "d"]  # children first


def test_a_file_that_replaced_a_directory_yields_to_a_change_below_it() -> None:
    both = {"d": _d(1), "d/x": _f(1, 10, 2)}
    a = {"d": _f(9, 90, 7)}  # A replaced the directory by a file
    b = {"d": _d(1), "d/x": _f(2, 20, 2)}  # B changed the file inside
    r = reconcile(base_of(both), index_of(a), index_of(b), OPTS)
    assert apply(r, a, b) == []
    assert a == b
    assert a["d"].kind == DIR and a["d/x"] == _f(2, 20, 2)
    assert conflict_name("d", 90, "hosta") in a  # A's file is kept as a conflict copy


def test_a_moved_file_is_renamed_on_the_other_side() -> None:
    both = {"dir": _d(1), "a.txt": _f(100, 10, 2)}
    a = {"dir": _d(1), "dir/b.txt": _f(100, 10, 2)}  # same inode: a rename on A
    b = dict(both)
    r = reconcile(base_of(both), index_of(a), index_of(b), OPTS)
    assert [(m.side, m.src, m.dst, m.reason) for m in r.moves] == [("b", "a.txt", "dir/b.txt", "move")]
    assert r.to_a.actions == () and r.to_b.actions == ()
    assert apply(r, a, b) == [] and a == b


def test_a_renamed_directory_is_one_rename_and_changes_inside_still_propagate() -> None:
    both: Tree = {"old": _d(1)}
    for i in range(2000):
        both[f"old/f{i:04}"] = _f(i + 1, 10, 100 + i)
    a = {("new" + p[3:]): e for p, e in both.items()}  # A renamed old -> new (same inodes)
    b = dict(both)
    b["old/f0007"] = _f(5, 99, 107)  # B changed one file meanwhile
    r = reconcile(base_of(both), index_of(a), index_of(b), OPTS)
    assert [(m.side, m.src, m.dst) for m in r.moves] == [("b", "old", "new")]
    assert [(act.op, act.path) for act in r.to_a.actions] == [("copy", "new/f0007")]
    assert r.to_b.actions == ()
    assert apply(r, a, b) == [] and a == b and a["new/f0007"] == _f(5, 99, 107)


def test_a_move_is_not_propagated_over_a_change() -> None:
    both = {"a.txt": _f(100, 10, 2)}
    a = {"b.txt": _f(100, 10, 2)}  # A renamed it
    b = {"a.txt": _f(101, 20, 2)}  # B changed it
    r = reconcile(base_of(both), index_of(a), index_of(b), OPTS)
    assert r.moves == ()
    assert apply(r, a, b) == []
    assert a == b == {"a.txt": _f(101, 20, 2), "b.txt": _f(100, 10, 2)}  # both versions kept


def test_checksum_mode_sees_equal_content_with_other_mtimes_as_no_conflict() -> None:
    d1, d2 = b"1" * 32, b"2" * 32
    base = base_of({"x": Entry(FILE, 5, 10, 0o644, d1)})
    a = {"x": Entry(FILE, 5, 20, 0o644, d2)}
    b = {"x": Entry(FILE, 5, 30, 0o644, d2)}
    r = reconcile(base, index_of(a), index_of(b), ReconcilePolicy(compare=Compare(CompareMode.CHECKSUM)))
    assert not r.conflicts
    assert [act.op for act in r.to_a.actions] == ["meta"]  # A takes B's newer mtime, no copy
    assert r.to_b.actions == ()


def test_unreadable_parts_are_left_alone() -> None:
    both = {"d": _d(1), "d/x": _f(1, 10, 2), "y": _f(2, 20, 3)}
    a = Index({"d": _d(1), "y": _f(3, 30, 3)}, unreadable=frozenset({"d"}))  # A could not list d
    b = dict(both)
    r = reconcile(base_of(both), a, index_of(b), OPTS)
    assert [(act.op, act.path) for act in r.to_b.actions] == [("copy", "y")]  # d/x is not deleted
    assert r.to_a.actions == ()
    assert "d/x" not in r.final and "d/x" not in r.adopt  # nor dropped from the base


def test_the_base_learns_inodes_of_unchanged_files() -> None:
    base = {"x": BaseEntry(_f(1, 10, 0), 0, 0)}
    r = reconcile(base, index_of({"x": _f(1, 10, 5)}), index_of({"x": _f(1, 10, 6)}), OPTS)
    assert r.empty
    assert r.adopt == {"x": BaseEntry(base["x"].entry, 5, 6)}


def test_a_case_clash_on_a_case_insensitive_side_is_reported_and_left_out() -> None:
    a = {"Report.txt": _f(1, 10, 1), "report.txt": _f(2, 20, 2)}
    b: Tree = {}
    r = reconcile({}, index_of(a), index_of(b), ReconcilePolicy(merge=True, case_insensitive_b=True))
    assert [(act.op, act.path) for act in r.to_b.actions] == [("copy", "Report.txt")]
    assert "report.txt" not in r.final and "report.txt" not in r.adopt  # never taken as synced
    assert any("case clash" in p.message and p.error for p in r.problems)
    sensitive = reconcile({}, index_of(a), index_of(b), ReconcilePolicy(merge=True))
    assert len(sensitive.to_b.actions) == 2


def test_a_case_only_rename_is_a_move() -> None:
    both = {"Report.txt": _f(1, 10, 1)}
    a = {"report.txt": _f(1, 10, 1)}
    b = dict(both)
    r = reconcile(base_of(both), index_of(a), index_of(b), ReconcilePolicy(case_insensitive_b=True))
    assert [(m.side, m.src, m.dst) for m in r.moves] == [("b", "Report.txt", "report.txt")]
    assert not r.problems and r.to_b.actions == ()


def test_nfc_and_nfd_twins_are_both_kept_with_a_notice() -> None:
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    a = {nfc: _f(1, 10, 1), nfd: _f(2, 20, 2)}
    r = reconcile({}, index_of(a), index_of({}), ReconcilePolicy(merge=True))
    assert {act.path for act in r.to_b.actions} == {nfc, nfd}
    assert [p.error for p in r.problems if "normalization" in p.message] == [False]


def test_base_rows_below_a_moved_directory_wait_for_the_move() -> None:
    from syncline.core.reconcile import BaseEntry

    base = {"p": BaseEntry(_d(1), 1, 11), "p/f": BaseEntry(_f(1, 10, 0), 2, 0)}  # B's inode unknown
    a = {"q": _d(1), "q/f": _f(1, 10, 2)}  # A renamed p -> q
    b = {"p": _d(11), "p/f": _f(1, 10, 12)}
    r = reconcile(base, index_of(a), index_of(b), OPTS)
    assert [(m.side, m.src, m.dst) for m in r.moves] == [("b", "p", "q")]
    assert not [p for p in r.adopt if p == "q" or p.startswith("q/")]  # nothing claimed before the move
    rows = dict(r.moves[0].base_rows)
    assert rows["q/f"].file_id_b == 12 and "q" in rows


def test_deletes_under_a_replaced_directory_leave_the_base_only_when_done() -> None:
    both = {"d": _d(1), "d/x": _f(1, 10, 2)}
    a = {"d": _f(9, 90, 7)}  # A replaced the directory by a file
    b = dict(both)  # B left it alone
    r = reconcile(base_of(both), index_of(a), index_of(b), OPTS)
    assert [(act.op, act.path) for act in r.to_b.actions] == [("delete", "d/x"), ("copy", "d")]
    assert "d/x" in r.final and r.final["d/x"] is None and "d/x" not in r.adopt


def test_a_move_onto_another_spelling_on_a_case_insensitive_side_is_not_propagated_as_a_move() -> None:
    both = {"a.txt": _f(1, 10, 1), "README": _f(2, 20, 2)}
    a = {"readme": _f(1, 10, 1), "README": _f(2, 20, 2)}  # A (case-sensitive) renamed a.txt -> readme
    b = dict(both)
    r = reconcile(base_of(both), index_of(a), index_of(b), ReconcilePolicy(case_insensitive_b=True))
    assert r.moves == ()  # B cannot hold "readme" beside "README"
    assert any("case clash" in p.message for p in r.problems)


def test_a_name_removed_beside_its_new_case_twin_is_renamed_on_a_case_insensitive_side() -> None:
    # A (case-sensitive) made Docs/ and Docs/Sub/ (new folders: no rename there), moved a.txt into Docs/,
    # and removed docs/ with docs/sub/ and old.txt. On B, where the twins are one name, they are renamed in
    # place, parents first; a.txt comes along and stays, old.txt is deleted under its new name.
    both = {"docs": _d(1), "docs/sub": _d(2), "docs/a.txt": _f(1, 10, 3), "docs/old.txt": _f(2, 20, 4)}
    a = {"Docs": _d(5), "Docs/Sub": _d(6), "Docs/a.txt": _f(1, 10, 3)}
    r = reconcile(base_of(both), index_of(a), index_of(dict(both)), ReconcilePolicy(case_insensitive_b=True))
    assert [(m.side, m.src, m.dst) for m in r.moves] == [("b", "docs", "Docs"), ("b", "Docs/sub", "Docs/Sub")]
    assert [(act.op, act.path) for act in r.to_b.actions] == [("delete", "Docs/old.txt")]
    assert not r.problems and r.to_a.actions == ()
    assert "Docs/a.txt" not in r.adopt and r.final["Docs/old.txt"] is None  # a.txt's row waits for the move
    sensitive = reconcile(base_of(both), index_of(a), index_of(dict(both)), ReconcilePolicy())
    assert sensitive.moves == ()  # a case-sensitive B holds both names: no swap


# Decisions that the quick check cannot make, for the engine to hash and plan again: base, A, B -> unsure?
G1, G2 = Entry(FILE, 7, 5000, 0o644), Entry(FILE, 7, 6000, 0o644)  # one size, other mtimes
UNSURE = [
    ("f1", "f1", "f1", False),  # unchanged
    ("f1", "f2", "f1", False),  # one side changed: the quick check decides
    ("f1", "G1", "G1", True),  # both changed to one size and one mtime: one version or two?
    ("f1", "G1", "G2", True),  # both changed to one size, other mtimes: equal content is no conflict
    ("-", "G1", "G1", True),  # no base row
    ("G1", "G1", "G1", False),
    ("G1", "G2", "G1", False),
    ("f1", "f2", "f3", False),  # other sizes: a conflict whatever the bytes
    ("f1", "G1", "d", False),
]


@pytest.mark.parametrize(("base", "a", "b", "unsure"), UNSURE)
def test_decisions_the_quick_check_cannot_make_ask_for_digests(base: str, a: str, b: str, unsure: bool) -> None:
    states = S | {"G1": G1, "G2": G2}

    def tree(state: str) -> Tree:
        e = states[state]
        return {} if e is None else {"x": e}

    r = reconcile(base_of(tree(base)), index_of(tree(a)), index_of(tree(b)), OPTS)
    want = frozenset({"x"} if unsure else ())
    assert (r.unsure_a, r.unsure_b) == (want, want)


def test_a_merge_asks_for_digests_whatever_the_base_and_hashed_files_need_none() -> None:
    base = base_of({"x": G1})
    r = reconcile(base, index_of({"x": G1}), index_of({"x": G1}), ReconcilePolicy(merge=True))
    assert (r.unsure_a, r.unsure_b) == (frozenset({"x"}), frozenset({"x"}))
    one, two = G1._replace(digest=b"1" * 32), G1._replace(digest=b"2" * 32)
    r = reconcile({}, index_of({"x": one}), index_of({"x": two}), ReconcilePolicy(Compare(CompareMode.CHECKSUM)))
    assert (r.unsure_a, r.unsure_b) == (frozenset(), frozenset())
    assert [c.path for c in r.conflicts] == ["x"]  # same size and mtime, other digests: two versions


# A repeated conflict: A's losing version of NAME is already kept under its conflict name (made by an
# earlier run), and A holds that version at NAME again (restored from the copy, say) while B changed it.
@pytest.mark.parametrize("name", ["x", "r.txt"])  # the copy sorts after "x" but before "r.txt"
@pytest.mark.parametrize(("copy_on_a", "copy_on_b", "copy_in_base"),
                         [(True, True, True), (True, False, True), (False, False, True), (True, False, False)])
def test_a_repeated_conflict_whose_copy_already_holds_the_loser_converges(
        name: str, copy_on_a: bool, copy_on_b: bool, copy_in_base: bool) -> None:
    f1, f2, f3 = S["f1"], S["f2"], S["f3"]
    assert f1 is not None and f2 is not None and f3 is not None
    copy = conflict_name(name, f2.mtime_ns, "hosta")
    base_tree = {name: f1} | ({copy: f2} if copy_in_base else {})
    a = {name: f2} | ({copy: f2} if copy_on_a else {})
    b = {name: f3} | ({copy: f2} if copy_on_b else {})
    base = dict(base_of(base_tree))
    r = reconcile(base, index_of(a), index_of(b), OPTS)
    assert apply(r, a, b, base) == []
    assert a == b == {name: f3, copy: f2}  # B's newer version has the name; A's is kept, once
    assert [(c.path, c.winner, c.copy) for c in r.conflicts] == [(name, "b", copy)]
    again = reconcile(base, index_of(a), index_of(b), OPTS)
    assert again.empty and not again.conflicts


def test_a_copy_name_held_by_other_content_on_the_losing_side_gets_the_next_name() -> None:
    f1, f2, f3 = S["f1"], S["f2"], S["f3"]
    assert f1 is not None and f2 is not None and f3 is not None
    other = Entry(FILE, f2.size, f2.mtime_ns, 0o644, b"o" * 32)  # same size and mtime, other digest
    mine = f2._replace(digest=b"m" * 32)
    copy = conflict_name("x", f2.mtime_ns, "hosta")
    a, b = {"x": mine, copy: other}, {"x": f3, copy: other}
    base = dict(base_of({"x": f1, copy: other}))
    r = reconcile(base, index_of(a), index_of(b), ReconcilePolicy(Compare(CompareMode.CHECKSUM), device_a="hosta"))
    assert apply(r, a, b, base) == []
    assert a == b == {"x": f3, copy: other, conflict_name("x", f2.mtime_ns, "hosta", 1): mine}


D_OLD, D_NEW = b"o" * 32, b"n" * 32
CHECKSUM = ReconcilePolicy(compare=Compare(CompareMode.CHECKSUM), device_a="hosta", device_b="hostb")


def test_checksum_mode_with_a_base_without_digests_keeps_both_when_the_sides_differ() -> None:
    # The base was written by runs without --checksum: it cannot say which side changed the content.
    base = base_of({"x": Entry(FILE, 5, 10, 0o644)})
    a = {"x": Entry(FILE, 5, 10, 0o644, D_OLD)}
    b = {"x": Entry(FILE, 5, 10, 0o644, D_NEW)}  # B's content changed, its mtime put back
    versions = {a["x"], b["x"]}
    r = reconcile(base, index_of(a), index_of(b), CHECKSUM)
    assert apply(r, a, b) == []
    assert a == b and set(a.values()) == versions and len(a) == 2
    assert [c.path for c in r.conflicts] == ["x"]


def test_checksum_mode_learns_digests_the_base_lacks() -> None:
    base = base_of({"x": Entry(FILE, 5, 10, 0o644, file_id=1)})
    side = {"x": Entry(FILE, 5, 10, 0o644, D_OLD, file_id=1)}
    r = reconcile(base, index_of(side), index_of(dict(side)), CHECKSUM)
    assert r.empty
    assert r.adopt["x"] is not None and r.adopt["x"].entry.digest == D_OLD


def test_checksum_mode_propagates_a_change_the_learnt_digest_reveals() -> None:
    base = base_of({"x": Entry(FILE, 5, 10, 0o644, D_OLD)})
    a = {"x": Entry(FILE, 5, 10, 0o644, D_OLD)}
    b = {"x": Entry(FILE, 5, 10, 0o644, D_NEW)}
    r = reconcile(base, index_of(a), index_of(b), CHECKSUM)
    assert apply(r, a, b) == []
    assert a == b == {"x": Entry(FILE, 5, 10, 0o644, D_NEW)} and not r.conflicts


def test_both_changed_to_one_size_and_mtime_with_other_digests_keep_both() -> None:
    # docs/reconcile.md: f1 | f2 | f2' (f2's size and mtime, other bytes) -> f2, copy f2'
    f1, f2 = S["f1"], S["f2"]
    assert f1 is not None and f2 is not None
    mine, theirs = f2._replace(digest=b"1" * 32), f2._replace(digest=b"2" * 32)
    a, b = {"x": mine}, {"x": theirs}
    r = reconcile(base_of({"x": f1}), index_of(a), index_of(b), CHECKSUM)
    assert apply(r, a, b) == []
    assert a == b == {"x": mine, conflict_name("x", f2.mtime_ns, "hostb"): theirs}
    assert [(c.path, c.winner) for c in r.conflicts] == [("x", "a")]  # a tie: A keeps the name


# -- sides of different mtime precision ----------------------------------------------------------------------
# A holds 1 s mtimes, B 2 s (FAT): the sides are compared with each other within 2 s, each with the base
# within its own precision (core/project.py's project_pair). Content is told apart by size.
SEC = 10**9
T0 = 1_600_000_000 * SEC  # an even second
MIXED = ReconcilePolicy(compare=Compare(modify_window_ns=2 * SEC), compare_a=Compare(modify_window_ns=SEC),
                        compare_b=Compare(modify_window_ns=2 * SEC))
FLIPPED = replace(MIXED, compare_a=MIXED.compare_b, compare_b=MIXED.compare_a)


def at(seconds: int, size: int = 5) -> Entry:
    return Entry(FILE, size, T0 + seconds * SEC, 0o644)


def test_a_touch_on_the_finer_side_within_the_coarser_window_is_a_change() -> None:
    # A wrote x at T0 + 1 s, B got it as T0 (the base holds A's value); A touches it to T0 + 3 s: 2 s from
    # the base, within B's window but past A's own.
    r = reconcile(base_of({"x": at(1)}), index_of({"x": at(3)}), index_of({"x": at(0)}), MIXED)
    assert [(x.op, x.path, x.entry) for x in r.to_b.actions] == [("copy", "x", at(3))] and not r.to_a.actions
    assert r.final["x"] == BaseEntry(at(3), 0, 0) and not r.conflicts


@pytest.mark.parametrize("held", [0, 2])  # truncated (Linux vfat) or rounded up (FAT on Windows)
def test_the_coarser_side_holding_the_finer_sides_value_in_its_window_is_no_change(held: int) -> None:
    r = reconcile(base_of({"x": at(1)}), index_of({"x": at(1)}), index_of({"x": at(held)}), MIXED)
    assert r.empty and not r.final and not r.adopt


def test_a_touch_on_the_coarser_side_reaches_the_finer_one_exactly() -> None:
    # A touched x by 1 s (within its window: no change), B by 4 s (a change), to within 2 s of A: A gets
    # B's mtime (a meta, no copy), so that A holds the base's exactly. Else a later edit on B would meet
    # A, 2 s from the base, as changed too: a conflict where only B changed.
    base = dict(base_of({"x": at(1)}))
    a, b = {"x": at(2)}, {"x": at(4)}
    r = reconcile(base, index_of(a), index_of(b), MIXED)
    assert [(x.op, x.path, x.entry) for x in r.to_a.actions] == [("meta", "x", at(4))] and not r.to_b.actions
    assert apply(r, a, b, base) == []
    assert a == b == {"x": at(4)} and base["x"].entry == at(4)
    b["x"] = at(5, size=9)  # an edit on B
    r = reconcile(base, index_of(a), index_of(b), MIXED)
    assert apply(r, a, b, base) == []
    assert a == b == {"x": at(5, size=9)} and not r.conflicts


@pytest.mark.parametrize("policy", [MIXED, FLIPPED], ids=["A finer", "B finer"])
def test_both_sides_changed_to_one_content_keep_the_finer_sides_mtime(policy: ReconcilePolicy) -> None:
    fine, coarse = at(3, size=9), at(2, size=9)  # the same new file put on both sides, 1 s apart
    a, b = ({"x": fine}, {"x": coarse}) if policy is MIXED else ({"x": coarse}, {"x": fine})
    base = dict(base_of({"x": at(0)}))
    r = reconcile(base, index_of(a), index_of(b), policy)
    assert r.empty and not r.conflicts
    row = r.adopt["x"]
    assert row is not None and row.entry == fine  # exact on the finer side, within 2 s on the other
    assert apply(r, a, b, base) == []
    assert reconcile(base, index_of(a), index_of(b), policy).empty


def test_a_move_on_the_coarser_side_carries_a_touch_on_the_finer_one_along() -> None:
    # A (2 s) renamed x to y; B (1 s) touched x within 2 s of the base: the rename is done on B, and the
    # touch is then B's change at y, as if B had touched y (within A's window of what A holds: no write).
    base = {"x": BaseEntry(at(0), 7, 8)}
    a, b = {"y": at(0)._replace(file_id=7)}, {"x": at(2)._replace(file_id=8)}
    r = reconcile(base, index_of(a), index_of(b), FLIPPED)
    assert [(m.side, m.src, m.dst) for m in r.moves] == [("b", "x", "y")] and not r.conflicts
    assert apply(r, a, b, base) == []
    assert set(a) == set(b) == {"y"} and (a["y"], b["y"]) == (at(0)._replace(file_id=7), at(2)._replace(file_id=8))
    assert base["y"].entry == b["y"] and reconcile(base, index_of(a), index_of(b), FLIPPED).empty
