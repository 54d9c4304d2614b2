"""One ``httpx.Client`` per network replica, made on first use and let go by ``close`` (the next request
opens a new one: a replica is one run, and may be used for another after ``close``), shared by the
syncline-server client (``remote/client.py``) and the WebDAV client (``webdav/client.py``)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

# An idle connection is let go after this (httpx's default is 5 s, uvicorn's keep-alive too: a request sent
# as the server closed the connection was reset). The server keeps one 75 s (protocol.md section 1).
IDLE_CONNECTION_S = 30.0


class HttpPool:
    """A keep-alive pool of at most ``max_connections``, never following redirects nor reading proxy
    settings from the environment; ``given`` (a test's transport) is used as it is and never closed."""

    def __init__(self, max_connections: int, timeout: float, given: httpx.Client | None = None, **extra: Any) -> None:
        self._given = given
        self._http = given
        self._max = max_connections
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 15.0))
        self._extra = extra
        self._mutex = threading.Lock()

    def get(self) -> httpx.Client:
        with self._mutex:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self._timeout, follow_redirects=False, trust_env=False,
                    limits=httpx.Limits(max_connections=self._max, max_keepalive_connections=self._max,
                                        keepalive_expiry=IDLE_CONNECTION_S), **self._extra)
            return self._http

    def close(self) -> None:
        with self._mutex:
            if self._http is not None and self._http is not self._given:
                self._http.close()
                self._http = None
