"""Shares (protocol 1.1, feature ``shares``): ``GET /v1/shares``, accept and decline an offer, and a
folder's members (list; the owner offers, changes rights and revokes; a member leaves).

The store decides who may do what (:mod:`syncline.server.store.shares`, each change one transaction);
this module reads the requests and tells the streams: the member's ``shares`` event on every change of
their shares, and ``revoked`` on their devices' streams that follow a folder taken from them.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.fields import obj, text
from ..notify import Notifier, shares_key
from ..store import Store
from ..store.filelocks import locks_key
from .access import caller_of, folder_of
from .bodies import json_body
from .errors import JSON

_REQ = "bad_request"
_MAX_SHARE_BODY = 4 * 1024  # a name or a right: nothing near the JSON limit


def _tell(store: Store, notifier: Notifier, user_id: int, dropped: int | None = None) -> None:
    """Tell ``user_id``'s streams that their shares changed; with ``dropped``, that folder is theirs no more."""
    if dropped is not None:
        devices = {d.id for d in store.devices.list(user_id)}
        notifier.drop(dropped, devices)
        notifier.drop(locks_key(dropped), devices)
    notifier.publish(shares_key(user_id), time.time_ns())


async def list_shares(request: Request) -> Response:
    """``{"incoming": [...], "outgoing": [...]}``: other users' folders offered to or shared with the
    caller, and the shares of the caller's own folders."""
    caller = await caller_of(request)
    store: Store = request.app.state.store
    user_id = caller.device.user_id

    def work() -> dict[str, Any]:
        return {"incoming": [s.to_json() for s in store.shares.of_user(user_id)],
                "outgoing": [s.to_json() for s in store.shares.shared_by(user_id)]}

    return JSON(await run_in_threadpool(work))


async def accept(request: Request) -> Response:
    """Accept an offer under ``{"name"}`` (``{}``: the server picks a free one); ``200`` and the share."""
    caller = await caller_of(request)
    state = request.app.state
    name = obj(await json_body(request, state.stall_s, _MAX_SHARE_BODY), "body", _REQ).get("name")
    if name is not None:
        name = text(name, "name", _REQ, _MAX_SHARE_BODY)
    share = await run_in_threadpool(state.store.shares.accept, caller.device.user_id, request.path_params["uid"],
                                    name)
    await run_in_threadpool(_tell, state.store, state.notifier, caller.device.user_id)
    return JSON(share.to_json())


async def decline(request: Request) -> Response:
    """Decline an offer, or leave an accepted share: ``204``."""
    caller = await caller_of(request)
    state = request.app.state
    folder_id = await run_in_threadpool(state.store.shares.decline, caller.device.user_id, request.path_params["uid"])
    await run_in_threadpool(_tell, state.store, state.notifier, caller.device.user_id, folder_id)
    return Response(status_code=204)


async def members(request: Request) -> Response:
    """Everyone with a right to the folder (any member may ask): ``{"members": [...]}``."""
    found = await folder_of(request, await caller_of(request))
    shares = await run_in_threadpool(request.app.state.store.shares.members, found.folder.id)
    return JSON({"members": [s.to_json() for s in shares]})


async def put_member(request: Request) -> Response:
    """The owner offers the folder to ``{user}`` with ``{"rights": "rw"|"ro"}``: ``201`` a new offer,
    ``200`` rights changed on a live share."""
    caller = await caller_of(request)
    state = request.app.state
    body = obj(await json_body(request, state.stall_s, _MAX_SHARE_BODY), "body", _REQ)
    found = await folder_of(request, caller)
    share, made = await run_in_threadpool(state.store.shares.offer, found.folder.id, caller.device.user_id,
                                          request.path_params["user"], body.get("rights"))
    member = await run_in_threadpool(state.store.users.get, share.user)
    if member is not None:
        await run_in_threadpool(_tell, state.store, state.notifier, member.id)
    return JSON(share.to_json(), status_code=201 if made else 200)


async def delete_member(request: Request) -> Response:
    """The owner revokes ``{user}``'s share, or a member leaves (``{user}`` themself): ``204``. The
    member's devices are told; their copies are theirs to keep."""
    caller = await caller_of(request)
    state = request.app.state
    found = await folder_of(request, caller)
    user_id = await run_in_threadpool(state.store.shares.end, found.folder.id, caller.device.user_id,
                                      request.path_params["user"])
    await run_in_threadpool(_tell, state.store, state.notifier, user_id, found.folder.id)
    return Response(status_code=204)


F = "/v1/folders/{name}"
ROUTES = [
    Route("/v1/shares", list_shares, methods=["GET"]),
    Route("/v1/shares/{uid}/accept", accept, methods=["POST"]),
    Route("/v1/shares/{uid}/decline", decline, methods=["POST"]),
    Route(F + "/members", members, methods=["GET"]),
    Route(F + "/members/{user}", put_member, methods=["PUT"]),
    Route(F + "/members/{user}", delete_member, methods=["DELETE"]),
]
