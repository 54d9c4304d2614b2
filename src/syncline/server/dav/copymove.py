"""COPY and MOVE (RFC 4918 9.8, 9.9; docs/webdav-plan.md section 3, "Writes").

``Destination`` is a URL of this server or a path alone, under a prefix of the caller's (:mod:`.paths`);
``Overwrite`` is ``T`` (the default) or ``F``; ``Depth`` of a COPY is ``0`` (a collection alone) or
``infinity`` (the default), of a MOVE ``infinity`` only.

- **MOVE within a folder** is one ``move`` item: every entry keeps its ``file_id``, so ``oc:fileid`` and
  dead properties follow, and other devices see a rename, not a delete and an upload. Onto something with
  ``Overwrite: T``, the removal of what is there (its versions kept) and the move are one atomic batch:
  both or neither.
- **COPY**, and a **MOVE between folders**: the source's bytes are read and stored anew in the destination
  folder's chunk store (chunks are per folder), then committed; a MOVE deletes the source only after, and
  only the version it copied: a crash in between leaves both, never neither. A source locked against the
  caller is ``423`` before anything is copied.
- A collection is copied in batches of :data:`BATCH` items, folders first; what fails is listed in a
  ``207``. Symlinks below a collection (a native device's; not WebDAV resources) are copied as symlinks,
  so a MOVE between folders keeps them.

``201`` when the destination was made, ``204`` when it was overwritten; ``412`` for ``Overwrite: F`` onto
something, ``409`` when the destination's folder is missing, ``403`` for a resource onto itself, into
itself or onto a folder that holds it, a folder's root, or the namespace.
"""

from __future__ import annotations

import hashlib
import tempfile
from http import HTTPStatus

import blake3
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ...core.chunking import SERVER_CHUNKER
from ...formats.wire.errors import WireError, clip
from ...formats.wire.ops import Expect, ItemResult, Op, OpEntry, new_op_id
from ..app.access import Caller
from ..staging import stage_spooled
from ..store import Store
from ..store.davstate import DavRow
from ..store.rows import Row
from . import conditions
from .conditions import look
from .errors import DavError, dav_status
from .paths import DavPath, destination, href
from .read import Place, place
from .write import POLICY, commit, done_or_raise, parent_is_folder, removal, writable
from .xmlio import XML_TYPE, xml_text

BATCH = 1000
_READ = 1 << 20


def _overwrite(request: Request) -> bool:
    value = (request.headers.get("overwrite") or "T").strip().upper()
    if value not in ("T", "F"):
        raise WireError("bad_request", f"Overwrite {clip(value, 10)!r} is T or F", "")
    return value == "T"


def _depth(request: Request, move: bool) -> bool:
    """Whether the whole tree goes (``Depth: infinity``) or the collection alone (``0``, COPY only)."""
    value = (request.headers.get("depth") or "infinity").strip().lower()
    if value == "infinity":
        return True
    if value == "0" and not move:
        return False
    raise WireError("bad_request", f"Depth {clip(value, 20)!r} is not allowed for {'MOVE' if move else 'COPY'}",
                    "use Depth: infinity" + ("" if move else " or 0"))


async def copy_or_move(request: Request, store: Store, caller: Caller, target: DavPath, move: bool) -> Response:
    """COPY (``move`` False) or MOVE of ``target`` to the request's ``Destination``."""
    header = request.headers.get("destination")
    if header is None:
        raise WireError("bad_request", "COPY and MOVE need a Destination header", "")
    dest = destination(header, request.headers.get("host"), caller.user)
    overwrite, deep = _overwrite(request), _depth(request, move)
    if target.folder is None or not target.path or dest.folder is None or not dest.path:
        raise DavError(403, "Forbidden", "a folder's root and the list of folders are not copied or moved")
    src = await (writable(store, caller, target) if move else run_in_threadpool(place, store, caller, target.folder))
    dst = await writable(store, caller, dest, creating=True)
    same = src.folder.id == dst.folder.id
    if same and (dest.path == target.path or dest.path.startswith(target.path + "/")):
        raise DavError(403, "Forbidden", f"{clip(target.path)} cannot go onto or into itself")
    if same and target.path.startswith(dest.path + "/"):  # overwriting it would delete the source first
        raise DavError(403, "Forbidden", f"{clip(target.path)} cannot go onto {clip(dest.path)}, which holds it")
    now = await run_in_threadpool(look, src, target.path)
    if now.item is None:
        raise WireError("not_found", f"nothing at {clip(target.path)}", "")
    await parent_is_folder(dst, dest.path)
    there = await run_in_threadpool(look, dst, dest.path)
    if there.item is not None and not overwrite:
        raise DavError(412, "PreconditionFailed", f"{clip(dest.path)} exists and Overwrite is F")
    tokens = await run_in_threadpool(conditions.check, request, store, caller, target, now)
    if move and same:
        ops = [removal(dest.path, there)] if there.item is not None else []
        ops.append(Op(new_op_id(), "move", target.path, Expect.of(now.item.row.entry()), to=dest.path))
        _, results = await run_in_threadpool(src.store.apply_ops, ops, POLICY, caller.device.id, tokens, True)
        done_or_raise(results[-1], target.path)
        return Response(b"", 204 if there.item is not None else 201)
    if move:  # the source goes last, after the copy: a lock that would keep it must stop the copy first
        await run_in_threadpool(src.store.dav_may_write, target.path, caller.device.id, tokens,
                                now.item.row.kind == "dir")
    if there.item is not None:
        [r] = await commit(dst, caller, [removal(dest.path, there)], tokens)
        done_or_raise(r, dest.path)
    failed = await run_in_threadpool(_copy, src, now.item, dst, dest, caller, tokens, deep)
    if failed:
        return _multistatus(failed)
    if move:
        [r] = await commit(src, caller, [removal(target.path, now)], tokens)
        done_or_raise(r, target.path)
    return Response(b"", 204 if there.item is not None else 201)


def _copy(src: Place, item: DavRow, dst: Place, dest: DavPath, caller: Caller, tokens: frozenset[str],
          deep: bool) -> list[tuple[str, WireError]]:
    """Copy ``item`` (and, ``deep``, everything below it) to ``dest`` (blocking); what failed, by href."""
    root = item.row.path
    rows = [item.row]
    if item.row.kind == "dir" and deep:
        rows += _below(src, root)
    failed: list[tuple[str, WireError]] = []
    dirs = [r for r in rows if r.kind == "dir"]
    files = [r for r in rows if r.kind != "dir"]  # and symlinks: not resources, but a move must keep them
    for part in (dirs, files):
        for start in range(0, len(part), BATCH):
            chunk = part[start : start + BATCH]
            ops = [_copy_op(src, r, dst, dest.path + r.path[len(root):], caller) for r in chunk]
            _, results = dst.store.apply_ops(ops, POLICY, caller.device.id, tokens)
            for r, op, res in zip(chunk, ops, results, strict=True):
                if res.done:
                    dst.store.dav_copy_props(src.store, r.file_id, res.file_id)
                else:
                    failed.append((href(dest.prefix, dest.folder, op.path, r.kind == "dir"), _why(res, op.path)))
    return failed


def _below(src: Place, root: str) -> list[Row]:
    """Every live row below the folder ``root`` of ``src``, in path order (parents before children)."""
    out: list[Row] = []
    since, after = 0, None
    while True:
        page = src.store.entries(since, dir=root, deep=True, after=after)
        out += [r for r in page.rows if r.path != root]
        if not page.more:
            break
        since, after = page.next, page.next_path
    return sorted(out, key=lambda r: r.path)


def _copy_op(src: Place, row: Row, dst: Place, path: str, caller: Caller) -> Op:
    """The item that makes a copy of ``row`` at ``path`` in ``dst`` (a file's bytes read and staged)."""
    if row.kind == "dir":
        return Op(new_op_id(), "mkdir", path, None, OpEntry(row.mtime_ns, row.mode))
    if row.kind == "symlink":
        return Op(new_op_id(), "symlink", path, None, OpEntry(row.mtime_ns, row.mode, target=row.target))
    got, body = src.store.read(row.path, row.version)
    whole, sha1, md5 = blake3.blake3(), hashlib.sha1(usedforsecurity=False), hashlib.md5(usedforsecurity=False)
    size = 0
    with tempfile.TemporaryFile(dir=str(dst.store.store.chunks.tmp)) as spool:
        for piece in body:
            whole.update(piece)
            sha1.update(piece)
            md5.update(piece)
            spool.write(piece)
            size += len(piece)
        staged = stage_spooled(dst.store, caller.device.id, SERVER_CHUNKER, path, spool, size, whole.digest(),
                               got.mtime_ns, got.mode, lambda _: None)
    dst.store.record_sums(whole.digest(), sha1.digest(), md5.digest())
    return staged.put_op(None)


def _why(res: ItemResult, path: str) -> WireError:
    if res.error is not None:
        return res.error
    return WireError("changed", f"{clip(path)}: {res.note or 'not copied'}", "")


def _multistatus(failed: list[tuple[str, WireError]]) -> Response:
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:">']
    for where, err in failed:
        status = HTTPStatus(dav_status(err)[0])
        parts.append(f"<d:response><d:href>{xml_text(where)}</d:href><d:status>HTTP/1.1 {status.value} "
                     f"{status.phrase}</d:status><d:responsedescription>{xml_text(err.message)}"
                     "</d:responsedescription></d:response>")
    parts.append("</d:multistatus>\n")
    return StreamingResponse(iter(["".join(parts).encode("utf-8")]), 207, media_type=XML_TYPE)

