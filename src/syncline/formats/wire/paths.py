"""The checks of protocol.md section 4 on every path, symlink target and name that crosses the wire.

Each check returns its input unchanged (names are kept byte-exact: never normalised) or raises
:class:`~.errors.WireError` with one code (``bad_path`` for paths and targets, ``bad_request`` for folder
names and meta keys), naming the offending value clipped. A non-``str`` is refused the same way, so a
decoder can hand any JSON value straight in.
"""

from __future__ import annotations

import re

import blake3

from .errors import WireError, clip
from .limits import FOLDER_NAME_RE, MAX_COMPONENTS, MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_TARGET_BYTES, META_KEY_RE

# syncline's own folder in a root: never a component of a synced path, in any case (on a case-insensitive
# device ``.SyncLine`` would land in it).
META_NAME = ".syncline"
_HINT = "rename it to sync it through a server"


def _bad(path: object, why: str) -> WireError:
    shown = clip(path) if isinstance(path, str) else type(path).__name__
    return WireError("bad_path", f"invalid path {shown!r}: {why}", _HINT, {"path": shown, "why": why})


def _utf8(text: str, what: object) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Python's escape for a byte that is not UTF-8
        raise _bad(what, "not valid UTF-8 (only UTF-8 names are synced through a server)") from None


def check_wire_path(path: object, root_ok: bool = False) -> str:
    """``path`` if it is a valid wire path (section 4), else ``WireError("bad_path")``.

    Valid: a ``str`` of Unicode scalar values (no lone surrogate), ``/``-separated, relative, no empty,
    ``.`` or ``..`` component, no NUL, at most 4096 bytes of UTF-8, each component at most 255 bytes, at
    most 256 components, and no component equal to ``.syncline`` ignoring case. ``""`` (the root) only
    with ``root_ok``.
    """
    if not isinstance(path, str):
        raise _bad(path, "not a string")
    if path == "":
        if root_ok:
            return path
        raise _bad(path, "empty")
    raw = _utf8(path, path)
    if len(raw) > MAX_PATH_BYTES:
        raise _bad(path, f"longer than {MAX_PATH_BYTES} bytes")
    if b"\0" in raw:
        raise _bad(path, "holds a NUL")
    parts = path.split("/")
    if len(parts) > MAX_COMPONENTS:
        raise _bad(path, f"more than {MAX_COMPONENTS} components")
    for part in parts:
        if part in ("", ".", ".."):
            raise _bad(path, "empty, '.' or '..' component, or a leading or trailing '/'")
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise _bad(path, f"a component longer than {MAX_NAME_BYTES} bytes")
        if part.casefold() == META_NAME:
            raise _bad(path, f"{META_NAME!r} is syncline's own folder")
    return path


def check_target(target: object) -> str:
    """``target`` if it is a valid symlink target (section 4: text, never resolved by the server), else
    ``WireError("bad_path")``: not empty, valid UTF-8, no NUL, at most 4096 bytes."""
    if not isinstance(target, str):
        raise _bad(target, "a symlink target that is not a string")
    raw = _utf8(target, target)
    if not raw or len(raw) > MAX_TARGET_BYTES or b"\0" in raw:
        raise _bad(target, f"a symlink target must be 1 to {MAX_TARGET_BYTES} bytes without NUL")
    return target


def check_folder_name(name: object) -> str:
    """``name`` if it is a valid folder name (``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``), else
    ``WireError("bad_request")``."""
    if isinstance(name, str) and FOLDER_NAME_RE.fullmatch(name):
        return name
    shown = clip(name) if isinstance(name, str) else type(name).__name__
    raise WireError("bad_request", f"invalid folder name {shown!r}",
                    "a folder name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                    {"name": shown})


def check_meta_key(key: object) -> str:
    """``key`` if it is a valid meta key (``[a-z0-9-]{1,64}``), else ``WireError("bad_request")``."""
    if isinstance(key, str) and META_KEY_RE.fullmatch(key):
        return key
    shown = clip(key) if isinstance(key, str) else type(key).__name__
    raise WireError("bad_request", f"invalid meta key {shown!r}", "a meta key is 1-64 of a-z, 0-9 and '-'",
                    {"key": shown})


# A meta text's entity tag (protocol section 8): its BLAKE3 cut to 128 bits, so a client computes the tag of
# the text it expects without reading it first.
META_ETAG_RE = re.compile(r'"b3-[0-9a-f]{32}"')


def meta_etag(text: str) -> str:
    """The ``ETag`` of the meta text ``text``: ``"b3-<first 32 hex of BLAKE3(UTF-8 of text)>"``."""
    return f'"b3-{blake3.blake3(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]}"'
