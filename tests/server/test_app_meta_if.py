"""Conditional meta writes (protocol section 8): ``GET`` answers the text's ``ETag``, ``PUT`` with
``If-None-Match: *`` or ``If-Match`` writes only over that text (else ``412 changed``), compared and set in
one store transaction; a malformed condition is refused before anything is read or written."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.paths import meta_etag

from . import test_hostile as hostile
from .apphelp import make_world, run
from .test_store_meta import make_store

F = "/v1/folders/Docs/meta/folder-id"
WAIT = 10.0


def test_the_etag_is_the_texts_blake3() -> None:
    text = "F123 é"
    assert meta_etag(text) == f'"b3-{blake3.blake3(text.encode()).hexdigest()[:32]}"'
    assert meta_etag("a") != meta_etag("b") and len(meta_etag("")) == 2 + 3 + 32


def test_the_store_writes_only_over_the_etag_it_is_given(tmp_path: Path) -> None:
    store, anna = make_store(tmp_path / "data")
    fs = store.folder(store.folders.create(anna, "Docs")[0])
    assert fs.write_meta_if("folder-id", "one", None)
    assert not fs.write_meta_if("folder-id", "two", None), "a text that is there is not made again"
    assert not fs.write_meta_if("folder-id", "two", meta_etag("zero"))
    assert fs.read_meta("folder-id") == "one"
    assert fs.write_meta_if("folder-id", "two", meta_etag("one"))
    assert fs.read_meta("folder-id") == "two"
    with pytest.raises(WireError) as big:
        fs.write_meta_if("folder-id", "x" * 4097, meta_etag("two"))
    assert big.value.code == "too_large" and fs.read_meta("folder-id") == "two"
    store.close()


def race(writers: int, write: Callable[[int], bool]) -> list[int]:
    """The writers whose ``write(i)`` answered True, all of them started at one barrier."""
    barrier = threading.Barrier(writers)
    won: list[int] = []

    def one(i: int) -> None:
        barrier.wait(WAIT)
        if write(i):
            won.append(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * WAIT)
        assert not t.is_alive(), "a writer hung"
    assert not barrier.broken
    return won


def test_of_threads_creating_one_text_at_once_exactly_one_wins(tmp_path: Path) -> None:
    store, anna = make_store(tmp_path / "data")
    fs = store.folder(store.folders.create(anna, "Docs")[0])
    for n in range(10):
        won = race(4, lambda i, key=f"k{n}": fs.write_meta_if(key, f"from {i}", None))
        assert len(won) == 1 and fs.read_meta(f"k{n}") == f"from {won[0]}"
    store.close()


def test_get_answers_the_etag_and_put_honours_the_conditions(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            r = await c.put(F, content="one é".encode(), headers={"If-Match": meta_etag("one é")})
            assert r.status_code == 412 and r.json()["error"]["code"] == "changed", "no text: no match"
            r = await c.put(F, content="one é".encode(), headers={"If-None-Match": "*"})
            assert r.status_code == 204 and r.headers["etag"] == meta_etag("one é")
            r = await c.get(F)
            assert r.text == "one é" and r.headers["etag"] == meta_etag("one é")
            etag = r.headers["etag"]
            r = await c.put(F, content=b"two", headers={"If-None-Match": "*"})
            assert r.status_code == 412 and r.json()["error"]["code"] == "changed"
            r = await c.put(F, content=b"two", headers={"If-Match": meta_etag("zero")})
            assert r.status_code == 412
            assert (await c.get(F)).text == "one é", "a refused write changed nothing"
            r = await c.put(F, content=b"two", headers={"If-Match": f" {etag} "})
            assert r.status_code == 204
            r = await c.put(F, content=b"three", headers={"If-Match": etag})
            assert r.status_code == 412, "the old etag no longer holds"
            assert (await c.put(F, content=b"four")).status_code == 204, "an unconditional write still works"
            assert (await c.get(F)).text == "four"

    run(main())


HOSTILE: dict[str, dict[str, str]] = {
    "a weak etag": {"If-Match": "W/" + meta_etag("one")},
    "an etag unquoted": {"If-Match": meta_etag("one").strip('"')},
    "a list of etags": {"If-Match": f'{meta_etag("one")}, {meta_etag("two")}'},
    "If-Match *": {"If-Match": "*"},
    "an etag of a file version": {"If-Match": '"v1"'},
    "an etag with upper-case hex": {"If-Match": meta_etag("one").upper()},
    "an etag of 64 hex": {"If-Match": f'"b3-{blake3.blake3(b"one").hexdigest()}"'},
    "a huge If-Match": {"If-Match": '"b3-' + "a" * 60_000 + '"'},
    "If-None-Match an etag": {"If-None-Match": meta_etag("one")},
    "a huge If-None-Match": {"If-None-Match": "*" * 60_000},
    "both headers": {"If-None-Match": "*", "If-Match": meta_etag("one")},
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_malformed_condition_is_refused_and_changes_nothing(tmp_path: Path, name: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The hostile-request check of ``test_hostile`` (a 4xx with a well-formed error, the store unchanged)
    on a conditional write of a meta text."""
    headers = HOSTILE[name]
    monkeypatch.setitem(hostile.CASES, name, lambda c, w: c.put(hostile.F + "/meta/folder-id", content=b"taken",
                                                                 headers=headers))
    hostile.test_hostile_request_is_refused_and_changes_nothing(tmp_path, name)
