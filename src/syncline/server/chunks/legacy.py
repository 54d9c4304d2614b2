"""The move from the first layout, one file per chunk (``DATA/chunks/<ns>/<id[0:2]>/<id hex>``), into the
namespaces' databases, run by ``open_store`` before the server serves.

Crash-safe and resumable: a batch of files is read, each checked against its name, inserted and
committed (durable), and only then are its files unlinked. Killed anywhere, a rerun finds the files not yet
unlinked and stores them again (the same bytes under the same id). A file whose bytes do not hash to its
name is not stored: it is moved to ``DATA/chunks-damaged/<ns>/`` and logged, and ``syncline server check`` reports
the versions that lost it. Files that are not chunks (other names) are left where they are, and logged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from ...engine.crashpoints import crash_point
from .disk import DiskChunkStore
from .store import Buffer, check_namespace

log = logging.getLogger("syncline.server")
BATCH_FILES = 1000
BATCH_BYTES = 64 << 20


@dataclass
class Migrated:
    chunks: int = 0
    damaged: list[Path] = field(default_factory=list)
    left: list[Path] = field(default_factory=list)


def migrate_chunk_files(store: DiskChunkStore, damaged_dir: Path) -> Migrated:
    """Move every chunk file under ``store.root`` into its namespace's database (see the module)."""
    report = Migrated()
    for ns_dir in sorted(store.root.iterdir()):
        try:
            ns = check_namespace(ns_dir.name)
        except ValueError:
            continue
        if not ns_dir.is_dir() or ns_dir.is_symlink():
            continue
        _namespace(store, ns, ns_dir, damaged_dir / ns, report)
    if report.chunks or report.damaged:
        log.warning("moved %d chunk files into the chunk databases; %d did not match their names and were "
                    "moved to %s (`syncline server check` names the versions that lost them)",
                    report.chunks, len(report.damaged), damaged_dir)
    return report


def _namespace(store: DiskChunkStore, ns: str, ns_dir: Path, damaged: Path, report: Migrated) -> None:
    batch: list[tuple[bytes, Buffer, Path]] = []
    size = 0
    for sub in sorted(ns_dir.iterdir()):
        for f in sorted(sub.iterdir()) if sub.is_dir() and not sub.is_symlink() else [sub]:
            chunk_id = _chunk_id(f, sub)
            if chunk_id is None:
                log.warning("%s is not a chunk file: left where it is", f)
                report.left.append(f)
                continue
            data = f.read_bytes()
            if blake3.blake3(data).digest() != chunk_id:
                damaged.mkdir(parents=True, exist_ok=True)
                os.replace(f, damaged / f.name)
                log.error("chunk file %s holds other bytes than its name says: moved to %s, not stored",
                          f, damaged / f.name)
                report.damaged.append(damaged / f.name)
                continue
            batch.append((chunk_id, data, f))
            size += len(data)
            if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
                _flush(store, ns, batch, report)
                batch, size = [], 0
    _flush(store, ns, batch, report)
    for sub in sorted(ns_dir.iterdir()):
        if sub.is_dir() and not sub.is_symlink() and not any(sub.iterdir()):
            sub.rmdir()
    if not any(ns_dir.iterdir()):
        ns_dir.rmdir()


def _chunk_id(f: Path, sub: Path) -> bytes | None:
    if not f.is_file() or f.is_symlink() or f.parent == sub.parent or f.name[:2] != sub.name:
        return None
    try:
        chunk_id = bytes.fromhex(f.name)
    except ValueError:
        return None
    return chunk_id if len(chunk_id) == 32 else None


def _flush(store: DiskChunkStore, ns: str, batch: list[tuple[bytes, Buffer, Path]], report: Migrated) -> None:
    if not batch:
        return
    store.put_many(ns, [(i, d) for i, d, _ in batch])
    crash_point("server-chunks-migrated")
    for _, _, f in batch:
        f.unlink()
    report.chunks += len(batch)
