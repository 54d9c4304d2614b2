"""The page's sessions: the start token traded for a session id (the cookie) and a CSRF value.

The token (``token.py``) only ever travels once, in ``POST /session``; the cookie holds a session id of
its own, so a token copied out of ``ui.json`` later does not name a live session, and a session cookie
is never a token. Sessions live as long as the daemon (it keeps them in memory only); at most
:data:`MAX_SESSIONS`, the oldest dropped first.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict

MAX_SESSIONS = 16


class Sessions:
    """The token of this start and the sessions opened with it. Thread-safe."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._open: OrderedDict[str, str] = OrderedDict()  # session id -> its CSRF value

    def open(self, token: str) -> tuple[str, str] | None:
        """A new session ``(id, csrf)`` when ``token`` is this start's; else None."""
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return None
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._open[sid] = csrf
            while len(self._open) > MAX_SESSIONS:
                self._open.popitem(last=False)
        return sid, csrf

    def csrf_of(self, sid: str | None) -> str | None:
        """The CSRF value of the session ``sid``; None when there is no such session."""
        if not sid:
            return None
        with self._lock:
            return self._open.get(sid)
