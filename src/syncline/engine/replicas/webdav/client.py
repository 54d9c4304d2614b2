"""The HTTP side of a WebDAV replica: one ``httpx.Client`` (HTTP Basic on every request), bounded reads,
and the one function that turns an HTTP status into the replica error family (STYLE 20): nothing above
this module looks at a status code or an ``httpx`` exception.

We use httpx directly, not ``webdav4.Client``: every write here carries a condition (``If-Match``,
``If-None-Match``, ``Overwrite``) that webdav4's methods have no place for, and its exceptions would need a
second mapping; the PROPFIND answer is parsed in ``multistatus.py`` (see there why).

Statuses and what they become (:func:`dav_error`):

====================  ==============================================================================
401                   ``Denied``: the user name or password is refused (what to run is in the message)
403                   ``Denied``
404, 410              ``NotFound`` (a ``FileNotFoundError``)
409                   ``NotFound``: a parent folder is missing (RFC 4918 9.7.1, 9.3.1)
412                   ``Changed``: the condition failed (callers that expect it turn it into an Outcome)
423                   ``Locked``
429                   ``RateLimited`` (``retry_after`` from ``Retry-After``)
507, 413              ``NoSpace`` / ``ReplicaError`` (too large)
502, 503, 504         ``Unreachable``
other 5xx             ``ReplicaError``, retryable
anything else         ``ReplicaError``
====================  ==============================================================================
"""

from __future__ import annotations

import errno as E
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import httpx

from ....version import __version__
from ..errors import Changed, Denied, Locked, NoSpace, NotFound, RateLimited, ReplicaError, Unreachable, error_class
from ..httppool import HttpPool
from ..remote.client import transport_error
from ..remote.ratelimit import LIMITS, RateLimits, pace_response, paced_body
from .address import DavAddress
from .credentials import DavCredentials

MAX_ANSWER = 128 << 20  # the largest PROPFIND answer read (a folder of some 200,000 entries)
MAX_ERROR_BODY = 4 << 10


def dav_error(status: int, method: str, address: DavAddress, where: str = "",
              headers: Mapping[str, str] | None = None) -> ReplicaError:
    """The replica error for an HTTP ``status`` answered to ``method`` (see the module's table), with a
    one-line message that says what to do."""
    at = f" ({where})" if where else ""
    server = address.server
    if status == 401:
        return error_class(Denied)(E.EACCES, f"the WebDAV server {server} refused the user name or password: "
                                   f"run `syncline connect {address.text()} --user NAME` with the right ones "
                                   "(an app password where the server uses two-factor login)", where or None)
    if status == 403:
        return error_class(Denied)(E.EACCES, f"{server} refused {method}{at}: your user may not do this there")
    if status in (404, 410):
        return error_class(NotFound, FileNotFoundError)(E.ENOENT, f"not on {server}", where or None)
    if status == 409:
        return error_class(NotFound, FileNotFoundError)(E.ENOENT, f"a parent folder is missing on {server}",
                                                        where or None)
    if status == 412:
        return error_class(Changed)(E.ESTALE, "changed on the server since it was read", where or None)
    if status == 423:
        return error_class(Locked)(E.EBUSY, f"locked on {server} by someone else: try again later", where or None)
    if status == 429:
        exc = error_class(RateLimited)(f"{server} asks to slow down{at}: try again later")
        retry = (headers or {}).get("retry-after", "")
        exc.retry_after = min(int(retry), 3600) if retry.isdigit() else None  # type: ignore[attr-defined]
        return exc
    if status == 507:
        return error_class(NoSpace)(E.ENOSPC, f"no space left (or over quota) on {server}", where or None)
    if status in (502, 503, 504):
        return error_class(Unreachable)(E.ECONNREFUSED, f"{server} is not reachable now (HTTP {status}): "
                                        "try again later", where or None)
    if status == 413:
        return ReplicaError(f"{server} refused {method}{at}: too large for it (HTTP 413)")
    exc = ReplicaError(f"{server} answered {method}{at} with HTTP {status}")
    exc.retryable = status >= 500
    return exc


def bad_answer(address: DavAddress, why: str, where: str = "") -> ReplicaError:
    """The error for an answer the client refuses (a broken or hostile server): not retryable."""
    at = f" ({where})" if where else ""
    return ReplicaError(f"refused the answer of {address.server}{at}: {why}; check the address and the server")


class DavClient:
    """HTTP to one WebDAV collection as ``credentials``' user. Thread-safe (httpx's pool is); ``http``
    replaces the transport in tests. :meth:`close` ends the connections; the next call opens new ones.
    Bodies sent and read are paced by the server's buckets of ``limits`` (the process's
    :data:`~syncline.engine.replicas.remote.ratelimit.LIMITS` when not given), as a syncline server's are."""

    def __init__(self, address: DavAddress, credentials: DavCredentials, *, max_connections: int = 4,
                 timeout: float = 60.0, http: httpx.Client | None = None, limits: RateLimits | None = None) -> None:
        self.address = address
        self.limits = LIMITS if limits is None else limits
        self.credentials = credentials
        self._pool = HttpPool(max_connections, timeout, http, headers={"User-Agent": f"syncline/{__version__}"},
                              auth=httpx.BasicAuth(credentials.user, credentials.password))
        self._mutex = threading.Lock()
        self.max_answer = MAX_ANSWER
        self.requests = 0  # how many were sent: tests count PROPFINDs with it
        self.counts: dict[str, int] = {}

    def http(self) -> httpx.Client:
        return self._pool.get()

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def stream(self, method: str, url: str, *, where: str = "", ok: Iterable[int] = (200,),
               headers: Mapping[str, str] | None = None, content: bytes | Iterable[bytes] | None = None
               ) -> Iterator[httpx.Response]:
        """The answer to a request, its body not read yet (read it inside the block, through
        :meth:`read`). A status not in ``ok`` raises its mapped error; a failure below HTTP
        ``Unreachable`` (or ``Denied`` for a certificate the system does not trust)."""
        with self._mutex:
            self.requests += 1
            self.counts[method] = self.counts.get(method, 0) + 1
        up, down = self.limits.buckets(self.address.server)
        if up is not None:
            content, length = paced_body(content, up)
            if length is not None:
                headers = {**(headers or {}), "Content-Length": str(length)}
        try:
            with self.http().stream(method, url, headers=headers, content=content) as response:
                if down is not None:
                    pace_response(response, down)
                if response.status_code not in ok:
                    exc = dav_error(response.status_code, method, self.address, where, response.headers)
                    exc.status = response.status_code  # type: ignore[attr-defined]
                    raise exc
                yield response
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.address.server, False, where) from exc

    def request(self, method: str, url: str, *, where: str = "", ok: Iterable[int] = (200,),
                headers: Mapping[str, str] | None = None, content: bytes | Iterable[bytes] | None = None,
                limit: int | None = None) -> tuple[int, httpx.Headers, bytes]:
        """(status, headers, body) of a request whose status is in ``ok``, the body read whole within
        ``limit`` (:attr:`max_answer` when None; over it, the answer is refused)."""
        with self.stream(method, url, where=where, ok=ok, headers=headers, content=content) as response:
            return response.status_code, response.headers, self.read(response, limit, where)

    def read(self, response: httpx.Response, limit: int | None = None, where: str = "") -> bytes:
        limit = self.max_answer if limit is None else limit
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise bad_answer(self.address, f"an answer of {declared} bytes, over {limit}", where)
        out = bytearray()
        for piece in response.iter_bytes():
            out += piece
            if len(out) > limit:
                raise bad_answer(self.address, f"an answer over {limit} bytes", where)
        return bytes(out)
