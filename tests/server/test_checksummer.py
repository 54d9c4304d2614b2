"""The SHA1 pass (``server/checksummer.py``): natively uploaded files get the SHA1 of their bytes, a bounded
number of bytes a pass, and nothing is recorded for bytes that are not the file."""

from __future__ import annotations

import hashlib
import os
import time

from syncline.formats.wire.ops import Op, OpEntry, WirePolicy, new_op_id
from syncline.server.checksummer import Checksummer, fill_sha1
from syncline.server.store import Store
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000


def put(fs: FolderStore, path: str, data: bytes) -> None:
    digest, chunks = put_bytes(fs, data)
    _, [r] = fs.apply_ops([Op(new_op_id(), "put", path, None, OpEntry(T0, 0o644, len(data), digest), chunks)],
                          WirePolicy(), "D1")
    assert r.done, r


def sha1s(fs: FolderStore) -> dict[str, bytes | None]:
    return {d.row.path: d.sha1 for d in fs.dav_list("", 1)[1:]}


def test_every_file_gets_the_sha1_of_its_bytes(store: tuple[Store, int], fs: FolderStore) -> None:
    files = {f"f{i}": os.urandom(1000 * i) for i in range(6)}  # f0 is empty
    files["big"] = os.urandom(3 << 20)  # several chunks
    for path, data in files.items():
        put(fs, path, data)
    assert set(sha1s(fs).values()) == {None}
    done = fill_sha1(store[0])
    assert done.recorded == len(files) and done.after is None
    assert sha1s(fs) == {p: hashlib.sha1(d).digest() for p, d in files.items()}
    assert {d.row.path: d.md5 for d in fs.dav_list("", 1)[1:]} == {p: hashlib.md5(d).digest() for p, d in files.items()}
    assert fill_sha1(store[0]).recorded == 0, "nothing left to do"
    # The same bytes in another folder have their SHA1 at once (kept by digest).
    other = store[0].folder(store[0].folders.create(store[1], "Other")[0])
    put(other, "copy", files["f3"])
    assert sha1s(other) == {"copy": hashlib.sha1(files["f3"]).digest()}


def test_a_pass_reads_about_its_budget_and_the_next_goes_on(store: tuple[Store, int], fs: FolderStore) -> None:
    for i in range(10):
        put(fs, f"f{i:02d}", os.urandom(10_000))
    first = fill_sha1(store[0], budget=25_000)
    assert first.recorded == 3 and first.after == (fs.id, "f02")
    rest = fill_sha1(store[0], first.after)
    assert rest.recorded == 7 and None not in sha1s(fs).values()


def test_bytes_that_are_not_the_file_get_no_sha1(store: tuple[Store, int], fs: FolderStore) -> None:
    put(fs, "a", b"the first file's bytes")
    put(fs, "b", b"the second file's bytes")
    [damaged] = [d for d in fs.dav_list("", 1) if d.row.path == "a"]
    assert damaged.row.digest is not None
    store[0].chunks.delete_many(fs.ns, [damaged.row.digest])  # one chunk: its id is the digest
    done = fill_sha1(store[0])
    assert done.recorded == 1 and sha1s(fs) == {"a": None, "b": hashlib.sha1(b"the second file's bytes").digest()}


def test_the_thread_fills_them_while_the_server_runs(store: tuple[Store, int], fs: FolderStore) -> None:
    put(fs, "a", b"bytes")
    worker = Checksummer(store[0], every_s=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while sha1s(fs)["a"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert sha1s(fs)["a"] == hashlib.sha1(b"bytes").digest()
