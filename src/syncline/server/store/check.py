"""``syncline server check``: is the store what its database says? (design.md "The database is the truth
of presence"); with ``repair``, the damage taken out of the index (docs/server-store.md, "Check and repair").

Checked per folder: every chunk a file version lists has a row; every row has its chunk in the chunk
store, of its length; with ``read_data`` every chunk's bytes hash to its id (as restic's
``check --read-data``). Each version listing a chunk found bad, or one without a row, is a :class:`Loss`:
its file (live or kept) and the byte ranges it lost.

``repair`` reads every chunk (damage it did not look for is damage it would leave) and takes each bad one
out in :mod:`.repair`'s order: evidence kept, then rows and marks in one transaction, then the chunk
removed. No entry and no version is ever deleted (a live file removed from the tree would make every
device delete its good copy); a damaged version's reads answer ``damaged`` instead.

Healing: a device that uploads a lost chunk again (``chunks/missing`` says it is missing: its row is
gone) records it; every check, repairing or not, then clears ``damaged_ns`` on the versions whose every
chunk is back. That is the one write a check without ``repair`` makes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import blake3
import sqlalchemy as sa

from . import contents
from . import schema as t
from .meta import Folder, folder_of
from .repair import heal, lost_chunk, take_out

if TYPE_CHECKING:
    from . import Store

_PAGE = 65_536  # chunk list entries read at a time when a loss's byte ranges are worked out
_NAMED = 3  # chunk ids a problem line names before "..."


@dataclass(frozen=True)
class Loss:
    """A file version that lost content. ``folder`` and ``owner`` (the owner's name for the folder, and
    theirs); ``path``; ``live``: the file in the tree now, else a kept version (``versions`` lists it by
    ``version_id``); ``ranges``: the bytes lost, ``(first, last)`` inclusive, adjacent chunks merged;
    ``marked``: its reads answer ``damaged`` (after a repair)."""

    folder: str
    owner: str
    path: str
    live: bool
    version_id: int
    ranges: tuple[tuple[int, int], ...]
    marked: bool


@dataclass
class CheckReport:
    """What a check found and did. ``chunks``: rows checked; ``read``: chunks read and hashed;
    ``problems``: one line each, a chunk bad or a version listing chunks without a row; ``losses``: the
    files those cost; with repair, ``quarantined`` (evidence files written), ``removed`` (bad chunks taken
    out of the index) and ``marked`` (versions newly marked damaged); ``healed``: damaged versions whose
    every chunk came back."""

    chunks: int = 0
    read: int = 0
    problems: list[str] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    removed: int = 0
    marked: int = 0
    healed: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems and not self.losses


def check(store: Store, read_data: bool = False, repair: bool = False, now_ns: int | None = None) -> CheckReport:
    """Check every folder of ``store`` (see the module's docstring); ``repair`` implies ``read_data`` and
    needs the store opened exclusive, with the server stopped (``ValueError`` otherwise: an upload could
    record a chunk that the repair then removes). ``now_ns`` (tests) is the time a version is marked
    damaged. Errors of the chunk store or the database pass through (``OSError``, SQLAlchemy's)."""
    if repair and not store.exclusive:
        raise ValueError("a repair needs the store opened exclusive (the server stopped)")
    now = time.time_ns() if now_ns is None else now_ns
    report = CheckReport()
    with store.db.read() as conn:
        folders = [folder_of(r) for r in conn.execute(sa.select(t.folders).order_by(t.folders.c.id))]
        owners = {int(r.id): str(r.name) for r in conn.execute(sa.select(t.users.c.id, t.users.c.name))}
    for folder in folders:
        owner = owners.get(folder.owner_id, f"#{folder.owner_id}")
        where = f"folder {folder.name} (user {owner})"
        _dangling_problems(store, folder, where, report)
        bad = _verify(store, folder, where, read_data or repair, report)
        if repair:
            report.marked += take_out(store, folder, bad, now, report.quarantined)
            report.removed += len(bad)
            bad = []
        report.healed += _heal(store, folder, bad)
        report.losses += _losses(store, folder, owner, bad)
    return report


def _dangling_problems(store: Store, folder: Folder, where: str, report: CheckReport) -> None:
    """A problem line per version listing chunks that have no row (as the store was before this run's
    repair: what it takes out is reported as the bad chunk it was)."""
    cc, ct = t.content_chunks.c, t.contents.c
    found: dict[int, tuple[list[bytes], bool]] = {}
    with store.db.read() as conn:
        for r in conn.execute(sa.select(cc.content_id, cc.chunk_id, ct.damaged_ns)
                              .join(t.contents, ct.id == cc.content_id)
                              .where(ct.folder_id == folder.id, lost_chunk(folder)).order_by(cc.content_id)):
            found.setdefault(int(r.content_id), ([], r.damaged_ns is not None))[0].append(bytes(r.chunk_id))
    for content_id, (ids, marked) in found.items():
        unique = list(dict.fromkeys(ids))
        named = ", ".join(i.hex() for i in unique[:_NAMED]) + (", ..." if len(unique) > _NAMED else "")
        state = " (marked damaged: it heals when a device uploads them again)" if marked else ""
        report.problems.append(f"{where}: version {content_id} lists {len(unique)} chunk(s) the store does "
                               f"not record: {named}{state}")


def _verify(store: Store, folder: Folder, where: str, read_data: bool, report: CheckReport) -> list[bytes]:
    """Every chunk row of the folder against the chunk store; returns the ids found bad."""
    k = t.chunks.c
    with store.db.read() as conn:
        rows = [(bytes(r.chunk_id), int(r.length)) for r in conn.execute(
            sa.select(k.chunk_id, k.length).where(k.chunk_ns == folder.chunk_ns).order_by(k.chunk_id))]
    bad = []
    for chunk_id, length in rows:
        report.chunks += 1
        name = f"chunk {chunk_id.hex()} of {where}"
        try:
            size = store.chunks.length(folder.chunk_ns, chunk_id)
        except FileNotFoundError:
            report.problems.append(f"{name} is recorded but missing from the chunk store")
            bad.append(chunk_id)
            continue
        if size != length:
            if read_data and blake3.blake3(store.chunks.read(folder.chunk_ns, chunk_id)).digest() == chunk_id:
                # The bytes are the chunk's own: the record is what is wrong. Kept: taking out good
                # bytes would tear every file that lists them.
                report.read += 1
                report.problems.append(f"{name} is recorded as {length} bytes but holds {size} that hash to its "
                                       "id: its database row is wrong, its bytes are whole and kept")
                continue
            report.problems.append(f"{name} holds {size} bytes in the chunk store, not {length}")
            bad.append(chunk_id)
        elif read_data:
            report.read += 1
            if blake3.blake3(store.chunks.read(folder.chunk_ns, chunk_id)).digest() != chunk_id:
                report.problems.append(f"{name} holds other bytes than its id says")
                bad.append(chunk_id)
    return bad


def _listing(folder: Folder, ids: list[bytes]) -> sa.ColumnElement[bool]:
    """Content versions of the folder that list a chunk without a row, or one of ``ids``."""
    cc, ct = t.content_chunks.c, t.contents.c
    bad = sa.or_(lost_chunk(folder), cc.chunk_id.in_(ids)) if ids else lost_chunk(folder)
    return sa.exists().where(cc.content_id == ct.id, bad)


def _heal(store: Store, folder: Folder, still_bad: list[bytes]) -> int:
    """Clear ``damaged_ns`` on the folder's versions whose every chunk has a row again (rows this check
    verified; ``still_bad``: those it found bad and left). Returns how many."""
    ct = t.contents.c
    with store.db.read() as conn:
        marked = sa.select(ct.id).where(ct.folder_id == folder.id, ct.damaged_ns.is_not(None)).limit(1)
        if conn.execute(marked).first() is None:
            return 0  # no write transaction for the usual case: nothing was ever damaged
    with store.db.write() as conn:
        return heal(conn, folder, still_bad)


def _losses(store: Store, folder: Folder, owner: str, still_bad: list[bytes]) -> list[Loss]:
    """The folder's versions that lack a chunk (no row, or one of ``still_bad``), each with its path and
    the byte ranges lost."""
    ct, e = t.contents.c, t.entries.c
    lost_ids = set(still_bad)
    found = []
    with store.db.read() as conn:
        versions = conn.execute(sa.select(ct.id, ct.trash_path, ct.damaged_ns).where(
            ct.folder_id == folder.id, _listing(folder, still_bad)).order_by(ct.id)).all()
        ids = [int(v.id) for v in versions]
        # 500 a statement: entries has no index on content_id, so each statement reads the folder's rows once
        lives = {int(r.content_id): str(r.path) for start in range(0, len(ids), 500) for r in conn.execute(
            sa.select(e.path, e.content_id).where(e.folder_id == folder.id, e.kind == t.FILE,
                                                  e.content_id.in_(ids[start : start + 500])))}
        for v in versions:
            live = lives.get(int(v.id))
            path = live if live is not None else v.trash_path
            ranges = _lost_ranges(conn, folder, int(v.id), lost_ids)
            found.append(Loss(folder.name, owner, str(path) if path is not None else "", live is not None,
                              int(v.id), ranges, v.damaged_ns is not None))
    return found


def _lost_ranges(conn: sa.Connection, folder: Folder, content_id: int,
                 bad: set[bytes]) -> tuple[tuple[int, int], ...]:
    """The byte ranges of a version whose chunks have no row or are in ``bad``: its chunk list read a
    page at a time (a big file's list is never held whole), adjacent ranges merged."""
    ranges: list[tuple[int, int]] = []
    offset = start = 0
    while page := contents.chunk_list(conn, content_id, start, _PAGE):
        have = set(contents.lengths(conn, folder.chunk_ns, [c.id for c in page if c.id not in bad]))
        for c in page:
            if c.id not in have:
                if ranges and ranges[-1][1] == offset - 1:
                    ranges[-1] = (ranges[-1][0], offset + c.length - 1)
                else:
                    ranges.append((offset, offset + c.length - 1))
            offset += c.length
        start += len(page)
    return tuple(ranges)
