"""Chunked uploads (chunking NG) on the in-process app: chunks in any order become one file at ``MOVE
.file``, committed as a PUT is (etag and id in the answer, conditions), and nothing of an upload shows in
the folder before; a wrong total or checksum commits nothing; another user's uploads do not exist."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ..server.apphelp import World, run
from .davhelp import DAV, DESKTOP_PROPFIND, dav_client, docs_world, responses

UP = "/remote.php/dav/uploads/anna"
FILES = "/remote.php/dav/files/anna"


@pytest.fixture
def w(tmp_path: Path) -> World:
    return docs_world(tmp_path)


def test_chunks_become_one_file_at_move(w: World) -> None:
    parts = [b"a" * 1000, b"b" * 1000, b"c" * 10]
    whole = b"".join(parts)

    async def go() -> None:
        async with dav_client(w) as c:
            assert (await c.request("MKCOL", f"{UP}/t42", headers={"OC-Total-Length": "2010"})).status_code == 201
            for i in (2, 0, 1):  # any order: read by number
                r = await c.put(f"{UP}/t42/{i * 1000:016d}", content=parts[i])
                assert r.status_code == 201, r.text
            listed = await c.request("PROPFIND", f"{UP}/t42", headers={"Depth": "1"})
            sizes = {h.rsplit("/", 1)[1]: f.get(f"{DAV}getcontentlength") for h, f, _ in responses(listed.content)}
            assert sizes[f"{1000:016d}"] == "1000" and sizes[f"{2000:016d}"] == "10"
            before = await c.request("PROPFIND", f"{FILES}/Docs/", content=DESKTOP_PROPFIND, headers={"Depth": "1"})
            assert "big" not in before.text, "nothing of an upload shows before its MOVE"
            bad = await c.request("MOVE", f"{UP}/t42/.file", headers={
                "Destination": f"{FILES}/Docs/sub/big.bin", "OC-Total-Length": "9999"})
            assert bad.status_code == 400
            bad = await c.request("MOVE", f"{UP}/t42/.file", headers={
                "Destination": f"{FILES}/Docs/sub/big.bin", "OC-Checksum": "SHA1:" + "0" * 40})
            assert bad.status_code == 400
            r = await c.request("MOVE", f"{UP}/t42/.file", headers={
                "Destination": f"{FILES}/Docs/sub/big.bin", "OC-Total-Length": "2010", "X-OC-Mtime": "1700000000",
                "OC-Checksum": f"SHA1:{hashlib.sha1(whole).hexdigest()}"})
            assert r.status_code == 201, r.text
            found = await c.request("PROPFIND", f"{FILES}/Docs/sub/big.bin", content=DESKTOP_PROPFIND,
                                    headers={"Depth": "0"})
            assert responses(found.content)[0][1][f"{DAV}getetag"] == r.headers["OC-ETag"]
            assert (await c.get(f"{FILES}/Docs/sub/big.bin")).content == whole
            assert (await c.request("PROPFIND", f"{UP}/t42", headers={"Depth": "1"})).status_code == 404, \
                "the upload is gone once committed"
            assert (await c.request("MKCOL", f"{UP}/t43")).status_code == 201
            assert (await c.delete(f"{UP}/t43")).status_code == 204

    run(go())


def test_uploads_are_the_callers_alone_and_names_are_checked(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            assert (await c.request("MKCOL", f"{UP}/mine")).status_code == 201
            assert (await c.put(f"{UP}/mine/..%2F..%2Fx", content=b"x")).status_code in (400, 404)
            assert (await c.put(f"{UP}/mine/abc", content=b"x")).status_code == 400
            assert (await c.request("MKCOL", f"{UP}/..")).status_code in (400, 404)
            r = await c.request("MOVE", f"{UP}/mine/.file", headers={"Destination": "/remote.php/dav/files/bob/x"})
            assert r.status_code == 404
        async with dav_client(w, "bob") as c:
            assert (await c.request("PROPFIND", f"{UP}/mine", headers={"Depth": "1"})).status_code == 404
            assert (await c.put(f"{UP}/mine/1", content=b"x")).status_code == 404
            assert (await c.request("MKCOL", "/remote.php/dav/uploads/bob/mine")).status_code == 201

    run(go())
