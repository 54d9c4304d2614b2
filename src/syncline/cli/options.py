"""Options shared by several commands (ignore rules, compare mode) and their parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..core.ignore import Rules

F = TypeVar("F", bound=Callable[..., Any])


def rule_options(func: F) -> F:
    """--exclude, --include and --no-ignore-files."""
    func = click.option("--no-ignore-files", is_flag=True,
                        help="Do not read .synclineignore files.")(func)
    func = click.option("--include", "includes", multiple=True, metavar="PATTERN",
                        help="Bring back paths an exclude or ignore file excluded (gitignore syntax).")(func)
    func = click.option("--exclude", "excludes", multiple=True, metavar="PATTERN",
                        help="Skip paths matching PATTERN (gitignore syntax); repeatable.")(func)
    return func


def rules_from(excludes: tuple[str, ...], includes: tuple[str, ...], no_ignore_files: bool) -> Rules:
    return Rules(excludes, includes, not no_ignore_files)


class MaxDelete(click.ParamType):  # type: ignore[type-arg]
    """A file count (``1000``) or a percentage of the destination's files (``50%``)."""

    name = "N|N%"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | float:
        if isinstance(value, int | float):
            return value
        text = str(value).strip()
        try:
            if text.endswith("%"):
                pct = float(text[:-1])
                if not 0 <= pct <= 100:
                    raise ValueError
                return pct / 100.0
            count = int(text)
            if count < 0:
                raise ValueError
            return count
        except ValueError:
            self.fail(f"{value!r} is not a file count or a percentage such as 50%", param, ctx)
