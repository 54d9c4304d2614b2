"""The HTTP side of a remote replica: one ``httpx.Client`` per replica, the server's certificate pinned,
and every failure mapped, in this one module, to the replica error family (STYLE 20).

Nothing above this module looks at a status code, an ``httpx`` exception or an ``ssl`` error: a
:class:`Client` call returns an answer the protocol calls a success, or raises a member of
``engine/replicas/errors.py``. The table is protocol.md section 12, by code (:data:`CODE_ERRNO` adds the
errno that makes a ``NotFound`` a ``FileNotFoundError`` and a ``not_a_dir`` a ``NotADirectoryError``); the
HTTP status decides only for a code this client does not know. A dropped or refused connection, a timeout
and a TLS failure are ``Unreachable``; a certificate that is not the pinned one is ``Denied``.

Every answer is read within a bound (:data:`MAX_ANSWER`) and parsed strictly; the values in it are checked
by the wire codec (``formats/wire``), whose refusals are ``bad_response``: a server's answer is not
trusted (DESIGN 4.9).
"""

from __future__ import annotations

import errno as E
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from ....core.chunking import SERVER_CHUNKER, Chunker
from ....formats.wire import WireError, error_of_body, family_of
from ....formats.wire.fields import dump_json, integer, obj, parse_json, text
from ....version import __version__
from ..errors import (
    Changed,
    Denied,
    Locked,
    NoSpace,
    NotFound,
    RateLimited,
    ReadOnly,
    ReplicaError,
    Unreachable,
    error_class,
)
from ..httppool import HttpPool
from .credentials import Credentials, server_url
from .ratelimit import LIMITS, RateLimits, pace_response, paced_body

PROTOCOL = "1.0"
MAX_ANSWER = 128 << 20  # the largest JSON answer (a listing page, a chunk list of 1,048,576 chunks)
MAX_ERROR_BODY = 64 << 10
RESP = "bad_response"

FAMILIES: dict[str, type[ReplicaError]] = {c.__name__: c for c in (
    ReplicaError, Unreachable, NotFound, Changed, NoSpace, Denied, ReadOnly, Locked, RateLimited)}

# The errno each code carries, so the mapped error is also the builtin class a local one would be.
CODE_ERRNO: dict[str, int] = {
    "not_found": E.ENOENT, "not_a_dir": E.ENOTDIR, "changed": E.ESTALE, "missing_chunks": E.ESTALE,
    "no_space": E.ENOSPC, "read_only": E.EROFS, "bad_login": E.EACCES, "unauthenticated": E.EACCES,
    "forbidden": E.EACCES, "locked": E.EBUSY, "timeout": E.ETIMEDOUT, "unavailable": E.ECONNREFUSED,
    "bad_path": E.EINVAL, "name_clash": E.EEXIST, "exists": E.EEXIST, "too_large": E.EFBIG,
    "over_quota": E.EDQUOT,
}
# Statuses a proxy in front of the server answers (no error body): the server is not reachable now.
_PROXY_UNREACHABLE = frozenset({502, 504})


def replica_error(err: WireError, where: str = "", status: int = 0) -> ReplicaError:
    """The replica error for a wire error (a server's error body, a per-item error, or a refusal of the
    codec): its family by code, or by ``status`` for a code this client does not know. The message is the
    server's message and hint; ``code``, ``hint`` and ``details`` are kept on the error as attributes."""
    family_name = family_of(str(err.details.get("code", "")), status) if err.code == RESP and status else err.family
    if err.code == RESP and status in _PROXY_UNREACHABLE:
        family_name = "Unreachable"
    family = FAMILIES[family_name]
    number = CODE_ERRNO.get(err.code)
    message = f"{err.message} ({err.hint})" if err.hint else err.message
    if number is None:
        # The message alone (it names the path where it matters): OSError(message, where) took the message
        # for an errno and ``where`` for the reason, and a per-item error read "cannot write: <path>".
        exc = error_class(family)(message)
    else:
        exc = error_class(family, type(OSError(number, "")))(number, message, where or None)
    if err.code != RESP:
        exc.retryable = err.retryable  # the code's, where it differs from its family's (internal, truncated)
    exc.code = err.code  # type: ignore[attr-defined]
    exc.hint = err.hint  # type: ignore[attr-defined]
    exc.details = err.details  # type: ignore[attr-defined]
    if family is RateLimited or err.code == "unavailable":
        exc.retry_after = err.details.get("retry_after")  # type: ignore[attr-defined]
    return exc


def code_of(exc: BaseException) -> str:
    """The protocol code a mapped error came from (``unreachable`` below HTTP; "" for other errors)."""
    code = getattr(exc, "code", "")
    return code if isinstance(code, str) else ""


def transport_error(exc: BaseException, url: str, pinned: bool, where: str = "") -> ReplicaError:
    """The replica error for a failure below HTTP: a certificate that does not verify is ``Denied``
    (pinned: not the certificate this device was connected to), everything else (refused, reset, timed
    out, a broken TLS handshake, a body cut short) ``Unreachable``."""
    if _cert_failure(exc):
        if pinned:
            why = (f"the certificate of {url} is not the one this device was connected to (if the server's "
                   f"certificate was replaced, run `syncline connect {url}` again and compare the fingerprint)")
        else:
            why = f"the certificate of {url} is not trusted by this system"
        err = error_class(Denied)(E.EACCES, why, where or None)
    else:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        err = error_class(Unreachable)(E.ECONNRESET if kind == "failed" else E.ETIMEDOUT,
                                       f"the connection to {url} {kind}: {exc or type(exc).__name__}", where or None)
    err.code = "unreachable"  # type: ignore[attr-defined]
    return err


def _cert_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, ssl.SSLCertVerificationError):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def ssl_context(cert_pem: str | None) -> ssl.SSLContext:
    """The TLS context for a server: with ``cert_pem``, only that certificate is trusted (pinned; its host
    name is not checked, since a self-signed certificate names whatever the server was called when it was
    made); without, the system's CAs and the host name."""
    if cert_pem is None:
        return ssl.create_default_context()
    ctx = ssl.create_default_context(cadata=cert_pem)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What ``/v1/info`` says that the client uses: the server's id, its features and its chunker."""

    server_id: str
    features: frozenset[str]
    chunker: Chunker


def info_of_json(value: object) -> ServerInfo:
    """The checked ``/v1/info`` answer (``bad_response`` for a malformed one). A chunker this client
    cannot reproduce falls back on the default one (the server still works, it only receives more)."""
    o = obj(value, "info", RESP)
    server_id = text(o.get("server_id"), "server_id", RESP, 128)
    feats = o.get("features", [])
    features = frozenset(f for f in feats if isinstance(f, str)) if isinstance(feats, list) else frozenset()
    params = o.get("chunker")
    try:
        if not isinstance(params, dict):
            raise ValueError("no chunker")
        chunker = Chunker.from_params({k: integer(v, f"chunker.{k}", RESP, 0, 1 << 40) for k, v in params.items()
                                       if isinstance(k, str)})
    except (ValueError, WireError):
        chunker = SERVER_CHUNKER
    return ServerInfo(server_id, features, chunker)


class Client:
    """The HTTP client of one replica: ``credentials``' server, token and pinned certificate; at most
    ``max_connections`` connections kept alive. ``http`` replaces the transport (a test's
    ``starlette.testclient.TestClient`` running the app in process, an ``httpx.Client`` with a
    ``MockTransport``); the client then uses it as given and does not close it.

    Calls are thread-safe (httpx's pool is); :meth:`close` ends the connections, and the next call opens
    new ones. Bodies sent and read are paced by the server's buckets of ``limits`` (the process's
    :data:`~.ratelimit.LIMITS` when not given)."""

    def __init__(self, credentials: Credentials, *, http: httpx.Client | None = None, max_connections: int = 8,
                 timeout: float = 60.0, limits: RateLimits | None = None) -> None:
        self.credentials = credentials
        self.limits = LIMITS if limits is None else limits
        self.base = server_url(credentials.url)
        self.pinned = credentials.cert_pem is not None
        self._pool: HttpPool | None = None
        self._given = http
        self._max = max_connections
        self._timeout = timeout
        self._mutex = threading.Lock()
        self._info: ServerInfo | None = None
        self.headers = {"Authorization": f"Bearer {credentials.token}", "Syncline-Protocol": PROTOCOL,
                        "User-Agent": f"syncline/{__version__}"}

    # -- the connection -------------------------------------------------------------------------------
    def http(self) -> httpx.Client:
        with self._mutex:
            if self._pool is None:
                verify: ssl.SSLContext | bool = ssl_context(self.credentials.cert_pem) \
                    if self.base.startswith("https:") and self._given is None else False
                self._pool = HttpPool(self._max, self._timeout, self._given, verify=verify)
        return self._pool.get()

    def close(self) -> None:
        with self._mutex:
            if self._pool is not None:
                self._pool.close()

    # -- requests ---------------------------------------------------------------------------------------
    @contextmanager
    def stream(self, method: str, path: str, *, where: str = "", ok: tuple[int, ...] = (200,),
               params: Mapping[str, Any] | None = None, json: Any = None, content: Any = None,
               headers: Mapping[str, str] | None = None, paced: bool = True) -> Iterator[httpx.Response]:
        """The answer to a request, its body not read yet (read it inside the block, so a cut connection
        is mapped too). A status not in ``ok`` raises its mapped error; ``where`` (a path) goes into the
        error. Both bodies are paced by the server's buckets when the process limits a direction;
        ``paced`` False leaves them unpaced (the event stream: a control channel, which a limited transfer
        must not hold up)."""
        body = dump_json(json) if json is not None else content
        hdrs = dict(self.headers)
        if json is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        up, down = self.limits.buckets(self.base) if paced else (None, None)
        if up is not None:
            body, length = paced_body(body, up)
            if length is not None:
                hdrs["Content-Length"] = str(length)
        url = f"{self.base}/v1/{path}"
        try:
            with self.http().stream(method, url, params=params, content=body, headers=hdrs) as response:
                if down is not None:
                    pace_response(response, down)
                if response.status_code not in ok:
                    raw = self._read(response, MAX_ERROR_BODY, truncate=True)
                    raise self.answer_error(response.status_code, raw, response.headers, where)
                yield response
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.base, self.pinned, where) from exc
        except ssl.SSLError as exc:  # pragma: no cover - httpx wraps these; kept for transports that do not
            raise transport_error(exc, self.base, self.pinned, where) from exc

    def request(self, method: str, path: str, *, where: str = "", ok: tuple[int, ...] = (200,),
                params: Mapping[str, Any] | None = None, json: Any = None, content: Any = None,
                headers: Mapping[str, str] | None = None, limit: int = MAX_ANSWER) -> tuple[int, bytes]:
        """(status, body) of a request whose status is in ``ok``, the body read whole up to ``limit``."""
        with self.stream(method, path, where=where, ok=ok, params=params, json=json, content=content,
                         headers=headers) as response:
            return response.status_code, self._read(response, limit)

    def call(self, method: str, path: str, *, where: str = "", ok: tuple[int, ...] = (200,),
             params: Mapping[str, Any] | None = None, json: Any = None, limit: int = MAX_ANSWER) -> Any:
        """The parsed JSON answer of a request (``bad_response`` for one that is not JSON)."""
        _, raw = self.request(method, path, where=where, ok=ok, params=params, json=json, limit=limit)
        return self.parsed(raw, where)

    def parsed(self, raw: bytes, where: str = "") -> Any:
        try:
            return parse_json(raw, RESP, MAX_ANSWER)
        except WireError as err:
            raise replica_error(err, where) from None

    def answer_error(self, status: int, raw: bytes, headers: Mapping[str, str], where: str) -> ReplicaError:
        try:
            body = parse_json(raw, RESP, MAX_ERROR_BODY)
        except WireError:
            body = None
        err = error_of_body(body, status)
        retry = headers.get("retry-after", "")
        if retry.isdigit():
            err.details.setdefault("retry_after", min(int(retry), 3600))
        return replica_error(err, where or str(err.details.get("path", ""))[:4096], status)

    @staticmethod
    def _read(response: httpx.Response, limit: int, truncate: bool = False) -> bytes:
        out = bytearray()
        for piece in response.iter_bytes():
            out += piece
            if len(out) > limit:
                if truncate:
                    return bytes(out[:limit])
                raise replica_error(WireError(RESP, f"an answer over {limit} bytes",
                                              "check the server's version and address"))
        return bytes(out)

    def bad(self, why: str, where: str = "") -> ReplicaError:
        """The error for an answer the client refuses (a hostile or broken server)."""
        return replica_error(WireError(RESP, why, "the server's answer was refused: check its version and address"),
                             where)

    # -- the server ---------------------------------------------------------------------------------------
    def info(self) -> ServerInfo:
        """``/v1/info``, read once per client. ``Denied`` when the server's id is not the one this device
        connected to (another server answers at the address)."""
        if self._info is None:
            value = self.call("GET", "info")
            try:
                info = info_of_json(value)
            except WireError as err:
                raise replica_error(err) from None
            if self.credentials.server_id and info.server_id != self.credentials.server_id:
                raise error_class(Denied)(
                    E.EACCES, f"the server at {self.base} is not the one this device was connected to (its id is "
                    f"{info.server_id}, not {self.credentials.server_id}): run `syncline connect {self.base}` "
                    "if it was replaced on purpose")
            self._info = info
        return self._info
