"""The app: chunks/missing, pack uploads, file downloads with one range, chunk lists and chunk reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncline.formats.wire.packs import read_pack
from syncline.server.app import routes_content

from .apphelp import PACK_HEADERS, cid, dump, make_world, ops_body, pack, put_file, run

A, B = b"a" * 1000, b"bb" * 700


def test_missing_then_upload_then_missing_again(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            ids = [cid(A).hex(), cid(B).hex()]
            assert (await c.post("/v1/folders/Docs/chunks/missing", json={"ids": ids})).json() == {"missing": ids}
            r = await c.post("/v1/folders/Docs/chunks", content=pack(A, B, A), headers=PACK_HEADERS)
            assert r.status_code == 200 and r.json() == {"stored": 2, "present": 1}, r.text
            again = await c.post("/v1/folders/Docs/chunks", content=pack(A), headers=PACK_HEADERS)
            assert again.json() == {"stored": 0, "present": 1}
            assert (await c.post("/v1/folders/Docs/chunks/missing", json={"ids": ids})).json() == {"missing": []}
        async with w.client("bob") as bob:  # chunks are per folder: bob's own folder lacks them
            await bob.put("/v1/folders/Docs")
            assert (await bob.post("/v1/folders/Docs/chunks/missing", json={"ids": ids})).json() == {"missing": ids}

    run(main())


def test_download_whole_ranges_versions_and_chunks(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    data = bytes(range(256)) * 8

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            done = await put_file(c, "Docs", "dir é/f.bin", b"")
            assert done["error"]["code"] == "not_found"  # no parent folder: refused per item, nothing written
            done = await put_file(c, "Docs", "f.bin", data)
            version = done["version"]
            r = await c.get("/v1/folders/Docs/file", params={"path": "f.bin"})
            assert r.status_code == 200 and r.content == data
            assert r.headers["etag"] == f'"v{version}"' and int(r.headers["content-length"]) == len(data)
            row = json.loads(r.headers["syncline-entry"])
            assert row[0] == "f.bin" and row[5] == cid(data).hex() and row[8] == version
            part = await c.get("/v1/folders/Docs/file", params={"path": "f.bin"}, headers={"Range": "bytes=10-19"})
            assert part.status_code == 206 and part.content == data[10:20]
            assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
            tail = await c.get("/v1/folders/Docs/file", params={"path": "f.bin"}, headers={"Range": "bytes=-5"})
            assert tail.status_code == 206 and tail.content == data[-5:]
            for bad in ("bytes=5000-6000", "bytes=0-1,4-5", "lines=1-2", "bytes=-0"):
                r = await c.get("/v1/folders/Docs/file", params={"path": "f.bin"}, headers={"Range": bad})
                assert r.status_code == 416 and r.json()["error"]["code"] == "bad_range", bad
            ok = await c.get("/v1/folders/Docs/file", params={"path": "f.bin", "version": version})
            assert ok.status_code == 200
            old = await c.get("/v1/folders/Docs/file", params={"path": "f.bin", "version": version + 5})
            assert old.status_code == 412 and old.json()["error"]["code"] == "changed"
            stale = await c.get("/v1/folders/Docs/file", params={"path": "f.bin"},
                                headers={"If-Match": f'"v{version + 5}"'})
            assert stale.status_code == 412
            chunks = (await c.get("/v1/folders/Docs/file/chunks", params={"path": "f.bin"})).json()
            assert chunks == {"version": version, "size": len(data), "digest": cid(data).hex(),
                              "count": 1, "chunks": [[cid(data).hex(), len(data)]], "next": None}
            one = await c.get("/v1/folders/Docs/file/chunks", params={"path": "f.bin", "from": 1, "limit": 1})
            assert one.json()["chunks"] == [] and one.json()["next"] is None
            listed = (await c.get("/v1/folders/Docs/file/manifest", params={"path": "f.bin"})).json()
            piece = cid(cid(data) + len(data).to_bytes(4, "big")).hex()
            assert listed == {"version": version, "size": len(data), "digest": cid(data).hex(), "count": 1,
                              "pieces": [[piece, 1]], "next": None}
            moved = await c.get("/v1/folders/Docs/file/manifest", params={"path": "f.bin", "version": version + 5})
            assert moved.status_code == 412 and moved.json()["error"]["code"] == "changed"
            r = await c.post("/v1/folders/Docs/chunks/read", json={"ids": [cid(data).hex(), cid(data).hex()]})
            assert r.status_code == 200 and r.headers["content-type"] == "application/x-syncline-pack"
            frames = read_pack(r.content)
            assert [(f.id, f.data, f.ok) for f in frames] == [(cid(data), data, True)] * 2
            gone = await c.post("/v1/folders/Docs/chunks/read", json={"ids": [cid(b"nothing").hex()]})
            assert gone.status_code == 404 and gone.json()["error"]["details"]["missing"] == [cid(b"nothing").hex()]
            missing = await c.get("/v1/folders/Docs/file", params={"path": "nope"})
            assert missing.status_code == 404

    run(main())


def test_a_read_only_folder_refuses_writes_and_serves_reads(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    anna, bob = w.device("anna"), w.device("bob")
    folder, _ = w.store.folders.create(anna.user_id, "Shared")
    w.store.shares.offer(folder.id, anna.user_id, "bob", "ro")
    w.store.shares.accept(bob.user_id, folder.uid)
    before = dump(w.store)

    async def main() -> None:
        async with w.client("bob") as c:
            assert (await c.get("/v1/folders/Shared")).json()["rights"] == "ro"
            assert (await c.get("/v1/folders/Shared/entries")).status_code == 200
            for r in (await c.post("/v1/folders/Shared/ops", json=ops_body()),
                      await c.put("/v1/folders/Shared/meta/generation", content=b"2"),
                      await c.post("/v1/folders/Shared/chunks/missing", json={"ids": []}),
                      await c.post("/v1/folders/Shared/chunks", content=pack(A), headers=PACK_HEADERS)):
                assert r.status_code == 403 and r.json()["error"]["code"] == "read_only", r.text
        assert dump(w.store) == before

    run(main())


def test_a_chunk_read_past_the_answer_limit_is_refused_before_any_byte(tmp_path: Path, monkeypatch: Any) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await c.post("/v1/folders/Docs/chunks", content=pack(A, B), headers=PACK_HEADERS)
            monkeypatch.setattr(routes_content, "MAX_PACK_BYTES", len(pack(A, B)) - 1)  # 64 MiB, made small
            r = await c.post("/v1/folders/Docs/chunks/read", json={"ids": [cid(A).hex(), cid(B).hex()]})
            assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
            r = await c.post("/v1/folders/Docs/chunks/read", json={"ids": [cid(A).hex()]})
            assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content) == len(pack(A))

    run(main())
