"""index_of_listing applies the rules a scan applies: it agrees with MemoryReplica.scan and scan_dirs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.core.entry import Entry
from syncline.core.ignore import Rules
from syncline.core.index import Index
from syncline.core.listing import index_of_listing
from syncline.testing.memory import MemoryReplica

SCENARIOS: dict[str, dict[str, str | None]] = {
    "nested ignore files": {
        ".synclineignore": "*.tmp\nbuild/\n",
        "a.tmp": "x", "a.txt": "x", "build/out": "x", "src/build": "x",  # a file called build is kept
        "src/.synclineignore": "!keep.tmp\n/local\n",
        "src/keep.tmp": "x", "src/drop.tmp": "x", "src/local/x": "x", "src/deep/local": "x",
    },
    "ignored folder is not entered": {
        ".synclineignore": "skip/\n",
        "skip/.synclineignore": "!*\n", "skip/x": "x", "keep/x": "x",
    },
    "anchored and double star": {
        ".synclineignore": "/top\n**/cache/**\nlogs/*.log\n",
        "top": "x", "sub/top": "x", "a/cache/b/c": "x", "logs/1.log": "x", "logs/sub/2.log": "x",
    },
    "ignore file is a folder": {".synclineignore/x": "x", "y.tmp": "x"},
    "empty folders and symlinks": {"e/": None, "l@": "target", ".synclineignore": "l\n"},
}


def _tree(spec: dict[str, str | None]) -> MemoryReplica:
    mem = MemoryReplica()
    for path, data in spec.items():
        if path.endswith("/"):
            mem.put_dir(path[:-1])
        elif path.endswith("@"):
            mem.put_symlink(path[:-1], data or "t")
        else:
            mem.put_file(path, (data or "").encode())
    return mem


def _read(mem: MemoryReplica, calls: list[str] | None = None) -> Callable[[str], str]:
    def read(path: str) -> str:
        if calls is not None:
            calls.append(path)
        return mem.read(path).decode()

    return read


def _listing(mem: MemoryReplica) -> Index:
    return mem.scan(Rules(ignore_files=False), False, "")


def _same(a: Index, b: Index) -> None:
    assert dict(a.items()) == dict(b.items())
    assert a.root == b.root
    assert a.unreadable == b.unreadable and a.problems == b.problems


RULES = [Rules(), Rules(excludes=("*.txt",)), Rules(excludes=("src",), includes=("src",)), Rules(ignore_files=False),
         Rules(excludes=("x",))]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("rules", RULES)
def test_agrees_with_memory_scan(name: str, rules: Rules) -> None:
    mem = _tree(SCENARIOS[name])
    full = _listing(mem)
    got = index_of_listing(reversed(list(full.items())), rules, _read(mem), full.root)
    _same(got, mem.scan(rules, False, ""))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("dirs", [[("", False)], [("src", False)], [("src", True), ("logs", False)],
                                  [("missing", True)], [("a.txt", False)], [("skip", True)], [("a/cache", True)]])
def test_scoped_agrees_with_memory_scan_dirs(name: str, dirs: list[tuple[str, bool]]) -> None:
    mem = _tree(SCENARIOS[name])
    full = _listing(mem)
    got = index_of_listing(full.items(), Rules(), _read(mem), full.root, dirs=dirs)
    _same(got, mem.scan_dirs(dirs, Rules(), ""))


def test_scoped_reads_only_the_ignore_files_on_the_way() -> None:
    mem = _tree({".synclineignore": "*.tmp\n", "a/.synclineignore": "x\n", "a/b/.synclineignore": "y\n",
                 "a/b/f": "", "c/.synclineignore": "z\n", "c/d/e": ""})
    calls: list[str] = []
    index_of_listing(_listing(mem).items(), Rules(), _read(mem, calls), dirs=[("a", False)])
    assert sorted(calls) == [".synclineignore", "a/.synclineignore"]


def test_an_unreadable_ignore_file_protects_its_folder() -> None:
    mem = _tree({"a/.synclineignore": "x\n", "a/x": "", "b": ""})

    def read(path: str) -> str:
        raise PermissionError(13, "Permission denied")

    got = index_of_listing(_listing(mem).items(), Rules(), read)
    assert got.unreadable == frozenset({"a"})
    assert [p.path for p in got.problems] == ["a/.synclineignore"]
    assert "a/x" in got and "b" in got  # without its rules nothing is ignored, and nothing is deleted under it


def test_a_path_without_its_folder_is_a_problem_never_dropped_silently() -> None:
    f = Entry("file", 0, 1, 0o644)
    got = index_of_listing([("a/b/c", f), ("x", f), ("x/y", f), ("ok", f)], Rules(), lambda p: "")
    assert set(got) == {"x", "ok"}
    assert got.unreadable == frozenset({"a/b", "a", "x"})
    assert {p.path for p in got.problems} == {"a/b", "x"}
    assert got.is_unreadable("a/b/c") and got.is_unreadable("x/y")


def test_the_meta_folder_is_never_listed() -> None:
    d, f = Entry("dir", 0, 1, 0o755), Entry("file", 0, 1, 0o644)
    got = index_of_listing([(".syncline", d), (".syncline/x", f), ("a", d), ("a/.syncline", f)], Rules(),
                           lambda p: "")
    assert list(got) == ["a"]


_names = st.sampled_from(["a", "b", "c.tmp", "d.txt", "build", ".synclineignore"])
_patterns = st.sampled_from(["*.tmp", "build/", "!c.tmp", "/a", "**/b", "a/*", "*.txt", "!build", "b/", "#x"])


@st.composite
def _trees(draw: st.DrawFn) -> dict[str, str | None]:
    spec: dict[str, str | None] = {}
    for parts in draw(st.lists(st.lists(_names, min_size=1, max_size=3), max_size=12)):
        path = "/".join(parts)
        if parts[-1] == ".synclineignore":
            spec[path] = "\n".join(draw(st.lists(_patterns, max_size=3)))
        else:
            spec[path] = None if draw(st.booleans()) else ""
    # A path cannot be both a file and a folder: keep the first use of each prefix.
    out: dict[str, str | None] = {}
    for path, data in spec.items():
        parts = path.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if any(p in out and not p.endswith("/") for p in prefixes) or any(q.startswith(path + "/") or q == path + "/"
                                                                          for q in out):
            continue
        out[path + "/" if data is None else path] = data if data is not None else None
    return out


@settings(max_examples=120, deadline=None)
@given(_trees(), st.lists(_patterns, max_size=2), st.lists(st.tuples(_names, st.booleans()), max_size=2))
def test_random_trees_agree(spec: dict[str, str | None], excludes: list[str],
                            dirs: list[tuple[str, bool]]) -> None:
    mem = _tree(spec)
    rules = Rules(excludes=tuple(excludes))
    full = _listing(mem)
    _same(index_of_listing(full.items(), rules, _read(mem), full.root), mem.scan(rules, False, ""))
    _same(index_of_listing(full.items(), rules, _read(mem), full.root, dirs=dirs), mem.scan_dirs(dirs, rules, ""))
