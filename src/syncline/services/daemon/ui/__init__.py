"""The daemon's own page on 127.0.0.1 (``[ui]``; ``syncline ui`` opens it): the server (``server.py``), its
token file (``token.py``), its sessions, its JSON (``api.py``), its event stream and its folder picker.
See docs/webui.md, "The device's page"."""

from .api import DaemonView
from .server import UiServer
from .token import UiAddress, read_ui_file

__all__ = ["DaemonView", "UiAddress", "UiServer", "read_ui_file"]
