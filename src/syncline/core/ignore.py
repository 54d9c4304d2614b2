"""Ignore rules: ``.synclineignore`` files (gitignore syntax) plus ``--exclude`` / ``--include``.

Semantics, as a git user expects: a ``.synclineignore`` in a directory applies to everything below it,
with patterns relative to that directory; deeper files and later lines win; an excluded directory is not
entered. Command-line rules come last and win: ``--exclude PAT`` ignores what matches, ``--include PAT``
brings back what any exclude or ignore file excluded (``--exclude '*.log' --include keep.log``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

IGNORE_FILE = ".synclineignore"


def _spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec:
    import pathspec  # only when there are rules: keeps start-up fast

    return pathspec.GitIgnoreSpec.from_lines(lines)


@dataclass(frozen=True)
class Rules:
    """The command-line part of the rules, and whether ``.synclineignore`` files are read."""

    excludes: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    ignore_files: bool = True

    def matcher(self) -> Matcher:
        """A matcher for the root of a tree (ignore files are added while walking)."""
        lines = [*self.excludes, *(f"!{p}" for p in self.includes)]
        return Matcher(_spec(lines) if lines else None, ())


@dataclass(frozen=True)
class Matcher:
    """Decides whether a path is ignored; immutable, one per directory level that added rules."""

    cli: pathspec.GitIgnoreSpec | None
    # (directory prefix, spec) for each .synclineignore from the root down to the current directory.
    files: tuple[tuple[str, pathspec.GitIgnoreSpec], ...]

    @property
    def active(self) -> bool:
        return self.cli is not None or bool(self.files)

    def with_ignore_file(self, dir_path: str, text: str) -> Matcher:
        """A matcher that also applies the rules of the ignore file found in ``dir_path``."""
        spec = _spec(text.splitlines())
        prefix = f"{dir_path}/" if dir_path else ""
        return Matcher(self.cli, (*self.files, (prefix, spec)))

    def ignored(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` (relative to the root) is ignored."""
        verdict: bool | None = None
        for prefix, spec in self.files:
            rel = path[len(prefix) :] + ("/" if is_dir else "")
            result = spec.check_file(rel).include
            if result is not None:
                verdict = result
        if self.cli is not None:
            result = self.cli.check_file(path + ("/" if is_dir else "")).include
            if result is not None:
                verdict = result
        return bool(verdict)
