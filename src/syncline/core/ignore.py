"""Ignore rules: ``.synclineignore`` files (gitignore syntax) plus ``--exclude`` / ``--include``.

Semantics are git's, checked against ``git check-ignore`` by a golden test: a ``.synclineignore`` in a
directory applies to everything below it, with patterns relative to that directory; deeper files and later
lines win; an excluded directory is not entered, so nothing below it can be brought back (as in git).
Command-line rules come last and win: ``--exclude PAT`` ignores what matches, ``--include PAT`` brings back
what any exclude or ignore file excluded (``--exclude '*.log' --include keep.log``).

The patterns are translated here, following git's ``dir.c`` and ``wildmatch.c``, rather than by pathspec:
pathspec's ``GitIgnoreSpec`` answers for a lone path by guessing what its parent directories did, and that
guess changed between 0.12 and 1.x (``*.log``, ``!important/**``, ``important/old/`` stopped ignoring
``important/old/a.log``). A walk that never enters an excluded directory needs only the plain rule for one
path: the last matching line decides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

IGNORE_FILE = ".synclineignore"

# POSIX bracket classes as wildmatch knows them (ASCII, as git's sane_ctype), inside a regex set.
_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t-\\r ", "upper": "A-Z", "xdigit": "0-9A-Fa-f",
}
_NEVER = "(?!)"  # git's ABORT: a pattern it cannot parse matches nothing


@dataclass(frozen=True)
class Pattern:
    """One gitignore line: matches a path relative to the directory of its file."""

    regex: re.Pattern[str]
    negated: bool
    dir_only: bool  # a trailing "/": only directories match
    basename: bool  # no "/" but a trailing one: matched against the last component, at any depth

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        return self.regex.fullmatch(rel.rpartition("/")[2] if self.basename else rel) is not None


def _trim_trailing_spaces(line: str) -> str:
    """Drop trailing spaces unless backslash-escaped (git's ``trim_trailing_spaces``; tabs stay)."""
    last_space = None
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == " ":
            if last_space is None:
                last_space = i
        elif ch == "\\":
            i += 1
            if i == len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


def _bracket(glob: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression whose ``[`` is at ``glob[i]``: (regex, index after ``]``).

    As wildmatch: ``!`` or ``^`` negates, a ``]`` first is literal, ``\\`` escapes, ``a-z`` ranges and
    ``[:class:]``; never matches ``/``; an unclosed bracket or unknown class makes the pattern match nothing.
    """
    i += 1
    negate = i < len(glob) and glob[i] in "!^"
    if negate:
        i += 1
    parts: list[str] = []
    first = True
    while True:
        if i >= len(glob):
            return _NEVER, len(glob)
        ch = glob[i]
        if ch == "]" and not first:
            break
        first = False
        if ch == "\\":
            i += 1
            if i >= len(glob):
                return _NEVER, len(glob)
            ch = glob[i]
        elif ch == "[" and glob.startswith("[:", i):
            end = glob.find(":]", i + 2)
            if end < 0:
                # Not a class after all: wildmatch takes the "[" as a literal member.
                parts.append(re.escape(ch))
                i += 1
                continue
            cls = _CLASSES.get(glob[i + 2 : end])
            if cls is None:
                return _NEVER, len(glob)
            parts.append(cls)
            i = end + 2
            continue
        if i + 2 < len(glob) and glob[i + 1] == "-" and glob[i + 2] != "]":
            hi_at = i + 2
            if glob[hi_at] == "\\":
                hi_at += 1
                if hi_at >= len(glob):
                    return _NEVER, len(glob)
            hi = glob[hi_at]
            # A reversed range matches nothing in wildmatch; an empty set would be a regex error.
            if hi >= ch:
                parts.append(f"{re.escape(ch)}-{re.escape(hi)}")
            i = hi_at + 1
            continue
        parts.append(re.escape(ch))
        i += 1
    body = "".join(parts)
    if negate:
        return f"[^/{body}]", i + 1
    return (f"(?!/)[{body}]" if body else _NEVER), i + 1


def _translate(glob: str) -> str:
    """The regex (for ``fullmatch``) of a wildmatch glob with WM_PATHNAME: ``*`` and ``?`` stop at ``/``;
    ``**`` between slashes (or at either end) crosses them."""
    out: list[str] = []
    i = 0
    n = len(glob)
    while i < n:
        ch = glob[i]
        if ch == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            whole = (i == 0 or glob[i - 1] == "/") and (j == n or glob[j] == "/")
            if j - i >= 2 and whole:
                if j == n:
                    out.append(".*")  # "x/**": everything inside; "**": everything
                else:
                    out.append("(?:.*/)?")  # "**/": zero or more directories
                    j += 1
            else:
                out.append("[^/]*")
            i = j
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            part, i = _bracket(glob, i)
            out.append(part)
        elif ch == "\\":
            if i + 1 >= n:
                return _NEVER  # a trailing backslash matches nothing in git
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def parse(lines: Sequence[str]) -> tuple[Pattern, ...]:
    """The patterns of gitignore ``lines`` (blank lines and ``#`` comments skipped), in file order."""
    patterns = []
    for raw in lines:
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line or line.startswith("#"):
            continue
        line = _trim_trailing_spaces(line)
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        dir_only = line.endswith("/")
        if dir_only:
            line = line[:-1]
        basename = "/" not in line
        if line.startswith("/"):
            line = line[1:]
        if not line:
            continue
        patterns.append(Pattern(re.compile(_translate(line), re.DOTALL), negated, dir_only, basename))
    return tuple(patterns)


def _verdict(patterns: tuple[Pattern, ...], rel: str, is_dir: bool) -> bool | None:
    """True (ignored), False (re-included by a ``!`` line) or None (no line matches): the last match wins."""
    for pattern in reversed(patterns):
        if pattern.matches(rel, is_dir):
            return not pattern.negated
    return None


def _split_lines(text: str) -> list[str]:
    # git splits on "\n" only (a form feed in a name is a name), and skips a UTF-8 byte order mark.
    return text.removeprefix("\ufeff").split("\n")


@dataclass(frozen=True)
class Rules:
    """The command-line part of the rules, and whether ``.synclineignore`` files are read."""

    excludes: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    ignore_files: bool = True

    def matcher(self) -> Matcher:
        """A matcher for the root of a tree (ignore files are added while walking)."""
        lines = [*self.excludes, *(f"!{p}" for p in self.includes)]
        return Matcher(parse(lines) or None, ())


@dataclass(frozen=True)
class Matcher:
    """Decides whether a path is ignored; immutable, one per directory level that added rules."""

    cli: tuple[Pattern, ...] | None
    # (directory prefix, patterns) for each .synclineignore from the root down to the current directory.
    files: tuple[tuple[str, tuple[Pattern, ...]], ...]

    @property
    def active(self) -> bool:
        return self.cli is not None or bool(self.files)

    def with_ignore_file(self, dir_path: str, text: str) -> Matcher:
        """A matcher that also applies the rules of the ignore file found in ``dir_path``."""
        patterns = parse(_split_lines(text))
        if not patterns:
            return self
        prefix = f"{dir_path}/" if dir_path else ""
        return Matcher(self.cli, (*self.files, (prefix, patterns)))

    def ignored(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` (relative to the root, below every ignore file's directory) is ignored by its own
        name. Directories above it are the caller's: a walk never enters an ignored directory, and that is
        what hides everything below one (git's rule; a ``!`` line cannot bring such a path back)."""
        verdict: bool | None = None
        for prefix, patterns in self.files:
            result = _verdict(patterns, path[len(prefix) :], is_dir)
            if result is not None:
                verdict = result
        if self.cli is not None:
            result = _verdict(self.cli, path, is_dir)
            if result is not None:
                verdict = result
        return bool(verdict)
