"""Typed, bounded reads of JSON values from the other side, shared by the wire decoders.

Each reader returns the value or raises :class:`~.errors.WireError` with the caller's code (``bad_request``
for what a client sent, ``bad_response`` for what a server answered), naming where the value was. A JSON
``true`` is never an integer here (Python's ``bool`` is an ``int``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import WireError, clip
from .limits import LOCK_ID_RE, MAX_INT, MAX_JSON_BODY, MIN_INT

ID_HEX = 64  # a chunk id or digest: 32 bytes as lowercase hex
_HEX = frozenset("0123456789abcdef")


def bad(code: str, where: str, why: str) -> WireError:
    """The error for a value at ``where`` (``items[3].entry.size``) that is ``why``."""
    hint = ("the client sent something this server cannot read: update syncline" if code == "bad_request"
            else "the server sent something this client cannot read: check its version and address")
    return WireError(code, f"{clip(where)}: {why}", hint, {"where": clip(where)})


def parse_json(body: bytes, code: str = "bad_request", limit: int = MAX_JSON_BODY) -> Any:
    """The JSON value of ``body`` (strict UTF-8, RFC 8259: no NaN or Infinity). Refuses a body over
    ``limit`` bytes with ``too_large`` before parsing, anything unreadable (bad UTF-8, bad JSON, nesting
    too deep, a number too long to convert) with ``code``."""
    if len(body) > limit:
        raise WireError("too_large", f"a JSON body of {len(body)} bytes is over the limit of {limit}",
                        "send less in one request", {"limit": limit})
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(code, "body", f"not JSON ({clip(str(e), 120)})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def dump_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON (what either side sends). Refuses NaN and lone surrogates
    (``ValueError``, ``UnicodeEncodeError``): both are bugs of the sender, never sent."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def obj(value: object, where: str, code: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise bad(code, where, "not an object")
    return value


def lst(value: object, where: str, code: str, limit: int) -> list[Any]:
    """A JSON array of at most ``limit`` items (``too_large`` past it)."""
    if not isinstance(value, list):
        raise bad(code, where, "not an array")
    if len(value) > limit:
        raise WireError("too_large", f"{where}: {len(value)} items, over the limit of {limit}",
                        "send fewer in one request", {"limit": limit, "where": where})
    return value


def integer(value: object, where: str, code: str, lo: int = MIN_INT, hi: int = MAX_INT) -> int:
    if type(value) is not int:
        raise bad(code, where, "not an integer")
    if not lo <= value <= hi:
        raise bad(code, where, f"out of range {lo}..{hi}")
    return value


def opt_integer(value: object, where: str, code: str, lo: int = MIN_INT, hi: int = MAX_INT) -> int | None:
    return None if value is None else integer(value, where, code, lo, hi)


def boolean(value: object, where: str, code: str) -> bool:
    if type(value) is not bool:
        raise bad(code, where, "not true or false")
    return value


def text(value: object, where: str, code: str, limit: int) -> str:
    """A string of at most ``limit`` characters, valid UTF-8 (no lone surrogate)."""
    if not isinstance(value, str):
        raise bad(code, where, "not a string")
    if len(value) > limit:
        raise bad(code, where, f"longer than {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad(code, where, "not valid UTF-8") from None
    return value


def lease_id(value: object, where: str, code: str) -> str:
    """A lease id (protocol section 10): 1-64 characters of ``[A-Za-z0-9_-]``."""
    if not isinstance(value, str) or LOCK_ID_RE.fullmatch(value) is None:
        raise bad(code, where, "not a lock id (1-64 of A-Z a-z 0-9 _ -)")
    return value


def hex_id(value: object, where: str, code: str) -> bytes:
    """A chunk id or digest: exactly 64 lowercase hex characters, as 32 bytes."""
    if not isinstance(value, str) or len(value) != ID_HEX or not _HEX.issuperset(value):
        raise bad(code, where, "not 64 lowercase hex characters")
    return bytes.fromhex(value)
