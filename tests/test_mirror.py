"""Table tests of the one-way planner: pure functions, no I/O."""

from __future__ import annotations

import pytest

from syncline.core.entry import DIR, FILE, SYMLINK, Compare, CompareMode, Entry
from syncline.core.index import Index
from syncline.core.oneway import deletes_under_limit, mirror
from syncline.core.plan import Plan

D1 = b"\x01" * 32
D2 = b"\x02" * 32


def f(size: int = 10, mtime: int = 100, mode: int = 0o644, digest: bytes | None = None) -> Entry:
    return Entry(FILE, size, mtime, mode, digest)


def d(mtime: int = 100, mode: int = 0o755) -> Entry:
    return Entry(DIR, 0, mtime, mode)


def ln(target: str, mtime: int = 100) -> Entry:
    return Entry(SYMLINK, len(target), mtime, 0o777, target=target)


def ops(plan: Plan, *, dirs: bool = False) -> list[tuple[str, str]]:
    """(op, path) pairs, leaving out the final directory meta pass unless asked."""
    return [(a.op, a.path) for a in plan if dirs or not (a.op == "meta" and (a.entry is None or a.entry.is_dir))]


# (name, source entry, target entry, delete, expected ops for path "p")
CASES = [
    ("new file", f(), None, False, [("copy", "p")]),
    ("new dir", d(), None, False, [("mkdir", "p")]),
    ("new link", ln("t"), None, False, [("symlink", "p")]),
    ("same file", f(), f(), False, []),
    ("size differs", f(size=11), f(), False, [("copy", "p")]),
    ("mtime differs", f(mtime=200), f(), False, [("copy", "p")]),
    ("mode differs", f(mode=0o600), f(), False, [("meta", "p")]),
    ("link target differs", ln("a"), ln("b"), False, [("symlink", "p")]),
    ("link mtime differs", ln("a", 5), ln("a", 6), False, [("meta", "p")]),
    ("file replaces link", f(), ln("a"), False, [("copy", "p")]),
    ("link replaces file", ln("a"), f(), False, [("symlink", "p")]),
    ("dir replaces file", d(), f(), False, [("mkdir", "p")]),
    ("file replaces empty dir", f(), d(), False, [("copy", "p")]),
    ("target only, no delete", None, f(), False, []),
    ("target only, delete", None, f(), True, [("delete", "p")]),
    ("target-only link, delete", None, ln("x"), True, [("delete", "p")]),
]


@pytest.mark.parametrize(("name", "s", "t", "delete", "expected"), CASES, ids=[c[0] for c in CASES])
def test_single_path_decisions(name: str, s: Entry | None, t: Entry | None, delete: bool,
                               expected: list[tuple[str, str]]) -> None:
    src = Index({"p": s} if s else {}, root=d())
    dst = Index({"p": t} if t else {}, root=d())
    assert ops(mirror(src, dst, delete=delete)) == expected


def test_new_directory_is_created_then_its_meta_set_last() -> None:
    src = Index({"p": d(mode=0o555), "p/x": f()}, root=d())
    plan = mirror(src, Index({}, root=d()))
    assert [(a.op, a.path) for a in plan] == [("mkdir", "p"), ("copy", "p/x"), ("meta", "p"), ("meta", "")]


def test_dir_replacing_a_file_creates_children_after_it() -> None:
    src = Index({"p": d(), "p/x": f()}, root=d())
    dst = Index({"p": f()}, root=d())
    plan = mirror(src, dst)
    assert [(a.op, a.path) for a in plan][:2] == [("mkdir", "p"), ("copy", "p/x")]
    assert plan.actions[0].expect == f()


def test_file_replacing_a_nonempty_dir_needs_delete() -> None:
    src = Index({"p": f()}, root=d())
    dst = Index({"p": d(), "p/a": f(), "p/a2": d(), "p/a2/b": f()}, root=d())
    kept = mirror(src, dst)
    assert ops(kept) == [] and len(kept.problems) == 1 and "--delete" in kept.problems[0].message
    replaced = mirror(src, dst, delete=True)
    assert ops(replaced) == [("delete", "p/a2/b"), ("delete", "p/a2"), ("delete", "p/a"), ("copy", "p")]


def test_deletes_come_after_copies_children_first() -> None:
    src = Index({"new": f()}, root=d())
    dst = Index({"a": d(), "a/b": d(), "a/b/c": f(), "z": f()}, root=d())
    plan = mirror(src, dst, delete=True)
    assert ops(plan) == [("copy", "new"), ("delete", "z"), ("delete", "a/b/c"), ("delete", "a/b"), ("delete", "a")]


def test_no_delete_under_unreadable_source_parts() -> None:
    src = Index({"a": d(), "ok": f()}, root=d(), unreadable=frozenset({"a"}))
    dst = Index({"a": d(), "a/hidden": f(), "ok": f(), "gone": f()}, root=d())
    plan = mirror(src, dst, delete=True)
    assert ops(plan) == [("delete", "gone")]


def test_unreadable_source_root_deletes_nothing() -> None:
    src = Index({}, root=d(), unreadable=frozenset({""}))
    dst = Index({"a": f()}, root=d())
    assert ops(mirror(src, dst, delete=True)) == []


def test_changed_dir_gets_its_mtime_restored() -> None:
    src = Index({"a": d(mtime=5), "a/new": f()}, root=d())
    dst = Index({"a": d(mtime=5)}, root=d())
    assert ("meta", "a") in [(x.op, x.path) for x in mirror(src, dst)]


def test_equal_trees_plan_nothing() -> None:
    tree = {"a": d(), "a/b": f(), "l": ln("a/b")}
    assert len(mirror(Index(tree, root=d()), Index(dict(tree), root=d()), delete=True)) == 0


def test_root_metadata_is_mirrored() -> None:
    plan = mirror(Index({}, root=d(mtime=1, mode=0o700)), Index({}, root=d(mtime=2)))
    assert [(a.op, a.path) for a in plan] == [("meta", "")]


@pytest.mark.parametrize(("mode", "src_e", "dst_e", "copies"), [
    (CompareMode.MTIME, f(mtime=100, digest=D1), f(mtime=100, digest=D2), False),
    (CompareMode.CHECKSUM, f(mtime=100, digest=D1), f(mtime=100, digest=D2), True),
    (CompareMode.CHECKSUM, f(mtime=100, digest=D1), f(mtime=999, digest=D1), False),
    (CompareMode.CHECKSUM, f(mtime=100), f(mtime=999), True),  # no digests: falls back to mtime
    (CompareMode.SIZE, f(size=1, mtime=1), f(size=1, mtime=2), False),
    (CompareMode.SIZE, f(size=1), f(size=2), True),
])
def test_compare_modes(mode: CompareMode, src_e: Entry, dst_e: Entry, copies: bool) -> None:
    plan = mirror(Index({"p": src_e}, root=d()), Index({"p": dst_e}, root=d()), compare=Compare(mode))
    assert (("copy", "p") in ops(plan)) is copies


def test_modify_window() -> None:
    src = Index({"p": f(mtime=1_000_000_000)}, root=d())
    dst = Index({"p": f(mtime=2_000_000_000)}, root=d())
    assert ops(mirror(src, dst, compare=Compare(modify_window_ns=1_000_000_000))) == []
    assert ops(mirror(src, dst, compare=Compare(modify_window_ns=999_999_999))) == [("copy", "p")]


def test_max_delete_counts_files_not_overwrites() -> None:
    src = Index({"a": f(size=1)}, root=d())
    dst = Index({"a": f(size=2), "b": f(), "c": f(), "dir": d()}, root=d())
    plan = mirror(src, dst, delete=True)
    assert plan.summary().file_deletes == 2
    assert not deletes_under_limit(plan, dst, 0.5)  # 2 of 3 files
    assert deletes_under_limit(plan, dst, 0.7)
    assert deletes_under_limit(plan, dst, 2) and not deletes_under_limit(plan, dst, 1)


def test_itemize_codes_match_rsync() -> None:
    src = Index({"new": f(), "chg": f(size=5, mtime=7), "perm": f(mode=0o600), "dir": d(), "l": ln("x")}, root=d())
    dst = Index({"chg": f(size=4, mtime=6), "perm": f(), "gone": f()}, root=d())
    lines = list(mirror(src, dst, delete=True).lines())
    assert ">f+++++++++ new" in lines
    assert ">f.st...... chg" in lines
    assert ".f...p..... perm" in lines
    assert "cd+++++++++ dir/" in lines
    assert "cL+++++++++ l -> x" in lines
    assert "*deleting   gone" in lines
