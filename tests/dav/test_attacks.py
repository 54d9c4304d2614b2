"""The WebDAV server under a hostile client: each test is an attack that once got through (a 5xx for a
client's mistake, a deleted source, a lost symlink, a spool past the quota), answered now with a one-line
client error and nothing lost; and the attacks that held, kept held."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..server.apphelp import World, run
from .davhelp import dav_client, docs_world
from .test_write import tree

OLD = "/remote.php/webdav"
NEW = "/remote.php/dav/files/anna"
UP = "/remote.php/dav/uploads/anna"
LOCKINFO = (b'<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope>'
            b"<d:locktype><d:write/></d:locktype></d:lockinfo>")


@pytest.fixture
def w(tmp_path: Path) -> World:
    return docs_world(tmp_path)


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "LOCK"])
def test_an_xml_body_in_an_unknown_encoding_is_400(w: World, method: str) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.request(method, f"{OLD}/Docs/a.txt", headers={"Depth": "0"},
                                content=b'<?xml version="1.0" encoding="x-no-such"?><d:propfind xmlns:d="DAV:"/>')
            assert r.status_code == 400, r.text
            assert "well-formed" in r.text

    run(go())


def test_digits_that_are_not_ascii_in_numeric_headers_are_client_errors(w: World) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` fails: a superscript in a count was a 500."""
    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.request("LOCK", f"{OLD}/Docs/a.txt", content=LOCKINFO, headers={"Timeout": b"Second-\xb2"})
            assert r.status_code == 200, r.text  # an unreadable timeout is the longest, as an absent one
            assert (await c.request("MKCOL", f"{UP}/t1")).status_code == 201
            assert (await c.put(f"{UP}/t1/1", content=b"abc")).status_code == 201
            for total in (b"\xb2", b"9" * 5000):  # int() refuses more than 4,300 digits
                r = await c.request("MOVE", f"{UP}/t1/.file", headers={"Destination": f"{NEW}/Docs/t.bin",
                                                                       "OC-Total-Length": total})
                assert r.status_code == 400, r.text

    run(go())
    assert "t.bin" not in tree(w)
