"""The WebDAV mount: one ASGI app for ``/remote.php/``, ``/dav/``, ``/status.php`` and ``/ocs/``, and the
middleware that sends those paths to it (``make_app`` puts it inside ``DeviceLimit``, outside
``ProtocolCheck``: these are not ``/v1/`` paths).

Per request: ``status.php``, the OCS capabilities and ``OPTIONS`` need no auth; everything else is
Basic-authenticated first (so an unauthenticated PROPFIND is ``401`` with ``WWW-Authenticate: Basic``,
which is how the GUI clients learn the auth type), then the raw URL path is resolved for the caller
(:mod:`.paths`) and the method served (:mod:`.read`). Every refusal is a DAV error body
(:mod:`.errors`); an OCS path answers in its JSON envelope. Blocking work (password checks, the store)
runs in the thread pool.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ...formats.wire.errors import WireError
from ...formats.wire.limits import BODY_STALL_S
from ..app.access import Authenticator, Caller
from ..app.bodies import read_body
from ..app.errors import wire_error_of
from ..spools import Spools, spool_root
from ..store import Store
from . import copymove, locks, ocs, proppatch, read, uploads, write
from .auth import BasicAuth
from .errors import DavError, dav_error_response, method_not_allowed
from .paths import SHORT, parse
from .xmlio import MAX_BODY, parse_propfind

_PREFIXES = ("/remote.php/", "/ocs/")
_EXACT = ("/status.php", "/remote.php", SHORT)


def is_dav(path: str) -> bool:
    """Whether ``path`` (decoded) belongs to the WebDAV mount."""
    return path.startswith(_PREFIXES) or path in _EXACT or path.startswith(SHORT + "/")


def instance_id(server_id: str) -> str:
    """The short server id that ends every ``oc:id`` (ownCloud's ``instanceid`` form: ``oc`` + 10)."""
    return "oc" + ("".join(c for c in server_id.lower() if c.isalnum()) + "0" * 10)[:10]


class DavApp:
    """The ASGI app of the mount over ``store``, authenticating with ``auth`` (app passwords are its
    device tokens; account passwords unless ``account_passwords`` is false)."""

    def __init__(self, store: Store, auth: Authenticator, account_passwords: bool = True,
                 stall_s: float = BODY_STALL_S) -> None:
        self.store = store
        self.basic = BasicAuth(store, auth, account_passwords)
        self.stall_s = stall_s
        self.instance = instance_id(store.server_id)
        self.spools = Spools(spool_root(store.data_dir), store.min_free)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._serve(request)
        except (WireError, DavError) as exc:
            response = self._refusal(request, exc)
        except Exception as exc:
            known = wire_error_of(exc)
            if known is None:
                raise  # a bug: CatchAll logs it and answers 500
            response = self._refusal(request, known)
        await response(scope, receive, send)

    def _refusal(self, request: Request, err: WireError | DavError) -> Response:
        if ocs.is_ocs(request.url.path) and isinstance(err, WireError):
            return ocs.ocs_error(request.url.path, err)
        # X-Requested-With: the web UI's scripts (Sabre and Nextcloud leave out the challenge for them too).
        return dav_error_response(err, head=request.method == "HEAD",
                                  challenge=request.headers.get("x-requested-with") != "XMLHttpRequest")

    async def _caller(self, request: Request) -> Caller:
        address = request.client.host if request.client is not None else ""
        return await run_in_threadpool(self.basic.caller, request.headers.get("authorization"), address)

    async def _serve(self, request: Request) -> Response:
        path = request.url.path
        if ocs.is_ocs(path):
            if not ocs.needs_caller(path):
                return ocs.answer(request, None, None)
            caller = await self._caller(request)
            quota = await run_in_threadpool(self._quota, caller)
            return ocs.answer(request, caller, quota)
        if request.method == "OPTIONS":
            return read.options()
        caller = await self._caller(request)
        raw = bytes(request.scope.get("raw_path") or path.encode("utf-8")).decode("latin-1").partition("?")[0]
        if uploads.is_upload(raw):
            return await uploads.serve(request, self.store, self.spools, caller, raw, self.instance, self.stall_s)
        target = parse(raw, caller.user)
        method = request.method
        if method == "PROPFIND":
            depth = read.depth_of(request.headers.get("depth"))
            asked = parse_propfind(await read_body(request, MAX_BODY, self.stall_s))
            answers = await run_in_threadpool(read.propfind_answers, self.store, caller, target, depth, asked,
                                              self.instance)
            return read.propfind_response(answers)
        if method in ("GET", "HEAD"):
            return await read.get(request, self.store, caller, target, self.instance)
        if method == "PUT":
            return await write.put(request, self.store, caller, target, self.instance, self.stall_s)
        if method == "MKCOL":
            return await write.mkcol(request, self.store, caller, target, self.stall_s)
        if method == "DELETE":
            return await write.delete(request, self.store, caller, target)
        if method in ("COPY", "MOVE"):
            return await copymove.copy_or_move(request, self.store, caller, target, method == "MOVE")
        if method == "PROPPATCH":
            return await proppatch.proppatch(request, self.store, caller, target, self.stall_s)
        if method == "LOCK":
            return await locks.lock(request, self.store, caller, target, self.stall_s)
        if method == "UNLOCK":
            return await locks.unlock(request, self.store, caller, target)
        raise method_not_allowed(method, read.ALLOW)

    def _quota(self, caller: Caller) -> tuple[int, int | None]:
        user = self.store.users.by_id(caller.device.user_id)
        return self.store.users.used_bytes(caller.device.user_id), user.quota_bytes if user is not None else None


class DavMount:
    """Middleware: a request under the mount's paths goes to ``dav``, any other to the app it wraps."""

    def __init__(self, app: ASGIApp, dav: ASGIApp) -> None:
        self.app = app
        self.dav = dav

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_dav(scope["path"]):
            await self.dav(scope, receive, send)
            return
        await self.app(scope, receive, send)

