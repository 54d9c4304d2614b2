"""Content: which chunks a folder lacks, pack uploads, file downloads (whole or one range), chunk lists and
chunk reads (protocol.md section 6)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import (
    MAX_CHUNKS_PAGE,
    MAX_CHUNKS_PER_FILE,
    MAX_MISSING_IDS,
    MAX_PACK_BYTES,
    MAX_READ_IDS,
)
from ...formats.wire.opsjson import chunks_to_json, ids_of_json
from ...formats.wire.packs import CONTENT_TYPE, Frame, PackReader, blocks, pack_size, write_pack
from ...formats.wire.paths import check_wire_path
from ..store import FolderStore
from ..store import contents as store_contents
from ..store.rows import Row
from .access import caller_of, folder_of
from .bodies import content_length, int_param, json_body, str_param, stream_body
from .errors import JSON, error_response
from .routes_folders import wire_row

FEED_BYTES = 1 << 20  # hash a pack in pieces of about this size, in a worker thread
_RANGE_RE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")
_IF_MATCH_RE = re.compile(r'"v(\d{1,19})"')
T = TypeVar("T")


async def missing(request: Request) -> Response:
    caller = await caller_of(request)
    ids = ids_of_json(await json_body(request, request.app.state.stall_s), MAX_MISSING_IDS)
    found = await folder_of(request, caller, write=True)
    lacking = await run_in_threadpool(found.store.missing, ids, caller.device.id)
    return JSON({"missing": [i.hex() for i in lacking]})


async def upload(request: Request) -> Response:
    """Store a pack: read whole and checked (every frame hashed) before anything is stored; one bad frame
    refuses the whole pack. At most ``pack_gate`` packs are held in memory at once, server-wide."""
    caller = await caller_of(request)
    found = await folder_of(request, caller, write=True)
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != CONTENT_TYPE:
        raise WireError("bad_request", f"a pack is sent as {CONTENT_TYPE}, not {clip(media, 60)!r}",
                        "send the chunks as a syncline pack")
    content_length(request, MAX_PACK_BYTES, required=True)
    state = request.app.state
    async with state.pack_gate:
        reader = PackReader()
        frames: list[Frame] = []
        pending = bytearray()
        async for piece in stream_body(request, MAX_PACK_BYTES, state.stall_s, required=True):
            pending += piece
            if len(pending) >= FEED_BYTES:
                frames += await run_in_threadpool(reader.feed, bytes(pending))
                pending.clear()
        frames += await run_in_threadpool(reader.feed, bytes(pending))
        reader.finish()
        if reader.bad_ids:
            first = reader.bad_ids[0].hex()
            raise WireError("bad_chunk", f"chunk {first} does not match its bytes", "upload it again",
                            {"id": first, "bad": len(reader.bad_ids)})
        stored, present = await run_in_threadpool(found.store.put_chunks, [(f.id, f.data) for f in frames],
                                                  caller.device.id)
    return JSON({"stored": stored, "present": present})


def _span(header: str, size: int) -> tuple[int, int]:
    """The one range of a ``Range`` header as (first, last) inclusive; ``bad_range`` for several ranges,
    another unit, or one the file cannot satisfy."""
    m = _RANGE_RE.fullmatch(header.strip())
    if m is None or not (m[1] or m[2]):
        raise _bad_range(header, size)
    if m[1]:
        first = int(m[1])
        last = min(int(m[2]), size - 1) if m[2] else size - 1
    else:  # a suffix: the last n bytes
        first, last = max(size - int(m[2]), 0), size - 1
        if int(m[2]) == 0:
            raise _bad_range(header, size)
    if not 0 <= first <= last < size:
        raise _bad_range(header, size)
    return first, last


def _bad_range(header: str, size: int) -> WireError:
    return WireError("bad_range", f"cannot serve Range {clip(header, 60)!r} of a file of {size} bytes",
                     "ask for one range inside the file", {"size": size})


def _headers(row: Row) -> dict[str, str]:
    return {"ETag": f'"v{row.version}"', "Accept-Ranges": "bytes",
            "Syncline-Entry": json.dumps(wire_row(row), separators=(",", ":"))}  # ASCII: a header is latin-1


async def download(request: Request) -> Response:
    """A file's bytes: the current version (``version=``/``If-Match``: only that one, else ``412 changed``)
    or a trashed one (``trash_id=``); one ``Range`` gives ``206``. A trashed version is always whole."""
    caller = await caller_of(request)
    path = check_wire_path(str_param(request, "path"))
    version = int_param(request, "version", 0, 1) or None
    if_match = request.headers.get("if-match")
    if if_match is not None:
        m = _IF_MATCH_RE.fullmatch(if_match.strip())
        if m is None:
            raise WireError("bad_request", 'If-Match is "v<version>"', "send the ETag as it was given")
        version = int(m[1])
    trash_id = int_param(request, "trash_id", 0, 1) or None
    found = await folder_of(request, caller)
    fs: FolderStore = found.store
    if trash_id is not None:
        row, body = await run_in_threadpool(fs.read_trashed, trash_id)
        if row.path != path:
            raise WireError("not_found", f"no trashed version {trash_id} of {clip(path)}", "list the trash again")
        return StreamingResponse(body, headers={**_headers(row), "Content-Length": str(row.size)},
                                 media_type="application/octet-stream")
    try:
        row, body = await run_in_threadpool(fs.read, path, version)
        headers = _headers(row)
        asked = request.headers.get("range")
        if asked is None:
            return StreamingResponse(body, headers={**headers, "Content-Length": str(row.size)},
                                     media_type="application/octet-stream")
        try:
            first, last = _span(asked, row.size)
        except WireError as err:
            return error_response(err, headers={"Content-Range": f"bytes */{row.size}"})
        row, body = await run_in_threadpool(fs.read, path, row.version, (first, last))
    except WireError as err:
        if err.code == "changed":  # a download of a version that moved on: 412, as If-Match says
            return error_response(err, 412)
        raise
    return StreamingResponse(body, status_code=206, media_type="application/octet-stream", headers={
        **headers, "Content-Length": str(last - first + 1), "Content-Range": f"bytes {first}-{last}/{row.size}"})


async def chunk_list(request: Request) -> Response:
    """A page of a file's chunk list (``from``: the position to start at; ``limit``: at most that many
    chunks; ``version``: only that one, else ``412 changed``)."""
    limit = int_param(request, "limit", 0, 1, MAX_CHUNKS_PAGE)
    answer = await _of_version(request, lambda fs, path, version, start: fs.chunk_list(path, version, start, limit))
    if isinstance(answer, Response):
        return answer
    return JSON({"version": answer.version, "size": answer.size, "digest": answer.digest.hex(),
                 "count": answer.count, "chunks": chunks_to_json(answer.chunks), "next": answer.next})


async def manifest(request: Request) -> Response:
    """A page of a file's manifest pieces in the reference cut (``from``: the ``next`` of the page
    before), each ``[id, entries]``; ``version`` as for the chunk list."""
    answer = await _of_version(request, lambda fs, path, version, start: fs.manifest(path, version, start))
    if isinstance(answer, Response):
        return answer
    return JSON({"version": answer.version, "size": answer.size, "digest": answer.digest.hex(),
                 "count": answer.count, "pieces": [[i.hex(), n] for i, n in answer.pieces], "next": answer.next})


async def _of_version(request: Request, read: Callable[[FolderStore, str, int | None, int], T]) -> T | Response:
    """``read`` of the file at ``path=`` (``version=``, ``from=``) in a worker thread, after the caller's
    read right is checked; ``412 changed`` when the file is no longer that version."""
    caller = await caller_of(request)
    path = check_wire_path(str_param(request, "path"))
    version = int_param(request, "version", 0, 1) or None
    start = int_param(request, "from", 0, 0, MAX_CHUNKS_PER_FILE)
    found = await folder_of(request, caller)
    try:
        return await run_in_threadpool(read, found.store, path, version, start)
    except WireError as err:
        if err.code == "changed":
            return error_response(err, 412)
        raise


def _lengths(fs: FolderStore, ids: list[bytes]) -> dict[bytes, int]:
    # Adapter: FolderStore has no "lengths of these chunks" call (wished: FolderStore.chunk_lengths).
    with fs.store.db.read() as conn:
        return store_contents.lengths(conn, fs.ns, ids)


async def read_chunks(request: Request) -> Response:
    """A pack of the chunks asked for, in order (``404`` naming the first the folder does not hold,
    ``413`` past 64 MiB), with its exact ``Content-Length``."""
    caller = await caller_of(request)
    ids = ids_of_json(await json_body(request, request.app.state.stall_s), MAX_READ_IDS)
    found = await folder_of(request, caller)
    have = await run_in_threadpool(_lengths, found.store, ids)
    absent = [i for i in ids if i not in have]
    if absent:
        raise WireError("not_found", f"the folder holds no chunk {absent[0].hex()}", "upload it again",
                        {"missing": [m.hex() for m in absent[:100]]})
    size = pack_size(have[i] for i in ids)
    if size > MAX_PACK_BYTES:
        raise WireError("too_large", f"{size} bytes of chunks in one answer", "ask for fewer chunks at once",
                        {"limit": MAX_PACK_BYTES})
    chunks = await run_in_threadpool(found.store.read_chunks, ids)

    def body() -> Iterator[bytes]:
        yield from blocks(write_pack(chunks))

    return StreamingResponse(body(), media_type=CONTENT_TYPE, headers={"Content-Length": str(size)})


def pack_gate(packs: int = 4) -> asyncio.Semaphore:
    """The bound on packs held in memory at once (each up to 64 MiB)."""
    return asyncio.Semaphore(packs)


F = "/v1/folders/{name}"
ROUTES = [
    Route(F + "/chunks/missing", missing, methods=["POST"]),
    Route(F + "/chunks", upload, methods=["POST"]),
    Route(F + "/chunks/read", read_chunks, methods=["POST"]),
    Route(F + "/file", download, methods=["GET"]),
    Route(F + "/file/chunks", chunk_list, methods=["GET"]),
    Route(F + "/file/manifest", manifest, methods=["GET"]),
]
