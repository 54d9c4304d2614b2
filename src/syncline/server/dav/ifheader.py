"""The WebDAV ``If`` request header (RFC 4918 section 10.4): parsed into lists of conditions, and evaluated
against the state of the resources it names. Pure: the caller says what a resource's entity tag and lock
tokens are now.

Grammar (RFC 4918 10.4.2)::

    If = ( 1*No-tag-list | 1*Tagged-list )
    No-tag-list = List
    Tagged-list = Resource-Tag 1*List
    List = "(" 1*Condition ")"
    Condition = ["Not"] ( State-token | "[" entity-tag "]" )
    State-token = Coded-URL                 ; "<" absolute-URI ">"
    Resource-Tag = "<" Simple-ref ">"

The header is true when at least one of its lists is true; a list is true when every condition in it is
(a ``Not`` condition when its inner one is false). A list without a resource tag is about the request's
own resource. A state token is true when it is a lock token of the resource now; an entity tag when it is
the resource's tag now, compared strongly (a weak tag matches nothing). A missing resource has no tag and
no lock. Every state token in the header counts as *submitted* (:func:`submitted`), ``Not`` or not: that
is how a client shows it holds a lock (``If: (Not <DAV:no-lock>)`` is true and submits nothing).

Anything else (a header that does not parse, more lists or conditions than the bounds) is ``400
bad_request``, one line saying where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...formats.wire.errors import WireError, clip

MAX_HEADER = 16 * 1024  # the whole request head is bounded so (protocol section 11)
MAX_LISTS = 64
MAX_CONDITIONS = 64


@dataclass(frozen=True, slots=True)
class Condition:
    """``[Not] <token>`` (``token``) or ``[Not] ["etag"]`` (``etag``, with its quotes and any ``W/``)."""

    negated: bool
    token: str | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class IfList:
    """One parenthesized list, about ``resource`` (a resource tag's reference; None: the request's own)."""

    resource: str | None
    conditions: tuple[Condition, ...]


def _bad(why: str, header: str) -> WireError:
    return WireError("bad_request", f"the If header does not parse: {why}",
                     'see RFC 4918 section 10.4: If: (<opaquelocktoken:...>) or (["etag"])',
                     {"header": clip(header, 200)})


class _Reader:
    """A cursor over the header's text."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self) -> str:
        """The next character that is not a blank ("" at the end)."""
        while self.at < len(self.text) and self.text[self.at] in " \t":
            self.at += 1
        return self.text[self.at] if self.at < len(self.text) else ""

    def enclosed(self, end: str) -> str:
        """What stands between the current character (an opening one) and the next ``end``, both consumed."""
        close = self.text.find(end, self.at + 1)
        if close < 0:
            raise _bad(f"{self.text[self.at]!r} without its {end!r}", self.text)
        inner = self.text[self.at + 1 : close]
        self.at = close + 1
        return inner


def _coded_url(inner: str, header: str) -> str:
    if not inner or any(c in inner for c in " \t<>") or not inner.isprintable():
        raise _bad(f"<{clip(inner, 80)}> is not a URI", header)
    return inner


def _etag(inner: str, header: str) -> str:
    tag = inner.strip(" \t")
    opaque = tag[2:] if tag.startswith("W/") else tag
    if len(opaque) < 2 or opaque[0] != '"' or opaque[-1] != '"' or '"' in opaque[1:-1] or not tag.isprintable():
        raise _bad(f"[{clip(inner, 80)}] is not an entity tag", header)
    return tag


def parse_if(header: str) -> tuple[IfList, ...]:
    """The lists of an ``If`` header, in order. ``WireError`` (``bad_request``) when it does not parse."""
    if len(header) > MAX_HEADER:
        raise _bad(f"longer than {MAX_HEADER} characters", header)
    r = _Reader(header)
    lists: list[IfList] = []
    tagged: bool | None = None  # decided by the first list: every list tagged, or none
    resource: str | None = None
    while (c := r.peek()) != "":
        if c == "<":  # a resource tag: the lists after it are about that resource
            if tagged is False:
                raise _bad("a resource tag after an untagged list", header)
            tagged, resource = True, _coded_url(r.enclosed(">"), header)
            if r.peek() != "(":
                raise _bad("a resource tag without a list", header)
            continue
        if c != "(":
            raise _bad(f"{c!r} where a list '(' was expected", header)
        tagged = bool(tagged)
        r.at += 1
        lists.append(IfList(resource, _conditions(r, header)))
        if len(lists) > MAX_LISTS:
            raise _bad(f"more than {MAX_LISTS} lists", header)
    if not lists:
        raise _bad("no list", header)
    return tuple(lists)


def _conditions(r: _Reader, header: str) -> tuple[Condition, ...]:
    """The conditions of the list the reader is in (after its ``(``), up to and with its ``)``."""
    out: list[Condition] = []
    while (c := r.peek()) != ")":
        negated = r.text.startswith("Not", r.at)
        if negated:
            r.at += 3
            c = r.peek()
        if c == "<":
            out.append(Condition(negated, token=_coded_url(r.enclosed(">"), header)))
        elif c == "[":
            out.append(Condition(negated, etag=_etag(r.enclosed("]"), header)))
        elif c == "":
            raise _bad("a list without its ')'", header)
        else:
            raise _bad(f"{c!r} where a condition was expected", header)
        if len(out) > MAX_CONDITIONS:
            raise _bad(f"more than {MAX_CONDITIONS} conditions in a list", header)
    r.at += 1
    if not out:
        raise _bad("an empty list ()", header)
    return tuple(out)


def submitted(lists: tuple[IfList, ...]) -> frozenset[str]:
    """Every state token the header names: the lock tokens the client says it holds."""
    return frozenset(c.token for lst in lists for c in lst.conditions if c.token is not None)


State = Callable[[str | None], tuple[str | None, frozenset[str]]]


def evaluate(lists: tuple[IfList, ...], state: State) -> bool:
    """Whether the header is true: ``state(resource)`` gives a resource's entity tag (None: no such
    resource) and its lock tokens now; ``resource`` None is the request's own."""
    for lst in lists:
        etag, locks = state(lst.resource)
        if all(_true(c, etag, locks) != c.negated for c in lst.conditions):
            return True
    return False


def _true(c: Condition, etag: str | None, locks: frozenset[str]) -> bool:
    if c.token is not None:
        return c.token in locks
    return etag is not None and c.etag == etag and not etag.startswith("W/")
