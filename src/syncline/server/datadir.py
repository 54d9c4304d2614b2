"""Where a server keeps its data when ``--data`` is not given.

``$SYNCLINE_SERVER_DATA``, else ``$XDG_DATA_HOME/syncline/server``, else ``~/.local/share/syncline/server``
(the XDG base directories, as the state directory of :mod:`syncline.engine.state`).
"""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """The data directory ``syncline serve`` and ``syncline user`` use when not told one."""
    env = os.environ.get("SYNCLINE_SERVER_DATA")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "syncline" / "server"
