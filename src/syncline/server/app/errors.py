"""Errors at the HTTP edge (protocol.md section 12): every refusal leaves as one error body.

:func:`error_response` writes a :class:`~syncline.formats.wire.WireError`; :func:`wire_error_of` maps the
other errors a handler may meet (a replica error from the core, Starlette's own 404/405) onto a wire code.
:class:`CatchAll` is the last line: anything else is a server bug, answered ``500 internal`` with a request
id that is also in the log, and never a traceback to the client.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...engine.replicas.errors import Changed, Denied, Locked, NoSpace, NotFound, RateLimited, ReadOnly, Unreachable
from ...formats.wire.errors import WireError, error_body
from ...formats.wire.fields import dump_json

log = logging.getLogger("syncline.server")

# A replica error from the core (the store's replica adapter, the engine's checks) by its family; the
# most specific class first (ReadOnly is a Denied).
_FAMILY_CODES: tuple[tuple[type[OSError], str], ...] = (
    (ReadOnly, "read_only"), (Denied, "forbidden"), (NotFound, "not_found"), (Changed, "changed"),
    (NoSpace, "no_space"), (Locked, "locked"), (RateLimited, "rate_limited"), (Unreachable, "unavailable"))

_HTTP_CODES = {404: ("not_found", "no such endpoint", "check the URL: every endpoint is under /v1/"),
               405: ("bad_request", "this endpoint does not take that method", "see /v1/openapi.json")}


class JSON(Response):
    """A compact UTF-8 JSON answer (``formats.wire.fields.dump_json``: no NaN, names kept as they are)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dump_json(content)


def error_response(err: WireError, status: int | None = None, headers: dict[str, str] | None = None) -> Response:
    """The error body of ``err`` with its status (``status`` overrides it: ``changed`` is 412 on a
    download). ``unauthenticated`` carries ``WWW-Authenticate``, ``rate_limited`` and ``unavailable`` a
    ``Retry-After`` (from ``details.retry_after``, else 1 s)."""
    extra = dict(headers or {})
    if err.code == "unauthenticated":
        extra.setdefault("WWW-Authenticate", "Bearer")
    if err.code in ("rate_limited", "unavailable"):
        extra.setdefault("Retry-After", str(max(1, int(err.details.get("retry_after", 1)))))
    return JSON(error_body(err), status_code=status or err.status, headers=extra)


def wire_error_of(exc: Exception) -> WireError | None:
    """The wire error for a known exception (a replica error family member, an HTTP exception), or None."""
    if isinstance(exc, WireError):
        return exc
    if isinstance(exc, HTTPException) and exc.status_code in _HTTP_CODES:
        code, message, hint = _HTTP_CODES[exc.status_code]
        return WireError(code, message, hint)
    for family, code in _FAMILY_CODES:
        if isinstance(exc, family):
            return WireError(code, str(exc.strerror or exc) or code, "")
    return None


async def handle_known(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for :class:`WireError`, the replica family and HTTP exceptions."""
    err = wire_error_of(exc)
    if err is None:  # pragma: no cover - only registered for the classes wire_error_of knows
        raise exc
    status = exc.status_code if isinstance(exc, HTTPException) and exc.status_code == 405 else None
    return error_response(err, status)


def internal_error(request_id: str) -> WireError:
    return WireError("internal", f"the server failed on this request (request id {request_id})",
                     "try again; if it keeps failing, give the request id to the server's admin",
                     {"request_id": request_id})


class CatchAll:
    """ASGI middleware: an exception no handler took becomes ``500 internal`` (logged with a request id)
    when nothing was sent yet; after the answer started, the connection is only ended (a client sees a
    cut stream, which it treats as ``Unreachable``), never a second answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            return  # nobody is left to answer
        except Exception:
            request_id = secrets.token_hex(8)
            log.exception("request %s %s failed (request id %s)", scope.get("method"), scope.get("path"),
                          request_id)
            if not started:
                await error_response(internal_error(request_id))(scope, receive, send)
