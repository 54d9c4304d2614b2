"""Users, for an administrator (protocol 1.3, feature ``users``): ``GET /v1/users`` and
``PATCH /v1/users/{name}`` (quota; disable or enable).

Disabling is ``syncline user remove`` (:meth:`~syncline.server.store.meta.Users.update` shares its
transaction): the user's devices are revoked, so each one's next request is ``401``, and their event
streams are closed here; the user's folders stay. Enabling lets them log in again; their old devices stay
revoked. Adding a user stays on the server machine (``syncline user add``): no password crosses this API.
Anyone but an administrator is answered ``403 forbidden`` before their body is read.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.errors import WireError
from ...formats.wire.users import user_change_of_json
from ..store import Store
from ..users import check_user_name
from .access import Caller, caller_of
from .bodies import json_body
from .errors import JSON

_MAX_USER_BODY = 4 * 1024  # two small fields: nothing near the JSON limit


def _admin_only(caller: Caller) -> None:
    if not caller.admin:
        raise WireError("forbidden", "only an administrator manages users",
                        "ask an administrator of this server")


async def list_users(request: Request) -> Response:
    """``{"users": [...]}``: every user, removed ones too, by name (:class:`~syncline.formats.wire.users.UserInfo`)."""
    _admin_only(await caller_of(request))
    store: Store = request.app.state.store
    found = await run_in_threadpool(store.users.overview)
    return JSON({"users": [u.to_json() for u in found]})


async def change_user(request: Request) -> Response:
    """Change user ``{name}``'s quota, or disable or enable them; the user as ``GET /v1/users`` lists
    them. ``conflict`` for disabling oneself or the last administrator."""
    caller = await caller_of(request)
    _admin_only(caller)
    name = request.path_params["name"]
    check_user_name(name)
    change = user_change_of_json(await json_body(request, request.app.state.stall_s, _MAX_USER_BODY))
    if change.disabled and name == caller.user:
        raise WireError("conflict", "you cannot disable yourself", "ask another administrator to do it")
    store: Store = request.app.state.store

    def work() -> tuple[tuple[str, ...], dict[str, object]]:
        revoked = store.users.update(name, change)
        return revoked, store.users.overview(name)[0].to_json()

    revoked, body = await run_in_threadpool(work)
    for device_id in revoked:
        request.app.state.notifier.close_owner(device_id)
    return JSON(body)


ROUTES = [
    Route("/v1/users", list_users, methods=["GET"]),
    Route("/v1/users/{name}", change_user, methods=["PATCH"]),
]
