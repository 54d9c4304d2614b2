"""PROPPATCH (RFC 4918 9.2): dead properties set and removed in the order the body gives, all or none.

Dead properties are kept as the client wrote them (``store/davprops.py``: each a whole element with its
namespace declarations, markup inside kept). Live properties are protected (``403``, the rest of the
request ``424``), except the modification time, which ownCloud and Nextcloud let clients set:
``{DAV:}lastmodified`` or ``{DAV:}getlastmodified`` with seconds since the epoch or an HTTP date becomes
a ``meta`` item (a new version, so the ETag moves), committed after the dead properties: a bound or a
lock refusing those leaves the mtime as it was. The answer is a ``207`` naming each property with its
status.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from http import HTTPStatus
from xml.etree.ElementTree import Element

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import MAX_INT
from ...formats.wire.ops import Expect, Op, OpEntry, new_op_id
from ..app.access import Caller
from ..app.bodies import read_body
from ..store import Store
from ..store.davprops import DeadProp
from . import conditions
from .conditions import look
from .lockxml import whole
from .paths import DavPath, href
from .props import LIVE
from .write import commit, done_or_raise, writable
from .xmlio import DAV, MAX_BODY, XML_TYPE, Name, element, name_of, parse_body, xml_text

_MTIME = ((DAV, "lastmodified"), (DAV, "getlastmodified"))
_PROTECTED = LIVE | {(DAV, "lockdiscovery"), (DAV, "supportedlock"), (DAV, "creationdate")}


def parse_update(data: bytes) -> list[tuple[str, Element]]:
    """The body's ``set``/``remove`` instructions in document order: ``("set" | "remove", property)``."""
    root = parse_body(data)
    if root is None or name_of(root) != (DAV, "propertyupdate"):
        raise WireError("bad_request", "a PROPPATCH body is a DAV:propertyupdate element", "")
    out: list[tuple[str, Element]] = []
    for action in root:
        kind = name_of(action)
        if kind not in ((DAV, "set"), (DAV, "remove")):
            continue
        for prop in (c for c in action if name_of(c) == (DAV, "prop")):
            out += [(kind[1], p) for p in prop if name_of(p)[1]]
    if not out:
        raise WireError("bad_request", "the PROPPATCH body sets or removes no property", "")
    return out


def _mtime_ns(value: str) -> int:
    text = value.strip()
    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, OverflowError):
        raise WireError("bad_request", f"{clip(text, 40)!r} is not a time", "send seconds or an HTTP date") from None
    if not 0 <= seconds < MAX_INT / 1e9:
        raise WireError("bad_request", f"{clip(text, 40)!r} is out of range", "")
    return round(seconds * 1e9)


async def proppatch(request: Request, store: Store, caller: Caller, target: DavPath, stall_s: float) -> Response:
    """PROPPATCH (see the module's docstring)."""
    update = parse_update(await read_body(request, MAX_BODY, stall_s))
    where = await writable(store, caller, target)
    now = await run_in_threadpool(look, where, target.path)
    if now.item is None:
        raise WireError("not_found", f"nothing at {clip(target.path)}", "")
    tokens = await run_in_threadpool(conditions.check, request, store, caller, target, now)
    changes: list[DeadProp | tuple[str, str]] = []
    mtime: int | None = None
    refused: list[Name] = []
    names: list[Name] = []
    for kind, prop in update:
        name = name_of(prop)
        names.append(name)
        if name in _MTIME and kind == "set" and target.path:
            mtime = _mtime_ns(prop.text or "")
        elif name in _PROTECTED:
            refused.append(name)
        elif kind == "set":
            changes.append(DeadProp(name[0], name[1], whole(prop)))
        else:
            changes.append(name)
    done = href(target.prefix, target.folder, target.path, now.item.row.kind == "dir")
    if refused:
        return _multistatus(done, [(n, 403 if n in refused else 424) for n in names])
    if changes:  # before the mtime: what fails here (a bound, a lock) then leaves the mtime as it was
        try:
            await run_in_threadpool(where.store.dav_proppatch, target.path, changes, caller.device.id, tokens)
        except WireError as err:
            if err.code != "too_large":
                raise
            return _multistatus(done, [(n, 507) for n in names])
    if mtime is not None:
        row = now.item.row
        op = Op(new_op_id(), "meta", target.path, Expect.of(row.entry()), OpEntry(mtime, row.mode))
        [r] = await commit(where, caller, [op], tokens)
        done_or_raise(r, target.path)
    return _multistatus(done, [(n, 200) for n in names])


def _multistatus(at: str, statuses: list[tuple[Name, int]]) -> Response:
    by: dict[int, list[Name]] = {}
    for name, status in statuses:
        by.setdefault(status, []).append(name)
    stats = "".join(f"<d:propstat><d:prop>{''.join(element(n) for n in names)}</d:prop><d:status>HTTP/1.1 "
                    f"{code} {HTTPStatus(code).phrase}</d:status></d:propstat>" for code, names in by.items())
    body = ('<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:"><d:response>'
            f"<d:href>{xml_text(at)}</d:href>{stats}</d:response></d:multistatus>\n")
    return Response(body.encode("utf-8"), 207, media_type=XML_TYPE)

