"""Chunked uploads, ownCloud/Nextcloud "chunking NG" (docs/webdav-plan.md section 1), on
``/remote.php/dav/uploads/USER/``:

- ``MKCOL .../ID`` starts an upload (``201``; there already: ``405``);
- ``PUT .../ID/N`` writes chunk ``N`` (digits; the client names them by offset or number, both read in
  numeric order); a cut chunk is no chunk; the chunks of all the caller's uploads fit in the room their
  quota leaves (``507`` past it);
- ``PROPFIND .../ID`` (``Depth: 1``) lists the chunks with their sizes, which a client resumes from;
- ``DELETE .../ID`` drops the upload;
- ``MOVE .../ID/.file`` with ``Destination`` (a file path of the same user) reads the chunks in order into
  one file, checks ``OC-Total-Length`` and ``OC-Checksum``, and commits it exactly as a PUT would
  (:func:`.write.finish_put`: conditions, versions, the etag and id in the answer); the upload is removed
  once the file is committed.

``USER`` must be the caller (another user's uploads do not exist for them: ``404``). The spools live in
``DATA/dav-uploads`` (:mod:`..spools`), never in a folder: an upload is invisible until its ``MOVE``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ...formats.wire.errors import WireError, clip
from ..app.access import Caller
from ..app.bodies import stream_body
from ..spools import MAX_CHUNK, Spools, check_chunk_name, check_upload_id
from ..store import Store
from .errors import DavError
from .paths import destination
from .write import Spooled, check_room, finish_put, new_spool, oc_mtime, prepare_put, wanted_checksum
from .xmlio import DAV, XML_TYPE, Answer, Raw, multistatus

UPLOADS = "/remote.php/dav/uploads/"
_ALLOW = {"Allow": "OPTIONS, PROPFIND, MKCOL, DELETE"}
_COUNT = re.compile(r"[0-9]{1,20}")  # ASCII digits only: "\xb2".isdigit() is true, and int() refuses it


def is_upload(raw: str) -> bool:
    return raw.startswith(UPLOADS) or raw == UPLOADS.rstrip("/")


async def serve(request: Request, store: Store, spools: Spools, caller: Caller, raw: str, instance: str,
                stall_s: float) -> Response:
    """One request under :data:`UPLOADS` (see the module's docstring)."""
    user, _, rest = raw[len(UPLOADS):].partition("/")
    if unquote(user) != caller.user:
        raise WireError("not_found", f"nothing at {clip(raw)}", "")
    parts = [unquote(p) for p in rest.split("/") if p]
    method = request.method
    uid = caller.device.user_id
    if not parts:
        if method == "PROPFIND":
            return _listing(raw.rstrip("/") + "/", [])
        raise DavError(405, "MethodNotAllowed", "start an upload with MKCOL of a new id", headers=_ALLOW)
    upload = check_upload_id(parts[0])
    base = f"{UPLOADS}{user}/{upload}/"
    if len(parts) == 1:
        if method == "MKCOL":
            if not await run_in_threadpool(spools.make, uid, upload):
                raise DavError(405, "MethodNotAllowed", f"the upload {clip(upload)} exists", headers=_ALLOW)
            return Response(b"", 201)
        if method == "PROPFIND":
            return _listing(base, await run_in_threadpool(spools.chunks, uid, upload))
        if method == "DELETE":
            if not await run_in_threadpool(spools.remove, uid, upload):
                raise WireError("not_found", f"no upload {clip(upload)}", "")
            return Response(b"", 204)
        raise DavError(405, "MethodNotAllowed", f"{clip(method, 20)} of an upload", headers=_ALLOW)
    if len(parts) != 2:
        raise WireError("not_found", f"nothing at {clip(raw)}", "")
    if method == "PUT":
        room = await run_in_threadpool(_room, store, uid)
        await _put_chunk(request, spools, uid, upload, check_chunk_name(parts[1]), room, stall_s)
        return Response(b"", 201)
    if method == "MOVE" and parts[1] == ".file":
        return await _assemble(request, store, spools, caller, upload, instance)
    raise DavError(405, "MethodNotAllowed", "PUT chunks, then MOVE .file", headers={"Allow": "PUT, MOVE"})


def _room(store: Store, uid: int) -> int | None:
    """The bytes the user's quota leaves (None: no quota): all their uploads in progress must fit in it."""
    user = store.users.by_id(uid)
    if user is None or user.quota_bytes is None:
        return None
    return user.quota_bytes - store.users.used_bytes(uid)


async def _put_chunk(request: Request, spools: Spools, uid: int, upload: str, name: str, room: int | None,
                     stall_s: float) -> None:
    with spools.chunk(uid, upload, name, room) as out:
        gathered: list[bytes] = []
        have = 0
        async for piece in stream_body(request, MAX_CHUNK, stall_s):
            gathered.append(piece)
            have += len(piece)
            if have >= 1 << 20:
                await run_in_threadpool(out.write, b"".join(gathered))
                gathered, have = [], 0
        if gathered:
            await run_in_threadpool(out.write, b"".join(gathered))


def _listing(base: str, chunks: list[tuple[str, int]]) -> Response:
    answers = [Answer(base, {(DAV, "resourcetype"): Raw("<d:collection/>")})]
    answers += [Answer(base + name, {(DAV, "getcontentlength"): str(size), (DAV, "resourcetype"): None})
                for name, size in chunks]
    return StreamingResponse(multistatus(answers), 207, media_type=XML_TYPE)


async def _assemble(request: Request, store: Store, spools: Spools, caller: Caller, upload: str,
                    instance: str) -> Response:
    header = request.headers.get("destination")
    if header is None:
        raise WireError("bad_request", "MOVE .file needs a Destination header", "")
    target = destination(header, request.headers.get("host"), caller.user)
    if target.folder is None or not target.path:
        raise DavError(403, "Forbidden", "an upload becomes a file in a folder")
    uid = caller.device.user_id
    chunks = await run_in_threadpool(spools.chunks, uid, upload)
    total = sum(size for _, size in chunks)
    announced = request.headers.get("oc-total-length") or request.headers.get("oc-total-file-length")
    if announced is not None and (not _COUNT.fullmatch(announced.strip()) or int(announced) != total):
        raise WireError("bad_request", f"the chunks hold {total} bytes, not the {clip(announced, 20)} announced",
                        "upload the missing chunks, then MOVE .file again")
    where, now, tokens = await prepare_put(request, store, caller, target)
    await run_in_threadpool(check_room, where, now, target.path, total)
    wanted = wanted_checksum(request)
    spooled = await run_in_threadpool(_spool, spools, uid, upload, str(store.chunks.tmp),
                                      wanted[0] if wanted else None)
    answer = await finish_put(where, caller, target, now, tokens, spooled, wanted, oc_mtime(request), instance)
    await run_in_threadpool(spools.remove, uid, upload)
    return answer


def _spool(spools: Spools, uid: int, upload: str, spool_dir: str, kind: str | None) -> Spooled:
    out = new_spool(spool_dir, kind)
    try:
        for block in spools.open_chunks(uid, upload):
            out.add(block)
    except BaseException:
        out.file.close()
        raise
    return out

