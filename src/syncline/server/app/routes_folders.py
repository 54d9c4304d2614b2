"""Folders and what is known about them without their content: the folder list, one folder, ``entries``,
``stat``, ``changes``, ``meta``, ``locks`` and ``trash`` (protocol.md sections 3, 5, 8, 9 and 10)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.entries import COLUMNS, row_of, tombstone_row
from ...formats.wire.errors import WireError, clip, error_body
from ...formats.wire.fields import integer, lease_id, obj
from ...formats.wire.limits import (
    DEFAULT_CHANGES_PAGE,
    DEFAULT_ENTRIES_PAGE,
    LOCK_TTL_MAX_S,
    LOCK_TTL_MIN_S,
    MAX_META_BYTES,
    MAX_PAGE,
    MAX_STAT_PATHS,
    MAX_TRASH_PAGE,
)
from ...formats.wire.opsjson import paths_of_json
from ...formats.wire.paths import META_ETAG_RE, check_folder_name, check_meta_key, check_wire_path, meta_etag
from ..store import Folder, FolderStore, Store
from ..store.rows import Row
from .access import caller_of, folder_of
from .bodies import bool_param, int_param, json_body, read_body
from .errors import JSON, error_response

TRASH_COLUMNS = (*COLUMNS, "trashed_ns", "trash_id")
_REQ = "bad_request"


def wire_row(r: Row) -> list[Any]:
    """A store row under :data:`COLUMNS` (a tombstone as the protocol writes one). The root's row has
    version 1: it is never changed by an item, and a wire row's version is at least 1."""
    if r.kind == "deleted":
        return tombstone_row(r.path, r.file_id, r.version)
    return row_of(r.path, r.entry(), max(r.version, 1))


def _folder_json(folder: Folder, rights: str, fs: FolderStore, full: bool) -> dict[str, Any]:
    """A folder as its caller names it; from protocol 1.1 with its owner, and ``shared`` for a share."""
    info = fs.info()
    owner = fs.store.users.by_id(folder.owner_id)
    out: dict[str, Any] = {"name": folder.name, "uid": folder.uid, "rights": rights, "seq": info.seq,
                           "files": info.files, "bytes": info.bytes, "owner": owner.name if owner else "",
                           "shared": fs.user_id is not None and folder.owner_id != fs.user_id,
                           "lock_seq": info.lock_seq, "damaged": info.damaged}
    if full:
        out["root"] = {"mode": info.root_mode, "mtime_ns": info.root_mtime_ns}
        out["empty"] = info.empty
        if owner is not None and owner.quota_bytes is not None:  # protocol 1.1: what the owner's folders may hold
            out["quota"] = {"used": fs.store.users.used_bytes(owner.id), "limit": owner.quota_bytes}
    return out


async def list_folders(request: Request) -> Response:
    """The folders the caller's names resolve: those their user owns and the shares they accepted."""
    caller = await caller_of(request)
    store: Store = request.app.state.store
    user_id = caller.device.user_id

    def work() -> list[dict[str, Any]]:
        return [_folder_json(f, rights, store.folder(f, user_id), False)
                for f, rights in store.folders.for_user(user_id)]

    return JSON(await run_in_threadpool(work))


async def get_folder(request: Request) -> Response:
    caller = await caller_of(request)
    found = await folder_of(request, caller)
    return JSON(await run_in_threadpool(_folder_json, found.folder, found.rights, found.store, True))


async def put_folder(request: Request) -> Response:
    """Make the folder in the caller's namespace: ``201``, or ``200`` when the caller already has it
    (``409 exists`` when the name is a share they accepted)."""
    caller = await caller_of(request)
    store: Store = request.app.state.store
    name = check_folder_name(request.path_params["name"])

    def work() -> tuple[dict[str, Any], bool]:
        folder, made = store.folders.create(caller.device.user_id, name)
        return _folder_json(folder, "rw", store.folder(folder, caller.device.user_id), True), made

    body, made = await run_in_threadpool(work)
    return JSON(body, status_code=201 if made else 200)


async def entries(request: Request) -> Response:
    since = int_param(request, "since", 0)
    limit = int_param(request, "limit", DEFAULT_ENTRIES_PAGE, 1, MAX_PAGE)
    raw_dir = request.query_params.get("dir")
    where = check_wire_path(raw_dir, root_ok=True) if raw_dir is not None else None
    deep = bool_param(request, "deep", True)
    raw_after = request.query_params.get("after")
    after = check_wire_path(raw_after) if raw_after is not None else None
    found = await folder_of(request, await caller_of(request))
    page = await run_in_threadpool(found.store.entries, since, where, deep, limit, after)
    return JSON({"seq": page.seq, "columns": list(COLUMNS), "rows": [wire_row(r) for r in page.rows],
                 "next": page.next, "next_path": page.next_path, "more": page.more})


async def stat(request: Request) -> Response:
    caller = await caller_of(request)
    paths = paths_of_json(await json_body(request, request.app.state.stall_s), MAX_STAT_PATHS)
    found = await folder_of(request, caller)
    seq, items = await run_in_threadpool(found.store.stat_many, paths)
    out: list[Any] = []
    for item in items:
        if item is None:
            out.append(None)
        elif isinstance(item, WireError):
            out.append(error_body(item))
        else:
            out.append(wire_row(item))
    return JSON({"seq": seq, "columns": list(COLUMNS), "items": out})


async def changes(request: Request) -> Response:
    since = int_param(request, "since", 0)
    limit = int_param(request, "limit", DEFAULT_CHANGES_PAGE, 1, MAX_PAGE)
    found = await folder_of(request, await caller_of(request))
    page = await run_in_threadpool(found.store.changes, since, limit)
    return JSON({"seq": page.seq, "changes": [[c.seq, c.op, c.path, c.from_path, c.device] for c in page.changes],
                 "next": page.next, "more": page.more})


async def get_meta(request: Request) -> Response:
    key = check_meta_key(request.path_params["key"])
    found = await folder_of(request, await caller_of(request))
    value = await run_in_threadpool(found.store.read_meta, key)
    if value is None:
        raise WireError("not_found", f"no meta text {key} in the folder", "write it first", {"key": key})
    return Response(value, media_type="text/plain; charset=utf-8", headers={"ETag": meta_etag(value)})


_ABSENT = object()  # If-None-Match: * (write only if there is no text)


def _meta_condition(request: Request) -> object:
    """A meta PUT's condition: None (none), :data:`_ABSENT` (``If-None-Match: *``) or the etag of
    ``If-Match``; anything else (another form, both headers) is ``bad_request`` before anything is read."""
    if_match, if_none = request.headers.get("if-match"), request.headers.get("if-none-match")
    if if_match is not None and if_none is not None:
        raise WireError(_REQ, "a meta write takes If-Match or If-None-Match, not both", "send one")
    if if_none is not None:
        if if_none.strip() != "*":
            raise WireError(_REQ, "a meta write takes only If-None-Match: *", "send * or no header")
        return _ABSENT
    if if_match is not None:
        etag = if_match.strip()
        if not META_ETAG_RE.fullmatch(etag):
            raise WireError(_REQ, 'If-Match of a meta text is one "b3-<32 hex>"', "send the ETag as it was given")
        return etag
    return None


async def put_meta(request: Request) -> Response:
    """Write a meta text; with ``If-None-Match: *`` / ``If-Match`` only over what it holds (else 412)."""
    key = check_meta_key(request.path_params["key"])
    condition = _meta_condition(request)
    caller = await caller_of(request)
    raw = await read_body(request, MAX_META_BYTES, request.app.state.stall_s)
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(_REQ, "a meta text must be UTF-8", "send text/plain; charset=utf-8") from None
    found = await folder_of(request, caller, write=True)
    done = {"ETag": meta_etag(value)}
    if condition is None:
        await run_in_threadpool(found.store.write_meta, key, value)
        return Response(status_code=204, headers=done)
    etag = None if condition is _ABSENT else str(condition)
    if not await run_in_threadpool(found.store.write_meta_if, key, value, etag):
        return error_response(WireError("changed", f"the meta text {key} is not the one expected",
                                        "read it again", {"key": key}), 412)
    return Response(status_code=204, headers=done)


async def _lock_body(request: Request) -> tuple[int, str | None, str | None]:
    """``ttl``, the optional ``replaces`` (a lease id) and the optional ``lock`` (the id proposed for the
    new lease, protocol 1.1) of a lock or renew body."""
    body = obj(await json_body(request, request.app.state.stall_s, 1024), "body", _REQ)
    ttl = integer(body.get("ttl"), "ttl", _REQ, LOCK_TTL_MIN_S, LOCK_TTL_MAX_S)
    return (ttl, lease_id(body["replaces"], "replaces", _REQ) if "replaces" in body else None,
            lease_id(body["lock"], "lock", _REQ) if "lock" in body else None)


async def lock(request: Request) -> Response:
    """A lease of the calling device on the folder (``423 locked`` while that device holds one; with
    ``replaces``, a lease this same device left behind is ended first and this one takes its place)."""
    caller = await caller_of(request)
    ttl, replaces, proposed = await _lock_body(request)
    found = await folder_of(request, caller)
    lease = await run_in_threadpool(found.store.lock, caller.device.id, ttl, False, replaces, proposed)
    return JSON({"lock": lease, "expires_in": ttl}, status_code=201)


def _lock_id(request: Request) -> str:
    lock_id: str = request.path_params["lock"]
    if not 1 <= len(lock_id) <= 64:
        raise WireError("not_found", f"no lock {clip(lock_id, 64)}", "lock the folder again")
    return lock_id


async def renew_lock(request: Request) -> Response:
    caller = await caller_of(request)
    lock_id = _lock_id(request)
    ttl, replaces, proposed = await _lock_body(request)
    if replaces is not None or proposed is not None:
        raise WireError(_REQ, "a renewal replaces nothing and names no new lease", "send those with POST .../locks")
    found = await folder_of(request, caller)
    await run_in_threadpool(found.store.renew, lock_id, ttl)
    return JSON({"lock": lock_id, "expires_in": ttl})


async def release_lock(request: Request) -> Response:
    caller = await caller_of(request)
    lock_id = _lock_id(request)
    found = await folder_of(request, caller)
    await run_in_threadpool(found.store.release, lock_id)
    return Response(status_code=204)


async def trash(request: Request) -> Response:
    after = int_param(request, "after", 0)
    limit = int_param(request, "limit", MAX_TRASH_PAGE, 1, MAX_TRASH_PAGE)
    found = await folder_of(request, await caller_of(request))
    page = await run_in_threadpool(found.store.trash, after, limit)
    return JSON({"columns": list(TRASH_COLUMNS),
                 "rows": [[*wire_row(i.row), i.trashed_ns, i.trash_id] for i in page.items],
                 "next": page.next, "more": page.more})


F = "/v1/folders/{name}"
ROUTES = [
    Route("/v1/folders", list_folders, methods=["GET"]),
    Route(F, get_folder, methods=["GET"]),
    Route(F, put_folder, methods=["PUT"]),
    Route(F + "/entries", entries, methods=["GET"]),
    Route(F + "/stat", stat, methods=["POST"]),
    Route(F + "/changes", changes, methods=["GET"]),
    Route(F + "/meta/{key}", get_meta, methods=["GET"]),
    Route(F + "/meta/{key}", put_meta, methods=["PUT"]),
    Route(F + "/locks", lock, methods=["POST"]),
    Route(F + "/locks/{lock}", renew_lock, methods=["PUT"]),
    Route(F + "/locks/{lock}", release_lock, methods=["DELETE"]),
    Route(F + "/trash", trash, methods=["GET"]),
]
