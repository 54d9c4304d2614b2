"""Healing a server's damaged files from this device (issue 14, ``syncline server check --repair``).

When the server lost a chunk of a file, its repair takes the chunk out of the index and marks the version
damaged: every download of it fails (``422 damaged``) and every device keeps its own copy. A device whose
copy is that very version (same size and modification time as the server's entry, and, once read, the
same digest) stages it to the server: the chunks the server lacks go up, and the server makes the version
whole with them at that upload. Nothing is committed: the file's entry, version and history stay as they
are. A copy that turns out to differ sends nothing the server keeps (its new chunks have only an upload's
lease).
"""

from __future__ import annotations

import logging

from ...core.entry import FILE
from ...engine.replicas.remote import RemoteReplica
from ...engine.replicas.replica import Replica

_log = logging.getLogger(__name__)


def heal_damaged(local: Replica, other: Replica) -> int:
    """Send the chunks of every damaged file of ``other`` (a server folder) that ``local`` holds as that
    version; how many were sent whole. One request (the folder's answer) when nothing is damaged."""
    if not isinstance(other, RemoteReplica):
        return 0
    healed = 0
    for path, entry in other.damaged_files().items():
        mine = local.stat(path)
        if mine is None or mine.kind != FILE or (mine.size, mine.mtime_ns) != (entry.size, entry.mtime_ns):
            continue  # not the version the server lost part of
        with local.open_file(path) as source:
            digest = other.send_chunks(path, source)  # the server heals the version as its last chunk arrives
        if digest == entry.digest:
            healed += 1
            _log.info("sent the chunks of %s the server had lost", path)
    return healed
