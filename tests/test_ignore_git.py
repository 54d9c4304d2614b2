"""Ignore rules against git itself: each scenario's rules are written both as ``.gitignore`` and as
``.synclineignore`` files in one tree, ``git check-ignore`` decides every path, and a scan must keep exactly
the paths git does not ignore (a path below an ignored directory counts as ignored, as in git)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from syncline.core.ignore import Rules
from syncline.core.scan import scan

from .conftest import write

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

RULE_FILES = (".gitignore", ".synclineignore")

# name -> (ignore files by directory, paths: a trailing "/" makes an empty directory)
SCENARIOS: dict[str, tuple[dict[str, str], list[str]]] = {
    "issue-11-negation-then-directory": (
        {"": "*.log\n!important/**\nimportant/old/\n"},
        ["a.log", "b.txt", "important/a.log", "important/old/a.log", "important/old/b.txt",
         "important/new/c.log", "other/important/old/d.log"],
    ),
    "no-reinclusion-below-an-excluded-directory": (
        {"": "build/\n!build/keep.txt\nout/*\n!out/keep.txt\n"},
        ["build/keep.txt", "build/x.o", "out/keep.txt", "out/x.o", "out/sub/keep.txt", "src/build/y.o"],
    ),
    "directory-only-patterns": (
        {"": "cache/\n!tmp/\ntmp*\n"},
        ["cache/a", "sub/cache", "sub/x/cache/b", "tmpfile", "tmp/a", "sub/tmp/b", "tmpdir/c"],
    ),
    "anchored-patterns": (
        {"": "/top.txt\ndoc/*.md\n/only-root/\nmid/dle\n"},
        ["top.txt", "sub/top.txt", "doc/a.md", "doc/deep/b.md", "sub/doc/c.md", "only-root/x",
         "sub/only-root/y", "mid/dle", "sub/mid/dle", "mid/dle2"],
    ),
    "double-star": (
        {"": "**/tmp\na/**/b\nlogs/**\n!logs/keep/\n**/deep/**/z.txt\nfoo**bar\n"},
        ["tmp", "x/tmp", "x/y/tmp/f", "a/b", "a/x/b", "a/x/y/b", "c/a/b", "logs/1", "logs/keep/2",
         "logs/keep/3.log", "p/deep/z.txt", "deep/q/r/z.txt", "deep/z2.txt", "fooXbar", "fooX/bar", "foobar"],
    ),
    "nested-ignore-files": (
        {"": "*.txt\n!keep/\nkeep/*\n", "sub": "!*.txt\n/anchored\n", "sub/deeper": "secret.txt\n*.md\n",
         "keep": "!kept.txt\n"},
        ["a.txt", "sub/b.txt", "sub/anchored", "sub/x/anchored", "anchored", "sub/deeper/secret.txt",
         "sub/deeper/open.txt", "sub/deeper/r.md", "r.md", "keep/kept.txt", "keep/other"],
    ),
    "escaped-and-special-characters": (
        {"": "\\#hash\n#comment\n\\!bang\n\\*star\n[ab].c\n[!a].d\nq?.e\n\\[lit].f\n[[:digit:]]x\n"
             "[a-c]r\n[]]br\nback\\\\slash\nu\\nx\n"},
        ["#hash", "#comment", "!bang", "*star", "xstar", "a.c", "b.c", "c.c", "a.d", "b.d", "qq.e", "q.e",
         "[lit].f", "l.f", "7x", "ax", "ar", "dr", "]br", "back\\slash", "unx"],
    ),
    "trailing-spaces-and-line-ends": (
        {"": "trail   \nsp\\ \ntab\t\ncrlf\r\n  lead\n\n   \n", "w": "\ufeffbom\n"},
        ["trail", "trail ", "sp ", "sp", "tab\t", "tab", "crlf", "  lead", "lead", "w/bom"],
    ),
    "negations-last-line-wins": (
        {"": "*.o\n!*.o\nre*\n!red*\nredx\nd/\n!d/\n", "q": "!*.o\n*.o\n"},
        ["a.o", "q/b.o", "rest", "redo", "redx", "d/f"],
    ),
}


def _git_keeps(tree: Path, paths: list[str], tmp: Path) -> set[str]:
    """The paths git does not ignore: neither they nor any directory above them."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_DIR": str(tmp / "git"), "GIT_WORK_TREE": str(tree)}
    subprocess.run(["git", "init", "-q"], env=env, check=True, timeout=60)
    done = subprocess.run(["git", "check-ignore", "--no-index", "-z", "--stdin"], cwd=tree, env=env,
                          input="\0".join(paths).encode() + b"\0", capture_output=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr  # 1: nothing ignored
    ignored = set(os.fsdecode(p) for p in done.stdout.split(b"\0") if p)
    kept = set()
    for p in paths:
        parts = p.split("/")
        if not any("/".join(parts[: i + 1]) in ignored for i in range(len(parts))):
            kept.add(p)
    return kept


def _tree_paths(tree: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(tree):
        rel = os.path.relpath(dirpath, tree)
        for name in dirnames + filenames:
            out.append(name if rel == "." else f"{rel}/{name}")
    return sorted(out)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_ignore_files_follow_git_check_ignore(name: str, tmp_path: Path) -> None:
    files, paths = SCENARIOS[name]
    tree = tmp_path / "tree"
    tree.mkdir()
    for p in paths:
        if p.endswith("/"):
            (tree / p).mkdir(parents=True, exist_ok=True)
        else:
            write(tree, p, "x")
    for d, text in files.items():
        for fname in RULE_FILES:
            write(tree, f"{d}/{fname}" if d else fname, text)
    every = [p for p in _tree_paths(tree) if p.rpartition("/")[2] not in RULE_FILES]
    expected = _git_keeps(tree, every, tmp_path)
    got = {p for p in scan(tree, digests=False) if p.rpartition("/")[2] not in RULE_FILES}
    assert got == expected, f"syncline keeps {sorted(got - expected)}, ignores {sorted(expected - got)}"


def test_command_line_rules_follow_git_check_ignore(tmp_path: Path) -> None:
    """``--exclude``/``--include`` are one more set of gitignore lines (excludes, then ``!``-includes)."""
    rules = Rules(excludes=("*.log", "important/old/", "/build/"), includes=("important/**", "keep.log"),
                  ignore_files=False)
    tree = tmp_path / "tree"
    for p in ("a.log", "keep.log", "sub/keep.log", "important/a.log", "important/old/a.log", "build/x",
              "sub/build/y"):
        write(tree, p, "x")
    write(tree, ".gitignore", "*.log\nimportant/old/\n/build/\n!important/**\n!keep.log\n")
    every = [p for p in _tree_paths(tree) if p != ".gitignore"]
    expected = _git_keeps(tree, every, tmp_path)
    got = {p for p in scan(tree, rules=rules, digests=False) if p != ".gitignore"}
    assert got == expected
