"""Writing: ``POST /v1/folders/{name}/ops``, a batch of conditional items (protocol.md section 7).

The whole body is read and decoded (every type, bound and path checked by the wire codec) before the
folder store sees any of it; the store then applies the items in one transaction and publishes the new
``seq`` to the notifier.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.opsjson import ops_of_json, results_to_json
from .access import caller_of, folder_of
from .bodies import json_body
from .errors import JSON


async def ops(request: Request) -> Response:
    caller = await caller_of(request)
    # Decoding checks every item (up to 1,000, with their chunk lists): a thread's work, not the loop's.
    policy, items = await run_in_threadpool(ops_of_json, await json_body(request, request.app.state.stall_s))
    found = await folder_of(request, caller, write=True)
    seq, results = await run_in_threadpool(found.store.apply_ops, items, policy, caller.device.id)
    return JSON(results_to_json(seq, results))


ROUTES = [Route("/v1/folders/{name}/ops", ops, methods=["POST"])]
