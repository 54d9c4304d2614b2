"""A folder's activity (protocol 1.3, feature ``activity``): ``GET /v1/folders/{name}/activity?days=N``,
its changes per UTC day and op for the last ``N`` days (1-90, 30 when not said), for anyone who may read
the folder (a folder one cannot read is answered as one that does not exist, as on every folder route)."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.limits import ACTIVITY_DAYS, MAX_ACTIVITY_DAYS
from ..store import Store
from ..store.activity import activity
from .access import caller_of, folder_of
from .bodies import int_param
from .errors import JSON


async def folder_activity(request: Request) -> Response:
    days = int_param(request, "days", ACTIVITY_DAYS, 1, MAX_ACTIVITY_DAYS)
    found = await folder_of(request, await caller_of(request))
    store: Store = request.app.state.store
    answer = await run_in_threadpool(activity, store.db, found.folder.id, found.folder.name, days, time.time_ns())
    return JSON(answer.to_json())


ROUTES = [Route("/v1/folders/{name}/activity", folder_activity, methods=["GET"])]
