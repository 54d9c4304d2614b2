"""What the ownCloud and Nextcloud clients ask before WebDAV (docs/webdav-plan.md section 1):
``/status.php``, ``/ocs/v{1,2}.php/cloud/capabilities`` and ``/ocs/v{1,2}.php/cloud/user``.

``status.php`` needs no auth (the GUI clients, rclone and file managers probe it to tell a server is
there); the capabilities need none either (they say what the server speaks, nothing about anyone);
``cloud/user`` needs Basic auth and names the caller. OCS answers are always JSON (the clients ask
``format=json``) in the envelope ``{"ocs": {"meta": {...}, "data": ...}}``, ``statuscode`` 100 under
``v1.php`` and 200 under ``v2.php``.

The capabilities are exactly the plan's table: chunking NG (``dav.chunking`` ``1.0``), big file
chunking, SHA1 checksums, conflict uploads, ``.syncline`` black-listed, a 60 s poll interval. Not
announced, because not served: TUS, bulk upload, ``files_lock``, end-to-end encryption, notify_push,
sharing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...formats.wire.errors import WireError
from ...formats.wire.paths import META_NAME
from ..app.access import Caller

VERSION = "10.11.0.0"
VERSION_STRING = "10.11.0"
STATUS: dict[str, Any] = {"installed": True, "maintenance": False, "needsDbUpgrade": False, "version": VERSION,
                          "versionstring": VERSION_STRING, "edition": "Community", "productname": "syncline",
                          "extendedSupport": False}
CAPABILITIES: dict[str, Any] = {
    "core": {"pollinterval": 60000, "webdav-root": "remote.php/webdav", "status": STATUS},
    "dav": {"chunking": "1.0"},
    "files": {"bigfilechunking": True, "blacklisted_files": [META_NAME]},
    "checksums": {"supportedTypes": ["SHA1"], "preferredUploadType": "SHA1"},
    "uploadConflictFiles": True,
}
_PATHS = ("/ocs/v1.php/cloud/", "/ocs/v2.php/cloud/")


def is_ocs(path: str) -> bool:
    """Whether ``path`` is one this module answers."""
    return path == "/status.php" or path.startswith("/ocs/")


def envelope(data: Any, v2: bool, status: int = 200, message: str = "OK",
             headers: dict[str, str] | None = None) -> Response:
    ok = status == 200
    code = (200 if v2 else 100) if ok else (status if v2 else 997 if status == 401 else 998)
    meta = {"status": "ok" if ok else "failure", "statuscode": code, "message": message}
    extra = dict(headers or {})
    if status == 401:
        extra["WWW-Authenticate"] = 'Basic realm="syncline"'
    return JSONResponse({"ocs": {"meta": meta, "data": data}}, status, headers=extra)


def needs_caller(path: str) -> bool:
    """Whether the OCS ``path`` needs an authenticated caller (``cloud/user`` only)."""
    return path.endswith("/cloud/user")


def answer(request: Request, caller: Caller | None, quota: tuple[int, int | None] | None) -> Response:
    """The answer for an OCS or status path; ``caller`` (None: not authenticated) and ``quota`` ((used,
    limit) bytes of the caller, None when no caller) are what :func:`needs_caller` paths use."""
    path = request.url.path
    if path == "/status.php":
        return JSONResponse(STATUS)
    v2 = path.startswith("/ocs/v2.php/")
    if not path.startswith(_PATHS):
        return envelope([], v2, 404, "no such OCS endpoint")
    if request.method not in ("GET", "HEAD"):
        return envelope([], v2, 405, "only GET")
    what = path.rpartition("/cloud/")[2].rstrip("/")
    if what == "capabilities":
        return envelope({"version": {"major": 10, "minor": 11, "micro": 0, "string": VERSION_STRING,
                                     "edition": "Community"}, "capabilities": CAPABILITIES}, v2)
    if what == "user":
        if caller is None or quota is None:
            return envelope([], v2, 401, "not logged in")
        used, limit = quota
        free = -3 if limit is None else max(limit - used, 0)  # -3: unlimited, as ownCloud says it
        return envelope({"id": caller.user, "display-name": caller.user, "displayname": caller.user,
                         "email": None, "quota": {"used": used, "free": free, "total": -3 if limit is None else limit,
                                                  "relative": 0 if not limit else round(100 * used / limit, 2)}}, v2)
    return envelope([], v2, 404, "no such OCS endpoint")


def ocs_error(path: str, err: WireError) -> Response:
    """An auth failure on an OCS path, in the envelope (401 with ``WWW-Authenticate``, 429 with
    ``Retry-After``)."""
    retry = {"Retry-After": str(max(1, int(err.details.get("retry_after", 1))))} if err.code == "rate_limited" else None
    return envelope([], path.startswith("/ocs/v2.php/"), err.status, err.message, retry)
