"""diff(old, new): pure table tests, plus the public surface of the package."""

from __future__ import annotations

from pathlib import Path

import syncline
from syncline.core.diff import diff
from syncline.core.entry import DIR, FILE, SYMLINK, Entry
from syncline.core.index import Index, IndexHeader
from syncline.formats.indexfile import write_index

from .conftest import write

H = IndexHeader(digests=True)


def f(digest: int, size: int = 10, mtime: int = 1, mode: int = 0o644) -> Entry:
    return Entry(FILE, size, mtime, mode, bytes([digest]) * 32)


def kinds(old: dict[str, Entry], new: dict[str, Entry]) -> list[tuple[str, str, str | None]]:
    return [(c.kind, c.path, c.from_path) for c in diff(Index(old, H), Index(new, H))]


def test_each_kind_of_change() -> None:
    d = Entry(DIR, 0, 1, 0o755)
    old = {"same": f(1), "mod": f(2), "gone": f(3), "old-name": f(4), "t": f(5), "perm": f(6), "dir": d}
    new = {"same": f(1), "mod": f(9), "new-name": f(4), "t": d, "perm": f(6, mode=0o600), "dir": d,
           "added": Entry(SYMLINK, 1, 1, 0o777, target="x")}
    assert kinds(old, new) == [
        ("added", "added", None),
        ("deleted", "gone", None),
        ("modified", "mod", None),
        ("moved", "new-name", "old-name"),
        ("meta", "perm", None),
        ("type", "t", None),
    ]


def test_moves_pair_one_to_one() -> None:
    assert kinds({"a": f(1), "b": f(1)}, {"c": f(1)}) == [("deleted", "b", None), ("moved", "c", "a")]


def test_same_content_new_mtime_is_meta_and_dir_mtimes_are_not_reported() -> None:
    old = {"d": Entry(DIR, 0, 1, 0o755), "d/x": f(1, mtime=1)}
    new = {"d": Entry(DIR, 0, 2, 0o755), "d/x": f(1, mtime=2)}
    assert kinds(old, new) == [("meta", "d/x", None)]


def test_without_digests_content_is_judged_by_size_and_mtime() -> None:
    a = Index({"x": Entry(FILE, 1, 1, 0o644)})
    b = Index({"x": Entry(FILE, 1, 2, 0o644)})
    assert [c.kind for c in diff(a, b)] == ["modified"]
    assert diff(a, a).equal


def test_api_diff_accepts_dirs_files_and_indexes(tmp_path: Path) -> None:
    write(tmp_path / "t", "a.txt", "x")
    idx = syncline.scan(tmp_path / "t")
    write_index(idx, tmp_path / "t.slidx")
    assert syncline.diff(idx, tmp_path / "t").equal
    assert syncline.diff(tmp_path / "t.slidx", tmp_path / "t").equal
    write(tmp_path / "t", "b.txt", "y")
    assert [c.path for c in syncline.diff(tmp_path / "t.slidx", tmp_path / "t")] == ["b.txt"]


def test_exported_members() -> None:
    assert syncline.__all__ == sorted(syncline.__all__)
    for name in syncline.__all__:
        assert hasattr(syncline, name), name
    assert {"sync", "scan", "diff", "load_index", "Index", "Report", "SynclineError"} <= set(syncline.__all__)
    assert issubclass(syncline.SafetyStop, syncline.SynclineError)
    assert issubclass(syncline.IndexFormatError, syncline.SynclineError)


def _folder(root: Path, name: str, files: int) -> None:
    for i in range(files):
        write(root, f"{name}/sub{i % 4}/f{i}.txt", f"file {i} of {name}", mtime=1_600_000_000 + i)


def test_a_renamed_folder_is_one_move_with_the_changes_inside_it(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    _folder(tree, "project", 120)
    write(tree, "elsewhere.txt", "x")
    before = syncline.scan(tree)
    (tree / "project").rename(tree / "renamed")
    write(tree, "renamed/sub1/f1.txt", "edited after the move")
    (tree / "renamed/sub2/f2.txt").unlink()
    write(tree, "renamed/new.txt", "new")
    changes = [(c.kind, c.path, c.from_path) for c in diff(before, syncline.scan(tree))]
    assert changes == [
        ("moved", "renamed", "project"),
        ("added", "renamed/new.txt", None),
        ("modified", "renamed/sub1/f1.txt", None),
        ("deleted", "renamed/sub2/f2.txt", None),
    ]


def test_a_folder_renamed_in_a_copy_of_the_tree_is_one_move(tmp_path: Path) -> None:
    import shutil

    _folder(tmp_path / "t", "project", 60)
    before = syncline.scan(tmp_path / "t")
    shutil.copytree(tmp_path / "t", tmp_path / "copy", copy_function=shutil.copy2)  # other inodes
    (tmp_path / "copy/docs").mkdir()
    (tmp_path / "copy/project").rename(tmp_path / "copy/docs/project")
    changes = [(c.kind, c.path, c.from_path) for c in diff(before, syncline.scan(tmp_path / "copy"))]
    assert changes == [("added", "docs", None), ("moved", "docs/project", "project")]


def test_folders_with_the_same_content_are_not_taken_for_each_other(tmp_path: Path) -> None:
    import shutil

    for name in ("a", "b"):
        write(tmp_path / "t", f"{name}/same.txt", "same", mtime=1_600_000_000)
    before = syncline.scan(tmp_path / "t")
    shutil.copytree(tmp_path / "t", tmp_path / "copy", copy_function=shutil.copy2)
    for name in ("a", "b"):
        (tmp_path / "copy" / name).rename(tmp_path / "copy" / f"{name}2")
    kinds_seen = sorted(c.kind for c in diff(before, syncline.scan(tmp_path / "copy")))
    assert "moved" in kinds_seen and len(kinds_seen) > 2  # the files pair up; no folder is guessed


def test_the_command_prints_a_folder_move_once(tmp_path: Path) -> None:
    from .cli_helpers import run

    tree = tmp_path / "t"
    _folder(tree, "photos/2026", 400)
    old = tmp_path / "old.slidx"
    assert run("index", tree, "-o", old, "-q").returncode == 0
    (tree / "photos").rename(tree / "pictures")
    for new in (tree, tmp_path / "new.slidx"):
        if new != tree:
            assert run("index", tree, "-o", new, "-q").returncode == 0
        proc = run("diff", old, new)
        assert proc.returncode == 1 and proc.stdout.splitlines() == ["R photos/ -> pictures/", "1 moved"]
