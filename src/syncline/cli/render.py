"""Output helpers: sizes, counts, problems, names escaped for text (:func:`printable`) and for JSON
(:func:`json_safe`)."""

from __future__ import annotations

import base64
import json
import os
import re
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


def binary_bytes(n: int) -> str:
    """A size in the powers of 1024 a quota is given in: ``50 GiB``, ``1.5 TiB``, ``300 B``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" or value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def local_time(ns: int) -> str:
    """``YYYY-mm-dd HH:MM:SS`` in local time; a time the C library cannot convert (a file dated past the
    year 2^31 or before year 1) is given as ``@<seconds since 1970>``, never an error."""
    import time

    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // 1_000_000_000))
    except (OverflowError, OSError, ValueError):
        return f"@{ns // 1_000_000_000}"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def echo_json(data: Any) -> None:
    click.echo(dumps(data, indent=2))


def dumps(data: Any, indent: int | None = None) -> str:
    """``data`` as strict JSON (:func:`json_safe`), ASCII only."""
    return json.dumps(json_safe(data), indent=indent, ensure_ascii=True, default=str)


# What rsync escapes: control characters but tab (C0, DEL, and C1 as UTF-8 bytes), bytes that are not
# UTF-8 (surrogate-escaped by os.fsdecode), and a backslash that would read as the start of an escape.
_ESCAPED = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]|\\(?=#[0-9]{3})")


def _raw(text: str) -> bytes:
    """The bytes ``text`` was decoded from (``os.fsencode``'s inverse of ``os.fsdecode``)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no file name decodes to: keep its code unit's bytes
        return text.encode("utf-8", "surrogatepass")


def _octal(match: re.Match[str]) -> str:
    return "".join(f"\\#{b:03o}" for b in _raw(match.group()))


def printable(text: str) -> str:
    """``text`` (names, or a line holding names) escaped as rsync escapes names: each control byte (tab
    excepted) and each byte that is not UTF-8 becomes ``\\#`` and three octal digits (a newline
    ``\\#012``, the Latin-1 byte 0xE9 ``\\#351``), and a backslash followed by ``#`` and three digits
    becomes ``\\#134``, so the escaping can be undone. A name can neither split a line nor drive the
    terminal, and the output is valid UTF-8."""
    return _ESCAPED.sub(_octal, text)


def _needs_bytes(text: str) -> bool:
    """True for a string that strict JSON cannot carry: it holds bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _b64(text: str) -> str:
    return base64.b64encode(_raw(text)).decode("ascii")


def json_safe(data: Any) -> Any:
    """``data`` with every string made valid for strict JSON parsers, losslessly.

    A string (or a list of strings) under key ``K`` that holds bytes that are not UTF-8 (a file name as
    ``os.fsdecode`` gives it, with lone surrogates) is shown in ``K`` escaped as by :func:`printable`,
    and a sibling ``K_b64`` holds its exact bytes, base64-encoded (for a list, one item per string).
    Other strings are left as they are (JSON escapes control characters itself).
    """
    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            out[key] = json_safe(value)
            if isinstance(value, str) and _needs_bytes(value):
                out[f"{key}_b64"] = _b64(value)
            elif (isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
                  and any(_needs_bytes(v) for v in value)):
                out[f"{key}_b64"] = [_b64(v) for v in value]
        return out
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    if isinstance(data, str) and _needs_bytes(data):
        return printable(data)
    return data


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
