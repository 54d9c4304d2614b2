"""``make_app``: the Starlette application of protocol v1 over one :class:`~syncline.server.store.Store`.

Handlers are ``async`` and read their bodies with bounds (:mod:`.bodies`), then hand every blocking call
(the store, password checks) to the thread pool, so a slow disk never stalls the event loop that serves
the event streams. Two checks run before any handler: the ``Syncline-Protocol`` header (``426`` for a
major version this server does not serve) and at most 16 requests at once per token (``429``; event
streams are bounded on their own, 4 per device). Outside both, a browser's session cookie becomes its
token after the CSRF checks (:mod:`.websession`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ...engine.replicas.errors import ReplicaError
from ...formats.wire.errors import WireError
from ...formats.wire.limits import BODY_STALL_S, MAX_REQUESTS_PER_DEVICE
from ..notify import InProcessNotifier, Notifier
from ..store import Store
from . import (
    routes_account,
    routes_activity,
    routes_content,
    routes_events,
    routes_folders,
    routes_locks,
    routes_ops,
    routes_shares,
    routes_users,
    routes_versions,
    routes_web,
    routes_zip,
    web,
)
from .access import Authenticator
from .errors import CatchAll, error_response, handle_known
from .openapi import document, openapi_route
from .websession import WebSession
from .zipstream import ZipLimits, ZipSlots

PROTOCOL_MAJOR = 1
KEEPALIVE_S = 15.0
_PROTOCOL_RE = re.compile(r"(\d{1,6})\.(\d{1,6})")
_UNCOUNTED = frozenset({"/v1/events"})  # bounded by their own limit (streams per device)


class ProtocolCheck:
    """Refuses a ``Syncline-Protocol`` this server does not serve (``426``) or cannot read (``400``); a
    request without the header (a browser, curl) is served as the current version."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = Headers(scope=scope).get("syncline-protocol")
            if raw is not None:
                m = _PROTOCOL_RE.fullmatch(raw.strip())
                err = None
                if m is None:
                    err = WireError("bad_request", "Syncline-Protocol is MAJOR.MINOR", "send 1.<minor>")
                elif int(m[1]) != PROTOCOL_MAJOR:
                    err = WireError("upgrade_required",
                                    f"this server speaks protocol {PROTOCOL_MAJOR}, not {int(m[1])}: it serves "
                                    "clients from syncline 0.2 on", "use a syncline that speaks protocol 1",
                                    {"major": PROTOCOL_MAJOR})
                if err is not None:
                    await error_response(err)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class DeviceLimit:
    """At most ``limit`` requests at once per ``Authorization`` value (one token is one device): the
    count lives only while requests are in flight, so unknown tokens cost nothing after they are refused."""

    def __init__(self, app: ASGIApp, limit: int = MAX_REQUESTS_PER_DEVICE) -> None:
        self.app = app
        self.limit = limit
        self.active: dict[bytes, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = Headers(scope=scope).get("authorization") if scope["type"] == "http" else None
        if token is None or scope["path"] in _UNCOUNTED:
            await self.app(scope, receive, send)
            return
        # Keyed by the token alone, so that spelling the header another way buys no more requests.
        key = hashlib.sha256(token.strip().partition(" ")[2].strip().encode("latin-1")).digest()
        if self.active.get(key, 0) >= self.limit:
            err = WireError("rate_limited", f"more than {self.limit} requests at once from one device",
                            "wait for the others to finish", {"limit": self.limit})
            await error_response(err)(scope, receive, send)
            return
        self.active[key] = self.active.get(key, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.active[key] - 1
            if left:
                self.active[key] = left
            else:
                del self.active[key]


def make_app(store: Store, auth: Authenticator, notifier: Notifier | None = None, *,
             stall_s: float = BODY_STALL_S, keepalive_s: float = KEEPALIVE_S, packs_at_once: int = 4,
             dav_account_passwords: bool = True, zip_limits: ZipLimits | None = None) -> Starlette:
    """The app serving ``store``: ``auth`` names devices and logs them in, ``notifier`` (an
    :class:`InProcessNotifier` when None) carries commits to event streams; the app sets
    ``store.on_commit`` to its ``publish``. ``stall_s``: how long a request body may send nothing (408);
    ``keepalive_s``: the comment interval of event streams; ``packs_at_once``: pack uploads held in
    memory at once, server-wide (the others wait); ``dav_account_passwords``: whether WebDAV takes the
    account password beside app passwords; ``zip_limits``: the bounds of ``/ui/zip`` (the defaults of
    :class:`ZipLimits` when None). Every stream is closed, and every zip stopped, when the app shuts down.

    WebDAV (``/remote.php/``, ``/dav/``, ``/status.php``, ``/ocs/``: :mod:`syncline.server.dav`) is
    mounted inside ``DeviceLimit`` (one Basic credential is one device) and outside ``ProtocolCheck``.
    ``WebSession`` is outside ``DeviceLimit``: the token it puts in counts as the device's."""
    chosen: Notifier = notifier if notifier is not None else InProcessNotifier()
    store.on_commit = chosen.publish
    zips = ZipSlots(zip_limits or ZipLimits())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        chosen.close_all()
        zips.close()  # their workers read the store, which is closed next

    routes = [*routes_account.ROUTES, openapi_route(), *routes_folders.ROUTES, *routes_content.ROUTES,
              *routes_ops.ROUTES, *routes_events.ROUTES, *routes_shares.ROUTES,
              *routes_locks.ROUTES, *routes_versions.ROUTES, *routes_users.ROUTES, *routes_activity.ROUTES,
              *web.ROUTES, *routes_zip.ROUTES, *routes_web.ROUTES]
    # Imported here: the WebDAV layer uses this package's access and body helpers (an import at the top
    # would be a cycle: dav -> app -> dav).
    from ..dav.mount import DavApp, DavMount

    dav = DavApp(store, auth, dav_account_passwords, stall_s)
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(CatchAll), Middleware(WebSession, auth=auth, secret=store.web_secret),
                                Middleware(DeviceLimit), Middleware(DavMount, dav=dav),
                                Middleware(ProtocolCheck)],
                    exception_handlers={WireError: handle_known, ReplicaError: handle_known,
                                        HTTPException: handle_known})
    app.state.store = store
    app.state.auth = auth
    app.state.notifier = chosen
    app.state.stall_s = stall_s
    app.state.keepalive_s = keepalive_s
    app.state.pack_gate = routes_content.pack_gate(packs_at_once)
    app.state.openapi = document()
    app.state.zips = zips
    return app
