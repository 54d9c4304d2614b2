"""The web page's session routes (issue 16; protocol.md "Web sessions"): ``POST /ui/login``, ``GET
/ui/session``, ``POST /ui/logout``. The cookie and CSRF rules are :mod:`.websession`'s.

- ``/ui/login`` ``{"user", "password"}``: only from this server's own page (:func:`~.websession.same_origin`:
  a login CSRF would log the victim's browser into the attacker's account). Same checks and rate limits
  as ``/v1/login`` (one limiter: failures anywhere count everywhere). Makes a web session named after the
  browser, sets its cookie, answers :func:`_session_json`.
- ``/ui/session``: that answer again for the cookie's live web session (no cookie set), else ``401``.
- ``/ui/logout``: revokes the cookie's session, closes its event streams, clears the cookie: ``204``.
  Without a live session it is ``401``, and the cookie is cleared all the same.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.errors import WireError
from ...formats.wire.fields import obj, text
from ..auth import Identity
from ..store.schema import WEB
from .access import Caller, caller_of
from .bodies import json_body
from .errors import JSON, error_response
from .websession import clear_cookie, csrf_of, device_name, forbidden, is_tls, same_origin, set_cookie

_REQ = "bad_request"
_MAX_LOGIN_BODY = 16 * 1024  # a login is two short strings
_MAX_FIELD = 4 * 1024  # characters; the authenticator applies the real bounds
_NO_STORE = {"Cache-Control": "no-store"}


def _session_json(request: Request, identity: Identity, token: str) -> dict[str, Any]:
    device = identity.device
    expires = min(device.expires_ns or 0, device.created_ns + int(request.app.state.auth.web.max_age_s * 1e9))
    return {"user": identity.user.name, "admin": identity.user.admin, "device_id": device.id,
            "csrf": csrf_of(request.app.state.store.web_secret, token), "expires_ns": expires}


async def login(request: Request) -> Response:
    if not same_origin(request.scope):
        raise forbidden("a login must come from this server's own page")
    state = request.app.state
    body = obj(await json_body(request, state.stall_s, _MAX_LOGIN_BODY), "body", _REQ)
    user = text(body.get("user"), "user", _REQ, _MAX_FIELD)
    password = text(body.get("password"), "password", _REQ, _MAX_FIELD)
    address = request.client.host if request.client is not None else ""
    name = device_name(request.headers.get("user-agent"))
    token, who, gone = await run_in_threadpool(state.auth.web_login, user, password, name, address)
    for device_id in gone:
        state.notifier.close_owner(device_id)
    tls = is_tls(request.scope)
    answer = JSON(_session_json(request, who, token), headers=_NO_STORE)
    answer.headers.append("Set-Cookie", set_cookie(token, tls, state.auth.web.max_age_s))
    return answer


async def _web_caller(request: Request) -> tuple[Caller, str]:
    """The caller when it is a web session (the token the cookie gave, as the middleware put it)."""
    caller = await caller_of(request)
    if caller.device.kind != WEB:
        raise WireError("unauthenticated", "no web session", "log in on the server's page")
    return caller, request.headers["authorization"].partition(" ")[2].strip()


async def session(request: Request) -> Response:
    caller, token = await _web_caller(request)
    return JSON(_session_json(request, caller.identity, token), headers=_NO_STORE)


async def logout(request: Request) -> Response:
    cleared = clear_cookie(is_tls(request.scope))
    try:
        caller, _ = await _web_caller(request)
    except WireError as err:
        refused = error_response(err)
        refused.headers.append("Set-Cookie", cleared)
        return refused
    await run_in_threadpool(request.app.state.auth.revoke, caller.device.id, caller.identity)
    request.app.state.notifier.close_owner(caller.device.id)
    done = Response(status_code=204)
    done.headers.append("Set-Cookie", cleared)
    return done


ROUTES = [
    Route("/ui/login", login, methods=["POST"]),
    Route("/ui/session", session, methods=["GET"]),
    Route("/ui/logout", logout, methods=["POST"]),
]
