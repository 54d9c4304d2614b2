"""The daemon page's address and secret, in ``STATE/daemon/ui.json``: how ``syncline ui`` finds the page.

``{"port": 8384, "token": "...", "pid": 1234}``, mode 0600, written atomically when the page starts and
removed when it stops. The token is 32 random bytes (URL-safe base64) made anew at each start: whoever
can read the file (this user) can open the page; a website or another local user cannot. The page gets
it in the URL's fragment (``#TOKEN``), which a browser never sends in a request or a ``Referer``, and
trades it for a session cookie (``server.py``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from ....core.errors import UsageError
from ....engine.replicas.secretfile import read_secret, write_secret
from ..status import is_running, read_status


@dataclass(frozen=True)
class UiAddress:
    """Where a running daemon's page is: its port, the token that opens it, the daemon's pid."""

    port: int
    token: str
    pid: int

    @property
    def url(self) -> str:
        """The URL that opens the page logged in (the token in the fragment)."""
        return f"http://127.0.0.1:{self.port}/#{self.token}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def ui_file(home: Path) -> Path:
    """The file in the daemon's folder (``STATE/daemon``)."""
    return home / "ui.json"


def write_ui_file(home: Path, address: UiAddress) -> None:
    """Write ``address`` to ``home/ui.json`` as a secret: mode 0600 before a byte of the token is in it,
    fsynced and renamed into place."""
    write_secret(ui_file(home), json.dumps({"port": address.port, "token": address.token,
                                            "pid": address.pid}).encode())


def read_ui_file(state: Path) -> UiAddress:
    """The page of the daemon using the state directory ``state``. :class:`UsageError` with what to do
    when no daemon runs there (its status file tells: the pid alive and a recent heartbeat, the same pid
    as the page's file), it runs without its page, or the file is damaged."""
    path = ui_file(state / "daemon")
    raw = read_secret(path, str(path), "start `syncline daemon` again: it writes the file anew")
    if raw is None:
        raise UsageError(f"no daemon is running with the state directory {state}",
                         "start it with `syncline daemon` (its page is off when the config says [ui] enabled = "
                         "false)")
    try:
        data = json.loads(raw)
        address = UiAddress(data["port"], data["token"], data["pid"])
        if not (isinstance(address.port, int) and 0 < address.port < 65536 and isinstance(address.pid, int)
                and address.pid > 0 and isinstance(address.token, str) and address.token.isascii()
                and address.token):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{path} is damaged", "start `syncline daemon` again: it writes the file anew") from None
    status = read_status(state)
    if not is_running(status) or status is None or status.get("pid") != address.pid:
        raise UsageError(f"no daemon is running with the state directory {state} (its last one, pid "
                         f"{address.pid}, is gone)", "start it with `syncline daemon`")
    return address

