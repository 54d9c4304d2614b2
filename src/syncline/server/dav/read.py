"""The read methods of WebDAV: OPTIONS, PROPFIND, GET and HEAD (docs/webdav-plan.md section 3, "Reads").

- **OPTIONS** answers ``DAV: 1, 2`` and ``Allow`` with the methods served; it needs no auth.
- **PROPFIND** ``Depth: 0`` or ``1`` (absent: ``1``, as SabreDAV serves it); ``infinity`` is ``403`` with
  ``<d:propfind-finite-depth/>`` (as Nextcloud answers); anything else ``400``. The ``207`` answer is
  ``application/xml; charset=utf-8``, its first response the resource asked for, then (depth 1, a
  collection) its children in path order. A folder is read in one transaction (``FolderStore.dav_list``),
  so a listing and its etags agree. The namespace root lists the caller's folders.
- **GET/HEAD** of a file: ``ETag`` (= ``OC-ETag``), ``Last-Modified``, ``OC-FileId``, ``OC-Checksum``
  when the SHA1 is known, ``Accept-Ranges: bytes``. ``If-Match`` (``412``), ``If-None-Match`` (``304``),
  one satisfiable ``Range`` is ``206``, several are answered whole (``200``, which RFC 9110 allows and
  clients prefer), none satisfiable ``416``; a malformed ``Range`` is ignored (RFC 9110 14.2);
  ``If-Range`` honours the range only for the current etag or ``Last-Modified``. A collection is ``405``.

A path through a file, and a symlink, are ``404`` here: neither is a WebDAV resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ...formats.wire.errors import WireError, clip
from ..app.access import Caller, resolve
from ..store import Folder, FolderStore, Store
from ..store.davprops import DeadProp
from ..store.davstate import DavRow
from ..store.filelocks import FileLock
from . import props
from .errors import DavError, method_not_allowed
from .lockxml import activelock
from .paths import DavPath, href
from .props import Resource
from .xmlio import DAV, XML_TYPE, Answer, Propfind, multistatus

ALLOW = "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, PUT, MKCOL, DELETE, COPY, MOVE, LOCK, UNLOCK"
_RANGE_RE = re.compile(r"\s*(\d{0,19})\s*-\s*(\d{0,19})\s*")
_MAX_RANGES = 64
_READ_TRIES = 3


def options() -> Response:
    return Response(b"", 200, headers={"DAV": "1, 2", "MS-Author-Via": "DAV", "Allow": ALLOW,
                                       "Accept-Ranges": "bytes", "Content-Length": "0"})


@dataclass(frozen=True, slots=True)
class Place:
    """A resolved folder: the caller's right to it, whether it is a share, and its store."""

    folder: Folder
    rights: str
    shared: bool
    store: FolderStore


def place(store: Store, caller: Caller, name: str) -> Place:
    """The folder ``name`` of the caller (``not_found`` when they have none; ``share_revoked``)."""
    folder, rights = resolve(store, caller, name)
    user_id = caller.device.user_id
    return Place(folder, rights, folder.owner_id != user_id, store.folder(folder, user_id))


def _listing(fs: FolderStore, path: str, depth: int) -> list[DavRow]:
    try:
        return fs.dav_list(path, depth)
    except WireError as err:
        if err.code == "not_a_dir":  # a path through a file: nothing is there
            raise WireError("not_found", f"nothing at {clip(path)}", "list the folder again",
                            {"path": clip(path)}) from None
        raise


def depth_of(header: str | None) -> int:
    """``Depth`` of a PROPFIND: 0 or 1 (absent: 1); ``infinity`` is refused (403), anything else 400."""
    value = (header or "1").strip().lower()
    if value in ("0", "1"):
        return int(value)
    if value == "infinity":
        raise DavError(403, "Forbidden", "PROPFIND with Depth: infinity is not served; walk with Depth: 1",
                       "propfind-finite-depth")
    raise WireError("bad_request", f"Depth {clip(value, 20)!r} is not 0, 1 or infinity", "")


def _quota(store: Store, owner_id: int) -> tuple[int, int]:
    used = store.users.used_bytes(owner_id)
    user = store.users.by_id(owner_id)
    limit = user.quota_bytes if user is not None else None
    return used, -3 if limit is None else max(limit - used, 0)


def _wants_quota(asked: Propfind) -> bool:
    return any(n in ((DAV, "quota-used-bytes"), (DAV, "quota-available-bytes")) for n in (*asked.names, *asked.include))


def propfind_answers(store: Store, caller: Caller, target: DavPath, depth: int, asked: Propfind,
                     instance: str) -> list[Answer]:
    """The responses of a PROPFIND (blocking: run it in the thread pool)."""
    quota: tuple[int, int] | None = None
    found: list[tuple[Resource, Place | None, str]] = []  # each resource, its folder and path (dead props)
    if target.folder is None:
        folders = store.folders.for_user(caller.device.user_id)
        if _wants_quota(asked):
            quota = _quota(store, caller.device.user_id)
        found.append((props.namespace_root(target.prefix, caller.user, folders), None, ""))
        for folder, _ in folders if depth else ():
            try:
                where = place(store, caller, folder.name)
                item = _listing(where.store, "", 0)[0]
            except WireError:
                continue  # taken back between the two reads: not listed
            found.append((props.folder_root(href(target.prefix, folder.name, "", True), where.folder, where.rights,
                                            where.shared, item), where, ""))
    else:
        where = place(store, caller, target.folder)
        if _wants_quota(asked):
            quota = _quota(store, where.folder.owner_id)
        items = _listing(where.store, target.path, depth)
        if items[0].row.kind == "symlink":
            raise WireError("not_found", f"nothing at {clip(target.path)}", "")
        found += [(_resource(target, where, item), where, item.row.path) for item in items
                  if item.row.kind in ("file", "dir")]
    sized = (lambda: quota) if quota is not None else None
    dead = props.wants_dead(asked)
    held = _locks(found, target) if props.wants_locks(asked) else {}
    return [props.answer(res, asked, instance, sized, _dead(where, path) if dead and where is not None else (),
                         held.get(res.href)) for res, where, path in found]


def _locks(found: list[tuple[Resource, Place | None, str]], target: DavPath) -> dict[str, str]:
    """Each resource's ``activelock`` elements, by href (the folder's locks read once)."""
    out: dict[str, str] = {}
    live: dict[int, list[FileLock]] = {}
    for res, where, path in found:
        if where is None:
            continue
        if where.folder.id not in live:
            live[where.folder.id] = where.store.dav_locks()
        out[res.href] = "".join(activelock(lk, href(target.prefix, where.folder.name if target.folder is None
                                                    else target.folder, lk.path)) for lk in live[where.folder.id]
                                if lk.covers(path))
    return out


def _dead(where: Place, path: str) -> list[DeadProp]:
    try:
        return where.store.dav_props(path)
    except WireError as err:
        if err.code == "not_found":  # gone since the listing: answered as it was listed
            return []
        raise


def _resource(target: DavPath, found: Place, item: DavRow) -> Resource:
    path = item.row.path
    if not path:
        return props.folder_root(href(target.prefix, target.folder, "", True), found.folder, found.rights,
                                 found.shared, item)
    return props.entry(href(target.prefix, target.folder, path, item.row.kind == "dir"), found.rights,
                       found.shared, item)


def propfind_response(answers: list[Answer]) -> Response:
    return StreamingResponse(multistatus(answers), 207, media_type=XML_TYPE)


# -- GET and HEAD ---------------------------------------------------------------------------------------

def ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable byte ranges of a ``Range`` header, inclusive (``[]``: none is); None when the
    header is malformed or of another unit (then it is ignored, RFC 9110 14.2)."""
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    found = []
    parts = spec.split(",")
    if len(parts) > _MAX_RANGES:
        return None
    for part in parts:
        m = _RANGE_RE.fullmatch(part)
        if m is None or not (m[1] or m[2]):
            return None
        if m[1]:
            first, last = int(m[1]), int(m[2]) if m[2] else size - 1
            if m[2] and last < first:
                return None
            if first < size:
                found.append((first, min(last, size - 1)))
        elif int(m[2]) > 0 and size > 0:
            found.append((max(size - int(m[2]), 0), size - 1))
    return found


def _etags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _match(header: str | None, etag: str) -> bool | None:
    """Whether an If-Match/If-None-Match header matches ``etag`` (strongly); None when it is absent."""
    if header is None:
        return None
    tags = _etags(header)
    return "*" in tags or etag in tags


def file_headers(res: Resource, instance: str) -> dict[str, str]:
    headers = {"ETag": res.etag, "OC-ETag": res.etag, "Last-Modified": props.http_date(res.mtime_ns),
               "OC-FileId": res.oc_id(instance), "Accept-Ranges": "bytes"}
    if res.sha1 is not None:
        headers["OC-Checksum"] = f"SHA1:{res.sha1.hex()}"
    return headers


async def get(request: Request, store: Store, caller: Caller, target: DavPath, instance: str) -> Response:
    """A file's bytes (GET) or headers (HEAD), under the module's conditions."""
    head = request.method == "HEAD"
    if target.folder is None or not target.path:
        raise method_not_allowed(request.method, ALLOW.replace("GET, HEAD, ", ""))
    for _ in range(_READ_TRIES):
        found = await run_in_threadpool(place, store, caller, target.folder)
        item = (await run_in_threadpool(_listing, found.store, target.path, 0))[0]
        if item.row.kind == "dir":
            raise method_not_allowed(request.method, ALLOW.replace("GET, HEAD, ", ""))
        if item.row.kind != "file":
            raise WireError("not_found", f"nothing at {clip(target.path)}", "")
        res = _resource(target, found, item)
        headers = {**file_headers(res, instance), "Content-Type": props.content_type(res.name)}
        if _match(request.headers.get("if-match"), res.etag) is False:
            raise WireError("changed", f"{clip(target.path)} is no longer {clip(request.headers['if-match'], 60)}",
                            "read it again")
        if _match(request.headers.get("if-none-match"), res.etag):
            return Response(b"", 304, headers=headers)
        span, status = _span(request, res, headers)
        if status == 416:
            return Response(b"", 416, headers={**headers, "Content-Range": f"bytes */{res.size}"})
        first, last = span if span is not None else (0, res.size - 1)
        headers["Content-Length"] = str(last - first + 1 if res.size else 0)
        if head:
            return Response(b"", status, headers=headers)
        try:
            _, body = await run_in_threadpool(found.store.read, target.path, item.row.version, span)
        except WireError as err:
            if err.code == "changed":
                continue  # written between the two reads: read it again
            raise
        return StreamingResponse(body, status, headers=headers)
    raise WireError("changed", f"{clip(target.path)} keeps changing", "try again")


def _span(request: Request, res: Resource, headers: dict[str, str]) -> tuple[tuple[int, int] | None, int]:
    asked = request.headers.get("range")
    if asked is None:
        return None, 200
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() not in (res.etag, headers["Last-Modified"]):
        return None, 200
    found = ranges(asked, res.size)
    if found is None:
        return None, 200
    if not found:
        return None, 416
    if len(found) > 1:
        return None, 200
    first, last = found[0]
    headers["Content-Range"] = f"bytes {first}-{last}/{res.size}"
    return (first, last), 206
