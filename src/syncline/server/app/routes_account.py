"""The server and the caller: ``info``, ``login``, ``logout``, ``whoami``, ``devices`` (protocol.md sections
1 and 2)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...core.chunking import SERVER_CHUNKER
from ...formats.wire.fields import obj, text
from ...formats.wire.limits import LIMITS
from ...version import __version__
from .access import caller_of
from .bodies import json_body
from .errors import JSON

PROTOCOL = {"major": 1, "minor": 3}
FEATURES = ["sse", "ranges", "packs", "shares", "file-locks", "versions", "webdav", "users", "activity"]
_REQ = "bad_request"
_MAX_LOGIN_BODY = 16 * 1024  # a login is a few short strings: nothing near the JSON limit
_MAX_FIELD = 4 * 1024  # characters; the authenticator applies the real bounds


async def info(request: Request) -> Response:
    store = request.app.state.store
    return JSON({"server": f"syncline {__version__}", "server_id": store.server_id, "protocol": PROTOCOL,
                 "features": FEATURES, "chunker": SERVER_CHUNKER.params(), "limits": LIMITS})


def _login_fields(body: Any) -> tuple[str, str, str, str | None]:
    """The fields' types; their bounds are the authenticator's to check (before any rate limit counts)."""
    o = obj(body, "body", _REQ)
    user = text(o.get("user"), "user", _REQ, _MAX_FIELD)
    password = text(o.get("password"), "password", _REQ, _MAX_FIELD)
    device = text(o.get("device"), "device", _REQ, _MAX_FIELD)
    replaces = o.get("replaces")
    if replaces is not None:
        replaces = text(replaces, "replaces", _REQ, _MAX_FIELD)
    return user, password, device, replaces


async def login(request: Request) -> Response:
    state = request.app.state
    user, password, device, replaces = _login_fields(await json_body(request, state.stall_s, _MAX_LOGIN_BODY))
    address = request.client.host if request.client is not None else ""
    token, who = await run_in_threadpool(state.auth.login, user, password, device, replaces, address)
    if replaces is not None:
        state.notifier.close_owner(replaces)
    return JSON({"token": token, "device_id": who.device.id, "user": who.user.name, "admin": who.user.admin})


async def whoami(request: Request) -> Response:
    caller = await caller_of(request)
    return JSON({"user": caller.user, "admin": caller.admin, "device_id": caller.device.id,
                 "device": caller.device.name})


async def logout(request: Request) -> Response:
    caller = await caller_of(request)
    await run_in_threadpool(request.app.state.auth.revoke, caller.device.id, caller.identity)
    request.app.state.notifier.close_owner(caller.device.id)
    return Response(status_code=204)


async def devices(request: Request) -> Response:
    caller = await caller_of(request)
    found = await run_in_threadpool(request.app.state.store.devices.list, caller.device.user_id)
    return JSON([{"id": d.id, "name": d.name, "created": d.created_ns, "last_seen": d.last_seen_ns,
                  "revoked": d.revoked_ns, "current": d.id == caller.device.id, "kind": d.kind,
                  "expires": d.expires_ns} for d in found])


async def revoke_device(request: Request) -> Response:
    """Revoke one of the caller's devices (an admin: anyone's); its event streams are closed."""
    caller = await caller_of(request)
    device_id = request.path_params["id"]
    await run_in_threadpool(request.app.state.auth.revoke, device_id, caller.identity)
    request.app.state.notifier.close_owner(device_id)
    return Response(status_code=204)


ROUTES = [
    Route("/v1/info", info, methods=["GET"]),
    Route("/v1/login", login, methods=["POST"]),
    Route("/v1/logout", logout, methods=["POST"]),
    Route("/v1/whoami", whoami, methods=["GET"]),
    Route("/v1/devices", devices, methods=["GET"]),
    Route("/v1/devices/{id}", revoke_device, methods=["DELETE"]),
]
