"""Request bodies and query parameters, read with bounds (protocol.md section 11).

A body is read from the ASGI stream, never trusted: a ``Content-Length`` over the limit is refused before
a byte is read (``too_large``), the byte count is capped while reading (a chunked body or a lying length),
a body that ends short of its ``Content-Length`` is ``truncated``, one longer is ``bad_request``, and a
read that waits ``stall_s`` seconds for the next byte is ``408 timeout``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from ...formats.wire.errors import WireError, clip
from ...formats.wire.fields import parse_json
from ...formats.wire.limits import MAX_INT, MAX_JSON_BODY

_HINT = "send a well-formed request: see /v1/openapi.json"
PARSE_IN_LOOP = 64 * 1024  # bytes of JSON parsed on the event loop itself; larger bodies go to a thread


def content_length(request: Request, limit: int, required: bool = False) -> int | None:
    """The announced length of the body (None when absent and not ``required``), refused past ``limit``."""
    raw = request.headers.get("content-length")
    if raw is None:
        if required:
            raise WireError("bad_request", "this endpoint needs a Content-Length", "send the body with its length")
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise WireError("bad_request", f"Content-Length {clip(raw, 40)!r} is not a number", _HINT)
    length = int(raw)
    if length > limit:
        raise WireError("too_large", f"a body of {length} bytes is over the limit of {limit}",
                        "send less in one request", {"limit": limit})
    return length


async def stream_body(request: Request, limit: int, stall_s: float, required: bool = False) -> AsyncIterator[bytes]:
    """The body's pieces as they arrive, bounded as the module says."""
    announced = content_length(request, limit, required)
    seen = 0
    receive = request.receive
    while True:
        with anyio.move_on_after(stall_s) as scope:
            message = await receive()
        if scope.cancelled_caught:
            raise WireError("timeout", f"no byte of the request body for {stall_s:g} s", "check the connection")
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        piece = message.get("body", b"")
        seen += len(piece)
        if seen > limit:
            raise WireError("too_large", f"a body over the limit of {limit} bytes", "send less in one request",
                            {"limit": limit})
        if announced is not None and seen > announced:
            raise WireError("bad_request", f"the body is longer than its Content-Length {announced}", _HINT)
        if piece:
            yield piece
        if not message.get("more_body", False):
            break
    if announced is not None and seen < announced:
        raise WireError("truncated", f"the body ended after {seen} of {announced} bytes", "send it again",
                        {"bytes": seen})


async def read_body(request: Request, limit: int, stall_s: float) -> bytes:
    """The whole body (at most ``limit`` bytes), read as :func:`stream_body` does."""
    parts = [piece async for piece in stream_body(request, limit, stall_s)]
    return b"".join(parts)


async def json_body(request: Request, stall_s: float, limit: int = MAX_JSON_BODY) -> Any:
    """The body as a JSON value (``bad_request`` when it is not JSON); its shape is the caller's to check.
    A large body is parsed in a worker thread: 8 MiB of JSON would hold the event loop for a while."""
    body = await read_body(request, limit, stall_s)
    if len(body) > PARSE_IN_LOOP:
        return await run_in_threadpool(parse_json, body)
    return parse_json(body)


def int_param(request: Request, name: str, default: int, lo: int = 0, hi: int = MAX_INT) -> int:
    """Query parameter ``name`` as an integer in ``lo..hi`` (``default`` when absent)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 19 or not lo <= int(raw) <= hi:
        raise WireError("bad_request", f"query parameter {name}={clip(raw, 40)!r} is not a number in {lo}..{hi}",
                        _HINT, {"where": name})
    return int(raw)


def str_param(request: Request, name: str) -> str:
    """Query parameter ``name``, required (``bad_request`` when absent)."""
    raw = request.query_params.get(name)
    if raw is None:
        raise WireError("bad_request", f"query parameter {name} is missing", _HINT, {"where": name})
    return raw


def bool_param(request: Request, name: str, default: bool) -> bool:
    """Query parameter ``name`` as ``0``/``1`` (``default`` when absent)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw not in ("0", "1"):
        raise WireError("bad_request", f"query parameter {name} is 0 or 1, not {clip(raw, 40)!r}", _HINT,
                        {"where": name})
    return raw == "1"
