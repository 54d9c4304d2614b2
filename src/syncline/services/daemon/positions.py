"""Where each folder is in its server's change feed: the last ``seq`` a run has synced, kept durably in
``STATE/daemon/positions/`` (one small JSON file per folder binding), so a restarted daemon asks only for
what it has not seen.

A position is written only after the run that synced its changes ended: a crash before that means the
changes are read again (and the run finds them done), never skipped. The file is keyed by the local folder
and its remote together, so binding a folder elsewhere starts from 0.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ...formats.framing import atomic_file


class Positions:
    """The feed positions under ``folder`` (created when the first is kept)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, local: str, remote: str) -> Path:
        key = hashlib.sha256(os.fsencode(local) + b"\0" + remote.encode("utf-8", "surrogateescape")).hexdigest()
        return self.folder / f"{key[:32]}.json"

    def get(self, local: str, remote: str) -> int:
        """The kept position of the binding, 0 when none (or unreadable: everything is read again, which
        costs a read and never skips a change)."""
        try:
            data = json.loads(self._file(local, remote).read_text(encoding="utf-8"))
            seq = data["seq"]
        except (OSError, ValueError, KeyError, TypeError):
            return 0
        return seq if isinstance(seq, int) and seq >= 0 else 0

    def put(self, local: str, remote: str, seq: int) -> None:
        """Keep ``seq`` for the binding, durably (all or nothing)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"local": local, "remote": remote, "seq": seq}, ensure_ascii=False,
                          default=str).encode("utf-8", "surrogateescape")
        with atomic_file(self._file(local, remote)) as out:
            out.write(body)
