"""The timeline of a folder: index snapshots kept in the folder's catalog, and references to them.

``syncline snapshot DIR [--label NAME]`` writes an index of DIR (digests reused from the previous
snapshot, so a snapshot costs a scan plus the hashing of what changed) to
``DIR/.syncline/snapshots/<UTC time>.slidx`` and appends one line to ``catalog.jsonl`` beside it: the
file, the time, the label, counts, and the changes since the previous snapshot. ``.syncline`` is never
scanned or synced, so the catalog stays with the folder it describes.

A snapshot is named by a reference ``DIR@REF``, where REF is, in this order: a label (the latest snapshot
with it), ``latest``, a snapshot's file name (with or without ``.slidx``), or a date or time
(``2026-08-15``, ``2026-08-15T14:30``, ``2026-08-15 14:30:05``: the latest snapshot taken at or before the
end of that day, minute or second, local time). ``diff``, ``archive --since`` and ``sync --since`` accept
them wherever an index file is accepted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from ..core.chunking import Chunker
from ..core.diff import diff
from ..core.errors import IndexFormatError, Problem, UsageError
from ..core.ignore import Rules
from ..core.index import Index
from ..core.paths import META_DIR
from ..core.scan import gc_paused, resolve_root, scan
from ..formats.indexfile import load_index, write_index
from ..version import __version__
from .marker import ensure_meta_dir_in
from .outputs import output_file
from .replicas.address import local_path
from .replicas.confined import Confined

SNAPSHOTS = "snapshots"
CATALOG = "catalog.jsonl"
_LABEL_OK = re.compile(r"^[^\x00-\x1f/@]{1,200}$")
_DATE_FORMATS = (("%Y-%m-%d", timedelta(days=1)), ("%Y-%m-%dT%H:%M", timedelta(minutes=1)),
                 ("%Y-%m-%d %H:%M", timedelta(minutes=1)), ("%Y-%m-%dT%H:%M:%S", timedelta(seconds=1)),
                 ("%Y-%m-%d %H:%M:%S", timedelta(seconds=1)))


@dataclass(frozen=True)
class Snapshot:
    """One catalog line: ``file`` (in the snapshots folder), when it was taken, its label, counts, and
    the changes since the previous snapshot (counts per kind of change; empty for the first).

    ``problems`` are those of the scan that took it (unreadable files and folders, left out of the snapshot),
    for the run that took it only: the catalog does not keep them."""

    file: str
    taken_ns: int
    label: str = ""
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = field(default=(), compare=False, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    def path(self, root: Path) -> Path:
        return root / META_DIR / SNAPSHOTS / self.file

    def to_json(self) -> dict[str, Any]:
        """The catalog line (without ``problems``)."""
        out = asdict(self)
        del out["problems"]
        return out


def snapshot_dir(root: Path) -> Path:
    return root / META_DIR / SNAPSHOTS


def timeline_root(root: str | os.PathLike[str]) -> Path:
    """The absolute local directory whose timeline ``root`` names; :class:`UsageError` for a missing
    directory or a server folder (timelines are of local folders)."""
    return resolve_root(local_path(root))


def catalog(root: str | os.PathLike[str]) -> list[Snapshot]:
    """The snapshots of ``root``, oldest first. Lines that cannot be read (a torn last line after a
    crash, a snapshot file that is gone) are left out."""
    top = Path(os.fspath(root))
    path = snapshot_dir(top) / CATALOG
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", "check its permissions") from None
    out = []
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            raw = json.loads(line)
            snap = Snapshot(file=str(raw["file"]), taken_ns=int(raw["taken_ns"]), label=str(raw.get("label", "")),
                            files=int(raw.get("files", 0)), dirs=int(raw.get("dirs", 0)),
                            symlinks=int(raw.get("symlinks", 0)), bytes=int(raw.get("bytes", 0)),
                            changes={str(k): int(v) for k, v in dict(raw.get("changes", {})).items()})
            if "/" not in snap.file and snap.path(top).is_file():
                out.append(snap)
    out.sort(key=lambda s: s.taken_ns)
    return out


def take_snapshot(root: str | os.PathLike[str], label: str = "", *, rules: Rules | None = None,
                  chunker: Chunker | None = None) -> Snapshot:
    """Index ``root`` into its catalog; returns the new catalog line. Files and folders that cannot be read
    are left out of the snapshot (and recorded as unreadable in it, as by ``index``) and listed in the
    line's ``problems``."""
    top = timeline_root(root)
    if label and not _LABEL_OK.match(label):
        raise UsageError(f"bad label {label!r}", "use up to 200 characters without '/', '@' or control characters")
    if label in ("latest",) or _parse_when(label) is not None:
        raise UsageError(f"{label!r} cannot be a label: it reads as a time reference", "pick another label")
    before = catalog(top)
    previous = None
    if before:
        with contextlib.suppress(IndexFormatError):
            previous = load_index(before[-1].path(top))
    with gc_paused():
        index = scan(top, rules=rules, digests=True, previous=previous, chunker=chunker)
    from dataclasses import replace

    index = replace(index, header=replace(index.header, tool=f"syncline {__version__}"))
    # DIR's own .syncline is reached through descriptors that never follow a symlink (a hostile writer in
    # DIR cannot point the snapshot or the catalog elsewhere).
    tree = Confined(str(top))
    try:
        ensure_meta_dir_in(tree)
        with contextlib.suppress(FileExistsError):
            tree.mkdir(f"{META_DIR}/{SNAPSHOTS}", 0o755)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(index.header.scanned_ns / 1e9))
        name = f"{stamp}.slidx"
        n = 1
        while _exists(tree, f"{META_DIR}/{SNAPSHOTS}/{name}"):
            n += 1
            name = f"{stamp}-{n}.slidx"
        with tree.held(f"{META_DIR}/{SNAPSHOTS}") as held:
            write_index(index, Path(held) / name, partial(output_file, shown=snapshot_dir(top) / name))
        snap = _catalogued(tree, index, name, label, previous)
    finally:
        tree.close()
    return snap


def _exists(tree: Confined, path: str) -> bool:
    try:
        tree.lstat(path)
    except FileNotFoundError:
        return False
    return True


def _catalogued(tree: Confined, index: Index, name: str, label: str, previous: Index | None) -> Snapshot:
    """Append the snapshot ``name`` of ``index`` to the catalog; returns it."""
    totals = index.totals()
    changes: dict[str, int] = {}
    if previous is not None:
        changes = {k: v for k, v in diff(previous, index).counts.items() if v}
    snap = Snapshot(file=name, taken_ns=index.header.scanned_ns, label=label, files=totals.files, dirs=totals.dirs,
                    symlinks=totals.symlinks, bytes=totals.bytes, changes=changes, problems=tuple(index.problems))
    fd = tree.open(f"{META_DIR}/{SNAPSHOTS}/{CATALOG}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(snap.to_json()) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return snap


def _parse_when(ref: str) -> int | None:
    """The end (ns, exclusive) of the day, minute or second ``ref`` names, or None when it is no time."""
    for fmt, span in _DATE_FORMATS:
        try:
            start = datetime.strptime(ref, fmt)
        except ValueError:
            continue
        try:
            return int((start + span).timestamp() * 1e9)
        except (OverflowError, ValueError, OSError):
            return 1 << 63  # past the end of time: every snapshot is older
    return None


def split_ref(ref: str) -> tuple[Path, str] | None:
    """(DIR, REF) when ``ref`` is a snapshot reference ``DIR@REF`` (and not an existing path that happens to
    hold an ``@``)."""
    if "@" not in ref or os.path.lexists(ref):
        return None
    head, _, tail = ref.rpartition("@")
    if not head or not tail:
        return None
    return Path(head), tail


def resolve(root: str | os.PathLike[str], ref: str) -> Snapshot:
    """The snapshot of ``root`` that ``ref`` names (see the module docstring)."""
    top = timeline_root(root)
    snaps = catalog(top)
    if not snaps:
        raise UsageError(f"{top} has no snapshots", f"take one with `syncline snapshot {top}`")
    labelled = [s for s in snaps if s.label == ref]
    if labelled:
        return labelled[-1]
    if ref == "latest":
        return snaps[-1]
    for s in snaps:
        if ref in (s.file, s.file.removesuffix(".slidx")):
            return s
    end = _parse_when(ref)
    if end is not None:
        before = [s for s in snaps if s.taken_ns < end]
        if before:
            return before[-1]
        first = time.strftime("%Y-%m-%d %H:%M", time.localtime(snaps[0].taken_ns / 1e9))
        raise UsageError(f"{top} has no snapshot as old as {ref}", f"its first snapshot is of {first}")
    raise UsageError(f"{top} has no snapshot {ref!r}", f"see `syncline log {top}` for labels and dates")


def resolve_index_path(ref: str | os.PathLike[str]) -> Path:
    """An index file for ``ref``: a snapshot reference ``DIR@REF`` or an index file's path."""
    text = os.fspath(ref)
    parts = split_ref(text)
    if parts is None:
        return Path(text)
    root, name = parts
    return resolve(root, name).path(resolve_root(root))


def load_ref(ref: str | os.PathLike[str]) -> Index | None:
    """The index a snapshot reference names, or None when ``ref`` is no reference."""
    parts = split_ref(os.fspath(ref))
    if parts is None:
        return None
    return load_index(resolve_index_path(ref))
