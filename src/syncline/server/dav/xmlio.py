"""XML in and out of the WebDAV edge: bounded, safe parsing of request bodies, and the multistatus writer.

**In.** A body is at most :data:`MAX_BODY` (1 MiB; more is ``413``), parsed with defusedxml: a DOCTYPE,
an entity declaration or an external reference is refused (``400``), so no entity expansion, no file or
network read. The tree is then bounded: at most :data:`MAX_DEPTH` levels and :data:`MAX_ELEMENTS`
elements (``400``). :func:`parse_propfind` reads a PROPFIND body into a :class:`Propfind`; an empty body is
``allprop`` (RFC 4918 9.1).

**Out.** :func:`multistatus` yields a ``207`` body piece by piece, one ``<d:response>`` per resource, with
the prefixes the desktop clients expect (``d`` DAV:, ``oc`` ownCloud, ``nc`` Nextcloud, ``s`` Sabre);
a property of another namespace declares its own, but the XML namespace's (``xml``, which no document
may bind to another prefix). The answer's Content-Type is :data:`XML_TYPE`, which
the clients require literally ("PROPFIND reply is not XML formatted" otherwise). Text is escaped and
characters XML 1.0 cannot hold (control characters a Linux name may have) become U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ...formats.wire.errors import WireError

XML_TYPE = "application/xml; charset=utf-8"
MAX_BODY = 1 << 20
MAX_DEPTH = 32
MAX_ELEMENTS = 10_000
MAX_NAMES = 256  # properties one PROPFIND may ask (the desktop clients ask 15)
DAV = "DAV:"
OC = "http://owncloud.org/ns"
NC = "http://nextcloud.org/ns"
SABRE = "http://sabredav.org/ns"
XML_NS = "http://www.w3.org/XML/1998/namespace"  # its prefix is xml, always, never declared to another
PREFIXES = {DAV: "d", OC: "oc", NC: "nc", SABRE: "s", XML_NS: "xml"}
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STATUS = {200: "200 OK", 403: "403 Forbidden", 404: "404 Not Found"}

Name = tuple[str, str]  # (namespace, local name): ("DAV:", "getetag")


@dataclass(frozen=True, slots=True)
class Raw:
    """A property value that is markup already (``<d:collection/>``), written as it is."""

    xml: str


@dataclass(frozen=True, slots=True)
class Whole:
    """A property that is a whole element already, its own tag and namespace declarations included (a
    dead property as PROPPATCH stored it), written as it is."""

    xml: str


Value = str | Raw | Whole | None  # None: the property is there and empty


@dataclass(frozen=True, slots=True)
class Propfind:
    """What a PROPFIND asks: ``allprop`` (with ``include``, extra names), ``propname``, or ``prop`` (``names``)."""

    kind: Literal["allprop", "propname", "prop"]
    names: tuple[Name, ...] = ()
    include: tuple[Name, ...] = field(default=())


def xml_text(text: str) -> str:
    """``text`` escaped for element content, characters XML cannot hold replaced by U+FFFD."""
    return escape(_NOT_XML_CHAR.sub("\ufffd", text))


def _bad(message: str) -> WireError:
    return WireError("bad_request", message, "send a well-formed XML body without a DOCTYPE")


def parse_body(data: bytes) -> Element | None:
    """The root element of a request body (None for an empty one); ``too_large`` past :data:`MAX_BODY`,
    ``bad_request`` for anything that is not bounded, well-formed XML without a DOCTYPE or entities."""
    if len(data) > MAX_BODY:
        raise WireError("too_large", f"an XML body is at most {MAX_BODY} bytes", "send less",
                        {"limit": MAX_BODY})
    if not data.strip():
        return None
    try:
        root: Element = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _bad("the XML body holds a DOCTYPE, an entity or an external reference") from None
    except (ParseError, ValueError, LookupError):  # LookupError: an encoding the declaration names that is none
        raise _bad("the body is not well-formed XML") from None
    _check_bounds(root)
    return root


def _check_bounds(root: Element) -> None:
    count = 0
    todo: list[tuple[Element, int]] = [(root, 1)]
    while todo:
        element, depth = todo.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_ELEMENTS:
            raise _bad(f"the XML body is nested deeper than {MAX_DEPTH} or has more than {MAX_ELEMENTS} elements")
        todo.extend((child, depth + 1) for child in element)


def name_of(element: Element) -> Name:
    """An element's (namespace, local name); the empty namespace is ``""``."""
    tag = element.tag
    if not isinstance(tag, str):  # a comment or processing instruction
        return ("", "")
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def parse_propfind(data: bytes) -> Propfind:
    """A PROPFIND body as a :class:`Propfind`; ``bad_request`` when its root is not ``DAV:propfind`` or it
    names none of ``allprop``, ``propname``, ``prop``."""
    root = parse_body(data)
    if root is None:
        return Propfind("allprop")
    if name_of(root) != (DAV, "propfind"):
        raise _bad("a PROPFIND body is a DAV:propfind element")
    children = {name_of(c)[1]: c for c in root if name_of(c)[0] == DAV}
    if "propname" in children:
        return Propfind("propname")
    if "allprop" in children:
        include = children.get("include")
        return Propfind("allprop", include=_names(include) if include is not None else ())
    if "prop" in children:
        return Propfind("prop", _names(children["prop"]))
    raise _bad("a DAV:propfind holds allprop, propname or prop")


def _names(element: Element) -> tuple[Name, ...]:
    seen: dict[Name, None] = {}
    for child in element:
        name = name_of(child)
        if name[1]:
            seen[name] = None
    if len(seen) > MAX_NAMES:  # each name is answered for every resource listed: bound the answer too
        raise WireError("too_large", f"a PROPFIND asks at most {MAX_NAMES} properties", "ask fewer at once",
                        {"limit": MAX_NAMES})
    return tuple(seen)


def _tag(name: Name) -> tuple[str, str]:
    """The start of an element's tag for ``name`` and the declaration it needs (``""`` when the root's)."""
    ns, local = name
    prefix = PREFIXES.get(ns)
    if prefix is not None:
        return f"{prefix}:{local}", ""
    if not ns:
        return local, ' xmlns=""'
    return f"x:{local}", f" xmlns:x={quoteattr(ns)}"


def element(name: Name, value: Value = None) -> str:
    """One property element: empty, text (escaped), :class:`Raw` markup inside, or a :class:`Whole`."""
    if isinstance(value, Whole):
        return value.xml
    tag, declare = _tag(name)
    if value is None or value == "":
        return f"<{tag}{declare}/>"
    inner = value.xml if isinstance(value, Raw) else xml_text(value)
    return f"<{tag}{declare}>{inner}</{tag}>"


@dataclass(frozen=True, slots=True)
class Answer:
    """One ``<d:response>``: the ``href`` (percent-encoded already) and its properties by status
    (200: name to value; 404 and 403: names only)."""

    href: str
    found: dict[Name, Value]
    missing: tuple[Name, ...] = ()


_HEAD = ('<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" '
         'xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">')


def render(answer: Answer) -> str:
    parts = [f"<d:response><d:href>{xml_text(answer.href)}</d:href>"]
    for status, props in ((200, "".join(element(n, v) for n, v in answer.found.items())),
                          (404, "".join(element(n) for n in answer.missing))):
        if props:
            parts.append(f"<d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 {_STATUS[status]}</d:status>"
                         "</d:propstat>")
    parts.append("</d:response>")
    return "".join(parts)


def multistatus(answers: Iterable[Answer]) -> Iterator[bytes]:
    """The ``207`` body, one piece per response (a few KiB at a time on the wire)."""
    yield _HEAD.encode("utf-8")
    batch: list[str] = []
    for answer in answers:
        batch.append(render(answer))
        if len(batch) >= 64:
            yield "".join(batch).encode("utf-8")
            batch.clear()
    batch.append("</d:multistatus>\n")
    yield "".join(batch).encode("utf-8")
