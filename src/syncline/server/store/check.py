"""``syncline server check``: is the store what its database says? (design.md "The database is the truth
of presence".) Reports, never repairs: a row without its chunk, or a chunk with other bytes than its id,
is a loss to look at, not to paper over.

Checked per folder: every chunk a file version lists has a row; every row has its chunk in the chunk
store, of its length; with ``read_data`` every chunk's bytes hash to its id (as restic's
``check --read-data``).
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
            name = f"chunk {chunk_id.hex()} of folder {folder.name} (user {folder.owner_id})"
            try:
                size = store.chunks.length(folder.chunk_ns, chunk_id)
            except FileNotFoundError:
                report.problems.append(f"{name} is recorded but missing from the chunk store")
                continue
            if size != length:
                report.problems.append(f"{name} holds {size} bytes in the chunk store, not {length}")
            elif read_data:
                report.read += 1
                if blake3.blake3(store.chunks.read(folder.chunk_ns, chunk_id)).digest() != chunk_id:
                    report.problems.append(f"{name} holds other bytes than its id says")
    return report
