"""``GET /ui/zip?folder=N&dir=D``: a folder of the caller's, or a folder in it, as one zip download
(docs/protocol.md, "Zip download (web UI)"; the streaming is :mod:`.zipstream`'s).

The caller is a device as on ``/v1/`` (a Bearer token, which a web session's cookie becomes) with the read
right on the folder (its own, or a share accepted, ``ro`` or ``rw``); anyone else is answered as for a
folder that does not exist. The listing below ``dir`` is read once, at one ``seq``, and checked against
the bounds before the first byte: ``413`` past them, ``429`` when the caller or the server already has
all the zips it may run at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.errors import WireError, clip
from ...formats.wire.paths import check_wire_path
from ..auth import bearer_token
from ..store import FolderStore, Store
from ..store.subtree import Subtree, open_version, read_subtree
from .access import Authenticator, Caller, caller_of, resolve
from .bodies import str_param
from .zipstream import Pipe, ZipResponse, ZipSlots, check_bounds, disposition, write_zip


def _dir_param(request: Request) -> str:
    """``dir`` (``""``, the whole folder, when absent) checked as a wire path; a backslash is refused too
    (``..\\x`` is a name on Linux, a way up on Windows)."""
    raw = request.query_params.get("dir", "")
    where = check_wire_path(raw, root_ok=True)
    if "\\" in where:
        raise WireError("bad_path", f"invalid path {clip(where)!r}: a backslash", "zip the folder above it",
                        {"path": clip(where), "why": "a backslash"})
    return where


def _readable(store: Store, caller: Caller, name: str) -> FolderStore:
    folder, _ = resolve(store, caller, name)  # ro or rw: either reads
    return store.folder(folder, caller.device.user_id)


async def zip_folder(request: Request) -> Response:
    """``folder``'s subtree at ``dir`` as a streamed zip (``HEAD``: the same checks, no zip made)."""
    caller = await caller_of(request)
    name = str_param(request, "folder")
    where = _dir_param(request)
    state = request.app.state
    fs = await run_in_threadpool(_readable, state.store, caller, name)
    slots: ZipSlots = state.zips
    job = slots.take(caller.device.user_id)
    label = f"{name}/{where}" if where else name
    try:
        tree: Subtree = await run_in_threadpool(read_subtree, fs, where, slots.limits.max_entries)
        check_bounds(tree, slots.limits, label)
    except BaseException:
        job.release()
        raise
    # As the UI's file downloads: saved, never shown as a page of this site, nothing kept by caches.
    headers = {"Content-Disposition": disposition((where.rpartition("/")[2] or name) + ".zip"),
               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    if request.method == "HEAD":  # the answer's head only: no zip is made
        job.release()
        return Response(headers=headers, media_type="application/zip")
    auth: Authenticator = state.auth
    token = bearer_token(request.headers.get("authorization"))

    def allowed() -> None:
        auth.device_of(token)  # revoked, expired, or its user disabled: unauthenticated
        with fs.store.db.read() as conn:
            fs.guard(conn, write=False)  # the share taken back: not_found or share_revoked

    def read(content_id: int) -> Iterator[bytes]:
        return open_version(fs, content_id)

    def work(pipe: Pipe) -> None:
        write_zip(pipe, tree, where, read, allowed)

    return ZipResponse(job, work, headers)


ROUTES = [Route("/ui/zip", zip_folder, methods=["GET"])]
