"""Errors at the WebDAV edge: every refusal leaves as a DAV status with a Sabre-style XML body, the shape
ownCloud and Nextcloud answer and their clients show (``<s:message>`` is what a person reads)::

    <?xml version="1.0" encoding="utf-8"?>
    <d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">
      <s:exception>Sabre\\DAV\\Exception\\NotFound</s:exception><s:message>...</s:message>
    </d:error>

Two kinds of refusal reach here: a :class:`~syncline.formats.wire.errors.WireError` from the store or the
checks this package shares with protocol v1 (mapped by code, :data:`_BY_CODE`), and a :class:`DavError`
for what only WebDAV says (``405`` with ``Allow``, ``403`` with a precondition element such as
``<d:propfind-finite-depth/>``, ``502`` for a ``Destination`` on another host). A client mistake is
never a 5xx: only ``internal``, ``unavailable`` and a full disk are, as in protocol v1.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape

from starlette.responses import Response

from ...formats.wire.errors import WireError, clip
from .xmlio import XML_TYPE, xml_text

_SABRE = "Sabre\\DAV\\Exception\\"
_REALM = 'Basic realm="syncline"'

# A wire code's DAV status and Sabre exception class. ``changed`` is 412 here (WebDAV's conditions are
# If-Match and If headers); ``exists`` is 405 (MKCOL on something that is there, RFC 4918 9.3.1).
_BY_CODE: dict[str, tuple[int, str]] = {
    "bad_request": (400, "BadRequest"), "bad_path": (400, "BadRequest"), "bad_pack": (400, "BadRequest"),
    "truncated": (400, "BadRequest"), "bad_login": (401, "NotAuthenticated"),
    "unauthenticated": (401, "NotAuthenticated"), "forbidden": (403, "Forbidden"), "read_only": (403, "Forbidden"),
    "share_revoked": (403, "Forbidden"), "not_found": (404, "NotFound"), "timeout": (408, "BadRequest"),
    "exists": (405, "MethodNotAllowed"), "op_reused": (409, "Conflict"), "changed": (412, "PreconditionFailed"),
    "not_a_dir": (409, "Conflict"), "name_clash": (409, "Conflict"), "missing_chunks": (409, "Conflict"),
    "history_gone": (410, "NotFound"), "too_large": (413, "BadRequest"),
    "bad_range": (416, "RequestedRangeNotSatisfiable"), "bad_chunk": (400, "BadRequest"),
    "bad_content": (400, "BadRequest"), "damaged": (422, "BadRequest"), "locked": (423, "Locked"),
    "upgrade_required": (400, "BadRequest"), "rate_limited": (429, "TooManyRequests"),
    "internal": (500, ""), "bad_response": (502, "BadGateway"), "unavailable": (503, "ServiceUnavailable"),
    "no_space": (507, "InsufficientStorage"), "over_quota": (507, "InsufficientStorage"),
}


class DavError(Exception):
    """A refusal only WebDAV has: ``status``, the Sabre exception's short name, a message, and optionally a
    precondition element of the ``DAV:`` namespace (``"propfind-finite-depth"``) and extra headers."""

    def __init__(self, status: int, exception: str, message: str, condition: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message
        self.condition = condition
        self.headers = dict(headers or {})


def method_not_allowed(method: str, allow: str) -> DavError:
    return DavError(405, "MethodNotAllowed", f"{clip(method, 32)} is not allowed here", headers={"Allow": allow})


def error_body(exception: str, message: str, condition: str | None = None) -> bytes:
    """The XML error document (``exception`` a short Sabre name, or a full one holding a backslash)."""
    name = exception if "\\" in exception else _SABRE + exception if exception else "Sabre\\DAV\\Exception"
    extra = f"<d:{condition}/>" if condition else ""
    return ('<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">'
            f"{extra}<s:exception>{escape(name)}</s:exception><s:message>{xml_text(message)}</s:message>"
            "</d:error>\n").encode()


def dav_status(err: WireError) -> tuple[int, str]:
    """The DAV status and Sabre exception name of a wire error."""
    return _BY_CODE.get(err.code, (err.status, ""))


def dav_error_response(err: WireError | DavError, head: bool = False, challenge: bool = True) -> Response:
    """The answer for ``err``: its status, the XML body (none for ``HEAD``), ``WWW-Authenticate: Basic``
    on a 401 when ``challenge`` (not for a web page's own request: a browser would answer the challenge
    with its own password dialog, over the page), ``Retry-After`` on a 429 or 503."""
    headers: dict[str, str] = {}
    if isinstance(err, DavError):
        status, body = err.status, error_body(err.exception, err.message, err.condition)
        headers.update(err.headers)
    else:
        status, exception = dav_status(err)
        message = err.message if not err.hint else f"{err.message} ({err.hint})"
        body = error_body(exception, message)
        if err.code in ("rate_limited", "unavailable"):
            headers["Retry-After"] = str(max(1, int(err.details.get("retry_after", 1))))
    if status == 401 and challenge:
        headers["WWW-Authenticate"] = _REALM
    if head:
        return Response(b"", status, headers={**headers, "Content-Type": XML_TYPE})
    return Response(body, status, headers=headers, media_type=XML_TYPE)
