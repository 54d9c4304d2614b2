"""WebDAV addresses: which typed addresses name a WebDAV collection, their one canonical form, and the
mapping between a tree's relative paths and the URLs (and ``href`` s) on the server.

- ``webdav://host[:port]/path`` is WebDAV over http, ``webdavs://host[:port]/path`` over https;
- ``http(s)://host[:port]/.../remote.php/webdav/...`` and ``.../remote.php/dav/files/USER/...`` (the
  ownCloud and Nextcloud layouts) are WebDAV too, as the desktop clients take them;
- any other ``https://host:port/NAME`` stays a syncline server folder (``address.py`` one level up).

Nothing in an address is taken on trust: user information (``user:pass@``) is refused, since a password
typed there lands in shell histories and process lists (``syncline connect`` keeps it in a 0600 file
instead); so are a query, a fragment, ``.`` and ``..`` segments, empty segments, a NUL and an encoded
``/`` (``%2F``), any of which could make the path the server sees differ from the one the user read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from ....core.errors import UsageError
from ....core.paths import META_DIR

DAV_SCHEMES = {"webdav": "http", "webdavs": "https"}
DEFAULT_PORTS = {"http": 80, "https": 443}
# The ownCloud/Nextcloud dav paths: what follows them is the folder (owncloud/client cmd.cpp).
_OC_PATH = re.compile(r"(^|/)remote\.php/(webdav|dav/files/[^/]+)(/|$)")
FORM = "webdav://host[:port]/path or webdavs://host[:port]/path"


@dataclass(frozen=True, slots=True)
class DavAddress:
    """A WebDAV collection: ``scheme`` (``http``/``https``), ``host`` (lower-cased, IPv6 in brackets),
    ``port`` (written out), and ``path``, its decoded segments (the collection itself: ``()`` is the
    server's root)."""

    scheme: str
    host: str
    port: int
    path: tuple[str, ...]

    @property
    def server(self) -> str:
        """``scheme://host:port``: what credentials are kept under."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def base_path(self) -> str:
        """The collection's URL path, encoded, with a trailing ``/``."""
        return "/" + "".join(quote(s, safe="") + "/" for s in self.path)

    @property
    def base_url(self) -> str:
        return self.server + self.base_path

    def text(self) -> str:
        """The canonical address (``webdavs://host:443/a/b``): what ``address()`` answers, the same every
        run whatever spelling the user typed."""
        if self.oc_layout():
            return self.server + self.base_path.rstrip("/")
        scheme = "webdavs" if self.scheme == "https" else "webdav"
        return f"{scheme}://{self.host}:{self.port}{self.base_path.rstrip('/')}"

    def oc_layout(self) -> bool:
        return _OC_PATH.search("/".join(self.path) + "/") is not None

    def url(self, path: str, folder: bool = False) -> str:
        """The URL of the tree's relative ``path`` ("" the collection), each segment percent-encoded (a
        ``%`` or ``#`` in a name is a name, never an escape), ``/`` at the end of a ``folder``."""
        rel = "/".join(quote(s, safe="", errors="surrogateescape") for s in split_path(path))
        if not rel:
            return self.base_url
        return self.base_url + rel + ("/" if folder else "")

    def relative(self, href: str) -> str | None:
        """The tree's relative path of a multistatus ``href`` (a path, or an absolute URL on this same
        server), or None when it does not name the collection or something below it, or is not a plain
        path (``..``, ``.``, an encoded ``/``, a NUL): such an answer is refused by the caller."""
        try:
            parts = urlsplit(href)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme or parts.netloc:
            if parts.scheme != self.scheme or (parts.hostname or "").lower() != self.host.strip("[]") \
                    or (port or DEFAULT_PORTS[self.scheme]) != self.port:
                return None
        if parts.query or parts.fragment or not parts.path.startswith("/"):
            return None
        segments = parts.path.strip("/").split("/") if parts.path.strip("/") else []
        names = []
        for raw in segments:
            name = unquote(raw, errors="surrogateescape")
            if name in ("", ".", "..") or "/" in name or "\0" in name:
                return None
            names.append(name)
        n = len(self.path)
        if tuple(names[:n]) != self.path:
            return None
        return "/".join(names[n:])


def split_path(path: str) -> list[str]:
    """The segments of a tree's relative path, refused (``ValueError``) when it is not one: absolute,
    empty or ``.``/``..`` segments, a NUL. A tree path never leaves the collection this way."""
    if not path:
        return []
    parts = path.split("/")
    for p in parts:
        if p in ("", ".", "..") or "\0" in p:
            raise ValueError(f"not a path inside the tree: {path!r}")
    return parts


def is_dav(text: str) -> bool:
    """Whether ``text`` is a WebDAV address (before it is checked): a ``webdav(s)://`` one, or an
    ``http(s)://`` one with an ownCloud/Nextcloud dav path."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return False
    scheme = scheme.lower()
    if scheme in DAV_SCHEMES:
        return True
    if scheme in DEFAULT_PORTS:
        path = rest.partition("/")[2].partition("?")[0].partition("#")[0]
        return _OC_PATH.search(unquote(path) + "/") is not None
    return False


def parse_dav(text: str) -> DavAddress:
    """The :class:`DavAddress` of a WebDAV address; :class:`UsageError` for one that is refused (see the
    module), saying how to write it."""
    scheme, _, _ = text.partition("://")
    scheme = scheme.lower()
    real = DAV_SCHEMES.get(scheme, scheme)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"not a WebDAV address: {text} ({exc})", f"write it as {FORM}") from None
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"refusing a user name or password inside the address {_hide(text)}",
                         "leave them out of the address; run `syncline connect ADDRESS --user NAME` once "
                         "(the password is kept in a file only you can read)")
    if real not in DEFAULT_PORTS or not parts.hostname:
        raise UsageError(f"not a WebDAV address: {text}", f"write it as {FORM}")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise UsageError(f"not a WebDAV address: {text} (a query or fragment)", f"write it as {FORM}")
    segments = []
    for raw in parts.path.split("/"):
        if raw == "":
            continue  # a leading, trailing or doubled slash
        if re.search(r"%2f|%00|%5c", raw, re.IGNORECASE):
            raise UsageError(f"refusing an encoded slash, backslash or NUL in {text}",
                             "write the folder's path with plain / between its names")
        try:
            name = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise UsageError(f"refusing {text}: a name in it is not UTF-8", "write the folder's real path") from None
        if name in (".", "..") or "\0" in name:
            raise UsageError(f"refusing . or .. in the address {text}", "write the folder's real path")
        if name == META_DIR:
            raise UsageError(f"refusing {META_DIR} in the address {text}: it is syncline's own folder",
                             "name a folder that is synced")
        segments.append(name)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return DavAddress(real, host, port or DEFAULT_PORTS[real], tuple(segments))


def _hide(text: str) -> str:
    """``text`` with its user information blanked: never echo a password into a terminal or a log."""
    scheme, sep, rest = text.partition("://")
    netloc, slash, tail = rest.partition("/")
    return f"{scheme}{sep}***@{netloc.rpartition('@')[2]}{slash}{tail}" if "@" in netloc else text
