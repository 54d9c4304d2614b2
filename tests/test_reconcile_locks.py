"""The two-way planner with paths locked by someone else on one side (file locks, issue 14): a change of
this side that would write a locked path waits (not planned, base unchanged, reported as retryable); a
change of both sides keeps the lock holder's version at the path and this side's as a conflict copy; the
rest of the tree syncs as usual."""

from __future__ import annotations

import itertools

import pytest

from syncline.core.conflicts import conflict_name
from syncline.core.entry import DIR, FILE, Entry
from syncline.core.reconcile import BaseEntry, Reconciled, ReconcilePolicy, reconcile

from .test_reconcile import S
from .twoway_model import Tree, apply, base_of, index_of

WHY = "locked by anna on anna-laptop for 1700 s more"
LOCKED = ReconcilePolicy(device_a="hosta", device_b="hostb", locked_b={"x": WHY})


def _sync(base: dict[str, BaseEntry], a: Tree, b: Tree, opts: ReconcilePolicy = LOCKED) -> Reconciled:
    r = reconcile(base, index_of(a), index_of(b), opts)
    assert apply(r, a, b, base) == []
    return r


def _waiting(r: Reconciled) -> set[str]:
    return {p.path for p in r.problems if p.retryable and WHY in p.message}


def _tree(state: str) -> Tree:
    e = S[state]
    return {} if e is None else {"x": e}


@pytest.mark.parametrize(("base", "a", "b"), [c for c in itertools.product(S, S, S)
                                              if S[c[1]] is None or S[c[1]].kind != DIR])  # type: ignore[union-attr]
def test_a_locked_path_is_never_written_and_no_change_is_lost(base: str, a: str, b: str) -> None:
    ta, tb = _tree(a), _tree(b)
    before_a, before_b = dict(ta), dict(tb)
    rows = dict(base_of(_tree(base)))
    r = _sync(rows, ta, tb)
    assert tb.get("x") == before_b.get("x"), "the locked path on B is never written"
    assert all(m.side != "b" or "x" not in (m.src, m.dst) for m in r.moves)
    for side, before in (("a", before_a), ("b", before_b)):
        e = before.get("x")
        if e is not None and e != S[base]:
            assert e in set(ta.values()) | set(tb.values()), f"{side}'s change was lost"
    if _waiting(r):
        assert ta.get("x") == before_a.get("x") and rows.get("x") == dict(base_of(_tree(base))).get("x")


def test_an_edit_of_a_locked_file_waits_then_goes_once_the_lock_ends() -> None:
    f1, f2 = S["f1"], S["f2"]
    rows = dict(base_of({"x": f1, "y": f1}))  # type: ignore[dict-item]
    ta, tb = {"x": f2, "y": f2}, {"x": f1, "y": f1}
    r = _sync(rows, ta, tb)
    assert tb == {"x": f1, "y": f2} and _waiting(r) == {"x"}, "the rest syncs; the locked file waits"
    assert rows["x"].entry == f1
    r = _sync(rows, ta, tb, ReconcilePolicy(device_a="hosta", device_b="hostb"))  # unlocked
    assert tb == {"x": f2, "y": f2} and not r.problems


def test_a_locked_file_changed_by_its_holder_too_keeps_both() -> None:
    f1, f2, f3 = S["f1"], S["f2"], S["f3"]
    rows = dict(base_of({"x": f1}))  # type: ignore[dict-item]
    ta, tb = {"x": f3}, {"x": f2}  # this side's edit is the newer: without the lock it would win
    r = _sync(rows, ta, tb)
    copy = conflict_name("x", 3000, "hosta")
    assert ta == tb == {"x": f2, copy: f3} and not _waiting(r)


def test_a_delete_or_rename_of_a_locked_file_waits() -> None:
    moved = Entry(FILE, 5, 5000, 0o644, file_id=7)
    rows = dict(base_of({"x": moved, "gone": S["f1"]}))  # type: ignore[dict-item]
    ta: Tree = {"y": moved}
    tb: Tree = {"x": moved, "gone": S["f1"]}  # type: ignore[dict-item]
    opts = ReconcilePolicy(device_a="hosta", device_b="hostb", locked_b={"x": WHY, "gone": WHY})
    r = _sync(rows, ta, tb, opts)
    assert tb == {"x": moved, "gone": S["f1"], "y": moved} and _waiting(r) == {"x", "gone"}


def test_a_folder_holding_a_locked_file_is_not_renamed_by_this_side() -> None:
    d = Entry(DIR, 0, 1, 0o755, file_id=1)
    f = Entry(FILE, 1, 10, 0o644, file_id=2)
    rows = dict(base_of({"d": d, "d/x": f}))
    ta: Tree = {"e": d, "e/x": f}
    tb: Tree = {"d": d, "d/x": f}
    r = _sync(rows, ta, tb, ReconcilePolicy(device_a="hosta", device_b="hostb", locked_b={"d/x": WHY}))
    assert "d/x" in tb and tb["d/x"] == f and _waiting(r) >= {"d/x"}
    assert all(m.side != "b" for m in r.moves)
