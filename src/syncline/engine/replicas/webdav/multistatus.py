"""PROPFIND: the request body we send and the ``207 Multi-Status`` answer, parsed strictly.

We parse it ourselves rather than with ``webdav4.multistatus``: that module parses with the standard
library's ``ElementTree`` (a server's answer is not trusted: no DTDs, no entities, DESIGN 4.9), drops the
``oc:``/``nc:`` properties we need (``oc:fileid``, ``oc:checksums``), asserts on a missing ``href``, and
does not look at each ``propstat``'s status (a property answered ``404`` must not be read as empty).

The parser is :mod:`defusedxml` (DTDs, entities and external references refused), on a body read within
a bound by the caller; every ``href`` must name the collection asked for or its child (Depth 1) on the
same server, else the whole answer is refused.
"""

from __future__ import annotations

import calendar
import email.utils
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

D, OC = "{DAV:}", "{http://owncloud.org/ns}"
MAX_RESPONSES = 1_000_000  # children of one folder

PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/>"
    b"<oc:fileid/><oc:permissions/><oc:checksums/>"
    b"</d:prop></d:propfind>"
)


class BadAnswer(ValueError):
    """An answer the client refuses (not XML, an entity, an ``href`` outside the folder asked for)."""


@dataclass(frozen=True, slots=True)
class Resource:
    """One ``<response>``: its ``href`` as sent, whether it is a collection, and its properties (None
    where the server did not give one)."""

    href: str
    folder: bool
    size: int | None
    mtime_s: int | None
    etag: str | None
    file_id: str | None
    permissions: str | None
    checksums: str | None


def parse_multistatus(body: bytes) -> list[Resource]:
    """The resources of a multistatus body, in order. :class:`BadAnswer` for anything else."""
    root = _parse(body)
    out: list[Resource] = []
    for response in root.iterfind(f"{D}response"):
        if len(out) >= MAX_RESPONSES:
            raise BadAnswer(f"over {MAX_RESPONSES} entries in one folder")
        out.append(_resource(response))
    return out


def was_set(body: bytes, tag: str) -> bool:
    """Whether a ``PROPPATCH`` answer says the property ``tag`` (``{DAV:}lastmodified``) was set: it is in
    a ``propstat`` whose status is 2xx. :class:`BadAnswer` for an answer that is not a safe multistatus."""
    root = _parse(body)
    return any(_ok(ps.findtext(f"{D}status")) and ps.find(f"{D}prop/{tag}") is not None
               for ps in root.iter(f"{D}propstat"))


def _parse(body: bytes) -> Element:
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise BadAnswer(f"the answer is not safe, well-formed XML ({type(exc).__name__})") from None
    if root.tag != f"{D}multistatus":
        raise BadAnswer("the answer is not a multistatus")
    return root  # type: ignore[no-any-return]


def _resource(response: Element) -> Resource:
    href = (response.findtext(f"{D}href") or "").strip()
    if not href:
        raise BadAnswer("a response without an href")
    props: dict[str, Element] = {}
    for propstat in response.iterfind(f"{D}propstat"):
        if not _ok(propstat.findtext(f"{D}status")):
            continue  # the properties the server does not have (404) or refuses (403): not read
        for prop in propstat.iterfind(f"{D}prop"):
            for child in prop:
                props[child.tag] = child
    status = response.findtext(f"{D}status")
    if not props and status is not None and not _ok(status):
        raise BadAnswer(f"the server answered {status.strip()[:60]!r} for {href[:200]}")
    kind = props.get(f"{D}resourcetype")
    folder = kind is not None and kind.find(f"{D}collection") is not None
    return Resource(href, folder, _size(_text(props, f"{D}getcontentlength")),
                    _mtime(_text(props, f"{D}getlastmodified")), _text(props, f"{D}getetag"),
                    _text(props, f"{OC}fileid"), _text(props, f"{OC}permissions"),
                    _checksums(props.get(f"{OC}checksums")))


def _ok(status: str | None) -> bool:
    parts = (status or "").split()
    return len(parts) >= 2 and parts[1].startswith("2")


def _text(props: dict[str, Element], tag: str) -> str | None:
    e = props.get(tag)
    text = (e.text or "").strip() if e is not None else ""
    if len(text) > 4096:
        raise BadAnswer(f"a {tag} of {len(text)} characters")
    return text or None


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 19:
        raise BadAnswer(f"a size that is not a number: {text[:40]!r}")
    return int(text)


def _mtime(text: str | None) -> int | None:
    """Seconds since the epoch of an RFC 1123 date (``getlastmodified``)."""
    if text is None:
        return None
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        raise BadAnswer(f"a date that is not one: {text[:60]!r}")
    return calendar.timegm(parsed[:9]) - (parsed[9] or 0)


def _checksums(e: Element | None) -> str | None:
    if e is None:
        return None
    return " ".join((c.text or "").strip() for c in e.iter(f"{OC}checksum")) or None


def etag_key(etag: str | None) -> str | None:
    """An etag as compared: without ``W/`` and quotes (servers differ on both between PROPFIND and headers)."""
    if etag is None:
        return None
    e = etag.strip()
    if e.startswith("W/"):
        e = e[2:]
    return e.strip('"') or None


def strong(etag: str | None) -> str | None:
    """``etag`` when it may go in an ``If-Match``: a weak one (``W/"..."``, Apache's for a file modified
    in the current second) never matches there (RFC 9110 13.1.1 compares strongly), so the condition is
    left out and the caller's Depth-0 re-check is all there is."""
    return etag if etag and not etag.strip().startswith("W/") else None
