"""Where a server keeps its data when ``--data`` is not given.

``$SYNCLINE_SERVER_DATA``, else ``$XDG_DATA_HOME/syncline/server``, else ``~/.local/share/syncline/server``
(the XDG base directories, as the state directory of :mod:`syncline.engine.state`).
"""

from __future__ import annotations

from pathlib import Path

from ..engine.state import xdg_dir


def default_data_dir() -> Path:
    """The data directory ``syncline serve`` and ``syncline user`` use when not told one."""
    return xdg_dir("SYNCLINE_SERVER_DATA", "XDG_DATA_HOME", ".local/share", "server")
