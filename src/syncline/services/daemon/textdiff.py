"""A unified diff of two small text files, for the settings UI's conflicts view (``difflib``, bounded).

``difflib`` takes time in proportion to the lines that differ times the lines compared (measured here:
20,000 lines with every seventh changed, 20 s; about 0.1 to 0.35 us per unit). So the lines both files share
at the start and at the end are set aside first (a conflict is usually a few local edits: the rest costs
nothing), and when the lines of one file missing from the other, times the lines left, pass
:data:`MAX_WORK` (about a second), nothing is diffed (None: "too different to show", as for a binary file).
"""

from __future__ import annotations

import difflib
import os
import re
from collections import Counter

from ...core.hashing import open_regular

__all__ = ["CONTEXT", "DIFF_LIMIT", "MAX_WORK", "diff_texts", "read_text", "text_diff"]

DIFF_LIMIT = 1 << 20  # bytes of each file at most
MAX_WORK = 4_000_000  # differing lines x lines compared, at most
CONTEXT = 3
_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@$")


def text_diff(a_path: str | os.PathLike[str], b_path: str | os.PathLike[str],
              limit: int = DIFF_LIMIT) -> list[str] | None:
    """The unified diff of the files at ``a_path`` and ``b_path`` (symlinks at the end not followed), one
    string per line without line ends: ``---``/``+++`` headers named after the files, ``@@`` hunks with 3
    lines of context; ``[]`` when the texts are equal. None when either is not a regular file, is larger
    than ``limit`` bytes, is not UTF-8 text (a NUL byte, invalid UTF-8), or the two differ in too many lines
    (see the module's docstring)."""
    try:
        a, b = read_text(a_path, limit), read_text(b_path, limit)
    except OSError:
        return None
    if a is None or b is None:
        return None
    return diff_texts(a, b, os.path.basename(os.fspath(a_path)), os.path.basename(os.fspath(b_path)))


def read_text(path: str | os.PathLike[str], limit: int) -> str | None:
    """The text of the regular file at ``path`` (not followed); None when larger than ``limit`` bytes or
    not UTF-8 text; ``OSError`` when it cannot be read or is not a regular file."""
    fd, st = open_regular(path)
    try:
        if st.st_size > limit:
            return None
        return decode_text(os.read(fd, limit + 1), limit)
    finally:
        os.close(fd)


def decode_text(data: bytes, limit: int) -> str | None:
    """``data`` as text, or None when it is longer than ``limit`` bytes, holds a NUL byte or is not UTF-8."""
    if len(data) > limit or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def diff_texts(a: str, b: str, a_name: str, b_name: str) -> list[str] | None:
    """The unified diff of two texts (see :func:`text_diff`); None when too many lines differ."""
    a_lines, b_lines = _lines(a), _lines(b)
    head = 0
    most = min(len(a_lines), len(b_lines))
    while head < most and a_lines[head] == b_lines[head]:
        head += 1
    tail = 0
    while tail < most - head and a_lines[-1 - tail] == b_lines[-1 - tail]:
        tail += 1
    a_mid, b_mid = Counter(a_lines[head:len(a_lines) - tail]), Counter(b_lines[head:len(b_lines) - tail])
    differing = (a_mid - b_mid).total() + (b_mid - a_mid).total()
    if differing * (max(len(a_lines), len(b_lines)) - head - tail) > MAX_WORK:
        return None
    start = max(0, head - CONTEXT)
    keep = max(0, tail - CONTEXT)
    out = list(difflib.unified_diff(a_lines[start:len(a_lines) - keep], b_lines[start:len(b_lines) - keep],
                                    a_name, b_name, n=CONTEXT, lineterm=""))
    if start:
        out = [_shifted(line, start) if line.startswith("@@") else line for line in out]
    return out


def _lines(text: str) -> list[str]:
    # Split on "\n" only (str.splitlines also splits on form feeds and U+2028); a text ending in a line end
    # ends in "": so "a\n" and "a" differ, by that empty last line, as their bytes do.
    return text.split("\n")


def _shifted(header: str, by: int) -> str:
    """A hunk header of a diff of slices starting at line ``by``, numbered as in the whole files."""
    m = _HUNK.match(header)
    if m is None:
        return header
    return f"@@ -{int(m[1]) + by}{m[2] or ''} +{int(m[3]) + by}{m[4] or ''} @@"
