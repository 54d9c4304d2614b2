"""Push: ``GET /v1/events?folder=NAME:SEQ&...``, a Server-Sent Events stream (protocol.md section 9).

On connect one ``seq`` event for each folder already past the ``SEQ`` the client gave, then one per folder
each time its sequence moves, coalesced by the notifier's slot (a client that reads nothing holds a few
bytes, never a backlog). A comment every ``keepalive_s`` seconds; on each, the device is looked up again,
so a revocation made outside this process (``syncline`` on the data directory), or a web session's
expiry, also ends its streams.

Protocol 1.1: with ``shares=1`` (allowed without any ``folder=``) an ``event: shares`` (``data: {}``) each
time the user's shares change (an offer, a revocation: read ``GET /v1/shares``); and ``event: revoked``
(``data: {"folder": NAME}``) when the share of a followed folder is taken back, after which the stream
goes on without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...formats.wire.errors import WireError, clip
from ...formats.wire.fields import dump_json
from ...formats.wire.limits import MAX_STREAM_FOLDERS, MAX_STREAMS_PER_DEVICE
from ...formats.wire.paths import check_folder_name
from ..notify import DROPPED, Key, Subscription, SubscriptionClosed, shares_key
from ..store import Store
from ..store.filelocks import locks_key
from .access import Caller, caller_of, resolve
from .bodies import bool_param

RETRY_MS = 2000


def _positions(request: Request, shares: bool) -> dict[str, int]:
    raw = request.query_params.getlist("folder")
    if not raw and not shares:
        raise WireError("bad_request", "name at least one folder=NAME:SEQ, or ask for shares=1", "see /v1/openapi.json")
    if len(raw) > MAX_STREAM_FOLDERS:
        raise WireError("too_large", f"{len(raw)} folders in one stream, over the limit of {MAX_STREAM_FOLDERS}",
                        "open another stream", {"limit": MAX_STREAM_FOLDERS})
    out: dict[str, int] = {}
    for item in raw:
        name, colon, seq = item.rpartition(":")
        if not colon or not seq.isdigit() or len(seq) > 19:
            raise WireError("bad_request", f"folder={clip(item, 80)!r} is not NAME:SEQ", "see /v1/openapi.json")
        check_folder_name(name)
        out[name] = min(int(seq), out.get(name, int(seq)))
    return out


def _resolve(store: Store, caller: Caller, asked: dict[str, int]) -> dict[int, tuple[str, int, int]]:
    """folder id -> (name, the client's seq, the folder's seq now), every one readable by the caller."""
    out = {}
    for name, seq in asked.items():
        folder, _ = resolve(store, caller, name)
        out[folder.id] = (name, seq, folder.seq)
    return out


class EventStream(StreamingResponse):
    """A stream that ends its subscription however it ends (even when it never started)."""

    def __init__(self, sub: Subscription, body: AsyncIterator[str]) -> None:
        super().__init__(body, media_type="text/event-stream",
                         headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.sub = sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.sub.close()


async def events(request: Request) -> Response:
    caller = await caller_of(request)
    shares = bool_param(request, "shares", False)
    asked = _positions(request, shares)
    state = request.app.state
    store: Store = state.store
    folders = await run_in_threadpool(_resolve, store, caller, asked)
    if request.method == "HEAD":  # the headers a stream would have, without holding a stream open
        return Response(media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    owner = caller.device.id
    if state.notifier.streams_of(owner) >= MAX_STREAMS_PER_DEVICE:
        raise WireError("rate_limited", f"this device has {MAX_STREAMS_PER_DEVICE} event streams open already",
                        "close one first", {"limit": MAX_STREAMS_PER_DEVICE, "retry_after": 15})
    positions: dict[Key, int] = {fid: seq for fid, (_, seq, _) in folders.items()}
    positions.update({locks_key(fid): 0 for fid in folders})
    if shares:
        positions[shares_key(caller.device.user_id)] = 0
    sub = state.notifier.subscribe(owner, positions)
    names = {fid: name for fid, (name, _, _) in folders.items()}
    try:
        # Read after subscribing, so that a commit in between is seen by one or the other.
        for fid in folders:
            found = await run_in_threadpool(store.folders.by_id, fid)
            if found is not None:
                sub.note(fid, found.seq)
                sub.note(locks_key(fid), found.lock_seq)
    except BaseException:
        sub.close()
        raise
    keepalive = state.keepalive_s

    async def body() -> AsyncIterator[str]:
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            try:
                moved = await sub.next(keepalive)
            except SubscriptionClosed:
                return
            if not moved:
                if not await run_in_threadpool(state.auth.live, owner):
                    return
                yield ": keep-alive\n\n"
            for key, seq in moved:
                if text := _event(names, key, seq):
                    yield text

    return EventStream(sub, body())


def _event(names: dict[int, str], key: Key, seq: int) -> str:
    if isinstance(key, int):
        if seq == DROPPED:
            return f"event: revoked\ndata: {dump_json({'folder': names[key]}).decode('utf-8')}\n\n"
        return f"event: seq\ndata: {dump_json({'folder': names[key], 'seq': seq}).decode('utf-8')}\n\n"
    kind, ident = key
    if kind == "locks":
        if seq == DROPPED:
            return ""
        return f"event: locks\ndata: {dump_json({'folder': names[ident], 'lock_seq': seq}).decode('utf-8')}\n\n"
    return "event: shares\ndata: {}\n\n"  # the user's shares changed


ROUTES = [Route("/v1/events", events, methods=["GET"])]
