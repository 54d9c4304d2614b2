"""LOCK and UNLOCK (RFC 4918 9.10, 9.11) on the server's file locks (``store/filelocks.py``).

- **LOCK** with a ``lockinfo`` body takes a write lock, exclusive or shared, of depth ``0`` or ``infinity``
  (the default; ``1`` is ``400``), for the ``Timeout`` asked, clamped to :data:`LEAST_S`..:data:`MOST_S`.
  A URL with nothing there gets an empty file first, then the lock (``201``; RFC 4918 7.3); an existing
  resource ``200``. A conflicting lock is ``423``. The answer holds the lock's ``lockdiscovery`` and its
  token in ``Lock-Token``.
- **LOCK** without a body refreshes the lock whose token the ``If`` header submits (its user's only).
- **UNLOCK** ends the lock named by ``Lock-Token``, which must cover the URL (``409`` otherwise), by its
  user (``403`` for anyone else); ``204``.

A WebDAV lock and a native lock (``syncline lock``) exclude each other; writes through a WebDAV lock need
its token in the ``If`` header, from its user (:mod:`.conditions`, ``LockGuard``).
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...formats.wire.errors import WireError, clip
from ...formats.wire.ops import EMPTY_DIGEST, Op, OpEntry, new_op_id
from ..app.access import Caller
from ..app.bodies import read_body
from ..store import Store
from ..store.filelocks import FileLock
from . import conditions
from .conditions import look
from .errors import DavError
from .ifheader import parse_if, submitted
from .lockxml import lock_answer, parse_lockinfo, timeout_of
from .paths import DavPath, href
from .read import Place
from .write import NEW_FILE_MODE, commit, done_or_raise, parent_is_folder, writable
from .xmlio import MAX_BODY, XML_TYPE

LEAST_S = 60
MOST_S = 7 * 24 * 3600


def _depth(request: Request) -> bool:
    value = (request.headers.get("depth") or "infinity").strip().lower()
    if value not in ("0", "infinity"):
        raise WireError("bad_request", f"Depth {clip(value, 20)!r} of a LOCK is 0 or infinity", "")
    return value == "infinity"


def _answer(lock: FileLock, target: DavPath, status: int) -> Response:
    root = href(target.prefix, target.folder, lock.path, False)
    return Response(lock_answer(lock, root), status, media_type=XML_TYPE,
                    headers={"Lock-Token": f"<{lock.token}>", "Timeout": f"Second-{_left(lock)}"})


def _left(lock: FileLock) -> int:
    return max(0, (lock.expires_ns - time.time_ns()) // 10**9)


async def lock(request: Request, store: Store, caller: Caller, target: DavPath, stall_s: float) -> Response:
    """LOCK (see the module's docstring)."""
    info = parse_lockinfo(await read_body(request, MAX_BODY, stall_s))
    deep = _depth(request)
    ttl = timeout_of(request.headers.get("timeout"), LEAST_S, MOST_S)
    where = await writable(store, caller, target)
    if info is None:
        return await _refresh(request, where, caller, target, ttl)
    now = await run_in_threadpool(look, where, target.path)
    tokens = await run_in_threadpool(conditions.check, request, store, caller, target, now)
    status = 200
    if now.item is None:
        await parent_is_folder(where, target.path)
        made = Op(new_op_id(), "put", target.path, None, OpEntry(time.time_ns(), NEW_FILE_MODE, 0, EMPTY_DIGEST))
        [r] = await commit(where, caller, [made], tokens)
        done_or_raise(r, target.path)
        status = 201
    taken = await run_in_threadpool(where.store.dav_lock, target.path, caller.device.id, ttl, info.scope, deep,
                                    info.owner_xml)
    return _answer(taken, target, status)


async def _refresh(request: Request, where: Place, caller: Caller, target: DavPath, ttl: int) -> Response:
    header = request.headers.get("if")
    if header is None:
        raise WireError("bad_request", "a LOCK without a body refreshes a lock: name its token in an If header", "")
    covering = {lk.token for lk in (await run_in_threadpool(look, where, target.path)).locks}
    tokens = [t for t in submitted(parse_if(header)) if t in covering]
    if not tokens:
        raise DavError(412, "PreconditionFailed", "no lock of this resource is named in the If header",
                       "lock-token-submitted")
    renewed = await run_in_threadpool(where.store.dav_refresh, tokens[0], caller.device.id, ttl)
    return _answer(renewed, target, 200)


async def unlock(request: Request, store: Store, caller: Caller, target: DavPath) -> Response:
    """UNLOCK (see the module's docstring)."""
    raw = (request.headers.get("lock-token") or "").strip()
    if not (raw.startswith("<") and raw.endswith(">")) or len(raw) > 512:
        raise WireError("bad_request", "UNLOCK needs a Lock-Token header: <token>", "")
    token = raw[1:-1]
    where = await writable(store, caller, target)
    covering = {lk.token for lk in (await run_in_threadpool(look, where, target.path)).locks}
    if token not in covering:
        raise DavError(409, "Conflict", f"no lock {clip(token, 80)} on this resource", "lock-token-matches-request-uri")
    await run_in_threadpool(where.store.dav_unlock, token)
    return Response(b"", 204)
