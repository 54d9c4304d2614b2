"""Versions (protocol 1.1, feature ``versions``): ``GET .../versions?path=P``, the versions kept of a path,
newest first, beside its live entry; ``GET .../deleted``, the files deleted and not replaced since (what a
person calls the trash); ``POST .../purge``, the owner emptying it. A kept version's bytes are read as a
trashed one's: ``GET .../file?path=P&trash_id=VERSION_ID``."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.entries import COLUMNS
from ...formats.wire.errors import WireError
from ...formats.wire.fields import obj
from ...formats.wire.limits import MAX_PATH_BYTES, MAX_TRASH_PAGE
from ...formats.wire.paths import check_wire_path
from ..store import Store
from ..store.folder import KeptVersion
from .access import caller_of, folder_of
from .bodies import int_param, json_body
from .errors import JSON
from .routes_folders import wire_row

VERSION_COLUMNS = (*COLUMNS, "kept_ns", "version_id", "reason", "device")
MAX_DAMAGED = 10_000


def _rows(store: Store, kept: list[KeptVersion]) -> list[list[Any]]:
    """Kept versions as rows of :data:`VERSION_COLUMNS`, each device id given as its name."""
    names: dict[str, str] = {}
    for v in kept:
        if v.by_device and v.by_device not in names:
            device = store.devices.get(v.by_device)
            names[v.by_device] = device.name if device is not None else ""
    return [[*wire_row(v.row), v.kept_ns, v.version_id, v.reason, names.get(v.by_device, "")] for v in kept]


async def versions(request: Request) -> Response:
    """``{"columns", "current": row | null, "rows": [[...entry, kept_ns, version_id, reason, device]]}``:
    ``device`` is the name of the device whose write replaced or deleted the version ("" when unknown)."""
    raw = request.query_params.get("path")
    if raw is None:
        raise WireError("bad_request", "versions of which file? give path=P", "see /v1/openapi.json")
    path = check_wire_path(raw)
    limit = int_param(request, "limit", MAX_TRASH_PAGE, 1, MAX_TRASH_PAGE)
    found = await folder_of(request, await caller_of(request))
    store: Store = request.app.state.store

    def work() -> dict[str, Any]:
        current, kept = found.store.versions(path, limit)
        return {"columns": list(VERSION_COLUMNS),
                "current": wire_row(current) if current is not None and current.kind != "deleted" else None,
                "rows": _rows(store, kept)}

    return JSON(await run_in_threadpool(work))


def _under(request: Request) -> str:
    """The ``path`` query parameter: a folder path ("" or absent: the whole folder)."""
    raw = request.query_params.get("path", "")
    return check_wire_path(raw) if raw else ""


async def deleted(request: Request) -> Response:
    """``{"columns", "rows", "next", "more"}``: the files deleted from the folder and not replaced since,
    newest first (rows as ``versions``'); ``before=T`` (a ``kept_ns``) pages; ``path=P``: only at P or below
    it (a deleted folder's files)."""
    under = _under(request)
    before = int_param(request, "before", 0)
    limit = int_param(request, "limit", MAX_TRASH_PAGE, 1, MAX_TRASH_PAGE)
    found = await folder_of(request, await caller_of(request))
    store: Store = request.app.state.store

    def work() -> dict[str, Any]:
        kept = found.store.deleted(before, limit + 1, under)
        page = kept[:limit]
        return {"columns": list(VERSION_COLUMNS), "rows": _rows(store, page),
                "next": page[-1].kept_ns if page else before, "more": len(kept) > limit}

    return JSON(await run_in_threadpool(work))


async def damaged(request: Request) -> Response:
    """``{"columns", "rows"}``: the live files whose version lost a chunk on the server (``server check
    --repair``), as listing rows, at most 10,000: a device that has one whole uploads its chunks again."""
    found = await folder_of(request, await caller_of(request))
    rows = await run_in_threadpool(found.store.damaged_files, MAX_DAMAGED)
    return JSON({"columns": list(COLUMNS), "rows": [wire_row(r) for r in rows]})


async def purge(request: Request) -> Response:
    """``{"purged": N}``: the trash at ``{"path": P}`` or below it (``""``: all of it) emptied for good,
    the folder's owner only (``403 forbidden`` for a member); versions of live files stay."""
    found = await folder_of(request, await caller_of(request))  # who and which folder first; the owner's
    # right is checked in the store, in the purge's own transaction
    body = obj(await json_body(request, request.app.state.stall_s, 8 * MAX_PATH_BYTES + 256), "body", "bad_request")
    raw = body.get("path", "")
    under = check_wire_path(raw) if raw != "" else ""
    return JSON({"purged": await run_in_threadpool(found.store.purge, under)})


ROUTES = [Route("/v1/folders/{name}/versions", versions, methods=["GET"]),
          Route("/v1/folders/{name}/deleted", deleted, methods=["GET"]),
          Route("/v1/folders/{name}/purge", purge, methods=["POST"]),
          Route("/v1/folders/{name}/damaged", damaged, methods=["GET"])]
