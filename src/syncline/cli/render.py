"""Human-readable output helpers: sizes, counts, problems."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import click

from ..core.errors import Problem


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=True))


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``): a name from an archive or a file system
    must not drive the terminal."""
    return text.translate(_CONTROL)


def echo_problems(problems: Iterable[Problem], quiet: bool = False) -> None:
    """Errors always go to stderr; notices (skipped fifos, kept files) only when not quiet."""
    for p in problems:
        if p.error:
            click.echo(f"syncline: error: {printable(str(p))}", err=True)
        elif not quiet:
            click.echo(f"syncline: note: {printable(str(p))}", err=True)


def is_tty() -> bool:
    return sys.stderr.isatty()


def echo_json_report(report: Any) -> int:
    """Print a run's JSON summary (its errors again on stderr); returns its exit code."""
    echo_json(report.to_json())
    echo_problems(report.problems, quiet=True)
    return int(report.exit_code)
