"""``syncline serve --check``: is the store what its database says? (design.md "The database is the truth
of presence".) Reports, never repairs: a row without its file, or a file with other bytes than its name,
is a loss to look at, not to paper over.

Checked per folder: every chunk a file version lists has a row; every row has its file, of its length;
with ``read_data`` every chunk's bytes hash to its id (as restic's ``check --read-data``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import blake3
import sqlalchemy as sa

from . import schema as t
from .meta import folder_of

if TYPE_CHECKING:
    from . import Store


@dataclass
class CheckReport:
    chunks: int = 0
    read: int = 0
    problems: list[str] = field(default_factory=list)


def check(store: Store, read_data: bool = False) -> CheckReport:
    report = CheckReport()
    with store.db.read() as conn:
        folders = [folder_of(r) for r in conn.execute(sa.select(t.folders))]
    for folder in folders:
        cc, ct, k = t.content_chunks.c, t.contents.c, t.chunks.c
        with store.db.read() as conn:
            dangling = conn.execute(
                sa.select(cc.content_id, cc.chunk_id).join(t.contents, ct.id == cc.content_id)
                .where(ct.folder_id == folder.id, ~sa.exists().where(k.chunk_ns == folder.chunk_ns,
                                                                     k.chunk_id == cc.chunk_id))).all()
            rows = [(bytes(r.chunk_id), int(r.length)) for r in conn.execute(
                sa.select(k.chunk_id, k.length).where(k.chunk_ns == folder.chunk_ns))]
        for content_id, chunk_id in dangling:
            report.problems.append(f"folder {folder.name} (user {folder.owner_id}): version {content_id} lists "
                                   f"chunk {bytes(chunk_id).hex()}, which the store does not record")
        for chunk_id, length in rows:
            report.chunks += 1
            path = store.chunks.path(folder.chunk_ns, chunk_id)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                report.problems.append(f"chunk {chunk_id.hex()} of folder {folder.name} is recorded but its "
                                       f"file {path} is missing")
                continue
            if size != length:
                report.problems.append(f"chunk file {path} holds {size} bytes, not {length}")
            elif read_data:
                report.read += 1
                if blake3.blake3(path.read_bytes()).digest() != chunk_id:
                    report.problems.append(f"chunk file {path} holds other bytes than its name says")
    return report
