"""The XML of WebDAV locks (RFC 4918 14.1, 15.8, 15.10): ``activelock`` in ``lockdiscovery`` and a LOCK's
answer, ``supportedlock``, and the request's ``lockinfo`` read into scope and owner."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from xml.etree.ElementTree import Element, tostring

from ...formats.wire.errors import WireError
from ..store.filelocks import EXCLUSIVE, SHARED, FileLock
from .xmlio import DAV, name_of, parse_body, xml_text

MAX_OWNER = 4096  # characters of a lock's <owner> as kept: what clients send is a name or a URL
SUPPORTED = ("<d:lockentry><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype>"
             "</d:lockentry><d:lockentry><d:lockscope><d:shared/></d:lockscope><d:locktype><d:write/>"
             "</d:locktype></d:lockentry>")


@dataclass(frozen=True, slots=True)
class LockInfo:
    """What a LOCK body asks: the scope and the ``<owner>`` element as sent (None: none given)."""

    scope: str
    owner_xml: str | None


def whole(element: Element) -> str:
    """``element`` as standalone XML (its namespace declarations with it, not the text after it)."""
    alone = copy.deepcopy(element)
    alone.tail = None
    return tostring(alone, encoding="unicode")


def parse_lockinfo(data: bytes) -> LockInfo | None:
    """A LOCK body; None for an empty one (a refresh). ``bad_request`` for anything but a ``lockinfo`` of a
    write lock, exclusive or shared; ``too_large`` for an ``<owner>`` past :data:`MAX_OWNER` (it is stored
    with the lock and shown in every ``lockdiscovery``)."""
    root = parse_body(data)
    if root is None:
        return None
    if name_of(root) != (DAV, "lockinfo"):
        raise WireError("bad_request", "a LOCK body is a DAV:lockinfo element", "")
    scope, owner, write = None, None, False
    for child in root:
        name = name_of(child)
        if name == (DAV, "lockscope"):
            scopes = [name_of(c) for c in child]
            scope = EXCLUSIVE if (DAV, "exclusive") in scopes else SHARED if (DAV, "shared") in scopes else None
        elif name == (DAV, "locktype"):
            write = (DAV, "write") in [name_of(c) for c in child]
        elif name == (DAV, "owner"):
            owner = whole(child)
            if len(owner) > MAX_OWNER:
                raise WireError("too_large", f"a lock's owner is at most {MAX_OWNER} characters of XML",
                                "name the owner in fewer", {"limit": MAX_OWNER})
    if scope is None or not write:
        raise WireError("bad_request", "a lockinfo asks for a write lock, exclusive or shared", "")
    return LockInfo(scope, owner)


def timeout_of(header: str | None, least: int, most: int) -> int:
    """Seconds a lock is asked for (``Timeout: Second-N, Infinite``: the first one that reads), clamped to
    ``least``..``most``; ``most`` when none is given or ``Infinite``."""
    for part in (header or "").split(","):
        value = part.strip().lower()
        if value == "infinite":
            return most
        if value.startswith("second-") and value[7:].isascii() and value[7:].isdigit() and len(value) < 30:
            return max(least, min(most, int(value[7:])))
    return most


def activelock(lock: FileLock, root_href: str, now_ns: int | None = None) -> str:
    """One ``<d:activelock>`` of ``lock``, whose root is at ``root_href``."""
    now = time.time_ns() if now_ns is None else now_ns
    left = max(0, (lock.expires_ns - now) // 10**9)
    owner = lock.owner_xml or ""
    return (f"<d:activelock><d:locktype><d:write/></d:locktype><d:lockscope><d:{lock.scope}/></d:lockscope>"
            f"<d:depth>{'infinity' if lock.deep else '0'}</d:depth>{owner}<d:timeout>Second-{left}</d:timeout>"
            f"<d:locktoken><d:href>{xml_text(lock.token)}</d:href></d:locktoken>"
            f"<d:lockroot><d:href>{xml_text(root_href)}</d:href></d:lockroot></d:activelock>")


def lock_answer(lock: FileLock, root_href: str) -> bytes:
    """The body of a LOCK's answer: the lock in a ``lockdiscovery``."""
    return ('<?xml version="1.0" encoding="utf-8"?>\n<d:prop xmlns:d="DAV:"><d:lockdiscovery>'
            f"{activelock(lock, root_href)}</d:lockdiscovery></d:prop>\n").encode()
