"""The WebDAV ``If`` header (RFC 4918 section 10.4; ``server/dav/ifheader.py``): the RFC's own examples
parse and evaluate as it says, what does not parse is one ``bad_request``, and any text at all either
parses or is refused so (never another error)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.formats.wire.errors import WireError
from syncline.server.dav.ifheader import Condition, IfList, evaluate, parse_if, submitted

TOKEN = "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2"
OTHER = "urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092"


def test_the_rfc_examples_parse() -> None:
    assert parse_if(f"(<{TOKEN}> [\"I am an ETag\"]) ([\"I am another ETag\"])") == (
        IfList(None, (Condition(False, token=TOKEN), Condition(False, etag='"I am an ETag"'))),
        IfList(None, (Condition(False, etag='"I am another ETag"'),)))
    assert parse_if(f"(Not <{TOKEN}> <{OTHER}>)") == (
        IfList(None, (Condition(True, token=TOKEN), Condition(False, token=OTHER))),)
    assert parse_if(f"(<{TOKEN}>) (Not <DAV:no-lock>)")[1] == IfList(None, (Condition(True, token="DAV:no-lock"),))
    tagged = parse_if(f'<http://www.example.com/specs/> (<{TOKEN}>) </a/b> (["W/x"]) (["x"] <{OTHER}>)')
    assert [lst.resource for lst in tagged] == ["http://www.example.com/specs/", "/a/b", "/a/b"]
    assert parse_if('([W/"weak"])') == (IfList(None, (Condition(False, etag='W/"weak"'),)),)
    assert parse_if(" \t(<a:b>)\t") == (IfList(None, (Condition(False, token="a:b"),)),)
    assert parse_if("(<http://h/a)b>)")[0].conditions[0].token == "http://h/a)b", "a ')' inside a URI"


@pytest.mark.parametrize("header", [
    "", "   ", "()", "(", "(<a:b>", "<a:b>", "<a:b> <c:d> (<e:f>)", "(<a:b>) <c:d> (<e:f>)", "(<>)", "(<a b>)",
    "([x])", '(["x])', '([W/])', "(Not)", "(Notx <a:b>)", "(<a:b>) x", "a", "(" + "<a:b>" * 65 + ")",
    "(<a:b>)" * 65, "(<a:b>)" + " " * 20000, '(["a"b"])', "(<a:\x00>)",
])
def test_what_does_not_parse_is_one_bad_request(header: str) -> None:
    with pytest.raises(WireError) as err:
        parse_if(header)
    assert err.value.code == "bad_request" and "\n" not in str(err.value), header


def _state(etag: str | None, *locks: str) -> object:
    return lambda resource: (etag, frozenset(locks))


@pytest.mark.parametrize(("header", "etag", "locks", "true"), [
    (f"(<{TOKEN}>)", '"e"', (TOKEN,), True),
    (f"(<{TOKEN}>)", '"e"', (OTHER,), False),
    (f"(<{TOKEN}>)", None, (), False),  # a missing resource holds no lock
    (f'(<{TOKEN}> ["e"])', '"e"', (TOKEN,), True),
    (f'(<{TOKEN}> ["f"])', '"e"', (TOKEN,), False),  # every condition of a list
    (f'(<{OTHER}>) (["e"])', '"e"', (), True),  # one list of several
    ("(Not <DAV:no-lock>)", '"e"', (), True),
    ("(Not <DAV:no-lock>)", None, (), True),
    ('(Not ["e"])', '"e"', (), False),
    ('(Not ["e"])', None, (), True),
    ('([W/"e"])', 'W/"e"', (), False),  # weak tags never match: compared strongly
    ('(["e"])', 'W/"e"', (), False),
])
def test_evaluation(header: str, etag: str | None, locks: tuple[str, ...], true: bool) -> None:
    assert evaluate(parse_if(header), _state(etag, *locks)) is true  # type: ignore[arg-type]


def test_tagged_lists_are_about_their_resource_and_every_token_is_submitted() -> None:
    lists = parse_if(f'</a> (<{TOKEN}>) </b> (Not <{OTHER}>)')
    seen: list[str | None] = []

    def state(resource: str | None) -> tuple[str | None, frozenset[str]]:
        seen.append(resource)
        return '"e"', frozenset({TOKEN} if resource == "/a" else {OTHER})

    assert evaluate(lists, state) and seen == ["/a"], "the first list is true: the second is not asked"
    assert submitted(lists) == {TOKEN, OTHER}, "a Not condition's token is submitted too"
    assert submitted(parse_if('(["e"])')) == frozenset()


_uri = st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="<>"), min_size=1,
               max_size=12)
_tag = st.builds(lambda weak, body: ("W/" if weak else "") + f'"{body}"', st.booleans(),
                 st.text(st.characters(min_codepoint=35, max_codepoint=126, blacklist_characters="]"), max_size=8))
_cond = st.one_of(st.builds(lambda n, t: Condition(n, token=t), st.booleans(), _uri),
                  st.builds(lambda n, e: Condition(n, etag=e), st.booleans(), _tag))
_lists = st.lists(st.tuples(st.one_of(st.none(), _uri), st.lists(_cond, min_size=1, max_size=4)), min_size=1,
                  max_size=4)


def _render(lists: list[tuple[str | None, list[Condition]]]) -> str:
    out = []
    for resource, conds in lists:
        inner = " ".join(("Not " if c.negated else "") + (f"<{c.token}>" if c.token else f"[{c.etag}]")
                         for c in conds)
        out.append((f"<{resource}> " if resource else "") + f"({inner})")
    return " ".join(out)


@settings(max_examples=300, deadline=None)
@given(_lists)
def test_what_is_written_parses_back(lists: list[tuple[str | None, list[Condition]]]) -> None:
    tagged = lists[0][0] is not None
    lists = [(r if tagged else None, c) for r, c in lists]  # all tagged or none, as the grammar says
    if tagged:
        lists = [(r or "/x", c) for r, c in lists]
    assert parse_if(_render(lists)) == tuple(IfList(r, tuple(c)) for r, c in lists)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_bad_request(text: str) -> None:
    try:
        parse_if(text)
    except WireError as err:
        assert err.code == "bad_request"
