"""The web UI's page and files: ``GET /`` (the page) and ``GET /ui/assets/NAME`` (its CSS, scripts, icons).

Nothing here reads or writes a user's files: the page calls the native API (``/v1/``) and WebDAV like any
client, so rights, locks, quotas and versions apply to it unchanged. The files come from
:mod:`syncline.webui`, read once when the app is made; each answer carries the page's security headers
(no inline script, nothing from elsewhere, never framed), a strong ETag and ``Cache-Control: no-cache`` (the
browser asks again each time and gets ``304`` for what it holds, so an upgraded server is seen at once).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.errors import WireError
from ...webui import SECURITY_HEADERS, Asset, load_assets
from .errors import error_response
from .routes_content import download

# Pictures a browser may show in the page (a preview); never SVG or HTML, which can carry script.
_PICTURES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}

_ASSETS: dict[str, Asset] = load_assets()


def _serve(request: Request, asset: Asset) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if asset.etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "").lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, media_type=asset.content_type, headers=headers)


async def page(request: Request) -> Response:
    """The one page of the UI; the script in it shows the login form or the user's folders."""
    return _serve(request, _ASSETS["index.html"])


async def asset(request: Request) -> Response:
    found = _ASSETS.get(request.path_params["name"])
    if found is None or found.name == "index.html":
        return error_response(WireError("not_found", "no such file of the web UI", "reload the page"))
    return _serve(request, found)


async def file(request: Request) -> Response:
    """A file of a folder for the browser: the native download (``path``, ``version``, ``trash_id``,
    ``Range``: the same rights and answers) saved as a file, never shown as a page of this site. With
    ``inline=1`` a JPEG, PNG, GIF or WebP picture is shown as one; anything else is still an attachment.
    Either way a sandbox policy keeps a file's own script, if any, from running as the user."""
    answer = await download(request)
    if answer.status_code not in (200, 206):
        return answer
    name = request.query_params.get("path", "").rsplit("/", 1)[-1] or "download"
    picture = _PICTURES.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None
    inline = picture is not None and request.query_params.get("inline") == "1"
    answer.headers["Content-Disposition"] = (f"{'inline' if inline else 'attachment'}; "
                                             f"filename*=UTF-8''{quote(name, safe='')}")
    if inline and picture is not None:
        answer.headers["Content-Type"] = picture
    answer.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-cache"
    return answer


ROUTES = [
    Route("/", page, methods=["GET", "HEAD"]),
    Route("/ui/assets/{name:path}", asset, methods=["GET", "HEAD"]),
    Route("/ui/folders/{name}/file", file, methods=["GET"]),
]
