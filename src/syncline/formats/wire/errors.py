"""The wire's one error shape (protocol.md section 12): :class:`WireError`, the table :data:`CODES`, and
:func:`error_body` / :func:`error_of_body` to write and read it.

A code names what happened; the table gives its HTTP status, the replica error family a client maps it to
(by name: ``formats`` knows no replica) and whether trying again later may succeed. A client maps by code;
the status is only the fallback for a code it does not know (a newer server's). Every text that goes into
an answer is bounded (:func:`clip`), so a hostile 4 MiB path never becomes a 4 MiB error body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ...core.errors import SynclineError

# How much of a client's text (a path, an id) an error message or detail repeats.
CLIP_CHARS = 200


class Code(NamedTuple):
    """One row of the error table: HTTP status, replica error family, retryable."""

    status: int
    family: str
    retryable: bool


CODES: dict[str, Code] = {
    "bad_request": Code(400, "ReplicaError", False),
    "bad_path": Code(400, "ReplicaError", False),
    "bad_pack": Code(400, "ReplicaError", False),
    "truncated": Code(400, "ReplicaError", True),
    "bad_login": Code(401, "Denied", False),
    "unauthenticated": Code(401, "Denied", False),
    "forbidden": Code(403, "Denied", False),
    "read_only": Code(403, "ReadOnly", True),
    "share_revoked": Code(403, "Denied", False),  # protocol 1.1: the folder's owner took the share back
    "not_found": Code(404, "NotFound", True),
    "timeout": Code(408, "Unreachable", True),
    "exists": Code(409, "ReplicaError", False),
    # protocol 1.3: a change the server's state forbids (disabling oneself, the last administrator)
    "conflict": Code(409, "ReplicaError", False),
    "op_reused": Code(409, "ReplicaError", False),
    "changed": Code(409, "Changed", True),  # 412 on a download with version= or If-Match
    "not_a_dir": Code(409, "Changed", True),
    "name_clash": Code(409, "ReplicaError", False),
    "missing_chunks": Code(409, "Changed", True),
    "history_gone": Code(410, "ReplicaError", True),  # the client handles it itself: a full listing
    "too_large": Code(413, "ReplicaError", False),
    "bad_range": Code(416, "ReplicaError", False),
    "bad_chunk": Code(422, "ReplicaError", False),
    "bad_content": Code(422, "ReplicaError", False),
    # The version lost a chunk on the server (``server check --repair``): a download of it can give no whole
    # file. Not retryable: only a device uploading the chunk again heals it (the hourly run tries again).
    "damaged": Code(422, "ReplicaError", False),
    "locked": Code(423, "Locked", True),
    "upgrade_required": Code(426, "ReplicaError", False),
    "rate_limited": Code(429, "RateLimited", True),
    "internal": Code(500, "ReplicaError", True),
    # Never sent by a server: what a client raises for a server answer it cannot read (a hostile or broken
    # server, a mangling proxy). Its status is only for completeness of the table.
    "bad_response": Code(502, "ReplicaError", False),
    "unavailable": Code(503, "Unreachable", True),
    "no_space": Code(507, "NoSpace", True),
    "over_quota": Code(507, "NoSpace", True),  # protocol 1.1; a 1.0 client reads it by its status
}

# The family for a code this version does not know, by HTTP status class (the fallback of section 12).
_STATUS_FAMILY = {401: "Denied", 403: "Denied", 404: "NotFound", 408: "Unreachable", 409: "Changed",
                  412: "Changed", 423: "Locked", 429: "RateLimited", 502: "Unreachable", 503: "Unreachable",
                  504: "Unreachable", 507: "NoSpace"}


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """``text`` as printable, valid UTF-8 of at most about ``limit`` characters: lone surrogates and
    control characters escaped (they are what a hostile or non-UTF-8 name holds), the middle cut."""
    if len(text) > limit:
        text = f"{text[:limit // 2]}...{text[-(limit // 2):]}"
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in safe)


class WireError(SynclineError):
    """An error with a protocol code: raised by the server's checks (turned into the error body at the
    edge), by a client for a server's error body (:func:`error_of_body`), and per item of an ``ops`` batch.

    ``code`` must be in :data:`CODES` (``ValueError`` otherwise: a bug, not a request's fault); ``details``
    is per code (``path``, ``limit``, ``missing``, ``horizon``, ...) and must be JSON-serialisable.
    ``retryable`` and ``status`` come from the table.
    """

    def __init__(self, code: str, message: str, hint: str = "", details: Mapping[str, Any] | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"unknown wire error code {code!r}")
        super().__init__(message, hint)
        self.code = code
        self.details: dict[str, Any] = dict(details or {})

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return CODES[self.code].retryable

    @property
    def status(self) -> int:
        return CODES[self.code].status

    @property
    def family(self) -> str:
        return CODES[self.code].family

    def __repr__(self) -> str:
        return f"WireError({self.code!r}, {self.message!r}, {self.hint!r}, {self.details!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, WireError) and (self.code, self.message, self.hint, self.details)
                == (other.code, other.message, other.hint, other.details))

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.hint))


def error_body(err: WireError) -> dict[str, Any]:
    """The JSON object of section 12 for ``err``: ``{"error": {code, message, hint, retryable, details}}``."""
    return {"error": {"code": err.code, "message": err.message, "hint": err.hint, "retryable": err.retryable,
                      "details": err.details}}


def family_of(code: str, status: int) -> str:
    """The replica error family for ``code``, falling back on ``status`` for a code this version does not
    know (``ReplicaError`` when neither tells)."""
    known = CODES.get(code)
    if known is not None:
        return known.family
    return _STATUS_FAMILY.get(status, "ReplicaError")


def error_of_body(body: object, status: int = 0) -> WireError:
    """The :class:`WireError` an error body describes (a client reading a server's answer, or one item's
    ``error``). Never raises: a body that is not the section 12 shape, or that names a code this version
    does not know, gives ``bad_response`` with the status and whatever text there was, clipped, and the
    unknown code in ``details["code"]`` (map it with :func:`family_of`)."""
    inner = body.get("error") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return WireError("bad_response", f"the server answered {status or 'something'} without an error body",
                         "check the server address and its version", {"status": status})
    code, message, hint = inner.get("code"), inner.get("message"), inner.get("hint")
    details = inner.get("details")
    message = clip(message, 1000) if isinstance(message, str) else ""
    hint = clip(hint, 1000) if isinstance(hint, str) else ""
    details = details if isinstance(details, dict) else {}
    if isinstance(code, str) and code in CODES:
        return WireError(code, message or code, hint, details)
    shown = clip(code, 64) if isinstance(code, str) else ""
    return WireError("bad_response", message or f"the server answered {status} {shown}".rstrip(), hint,
                     {**details, "code": shown, "status": status})
