"""Making and loading indexes for the commands: ``syncline index`` and tree references for ``diff``."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

from ..core.errors import IndexFormatError, Problem, UsageError
from ..core.ignore import Rules
from ..core.index import Index
from ..core.indexfile import load_index
from ..core.scan import resolve_root, scan
from ..version import __version__


def previous_for(root: Path, output: Path, explicit: str | os.PathLike[str] | None) -> tuple[Index | None, str]:
    """The index whose digests may be reused when indexing ``root`` into ``output``, and a notice.

    An explicit ``--previous`` must load. Otherwise an existing ``output`` taken of the same root on this
    host is used, which makes re-running ``syncline index DIR -o FILE`` incremental; a damaged one is
    ignored with a notice.
    """
    if explicit is not None:
        return load_index(explicit), ""
    if not output.is_file():
        return None, ""
    try:
        prev = load_index(output)
    except IndexFormatError as exc:
        return None, f"not reusing digests from {output}: {exc.message}"
    if prev.header.root != str(root) or prev.header.host != socket.gethostname():
        return None, ""
    return prev, ""


def make_index(root: str | os.PathLike[str], output: str | os.PathLike[str], *, rules: Rules | None = None,
               digests: bool = True, previous: str | os.PathLike[str] | None = None) -> Index:
    """Scan ``root`` and write the index file ``output`` atomically; returns the index.

    Raises :class:`UsageError` for a bad root or an output path whose directory does not exist.
    """
    top = resolve_root(root)
    out = Path(os.path.abspath(os.fspath(output)))
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: its directory does not exist", "create it or pick another path")
    if out.is_dir():
        raise UsageError(f"cannot write {out}: it is a directory", "give a file name such as tree.slidx")
    prev, notice = previous_for(top, out, previous)
    index = scan(top, rules=rules, digests=digests, previous=prev)
    index = replace(index, header=replace(index.header, tool=f"syncline {__version__}"))
    if notice:
        index = replace(index, problems=(*index.problems, Problem("", notice, "", error=False)))
    try:
        index.save(out)
    except PermissionError:
        raise UsageError(f"cannot write {out}: permission denied", "pick a writable place") from None
    return index


def load_tree(ref: str | os.PathLike[str], *, rules: Rules | None = None, digests: bool = True) -> Index:
    """An index for ``ref``: a directory is scanned, anything else is read as an index file."""
    path = Path(os.fspath(ref))
    if path.is_dir():
        return scan(path, rules=rules, digests=digests)
    if not path.exists():
        raise UsageError(f"no such directory or index file: {path}", "check the path")
    return load_index(path)
