"""File locks (protocol 1.1, feature ``file-locks``): ``GET|POST .../file-locks``, ``PUT|DELETE
.../file-locks/{lock}``. The store decides (:mod:`syncline.server.store.filelocks`); the commit path
enforces them on every write (``apply.py``). Not the run leases of ``.../locks`` (protocol section 10).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.errors import WireError, clip
from ...formats.wire.fields import integer, obj, text
from ...formats.wire.limits import (
    FILE_LOCK_TTL_MAX_S,
    FILE_LOCK_TTL_MIN_S,
    FILE_LOCK_TTL_S,
    LOCK_ID_RE,
    MAX_LOCK_NOTE,
    MAX_PATH_BYTES,
)
from ...formats.wire.paths import check_wire_path
from .access import caller_of, folder_of
from .bodies import bool_param, json_body
from .errors import JSON

_REQ = "bad_request"
_MAX_BODY = 2 * MAX_PATH_BYTES + 4 * MAX_LOCK_NOTE + 1024


def _ttl(body: Mapping[str, Any]) -> int:
    return integer(body.get("ttl", FILE_LOCK_TTL_S), "ttl", _REQ, FILE_LOCK_TTL_MIN_S, FILE_LOCK_TTL_MAX_S)


def _lock_id(request: Request) -> str:
    lock_id: str = request.path_params["lock"]
    if not LOCK_ID_RE.fullmatch(lock_id):
        raise WireError("not_found", f"no lock {clip(lock_id, 64)} in the folder", "see the folder's locks")
    return lock_id


async def list_locks(request: Request) -> Response:
    """``{"lock_seq", "locks": [...]}``: the folder's live locks (any member)."""
    caller = await caller_of(request)
    found = await folder_of(request, caller)
    seq, locks = await run_in_threadpool(found.store.file_locks)
    now = time.time_ns()
    return JSON({"lock_seq": seq, "locks": [lk.to_json(caller.device.id, now) for lk in locks]})


async def take_lock(request: Request) -> Response:
    """Lock ``{"path"}`` for ``{"ttl"}`` s (default 30 min) with an optional ``{"note"}``: ``201``, or
    ``200`` when this device held it already (renewed); ``423 locked`` while another device holds it."""
    caller = await caller_of(request)
    body = obj(await json_body(request, request.app.state.stall_s, _MAX_BODY), "body", _REQ)
    path = check_wire_path(body.get("path"))
    ttl = _ttl(body)
    note = body.get("note")
    if note is not None:
        note = text(note, "note", _REQ, MAX_LOCK_NOTE)
    found = await folder_of(request, caller, write=True)
    lock, made = await run_in_threadpool(found.store.take_lock, path, caller.device.id, ttl, note)
    return JSON(lock.to_json(caller.device.id, time.time_ns()), status_code=201 if made else 200)


async def renew_lock(request: Request) -> Response:
    """Renew this device's lock for ``{"ttl"}`` s."""
    caller = await caller_of(request)
    lock_id = _lock_id(request)
    ttl = _ttl(obj(await json_body(request, request.app.state.stall_s, 1024), "body", _REQ))
    found = await folder_of(request, caller, write=True)
    lock = await run_in_threadpool(found.store.renew_lock, lock_id, caller.device.id, ttl)
    return JSON(lock.to_json(caller.device.id, time.time_ns()))


async def release_lock(request: Request) -> Response:
    """End a lock of the caller's user; ``?force=1``: any lock, by the folder's owner. ``204``."""
    caller = await caller_of(request)
    lock_id = _lock_id(request)
    force = bool_param(request, "force", False)
    found = await folder_of(request, caller, write=True)
    await run_in_threadpool(found.store.release_lock, lock_id, force)
    return Response(status_code=204)


F = "/v1/folders/{name}"
ROUTES = [
    Route(F + "/file-locks", list_locks, methods=["GET"]),
    Route(F + "/file-locks", take_lock, methods=["POST"]),
    Route(F + "/file-locks/{lock}", renew_lock, methods=["PUT"]),
    Route(F + "/file-locks/{lock}", release_lock, methods=["DELETE"]),
]
