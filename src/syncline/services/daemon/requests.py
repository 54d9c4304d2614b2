"""Requests to a running daemon from another process (the CLI) or thread, as files in its state directory
(``STATE/daemon/KIND/NAME.json``, written whole then renamed in, so the daemon never reads half of one):
start every folder anew, resume a stopped folder, run one in full now. The daemon looks for them every
``Timing.config_every`` seconds."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

RESTART = "restart"


def request_restart(state: str | os.PathLike[str]) -> None:
    """Ask the daemon using ``state`` to start every folder anew (within ``Timing.config_every``): the
    credentials it opened its sides with were replaced."""
    folder = Path(state) / "daemon"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESTART).touch()


def request_resume(state: str | os.PathLike[str], local: str) -> None:
    """Ask the daemon using ``state`` to resume the stopped folder ``local`` (at its next look, within
    ``Timing.config_every``)."""
    _request(state, "resume", local)


def request_run(state: str | os.PathLike[str], local: str) -> None:
    """Ask the daemon using ``state`` to run the folder ``local`` in full soon: this device changed its
    server folder outside the daemon (``syncline restore``: the change feed leaves out this device's own
    changes), or the user's right to it changed (a read-only share made read-write)."""
    _request(state, "run", local)


def _request(state: str | os.PathLike[str], kind: str, local: str) -> None:
    folder = Path(state) / "daemon" / kind
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(os.fsencode(local)).hexdigest()[:32]
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps({"local": local}), encoding="utf-8")
    os.replace(tmp, folder / f"{name}.json")
