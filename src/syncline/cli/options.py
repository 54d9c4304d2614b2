"""Options shared by several commands (ignore rules, compare mode) and their parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import click

from ..core.chunking import Chunker
from ..core.entry import Compare, CompareMode
from ..core.errors import UsageError
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


def parse_max_delete(text: str) -> int | float:
    """``"1000"`` (a file count) or ``"50%"`` (a fraction of the destination's files, returned as 0.5);
    ValueError for anything else."""
    text = text.strip()
    if text.endswith("%"):
        pct = float(text[:-1])
        if not 0 <= pct <= 100:
            raise ValueError(text)
        return pct / 100.0
    count = int(text)
    if count < 0:
        raise ValueError(text)
    return count


class MaxDelete(click.ParamType):  # type: ignore[type-arg]
    """A file count (``1000``) or a percentage of the destination's files (``50%``)."""

    name = "N|N%"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | float:
        if isinstance(value, int | float):
            return value
        try:
            return parse_max_delete(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a file count or a percentage such as 50%", param, ctx)


class ByteSize(click.ParamType):  # type: ignore[type-arg]
    """A size in bytes: ``65536``, ``64K``, ``1M``, ``2G`` (powers of 1024)."""

    name = "SIZE"
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
                                        "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
                                        "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper()
        digits = text.rstrip("KMGIB")
        unit = text[len(digits):]
        try:
            number = int(digits)
            if number < 0 or unit not in self._UNITS:
                raise ValueError
        except ValueError:
            self.fail(f"{value!r} is not a size such as 65536, 64K or 1M", param, ctx)
        return number * self._UNITS[unit]


def chunker_from(wanted: bool, avg_size: int | None, min_file_size: int | None) -> Chunker | None:
    """The chunker for ``--chunks``/``--chunk-size``/``--chunk-min-file-size`` (None when not wanted)."""
    if not wanted:
        return None
    defaults = Chunker()
    try:
        return Chunker(avg_size if avg_size is not None else defaults.avg_size,
                       min_file_size if min_file_size is not None else defaults.min_file_size)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


COMPARE_CHOICES = ("mtime", "size", "hash")


def compare_option(func: F) -> F:
    """--compare mtime|size|hash (rsync users know hash as -c/--checksum and size as --size-only)."""
    return click.option("--compare", "compare", type=click.Choice(COMPARE_CHOICES), default=None,
                        help="How files are judged equal: size and mtime (default), size only, or content "
                             "hash.")(func)


def compare_from(compare: str | None, checksum: bool = False, size_only: bool = False,
                 modify_window: float = 0) -> Compare:
    """The Compare for ``--compare`` and the rsync-style flags; conflicting choices are a usage error."""
    picked = {m for m, on in (("hash", checksum), ("size", size_only)) if on}
    if compare is not None:
        picked.add(compare)
    if len(picked) > 1:
        raise UsageError("--checksum, --size-only and --compare exclude each other", "pick one")
    name = picked.pop() if picked else "mtime"
    mode = {"mtime": CompareMode.MTIME, "size": CompareMode.SIZE, "hash": CompareMode.CHECKSUM}[name]
    return Compare(mode, int(modify_window * 1_000_000_000))
