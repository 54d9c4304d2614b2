"""Web sessions in the browser (issue 16): the session cookie, its CSRF checks, and the middleware that
turns the cookie into the device token every other layer knows.

A web session is a device of kind ``web`` (``Authenticator.web_login``); its token lives only in an
``HttpOnly`` cookie, so the page's script never sees it. :class:`WebSession` sits outside ``DeviceLimit``
in ``make_app``. For a request **without** an ``Authorization`` header, on a path under :data:`PREFIXES`
only (``/v1/``, ``/ui/`` and the WebDAV file trees), carrying the cookie of a live web session:

- ``GET`` and ``HEAD`` get ``Authorization: Bearer <token>`` put into their scope, so ``DeviceLimit``,
  ``access.py`` and the WebDAV layer see a device as always (the WebDAV caller takes Bearer tokens);
- every other method must also carry ``X-Syncline-CSRF`` equal to :func:`csrf_of` the token (what
  ``/ui/login`` and ``/ui/session`` give the page) **and** come from this origin (:func:`same_origin`),
  else it is ``403 forbidden`` and nothing is done. A cross-site page cannot send a custom header without
  a CORS preflight, which this server never grants, nor read the value it would need.

A cookie that is not a live web session's (unknown, revoked, expired, a device's token) adds nothing: the
request goes on as one without credentials (``401``). The cookie is never read on any other path, nor on
``/ui/login`` (which checks the origin itself and takes no caller), and a request with its own
``Authorization`` (a native client) is left as it is.

The cookie is ``__Host-syncline`` with ``Secure`` on a TLS request (the prefix makes the browser refuse
one set without TLS, by another path or for a wider domain) and ``syncline`` on plain HTTP (loopback:
``serve`` refuses plain HTTP elsewhere); each is read only on requests of its own scheme.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ...formats.wire.errors import WireError
from ...formats.wire.limits import MAX_DEVICE_NAME
from ..auth import Identity, is_token, token_hash
from ..store.schema import WEB
from .access import Authenticator
from .errors import error_response

PREFIXES = ("/v1/", "/ui/", "/remote.php/dav/", "/remote.php/webdav/", "/dav/")
_EXACT = ("/remote.php/webdav", "/dav")
LOGIN = "/ui/login"  # takes no caller: a login from a browser still holding a cookie is a login like any
COOKIE_TLS, COOKIE_PLAIN = "__Host-syncline", "syncline"
CSRF_HEADER = "x-syncline-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD"})
_UA_PART = 24  # characters of an unknown browser's name kept in the device name

# (marker in the User-Agent, name), the first match wins: most browsers name several others in theirs.
_BROWSERS = (("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("OPR/", "Opera"), ("Vivaldi/", "Vivaldi"),
             ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
             ("Chromium/", "Chromium"), ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("CrOS", "ChromeOS"),
            ("Windows", "Windows"), ("Macintosh", "macOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"),
            ("FreeBSD", "FreeBSD"))
_PRODUCT_RE = re.compile(r"[A-Za-z][A-Za-z0-9._ -]*")


def cookie_name(tls: bool) -> str:
    """The session cookie's name on a request made with TLS (``tls``) or without."""
    return COOKIE_TLS if tls else COOKIE_PLAIN


def is_tls(scope: Scope) -> bool:
    return scope.get("scheme") in ("https", "wss")


def set_cookie(token: str, tls: bool, max_age_s: float) -> str:
    """The ``Set-Cookie`` value that gives the browser ``token`` for ``max_age_s`` seconds (the session's
    longest life; the server ends it sooner when idle)."""
    secure = "; Secure" if tls else ""
    return f"{cookie_name(tls)}={token}; Max-Age={int(max_age_s)}; Path=/; HttpOnly; SameSite=Lax{secure}"


def clear_cookie(tls: bool) -> str:
    """The ``Set-Cookie`` value that makes the browser forget the session cookie."""
    secure = "; Secure" if tls else ""
    return f"{cookie_name(tls)}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax{secure}"


def cookie_token(scope: Scope) -> str | None:
    """The token in the request's session cookie (the name of its scheme only), or None."""
    value = HTTPConnection(scope).cookies.get(cookie_name(is_tls(scope)))
    return value if is_token(value) else None


def csrf_of(secret: bytes, token: str) -> str:
    """The CSRF value of a session: HMAC-SHA256 under the server's ``secret`` of the token's hash (hex).
    Derived, not stored: nothing to keep in step, and it ends with the token."""
    return hmac.new(secret, token_hash(token).encode("ascii"), hashlib.sha256).hexdigest()


def same_origin(scope: Scope) -> bool:
    """Whether a browser says the request comes from this server's own pages: ``Sec-Fetch-Site:
    same-origin``, or, from a browser that sends no ``Sec-Fetch-Site``, an ``Origin`` equal to this
    request's scheme and ``Host``. Neither header: not same-origin (a browser posting a form sends one)."""
    headers = Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() == "same-origin"
    origin, host = headers.get("origin"), headers.get("host")
    if origin is None or not host:
        return False
    return origin.strip().lower() == f"{scope.get('scheme', 'http')}://{host.strip().lower()}"


def forbidden(why: str) -> WireError:
    return WireError("forbidden", why, "use the server's own web page; reload it if this keeps happening")


def device_name(user_agent: str | None) -> str:
    """``web: <browser> on <system>`` from a ``User-Agent``, for the device list. Known browsers and
    systems by name; anything else by the first product word of the header, printable characters only and
    clipped, so a hostile header puts at most a short plain word into the name."""
    ua = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    if browser is None:
        printable = "".join(c for c in ua if c.isprintable() and c.isascii())
        m = _PRODUCT_RE.match(printable.strip())
        browser = m[0].split("/")[0].strip()[:_UA_PART].strip() if m else ""
        browser = browser or "a browser"
    system = next((name for marker, name in _SYSTEMS if marker in ua), "an unknown system")
    return f"web: {browser} on {system}"[:MAX_DEVICE_NAME]


class WebSession:
    """ASGI middleware: the session cookie becomes ``Authorization: Bearer`` after the checks above.
    ``auth`` finds the session, ``secret`` keys the CSRF values (``Store.web_secret``)."""

    def __init__(self, app: ASGIApp, auth: Authenticator, secret: bytes) -> None:
        self.app = app
        self.auth = auth
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _covered(scope["path"]):
            headers = Headers(scope=scope)
            token = cookie_token(scope) if "authorization" not in headers else None
            if token is not None and await run_in_threadpool(self._session, token) is not None:
                if scope["method"] not in SAFE_METHODS:
                    sent = headers.get(CSRF_HEADER, "")
                    if not hmac.compare_digest(sent.encode("latin-1", "replace"),
                                               csrf_of(self.secret, token).encode("ascii")):
                        await error_response(forbidden("this request lacks the page's CSRF value"))(
                            scope, receive, send)
                        return
                    if not same_origin(scope):
                        await error_response(forbidden("this request did not come from this server's page"))(
                            scope, receive, send)
                        return
                scope = {**scope, "headers": [*scope["headers"], (b"authorization", f"Bearer {token}".encode())]}
        await self.app(scope, receive, send)

    def _session(self, token: str) -> Identity | None:
        try:
            identity = self.auth.device_of(token)
        except WireError:
            return None
        return identity if identity.device.kind == WEB else None


def _covered(path: str) -> bool:
    return (path.startswith(PREFIXES) or path in _EXACT) and path != LOGIN
