"""The two-way planner with a read-only side (a read-only share, issue 14): nothing is planned into it,
the other side comes back to its state, and no change the other side made is lost: it stays there (held,
reported) under its name or as a conflict copy."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from syncline.core.conflicts import conflict_name
from syncline.core.entry import DIR, FILE, Entry
from syncline.core.paths import is_under
from syncline.core.reconcile import HELD, BaseEntry, Reconciled, ReconcilePolicy, reconcile

from .test_reconcile import S
from .twoway_model import Tree, apply, base_of, index_of

RO_B = ReconcilePolicy(device_a="hosta", device_b="hostb", read_only="b")
RO_A = ReconcilePolicy(device_a="hosta", device_b="hostb", read_only="a")


def _tree(state: str, extra: Tree | None = None) -> Tree:
    e = S[state]
    return {**({} if e is None else {"x": e}), **(extra or {})}


def _held(r: Reconciled) -> set[str]:
    return {p.path for p in r.problems if p.message == HELD}


def _outside(tree: Tree, held: set[str]) -> Tree:
    return {p: e for p, e in tree.items() if not any(p == h or is_under(p, h) for h in held)}


def _sync(base: dict[str, BaseEntry], a: Tree, b: Tree, opts: ReconcilePolicy) -> Reconciled:
    r = reconcile(base, index_of(a), index_of(b), opts)
    assert apply(r, a, b, base) == []
    return r


@pytest.mark.parametrize("opts", [RO_B, RO_A], ids=["b read-only", "a read-only"])
@pytest.mark.parametrize(("base", "a", "b"), list(itertools.product(S, S, S)))
def test_nothing_is_written_to_the_read_only_side_and_nothing_is_lost(base: str, a: str, b: str,
                                                                     opts: ReconcilePolicy) -> None:
    ro = opts.read_only
    extra: Tree = {"x/in": Entry(FILE, 7, 7000, 0o644)} if S[a if ro == "b" else b] == S["d"] else {}
    ta = _tree(a, extra if ro == "b" else None)
    tb = _tree(b, extra if ro == "a" else None)
    mine, theirs = (ta, tb) if ro == "b" else (tb, ta)
    before_theirs, before_mine = dict(theirs), dict(mine)
    rows = dict(base_of(_tree(base)))
    r = _sync(rows, ta, tb, opts)
    assert theirs == before_theirs, "the read-only side is never written"
    assert not (r.to_b if ro == "b" else r.to_a).actions
    assert all(m.side != ro for m in r.moves)
    held = _held(r)
    assert _outside(mine, held) == _outside(theirs, held), "the rest is the read-only side's state"
    kept = set(mine.values())
    was = _tree(base)
    for p, e in before_mine.items():
        if was.get(p) != e:  # a change made on the writable side: kept there, at its path or as a copy
            assert e in kept, f"{e} was lost"
    again = _sync(rows, ta, tb, opts)
    assert again.empty and _held(again) == held, "a second run changes nothing and holds the same"


def test_an_edit_is_kept_as_a_conflict_copy_and_the_file_comes_back() -> None:
    rows = dict(base_of({"x": S["f1"]}))
    ta, tb = {"x": S["f2"]}, {"x": S["f1"]}
    r = _sync(rows, ta, tb, RO_B)
    copy = conflict_name("x", 2000, "hosta")
    assert ta == {"x": S["f1"], copy: S["f2"]} and tb == {"x": S["f1"]}
    assert _held(r) == {copy} and copy not in rows


def test_new_files_and_folders_stay_held_deletes_and_chmods_come_back() -> None:
    f1, d = S["f1"], S["d"]
    assert f1 is not None and d is not None
    chmod = Entry(FILE, 1, 1000, 0o600)
    rows = dict(base_of({"gone": f1, "mode": f1, "dir": d, "dir/f": f1}))
    ta: Tree = {"new": f1, "mode": chmod, "dir": d, "newdir": d, "newdir/f": f1}  # gone and dir/f deleted
    tb: Tree = {"gone": f1, "mode": f1, "dir": d, "dir/f": f1}
    r = _sync(rows, ta, tb, RO_B)
    assert ta == {"new": f1, "mode": f1, "dir": d, "dir/f": f1, "gone": f1, "newdir": d, "newdir/f": f1}
    assert _held(r) == {"new", "newdir", "newdir/f"}
    assert set(rows) == {"gone", "mode", "dir", "dir/f"}, "held items never enter the base"


def test_a_rename_on_the_writable_side_is_not_propagated() -> None:
    moved = Entry(FILE, 5, 5000, 0o644, file_id=11)
    rows = dict(base_of({"old": moved}))
    ta, tb = {"new": moved}, {"old": moved}
    r = _sync(rows, ta, tb, RO_B)
    assert tb == {"old": moved} and set(ta) == {"old", "new"} and _held(r) == {"new"}


def test_a_folder_over_the_read_only_side_s_file_is_held_as_it_is() -> None:
    d, f1 = S["d"], S["f1"]
    assert d is not None and f1 is not None
    rows = dict(base_of({"x": f1}))
    ta: Tree = {"x": d, "x/in": f1}
    tb: Tree = {"x": S["f2"]}  # type: ignore[dict-item]
    r = _sync(rows, ta, tb, RO_B)
    assert ta == {"x": d, "x/in": f1} and _held(r) >= {"x"}


def test_held_problems_say_what_to_do() -> None:
    rows: dict[str, Any] = {}
    r = _sync(rows, {"x": S["f1"]}, {}, RO_B)  # type: ignore[dict-item]
    [problem] = r.problems
    assert problem.error and not problem.retryable and "read" in problem.message and "kept here" in problem.message
    assert [e.kind for e in (S["d"],)] == [DIR]
