"""The browser pages' files, served as they are: HTML, CSS, JavaScript modules and SVG under ``static/``.

There is no build step (no bundler, no npm, nothing fetched from the internet): the files in this package
are what the browser gets, from ``syncline serve`` at ``/`` and from the daemon's settings page. This
module only reads them and knows the headers every page of ours is served with; it imports nothing of
syncline, so both servers can use it.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

# The page runs only its own files: no inline script or style, nothing from another origin, never framed.
# ``img-src blob:`` lets the page show a picture it fetched itself (a preview).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
                           "base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json",
         ".webmanifest": "application/manifest+json", ".png": "image/png", ".ico": "image/x-icon"}
_SMALL = 512  # not worth compressing


@dataclass(frozen=True)
class Asset:
    """One file of the page: its bytes, the same gzipped (None when that would not help), its media type
    and a strong ETag of the bytes."""

    name: str
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def _walk(node: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for child in node.iterdir():
        name = prefix + child.name
        if child.is_dir():
            found.extend(_walk(child, name + "/"))
        elif "." + name.rsplit(".", 1)[-1] in TYPES:
            found.append((name, child))
    return found


def load_assets() -> dict[str, Asset]:
    """Every file under ``static/`` by its relative name (``"js/api.js"``), read once: the servers keep
    the answer for their lifetime, so a request never touches the disk."""
    assets: dict[str, Asset] = {}
    for name, node in _walk(resources.files(__name__) / "static", ""):
        body = node.read_bytes()
        packed = gzip.compress(body, 9, mtime=0) if len(body) > _SMALL else None
        assets[name] = Asset(name, body, packed if packed is not None and len(packed) < len(body) else None,
                             TYPES["." + name.rsplit(".", 1)[-1]],
                             '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return assets
