"""Making and loading indexes for the commands: ``syncline index`` and tree references for ``diff``."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ...core.chunking import Chunker
from ...core.errors import IndexFormatError, UsageError
from ...core.ignore import Rules
from ...core.index import Index
from ...core.scan import Previous, gc_paused, resolve_root, scan
from ...formats.indexfile import load_index, open_index, write_index
from ...version import __version__
from ..outputs import output_file
from ..replicas.address import local_path


@contextmanager
def previous_for(root: Path, output: Path, explicit: str | os.PathLike[str] | None) -> Iterator[Previous | None]:
    """The index whose digests may be reused when indexing ``root`` into ``output``, opened for streaming.

    An explicit ``--previous`` must open. Otherwise an existing ``output`` taken of the same root on this
    host is used, which makes re-running ``syncline index DIR -o FILE`` incremental; one that does not open
    is ignored. Damage found later while streaming only means no digest is reused (the scan says so).
    """
    path = Path(explicit) if explicit is not None else output
    if explicit is None and not output.is_file():
        yield None
        return
    try:
        fh, reader = open_index(path)
    except IndexFormatError:
        if explicit is not None:
            raise
        yield None
        return
    with fh:
        same_tree = reader.header.root == str(root) and reader.header.host == socket.gethostname()
        yield reader if explicit is not None or same_tree else None


def make_index(root: str | os.PathLike[str], output: str | os.PathLike[str], *, rules: Rules | None = None,
               digests: bool = True, previous: str | os.PathLike[str] | None = None,
               chunker: Chunker | None = None) -> Index:
    """Scan ``root`` and write the index file ``output`` atomically; returns the index.

    ``chunker`` records chunk lists of big files, so archives made against the index send only the
    changed parts of them.

    Raises :class:`UsageError` for a bad root or an output path whose directory does not exist.
    """
    top = resolve_root(local_path(root))
    out = Path(os.path.abspath(os.fspath(output)))
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: its directory does not exist", "create it or pick another path")
    if out.is_dir():
        raise UsageError(f"cannot write {out}: it is a directory", "give a file name such as tree.slidx")
    with previous_for(top, out, previous) as prev, gc_paused():
        index = scan(top, rules=rules, digests=digests, previous=prev if digests else None, chunker=chunker)
    index = replace(index, header=replace(index.header, tool=f"syncline {__version__}"))
    try:
        write_index(index, out, output_file)
    except PermissionError:
        raise UsageError(f"cannot write {out}: permission denied", "pick a writable place") from None
    return index


def load_tree(ref: str | os.PathLike[str], *, rules: Rules | None = None, digests: bool = True) -> Index:
    """An index for ``ref``: a directory is scanned, a snapshot reference ``DIR@REF`` is looked up in
    DIR's catalog, anything else is read as an index file."""
    from ..timeline import load_ref

    local_path(ref)  # a server folder is not a tree to index here: one line of error, not "no such file"
    snapshot = load_ref(ref)
    if snapshot is not None:
        return snapshot
    path = Path(os.fspath(ref))
    if path.is_dir():
        return scan(path, rules=rules, digests=digests)
    if not path.exists():
        raise UsageError(f"no such directory or index file: {path}", "check the path")
    return load_index(path)
