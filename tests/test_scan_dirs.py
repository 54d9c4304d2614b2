"""``scan_dirs``: scanning only some folders of a tree gives exactly what a full scan gives for them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncline.core.errors import UsageError
from syncline.core.ignore import Rules
from syncline.core.paths import is_under, parent
from syncline.core.scan import scan, scan_dirs

from .conftest import write


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "t"
    for rel in ("a/x.txt", "a/b/y.txt", "a/b/c/z.txt", "a/b/skip.log", "a/keep.log", "d/e/f.txt", "top.txt",
                "ignored-dir/inner.txt", "a/b/c/deep/w.txt"):
        write(root, rel, rel.encode())
    write(root, ".synclineignore", "ignored-dir/\n*.tmp\n")
    write(root, "a/b/.synclineignore", "*.log\n")
    write(root, "a/b/c/scratch.tmp", b"t")
    os.symlink("a", root / "link-to-a")
    write(root, ".syncline/trash/old.txt", b"never scanned")
    return root


def _below(entries: dict, d: str, deep: bool) -> dict:
    if deep:
        return {p: e for p, e in entries.items() if (is_under(p, d) and p != d) or (p == d and d)}
    return {p: e for p, e in entries.items() if parent(p) == d or (p == d and d)}


@pytest.mark.parametrize("d", ["", "a", "a/b", "a/b/c", "d", "d/e"])
@pytest.mark.parametrize("deep", [False, True])
def test_a_folder_scans_as_in_a_full_scan(tree: Path, d: str, deep: bool) -> None:
    full = scan(tree, digests=False, rules=Rules(excludes=("*.skipme",))).entries
    part = scan_dirs(tree, [(d, deep)], rules=Rules(excludes=("*.skipme",))).entries
    want = {p: e[:4] for p, e in _below(full, d, deep).items()}
    assert {p: e[:4] for p, e in part.items()} == want


def test_ignored_missing_and_symlinked_folders_give_nothing(tree: Path) -> None:
    for d in ("ignored-dir", "nope", "a/nope", "top.txt", "link-to-a", "link-to-a/b", ".syncline",
              ".syncline/trash"):
        assert scan_dirs(tree, [(d, True)]).entries == {}, d


def test_the_ignore_files_of_ancestors_apply(tree: Path) -> None:
    part = scan_dirs(tree, [("a/b/c", False)]).entries
    assert "a/b/c/z.txt" in part and "a/b/c/scratch.tmp" not in part  # the root's *.tmp
    assert "a/b/skip.log" not in scan_dirs(tree, [("a/b", False)]).entries  # a/b's own *.log
    assert "a/keep.log" in scan_dirs(tree, [("a", False)]).entries


def test_several_folders_and_overlaps(tree: Path) -> None:
    part = scan_dirs(tree, [("a", True), ("a/b", False), ("d", False), ("d/e", False)]).entries
    full = scan(tree, digests=False).entries
    want = {**_below(full, "a", True), **_below(full, "d", False), **_below(full, "d/e", False)}
    assert sorted(part) == sorted(want)


@pytest.mark.parametrize(("d", "names"), [
    ("", ["top.txt", "a", "ignored-dir", "link-to-a", ".synclineignore", "gone.txt", ".syncline"]),
    ("a/b", ["y.txt", "skip.log", "c", "nothing-here"]),
    ("a/b/c", ["z.txt", "scratch.tmp", "deep"]),
])
def test_named_children_scan_as_in_a_full_scan(tree: Path, d: str, names: list[str]) -> None:
    """Each named child is looked at by itself: what the full scan records of it (a folder: its own entry
    only; ignored, missing and syncline's own: nothing), under the ignore files of the folder and above."""
    rules = Rules(excludes=("*.skipme",))
    full = scan(tree, digests=False, rules=rules).entries
    got = scan_dirs(tree, [(d, False)], rules=rules, names={d: names}).entries
    want = {p: e for p, e in full.items() if (p == d and d) or (parent(p) == d and p.rpartition("/")[2] in names)}
    assert got == want
    assert "a/b/skip.log" not in got and "a/b/c/scratch.tmp" not in got, "ignored by the folder's own rules"


def test_named_children_list_no_folder(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    real = os.scandir

    def spy(path: str) -> object:
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", spy)
    got = scan_dirs(tree, [("a", False), ("d/e", True)], names={"a": ["x.txt"], "d/e": ["f.txt"]}).entries
    assert set(got) == {"a", "a/x.txt", "d/e", "d/e/f.txt"}, "a deep folder is read whole, names or not"
    assert listed == [f"{tree}/d/e"]


@pytest.mark.parametrize("bad", ["", ".", "..", "x/y", "a\0b"])
def test_a_name_that_is_not_one_is_refused(tree: Path, bad: str) -> None:
    with pytest.raises(UsageError, match="names, not paths"):
        scan_dirs(tree, [("a", False)], names={"a": [bad]})
