"""The pure parts of the WebDAV edge (``server/dav/{paths,xmlio,errors}.py``): URL and Destination mapping
against hostile input, bounded and safe XML, the error table. No app, no store."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.formats.wire.errors import CODES, WireError
from syncline.server.dav.errors import DavError, dav_error_response, dav_status, error_body
from syncline.server.dav.paths import DavPath, destination, href, parse
from syncline.server.dav.props import permissions
from syncline.server.dav.read import depth_of, ranges
from syncline.server.dav.xmlio import (
    DAV,
    MAX_DEPTH,
    OC,
    Answer,
    Propfind,
    Raw,
    multistatus,
    parse_body,
    parse_propfind,
)

OLD = "/remote.php/webdav/"
NEW = "/remote.php/dav/files/anna/"


@pytest.mark.parametrize(("raw", "want"), [
    ("/remote.php/webdav", DavPath(OLD, None, "")),
    ("/remote.php/webdav/", DavPath(OLD, None, "")),
    ("/remote.php/webdav/Docs", DavPath(OLD, "Docs", "")),
    ("/remote.php/webdav/Docs/", DavPath(OLD, "Docs", "")),
    ("/remote.php/webdav/Docs/a%20b/c%23%25%26.txt", DavPath(OLD, "Docs", "a b/c#%&.txt")),
    ("/remote.php/webdav/Docs//a///b/", DavPath(OLD, "Docs", "a/b")),
    ("/remote.php/webdav/Docs/%C3%A9%F0%9F%98%80", DavPath(OLD, "Docs", "é😀")),
    ("/remote.php/dav/files/anna/Docs/x", DavPath(NEW, "Docs", "x")),
    ("/remote.php/dav/files/anna", DavPath(NEW, None, "")),
    ("/dav/Docs/x", DavPath("/dav/", "Docs", "x")),
])
def test_urls_map_to_folder_and_path(raw: str, want: DavPath) -> None:
    assert parse(raw, "anna") == want


@pytest.mark.parametrize(("raw", "code"), [
    ("/remote.php/webdav/Docs/a%2Fb", "bad_path"),          # an encoded '/' is never a separator
    ("/remote.php/webdav/Docs/a%2fb", "bad_path"),
    ("/remote.php/webdav/Docs/../other", "bad_path"),
    ("/remote.php/webdav/Docs/%2E%2E/x", "bad_path"),
    ("/remote.php/webdav/Docs/./x", "bad_path"),
    ("/remote.php/webdav/Docs/a%00b", "bad_path"),
    ("/remote.php/webdav/Docs/.syncline/meta", "bad_path"),
    ("/remote.php/webdav/Docs/x/.SyncLine", "bad_path"),
    ("/remote.php/webdav/Docs/%FF%FE", "bad_path"),         # not UTF-8
    ("/remote.php/webdav/..", "bad_request"),               # not a folder name
    ("/remote.php/webdav/%2E%2E/etc", "bad_request"),
    ("/remote.php/webdav/a%2Fb", "bad_path"),
    ("/remote.php/dav/files/bob/Docs", "not_found"),        # another user's namespace does not exist
    ("/remote.php/dav/files/anna%2Fx/Docs", "not_found"),
    ("/remote.php/dav/files/", "not_found"),
    ("/remote.php/webdavx/Docs", "not_found"),
    ("/remote.php/dav/uploads/anna/1", "not_found"),
    ("/remote.php/webdav/Docs/" + "a" * 256, "bad_path"),
    ("/remote.php/webdav/Docs/" + "%41" * 20000, "too_large"),
])
def test_hostile_urls_are_refused(raw: str, code: str) -> None:
    with pytest.raises(WireError) as got:
        parse(raw, "anna")
    assert got.value.code == code


def test_destination_is_a_url_on_this_host_or_a_path() -> None:
    assert destination("http://cloud:8080/remote.php/webdav/Docs/b.txt", "cloud:8080", "anna") == \
        DavPath(OLD, "Docs", "b.txt")
    assert destination("HTTPS://Cloud:8080/dav/Docs/b", "cloud:8080", "anna") == DavPath("/dav/", "Docs", "b")
    assert destination("/remote.php/dav/files/anna/Docs/x%20y", None, "anna") == DavPath(NEW, "Docs", "x y")
    with pytest.raises(DavError) as other:
        destination("http://evil:80/remote.php/webdav/Docs/b", "cloud:8080", "anna")
    assert other.value.status == 502
    for bad, code in [("/remote.php/dav/files/bob/Docs/x", "not_found"), ("ftp://cloud:8080/x", "bad_request"),
                      ("", "bad_request"), ("/remote.php/webdav/Docs/a%2Fb", "bad_path"),
                      ("http://cloud:8080/remote.php/webdav/Docs/../x", "bad_path"), ("x" * 20000, "bad_request")]:
        with pytest.raises(WireError) as got:
            destination(bad, "cloud:8080", "anna")
        assert got.value.code == code, bad


def test_href_is_the_inverse_of_parse() -> None:
    for folder, path, collection in [("Docs", "a b/c#%&?.txt", False), ("Docs", "", True), ("Docs", "é/😀", True),
                                     (None, "", True)]:
        text = href(OLD, folder, path, collection)
        assert "#" not in text and "?" not in text and " " not in text
        assert parse(text, "anna") == DavPath(OLD, folder, path)
        assert text.endswith("/") == collection


def test_xml_refuses_doctype_entities_and_bombs() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b'<d:propfind xmlns:d="DAV:"><d:prop><d:x>&b;</d:x></d:prop></d:propfind>')
    external = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    doctype = b'<!DOCTYPE x><x/>'
    for body in (bomb, external, doctype, b"<x>", b"not xml", b"\xff\xfe<", b"<a:b xmlns:c='x'/>"):
        with pytest.raises(WireError) as got:
            parse_body(body)
        assert got.value.code == "bad_request"
    deep = b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1)
    with pytest.raises(WireError):
        parse_body(deep)
    wide = b"<a>" + b"<b/>" * 20_000 + b"</a>"
    with pytest.raises(WireError):
        parse_body(wide)
    with pytest.raises(WireError) as big:
        parse_body(b"<a>" + b" " * (2 << 20) + b"</a>")
    assert big.value.code == "too_large"


def test_propfind_bodies() -> None:
    assert parse_propfind(b"") == Propfind("allprop")
    assert parse_propfind(b"  \n") == Propfind("allprop")
    body = (b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
            b'<d:prop><d:getetag/><oc:id/><z xmlns=""/><d:getetag/></d:prop></d:propfind>')
    assert parse_propfind(body) == Propfind("prop", ((DAV, "getetag"), (OC, "id"), ("", "z")))
    assert parse_propfind(b'<propfind xmlns="DAV:"><propname/></propfind>').kind == "propname"
    got = parse_propfind(b'<propfind xmlns="DAV:"><allprop/><include><x xmlns="urn:a"/></include></propfind>')
    assert got == Propfind("allprop", include=(("urn:a", "x"),))
    for bad in (b'<d:prop xmlns:d="DAV:"/>', b'<propfind xmlns="urn:x"><prop/></propfind>',
                b'<propfind xmlns="DAV:"><other/></propfind>'):
        with pytest.raises(WireError):
            parse_propfind(bad)


def test_multistatus_escapes_and_declares() -> None:
    found = {(DAV, "getetag"): '"v1"', (DAV, "resourcetype"): Raw("<d:collection/>"),
             (DAV, "displayname"): "x<\x01>", ("urn:z", "p"): "v"}
    answer = Answer("/remote.php/webdav/D/a&b", found, ((OC, "nope"), ("", "bare")))
    text = b"".join(multistatus([answer])).decode()
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:"')
    assert "<d:href>/remote.php/webdav/D/a&amp;b</d:href>" in text
    assert "<d:displayname>x&lt;\ufffd&gt;</d:displayname>" in text
    assert '<x:p xmlns:x="urn:z">v</x:p>' in text and '<bare xmlns=""/>' in text
    assert '<oc:nope/><bare xmlns=""/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status>' in text
    parse_body(text.encode())  # well-formed


def test_every_wire_code_has_a_dav_status_and_client_mistakes_are_never_5xx() -> None:
    server_side = {"internal", "unavailable", "no_space", "over_quota", "bad_response"}
    for code in CODES:
        status, _ = dav_status(WireError(code, "m"))
        assert 400 <= status < 600
        assert (status >= 500) == (code in server_side), code
    response = dav_error_response(WireError("unauthenticated", "who?"))
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Basic realm="syncline"'
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    body = error_body("NotFound", "no <file>")
    assert b"<s:exception>Sabre\\DAV\\Exception\\NotFound</s:exception>" in body
    assert b"<s:message>no &lt;file&gt;</s:message>" in body
    parse_body(body)
    limited = dav_error_response(WireError("rate_limited", "slow down", details={"retry_after": 7}))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"


def test_depth_ranges_and_permissions() -> None:
    assert depth_of(None) == 1 and depth_of("0") == 0 and depth_of(" 1 ") == 1
    with pytest.raises(DavError) as infinite:
        depth_of("infinity")
    assert infinite.value.status == 403 and infinite.value.condition == "propfind-finite-depth"
    with pytest.raises(WireError):
        depth_of("2")
    assert ranges("bytes=0-9", 100) == [(0, 9)]
    assert ranges("bytes=90-", 100) == [(90, 99)]
    assert ranges("bytes=-10", 100) == [(90, 99)]
    assert ranges("bytes=95-200", 100) == [(95, 99)]
    assert ranges("bytes=0-1,5-6", 100) == [(0, 1), (5, 6)]
    assert ranges("bytes=100-", 100) == []
    assert ranges("bytes=0-", 0) == []
    assert ranges("bytes=5-1", 100) is None
    assert ranges("items=0-1", 100) is None
    assert ranges("bytes=x", 100) is None
    assert ranges("bytes=" + ",".join(["0-1"] * 100), 100) is None
    assert permissions("rw", False, "file") == "WDNV" and permissions("rw", False, "dir") == "WDNVCK"
    assert permissions("rw", False, "root") == "CK" and permissions("ro", False, "root") == ""
    assert permissions("ro", True, "file") == "S" and permissions("rw", True, "dir") == "SWDNVCK"
    assert permissions("ro", False, "namespace") == "K"


_URL_PIECES = st.sampled_from(["/remote.php/webdav", "/remote.php/dav/files/anna", "/remote.php/dav/files/bob",
                               "/dav", "/", "/Docs", "/..", "/.", "/%2F", "/%2e%2E", "/%00", "/.syncline",
                               "/%C3%A9", "/%FF", "//", "/a b", "/%", "/%zz", "/\u00e9", "/x?y", "/#"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_URL_PIECES | st.text(max_size=12), max_size=8))
def test_any_url_parses_or_is_refused_with_a_client_error(pieces: list[str]) -> None:
    raw = "".join(pieces)
    try:
        got = parse(raw, "anna")
    except WireError as err:
        assert dav_status(err)[0] in (400, 404, 413), err
        return
    except DavError:  # pragma: no cover - parse raises only wire errors
        raise
    if got.folder is not None:
        assert ".." not in got.path.split("/") and "\0" not in got.path
        assert parse(href(got.prefix, got.folder, got.path), "anna") == got


def test_a_propfind_asking_too_many_properties_is_refused() -> None:
    from syncline.server.dav.xmlio import MAX_NAMES, parse_propfind

    many = "".join(f"<x:p{i}/>" for i in range(MAX_NAMES + 1))
    body = f'<d:propfind xmlns:d="DAV:"><d:prop xmlns:x="urn:x">{many}</d:prop></d:propfind>'.encode()
    with pytest.raises(WireError) as e:
        parse_propfind(body)
    assert e.value.code == "too_large"
