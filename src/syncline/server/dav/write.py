"""The write methods of WebDAV that touch one resource: PUT, MKCOL, DELETE (docs/webdav-plan.md section 3,
"Writes"). COPY and MOVE are :mod:`.copymove`, PROPPATCH :mod:`.proppatch`, LOCK and UNLOCK :mod:`.locks`.

Every write goes through the folder store's ``apply_ops`` as the caller's device, with the write policy
``trash=True, keep_changed=True``: rights, file locks (the ``If`` header's tokens passed along), versions,
quotas, the journal and the event stream apply as to a native client, and a resource that changed between
this request's read and its write is not touched (``412``). Conditions are :mod:`.conditions`.

- **PUT** of a ``Content-Length`` past the room the folder owner's quota leaves is ``507`` before a byte
  is read; otherwise the body streams into a spool file (bounded by the stall timeout and
  :data:`MAX_FILE_SIZE`), hashing it with BLAKE3, SHA1 and the type ``OC-Checksum`` names (``SHA1``,
  ``MD5``, ``ADLER32``); a mismatch is ``400`` and nothing is committed. The chunks go to the folder's
  chunk store, then one ``put`` item names them, expecting the file read before (or nothing): a half-sent
  body is never a file. mtime:
  ``X-OC-Mtime`` (seconds, a fraction allowed), answered ``X-OC-MTime: accepted``, else now; mode: the
  replaced file's, ``0644`` for a new one. The answer carries ``ETag`` = ``OC-ETag`` = the new version's,
  the one the next PROPFIND lists (so a client never downloads its own upload), and ``OC-FileId``.
- **MKCOL**: a body is ``415``, something there ``405``, no parent ``409``. At the namespace root it makes
  a folder of the caller's (as ``PUT /v1/folders/NAME``).
- **DELETE** of a file deletes the version read; of a directory (``Depth: infinity`` or none; another
  ``Depth`` is ``400``), the whole tree in one item
  (``delete_tree``) only if nothing below changed since it was read: a file another device added meanwhile
  is never deleted unseen. A folder's root and the namespace are ``403``: deleting a synced folder is not a
  WebDAV gesture.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import blake3
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...core.chunking import SERVER_CHUNKER
from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import MAX_FILE_SIZE, MAX_INT, MIN_INT
from ...formats.wire.ops import Expect, ItemResult, Op, OpEntry, WirePolicy, new_op_id
from ..app.access import Caller
from ..app.bodies import content_length, stream_body
from ..staging import stage_spooled
from ..store import Store
from ..store.schema import RW
from . import conditions
from .conditions import Now, look
from .errors import DavError
from .paths import DavPath
from .read import Place, place

POLICY = WirePolicy(trash=True, keep_changed=True)
_SPOOL_BLOCK = 1 << 20  # bytes gathered before a spool write (a thread hop each)
NEW_FILE_MODE = 0o644
EXISTING = {"Allow": "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, PUT, DELETE, COPY, MOVE, LOCK, UNLOCK"}  # not MKCOL


def done_or_raise(r: ItemResult, path: str) -> ItemResult:
    """``r`` when the item was done; its error, or ``changed`` (412) when it was kept back."""
    if r.error is not None:
        raise r.error
    if not r.done:
        if r.code == "exists":
            raise DavError(412, "PreconditionFailed", f"{clip(path)} exists")
        raise WireError("changed", f"{clip(path)} changed since it was read; nothing written", "read it again")
    return r


async def writable(store: Store, caller: Caller, target: DavPath, creating: bool = False) -> Place:
    """The folder of a write, refused (``403``) without the right to write; the namespace root and a
    folder's root are not written by PUT or DELETE. ``creating`` (PUT, MKCOL, the destination of COPY and
    MOVE): a folder that does not exist is a missing parent, ``409`` (RFC 4918 9.3.1, 9.7.1), which is
    how clients such as rclone learn to make it first."""
    if target.folder is None:
        raise DavError(403, "Forbidden", "files cannot be put in the list of folders; pick a folder")
    try:
        where = await run_in_threadpool(place, store, caller, target.folder)
    except WireError as err:
        if creating and err.code == "not_found":
            raise DavError(409, "Conflict", f"the folder {clip(target.folder)} does not exist; make it first") from None
        raise
    if where.rights != RW:
        raise WireError("read_only", f"you can only read the folder {clip(target.folder)}",
                        "ask its owner for the right to write")
    return where


async def parent_is_folder(where: Place, path: str) -> None:
    """``409`` unless the folder ``path`` is in exists (RFC 4918 9.7.1, 9.3.1)."""
    up = path.rpartition("/")[0]
    if up:
        found = (await run_in_threadpool(look, where, up)).item
        if found is None or found.row.kind != "dir":
            raise DavError(409, "Conflict", f"the folder {clip(up)} does not exist; make it first")


async def commit(where: Place, caller: Caller, ops: list[Op], tokens: frozenset[str],
                 sums: tuple[tuple[bytes, bytes, bytes], ...] = ()) -> list[ItemResult]:
    """Apply ``ops`` as the caller's device (blocking work in the thread pool), recording ``sums`` with them."""
    _, results = await run_in_threadpool(where.store.apply_ops, ops, POLICY, caller.device.id, tokens, False, sums)
    return results


# -- PUT ---------------------------------------------------------------------------------------------------

@dataclass
class Spooled:
    """A request body in a temp file, with its size and hashes."""

    file: BinaryIO
    size: int = 0
    blake3: Any = None
    sha1: Any = field(default_factory=lambda: hashlib.sha1(usedforsecurity=False))
    md5: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    adler: int | None = None

    def add(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)
        self.blake3.update(data)
        self.sha1.update(data)
        self.md5.update(data)
        if self.adler is not None:
            self.adler = zlib.adler32(data, self.adler)


def wanted_checksum(request: Request) -> tuple[str, str] | None:
    """``OC-Checksum: TYPE:HEX`` as (type, lowercase hex); None when absent or of a type not checked."""
    raw = request.headers.get("oc-checksum")
    if not raw:
        return None
    kind, _, value = raw.strip().partition(":")
    kind = kind.upper()
    if kind not in ("SHA1", "MD5", "ADLER32"):
        return None
    value = value.strip().lower()
    if not value or len(value) > 128 or any(c not in "0123456789abcdef" for c in value):
        raise WireError("bad_request", f"OC-Checksum {clip(raw, 80)!r} is not TYPE:HEX", "a client bug")
    return kind, value


def oc_mtime(request: Request) -> int | None:
    """``X-OC-Mtime`` (seconds since the epoch, a fraction allowed) in ns; None when absent."""
    raw = request.headers.get("x-oc-mtime")
    if raw is None:
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        raise WireError("bad_request", f"X-OC-Mtime {clip(raw, 40)!r} is not a number of seconds", "") from None
    if seconds != seconds or not (MIN_INT / 1e9 < seconds < MAX_INT / 1e9):
        raise WireError("bad_request", f"X-OC-Mtime {clip(raw, 40)!r} is out of range", "")
    return round(seconds * 1e9)


def new_spool(spool_dir: str, kind: str | None) -> Spooled:
    """An empty spool file under ``spool_dir`` hashing what is added, with ``kind``'s hash (an
    ``OC-Checksum`` type) too. The caller closes ``file``."""
    out = Spooled(tempfile.TemporaryFile(dir=spool_dir), blake3=blake3.blake3())  # noqa: SIM115 - the caller closes it
    if kind == "ADLER32":
        out.adler = 1
    return out


async def spool_body(request: Request, spool_dir: str, stall_s: float, kind: str | None) -> Spooled:
    """The body in a temp file under ``spool_dir``, hashed on the way. The caller closes ``file``."""
    out = new_spool(spool_dir, kind)
    gathered: list[bytes] = []
    have = 0
    try:
        async for piece in stream_body(request, MAX_FILE_SIZE, stall_s):
            gathered.append(piece)
            have += len(piece)
            if have >= _SPOOL_BLOCK:
                await run_in_threadpool(out.add, b"".join(gathered))
                gathered, have = [], 0
        if gathered:
            await run_in_threadpool(out.add, b"".join(gathered))
    except BaseException:
        out.file.close()
        raise
    return out


def _check_sum(spooled: Spooled, wanted: tuple[str, str] | None) -> None:
    if wanted is None:
        return
    kind, value = wanted
    if kind == "SHA1":
        got = spooled.sha1.hexdigest()
    elif kind == "MD5":
        got = spooled.md5.hexdigest()
    else:
        got = f"{spooled.adler:08x}"
    if got != value.rjust(len(got), "0"):
        raise WireError("bad_content", f"the body's {kind} is {got}, not the {value} of its OC-Checksum",
                        "the file changed or broke while it was sent: upload it again")


async def put(request: Request, store: Store, caller: Caller, target: DavPath, instance: str,
              stall_s: float) -> Response:
    """PUT of a file (see the module's docstring)."""
    where, now, tokens = await prepare_put(request, store, caller, target)
    announced = content_length(request, MAX_FILE_SIZE)
    if announced is not None:
        await run_in_threadpool(check_room, where, now, target.path, announced)
    wanted = wanted_checksum(request)
    mtime = oc_mtime(request)
    spooled = await spool_body(request, str(store.chunks.tmp), stall_s, wanted[0] if wanted else None)
    return await finish_put(where, caller, target, now, tokens, spooled, wanted, mtime, instance)


async def prepare_put(request: Request, store: Store, caller: Caller,
                      target: DavPath) -> tuple[Place, Now, frozenset[str]]:
    """A file write's folder, what is at ``target`` now, and the lock tokens submitted: ``403`` without the
    right, ``405`` for a folder's root, ``409`` onto a folder or without a parent, ``412`` for a false
    condition."""
    if target.folder is not None and not target.path:  # a name in the list of folders
        try:
            await run_in_threadpool(place, store, caller, target.folder)
        except WireError:
            raise DavError(403, "Forbidden", "files cannot be put in the list of folders; pick a folder") from None
    where = await writable(store, caller, target, creating=True)
    if not target.path:
        raise DavError(405, "MethodNotAllowed", "a folder's root is a collection; put files in it",
                       headers={"Allow": "OPTIONS, PROPFIND"})
    now = await run_in_threadpool(look, where, target.path)
    if now.item is not None and now.item.row.kind == "dir":
        raise DavError(409, "Conflict", f"{clip(target.path)} is a folder")
    await parent_is_folder(where, target.path)
    tokens = await run_in_threadpool(conditions.check, request, store, caller, target, now)
    return where, now, tokens


def check_room(where: Place, now: Now, path: str, size: int) -> None:
    """``over_quota`` (507) when ``size`` bytes at ``path``, in place of what ``now`` found there, take the
    folder's owner past their quota: said before a body is read (the commit checks again, in its
    transaction)."""
    owner = where.store.store.users.by_id(where.folder.owner_id)
    if owner is None or owner.quota_bytes is None:
        return
    old = now.item.row.size if now.item is not None and now.item.row.kind == "file" else 0
    if size > old and where.store.store.users.used_bytes(owner.id) - old + size > owner.quota_bytes:
        raise WireError("over_quota", f"{clip(path)} ({size:,} bytes) does not fit in the quota of the folder's "
                        "owner", "delete files in the owner's folders, or ask for more", {"path": clip(path)})


async def finish_put(where: Place, caller: Caller, target: DavPath, now: Now, tokens: frozenset[str],
                     spooled: Spooled, wanted: tuple[str, str] | None, mtime: int | None,
                     instance: str) -> Response:
    """Commit the bytes in ``spooled`` (closed here) at ``target`` if they are ``wanted``'s checksum, as a
    new version of what ``now`` found there: the answer with the etag and id the next PROPFIND lists."""
    mode = now.item.row.mode if now.item is not None else NEW_FILE_MODE
    mtime_ns = mtime if mtime is not None else time.time_ns()
    digest = spooled.blake3.digest()
    try:
        _check_sum(spooled, wanted)
        staged = await run_in_threadpool(stage_spooled, where.store, caller.device.id, SERVER_CHUNKER, target.path,
                                         spooled.file, spooled.size, digest, mtime_ns, mode, lambda _: None)
    finally:
        spooled.file.close()
    expect = Expect.of(now.item.row.entry()) if now.item is not None else None
    sums = ((digest, spooled.sha1.digest(), spooled.md5.digest()),)
    [r] = await commit(where, caller, [staged.put_op(expect)], tokens, sums)
    r = done_or_raise(r, target.path)
    headers = await written_headers(where, r, instance)
    if mtime is not None:
        headers["X-OC-MTime"] = "accepted"
    return Response(b"", 201 if now.item is None else 204, headers=headers)


async def written_headers(where: Place, r: ItemResult, instance: str) -> dict[str, str]:
    """``ETag``, ``OC-ETag`` and ``OC-FileId`` of what a write made: the etag the next PROPFIND lists."""
    fileid = await run_in_threadpool(where.store.dav_fileid, r.file_id)
    etag = f'"v{r.version}"'
    headers = {"ETag": etag, "OC-ETag": etag, "Content-Length": "0"}
    if fileid is not None:
        headers["OC-FileId"] = f"{fileid:08d}{instance}"
    return headers


# -- MKCOL ----------------------------------------------------------------------------------------------------

async def mkcol(request: Request, store: Store, caller: Caller, target: DavPath, stall_s: float) -> Response:
    """MKCOL (see the module's docstring)."""
    body = b"".join([piece async for piece in stream_body(request, 1 << 16, stall_s)])
    if body or request.headers.get("content-type"):
        raise DavError(415, "UnsupportedMediaType", "MKCOL takes no body")
    if target.folder is None:
        raise DavError(405, "MethodNotAllowed", "the list of folders exists", headers=EXISTING)
    if not target.path:
        return await _new_folder(store, caller, target.folder)
    where = await writable(store, caller, target, creating=True)
    now = await run_in_threadpool(look, where, target.path)
    if now.item is not None:
        raise DavError(405, "MethodNotAllowed", f"{clip(target.path)} exists", headers=EXISTING)
    await parent_is_folder(where, target.path)
    tokens = await run_in_threadpool(conditions.check, request, store, caller, target, now)
    op = Op(new_op_id(), "mkdir", target.path, None, OpEntry(time.time_ns(), 0o755))
    [r] = await commit(where, caller, [op], tokens)
    done_or_raise(r, target.path)
    return Response(b"", 201, headers={"Content-Length": "0"})


async def _new_folder(store: Store, caller: Caller, name: str) -> Response:
    """MKCOL of a name in the namespace root: a new folder of the caller's."""
    def make() -> bool:
        try:
            place(store, caller, name)
        except WireError as err:
            if err.code != "not_found":
                raise
        else:
            return False
        return store.folders.create(caller.device.user_id, name)[1]

    if not await run_in_threadpool(make):
        raise DavError(405, "MethodNotAllowed", f"the folder {clip(name)} exists", headers=EXISTING)
    return Response(b"", 201, headers={"Content-Length": "0"})


# -- DELETE ---------------------------------------------------------------------------------------------------

def removal(path: str, now: Now) -> Op:
    """The item deleting what ``now`` found at ``path``: a file's version, or a folder's tree as read."""
    assert now.item is not None
    if now.item.row.kind == "dir":
        return Op(new_op_id(), "delete_tree", path, tree_version=now.item.tree_version)
    return Op(new_op_id(), "delete", path, Expect.of(now.item.row.entry()))


async def delete(request: Request, store: Store, caller: Caller, target: DavPath) -> Response:
    """DELETE (see the module's docstring)."""
    where = await writable(store, caller, target)
    if not target.path:
        raise DavError(403, "Forbidden", f"the folder {clip(target.folder or '')} itself is not deleted over WebDAV")
    now = await run_in_threadpool(look, where, target.path)
    if now.item is None:
        raise WireError("not_found", f"nothing at {clip(target.path)}", "")
    depth = (request.headers.get("depth") or "infinity").strip().lower()
    if now.item.row.kind == "dir" and depth != "infinity":  # RFC 4918 9.6.1: a collection goes whole or not
        raise WireError("bad_request", f"Depth {clip(depth, 20)!r} of a DELETE of a folder: it is deleted with "
                        "everything in it", "send Depth: infinity, or none")
    tokens = await run_in_threadpool(conditions.check, request, store, caller, target, now)
    [r] = await commit(where, caller, [removal(target.path, now)], tokens)
    done_or_raise(r, target.path)
    return Response(b"", 204)
