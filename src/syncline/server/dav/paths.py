"""URLs of the WebDAV namespace to (folder name, path in the folder), and back to hrefs.

Three prefixes serve one namespace, the caller's: ``/remote.php/webdav/`` (ownCloud's old path),
``/remote.php/dav/files/USER/`` (the new one, which the clients switch to when ``dav.chunking`` is
announced) and ``/dav/``. Below a prefix, the first segment is a folder name as the caller names it
(their own folders and accepted shares), the rest a path in that folder.

Contract of :func:`parse`: it reads the **raw** path (``scope["raw_path"]``, before any decoding, its bytes
read as latin-1 as HTTP headers are), splits it on ``/``, then percent-decodes each segment as UTF-8, so
an encoded ``/`` (``%2F``) inside a segment is refused (``400 bad_path``), never taken for a separator.
Empty segments (``//``, a trailing ``/``) are dropped. The folder name passes ``check_folder_name`` and
the rest ``check_wire_path`` (``..``, ``.``, NUL, ``.syncline`` in any case, over-long: ``400``).
``USER`` in the new path must be the caller, else ``404`` (another user's files do not exist for the
caller). A URL under none of the prefixes is ``404``.

:func:`destination` reads a ``Destination`` header: a full URL whose host is the request's (another
host: ``502``, RFC 4918 9.9.4), or a path alone; its path parsed as above, under a prefix of the same
user. :func:`href` is the inverse of :func:`parse`, per segment percent-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import MAX_PATH_BYTES
from ...formats.wire.paths import check_folder_name, check_wire_path
from .errors import DavError

OLD = "/remote.php/webdav"
FILES = "/remote.php/dav/files/"
SHORT = "/dav"
MAX_URL = MAX_PATH_BYTES * 3 + 512  # every byte of a path percent-encoded, plus a prefix and a folder name
_SAFE = "-._~!$&'()*+,;=:@"  # sub-delims and pchar punctuation: kept as they are, as SabreDAV does


@dataclass(frozen=True, slots=True)
class DavPath:
    """A resolved URL: ``prefix`` (what the hrefs of the answer start with, ending in ``/``), ``folder``
    (None: the namespace root, the list of the caller's folders) and ``path`` in it (``""``: its root)."""

    prefix: str
    folder: str | None
    path: str

    @property
    def is_namespace(self) -> bool:
        return self.folder is None


def _not_found(shown: str) -> WireError:
    return WireError("not_found", f"nothing at {clip(shown)}", "check the URL: the WebDAV root is "
                     "/remote.php/webdav/ or /remote.php/dav/files/USER/")


def _bad_path(shown: str, why: str) -> WireError:
    return WireError("bad_path", f"invalid path {clip(shown)!r}: {why}", "rename it to sync it through a server",
                     {"path": clip(shown), "why": why})


def _decoded(raw: str) -> bytes:
    """The bytes a raw URL piece percent-encodes: read as latin-1 (what the wire gave), or as UTF-8 for
    text that never was bytes (a caller's string)."""
    try:
        data = raw.encode("latin-1")
    except UnicodeEncodeError:
        data = raw.encode("utf-8", "surrogatepass")
    return unquote_to_bytes(data)


def split_prefix(raw: str, user: str) -> tuple[str, str] | None:
    """``(prefix, rest)`` of a raw URL path under one of the namespace prefixes (``rest`` still encoded),
    None when under none. ``user`` is the caller: under ``/remote.php/dav/files/OTHER/``, ``not_found``."""
    for base in (OLD, SHORT):
        if raw == base or raw.startswith(base + "/"):
            return base + "/", raw[len(base) :]
    if raw.startswith(FILES):
        named, _, rest = raw[len(FILES) :].partition("/")
        if _decoded(named) != user.encode("utf-8"):
            raise _not_found(raw)
        return FILES + named + "/", "/" + rest
    return None


def _segments(rest: str) -> list[str]:
    out = []
    for raw in rest.split("/"):
        if not raw:
            continue
        data = _decoded(raw)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_path(raw, "not valid UTF-8 (only UTF-8 names are synced through a server)") from None
        if "/" in text:
            raise _bad_path(raw, "an encoded '/' inside a name")
        out.append(text)
    return out


def parse(raw: str, user: str) -> DavPath:
    """The :class:`DavPath` of the raw URL path ``raw`` for the caller ``user`` (see the module's contract)."""
    if len(raw) > MAX_URL:
        raise WireError("too_large", "the URL is too long", "use shorter names", {"limit": MAX_URL})
    found = split_prefix(raw, user)
    if found is None:
        raise _not_found(raw)
    prefix, rest = found
    parts = _segments(rest)
    if not parts:
        return DavPath(prefix, None, "")
    folder = check_folder_name(parts[0])
    path = "/".join(parts[1:])
    return DavPath(prefix, folder, check_wire_path(path, root_ok=True))


def destination(header: str, host: str | None, user: str) -> DavPath:
    """The :class:`DavPath` a ``Destination`` header names (see the module's contract)."""
    header = header.strip()
    if not header or len(header) > MAX_URL:
        raise WireError("bad_request", "a Destination header is a URL or a path on this server", "")
    if header.startswith("/"):
        path = header
    else:
        try:
            parts = urlsplit(header)
        except ValueError:
            raise WireError("bad_request", f"cannot read the Destination {clip(header)!r}", "") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WireError("bad_request", f"cannot read the Destination {clip(header)!r}", "")
        if host is None or parts.netloc.rpartition("@")[2].lower() != host.strip().lower():
            raise DavError(502, "BadGateway", "the Destination is on another server")
        path = parts.path or "/"
    return parse(path.partition("?")[0], user)


def href(prefix: str, folder: str | None, path: str = "", collection: bool = False) -> str:
    """The href of a resource: ``prefix`` then each segment percent-encoded; a collection ends in ``/``."""
    segments = [folder, *path.split("/")] if folder is not None and path else [folder] if folder else []
    text = prefix + "/".join(quote(s, safe=_SAFE) for s in segments)
    if collection and segments:
        text += "/"
    return text
