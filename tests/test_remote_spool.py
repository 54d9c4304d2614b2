"""The spool of small chunks (``remote/staging.py``): sent every few MiB by the staging threads while
staging goes on, the rest at the barrier; a send that fails early is made good by the barrier, or the
barrier fails; nothing held is ever dropped unsent."""

from __future__ import annotations

import threading

import blake3
import pytest

from syncline.engine.replicas.remote.staging import Spool


class Uploads:
    """A fake uploader: records what it was sent (and from which thread); ``fail`` makes the next sends fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, set[bytes]]] = []
        self.fail = 0
        self.mutex = threading.Lock()

    def __call__(self, frames: dict[bytes, bytes], ask: bool) -> int:
        with self.mutex:
            if self.fail:
                self.fail -= 1
                raise ConnectionResetError("cut")
            self.sent.append((threading.current_thread().name, set(frames)))
        return sum(map(len, frames.values()))

    def ids(self) -> set[bytes]:
        return set().union(*(ids for _, ids in self.sent)) if self.sent else set()


def chunk(i: int) -> tuple[bytes, bytes]:
    data = b"%06d" % i * 100
    return blake3.blake3(data).digest(), data


def test_staging_threads_send_early_and_the_barrier_sends_the_rest() -> None:
    up = Uploads()
    spool = Spool(up, bound=1 << 20, early=6000)
    chunks = [chunk(i) for i in range(400)]

    def stage(part: list[tuple[bytes, bytes]]) -> None:
        for cid, data in part:
            spool.hold(cid, data)

    threads = [threading.Thread(target=stage, args=(chunks[i::4],), name=f"stager-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    early = up.ids()
    assert early and all(name.startswith("stager-") for name, _ in up.sent)
    spool.flush()
    assert up.ids() == {c for c, _ in chunks}, "every chunk sent once the barrier returns"
    sent_ids = [i for _, ids in up.sent for i in ids]
    assert len(sent_ids) == len(set(sent_ids)), "no chunk sent twice"
    assert not spool.held


def test_an_early_send_that_fails_is_made_good_by_the_barrier() -> None:
    up = Uploads()
    spool = Spool(up, bound=1 << 20, early=3000)
    up.fail = 1
    for i in range(20):
        spool.hold(*chunk(i))  # the first early send fails, quietly: its chunks stay held
    assert up.sent, "later early sends went on"
    spool.flush()
    assert up.ids() == {chunk(i)[0] for i in range(20)} and not spool.held


def test_a_barrier_that_cannot_send_fails_and_keeps_the_chunks() -> None:
    up = Uploads()
    spool = Spool(up, bound=1 << 20, early=1 << 20)
    for i in range(5):
        spool.hold(*chunk(i))
    up.fail = 1
    with pytest.raises(ConnectionResetError):
        spool.flush()
    assert len(spool.held) == 5, "nothing held is dropped unsent"
    spool.flush()
    assert up.ids() == {chunk(i)[0] for i in range(5)} and not spool.held
