"""Bandwidth limits without a server: the token bucket on a fake clock (its rate, its burst, threads
sharing it), limits changed while takers wait, the process's buckets per server and direction, and the
remote client's bodies paced through an ``httpx.MockTransport``."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import httpx
import pytest

from syncline.engine.replicas.remote import Credentials
from syncline.engine.replicas.remote.client import Client
from syncline.engine.replicas.remote.ratelimit import (
    BURST_S,
    MAX_SLICE,
    MIN_SLICE,
    RateLimits,
    TokenBucket,
    paced_body,
    slice_of,
)

MiB = 1 << 20
KiB = 1 << 10


class FakeClock:
    """Seconds that pass only when a taker waits: a wait moves the clock to its end (takers wait one at a
    time, holding the bucket's condition, so the clock models threads sleeping side by side)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.waits = 0

    def now(self) -> float:
        return self.t

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        self.waits += 1
        self.t += seconds


def bucket_on(clock: FakeClock, rate: float) -> TokenBucket:
    return TokenBucket(rate, clock=clock.now, wait=clock.wait)


def take_all(bucket: TokenBucket, total: int, piece: int = MAX_SLICE) -> None:
    for _ in range(total // piece):
        bucket.take(piece)


# -- the bucket ----------------------------------------------------------------------------------------------
def test_a_bucket_goes_at_its_rate_after_its_burst() -> None:
    clock = FakeClock()
    bucket = bucket_on(clock, MiB)
    start = clock.t
    take_all(bucket, 10 * MiB)
    assert clock.t - start == pytest.approx(10 - BURST_S, rel=1e-9)


def test_an_idle_bucket_holds_one_burst_not_more() -> None:
    clock = FakeClock()
    bucket = bucket_on(clock, 4 * MiB)
    take_all(bucket, 4 * MiB)
    clock.t += 3600.0  # an hour idle
    start = clock.t
    take_all(bucket, int(4 * MiB * BURST_S))
    assert clock.t == start and clock.waits == 3 * 16  # the burst went at once (the first MiB had its own)
    bucket.take(MAX_SLICE)
    assert clock.t - start == pytest.approx(MAX_SLICE / (4 * MiB))


def test_threads_sharing_a_bucket_together_go_at_its_rate() -> None:
    clock = FakeClock()
    rate = 2 * MiB
    bucket = bucket_on(clock, rate)
    done: list[int] = []

    def worker() -> None:
        take_all(bucket, MiB, 16 * KiB)
        done.append(MiB)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    start = clock.t
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(done) == 8
    elapsed = clock.t - start
    assert elapsed == pytest.approx((8 * MiB - rate * BURST_S) / rate, rel=1e-6)


def test_a_bucket_never_lets_more_than_burst_plus_rate_go() -> None:
    clock = FakeClock()
    rate = 300 * KiB
    bucket = bucket_on(clock, rate)
    start, sent = clock.t, 0
    for size in (1, 70_000, 5, 4096, 65_536, 12_345) * 20:
        bucket.take(size)
        sent += size
        assert sent <= rate * BURST_S + rate * (clock.t - start) + 1e-6


def test_a_new_rate_applies_to_the_takers_already_waiting() -> None:
    bucket = TokenBucket(MIN_SLICE)  # a real clock: 1 KiB/s
    bucket.take(int(MIN_SLICE * BURST_S) + MIN_SLICE)  # the burst and the first slice
    went = threading.Event()

    def slow() -> None:
        bucket.take(100 * KiB)  # 100 s at 1 KiB/s
        went.set()

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    assert not went.wait(0.3)
    bucket.set_rate(1 << 30)
    assert went.wait(10)
    thread.join(10)


def test_lifting_the_limit_lets_every_waiting_taker_go() -> None:
    bucket = TokenBucket(MIN_SLICE)  # a real clock: 1 KiB/s
    went: list[int] = []
    threads = [threading.Thread(target=lambda: (bucket.take(MiB), went.append(1)), daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    threads[0].join(0.3)
    assert not went  # each waits for about 1,000 s
    bucket.set_rate(0)
    for t in threads:
        t.join(10)
    assert len(went) == 4
    clock_free = FakeClock()  # a limit set again later starts afresh, with no debt carried over
    later = bucket_on(clock_free, MiB)
    later.set_rate(0)
    later.set_rate(MiB)
    later.take(int(MiB * BURST_S))
    assert clock_free.waits == 0


def test_slices_are_a_sixteenth_of_a_second_within_bounds() -> None:
    assert slice_of(MIN_SLICE) == MIN_SLICE
    assert slice_of(160 * KiB) == 10 * KiB
    assert slice_of(100 * MiB) == MAX_SLICE
    with pytest.raises(ValueError):
        TokenBucket(-1)


# -- the process's limits -----------------------------------------------------------------------------------
def test_no_limit_is_no_bucket() -> None:
    limits = RateLimits()
    assert limits.buckets("https://box:443") == (None, None)
    limits.set(0, MiB)
    up, down = limits.buckets("https://box:443")
    assert up is None and down is not None and down.rate == MiB


def test_one_bucket_per_server_and_direction_shared_and_retuned() -> None:
    limits = RateLimits()
    limits.set(MiB, 2 * MiB)
    a_up, a_down = limits.buckets("https://a:443")
    assert limits.buckets("https://a:443") == (a_up, a_down)
    b_up, _ = limits.buckets("https://b:443")
    assert b_up is not a_up and a_up is not a_down
    assert a_up is not None and a_down is not None
    assert (a_up.rate, a_down.rate) == (MiB, 2 * MiB)
    limits.set(3 * MiB, 0)
    assert a_up.rate == 3 * MiB and a_down.rate == 0  # a transfer under way goes at the new rates
    assert limits.buckets("https://a:443") == (a_up, None)
    assert limits.rates() == (3 * MiB, 0)
    limits.set(0, 0)
    assert limits.buckets("https://a:443") == (None, None) and a_up.rate == 0


# -- bodies ------------------------------------------------------------------------------------------------
def test_bodies_are_cut_in_slices_and_kept_whole() -> None:
    clock = FakeClock()
    bucket = bucket_on(clock, MiB)
    data = os.urandom(300 * KiB + 7)
    stream, length = paced_body(data, bucket)
    pieces = list(stream)
    assert length == len(data) and b"".join(pieces) == data
    assert max(map(len, pieces)) <= bucket.slice
    small, length = paced_body(b"{}", bucket)
    assert small == b"{}" and length is None
    blocks = [os.urandom(n) for n in (1, 200_000, 0, 70_000)]
    stream, length = paced_body(iter(blocks), bucket)
    pieces = list(stream)
    assert length is None and b"".join(pieces) == b"".join(blocks) and max(map(len, pieces)) <= bucket.slice
    text, _ = paced_body("é", bucket)
    assert text == "é".encode()
    assert paced_body(None, bucket) == (None, None)


CREDS = Credentials("https://box.example:8765", "slt_secret", None, "S1")


def paced_client(handler: Callable[[httpx.Request], httpx.Response], limits: RateLimits) -> Client:
    return Client(CREDS, http=httpx.Client(transport=httpx.MockTransport(handler)), limits=limits)


def test_the_client_paces_what_it_sends_and_reads() -> None:
    clock = FakeClock()
    limits = RateLimits(clock=clock.now, wait=clock.wait)
    limits.set(MiB, 2 * MiB)
    sent = os.urandom(3 * MiB)
    answer = os.urandom(4 * MiB)
    got: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append(request.read())
        assert request.headers["content-length"] == str(len(sent))
        return httpx.Response(200, content=iter([answer]))  # a stream, as a socket gives it

    client = paced_client(handler, limits)
    start = clock.t
    status, body = client.request("POST", "folders/F/chunks", content=sent)
    assert status == 200 and got == [sent] and body == answer
    # Each direction's time, one after the other (the fake clock does not overlap them as a wire would).
    assert clock.t - start == pytest.approx((3 - BURST_S) + (4 * MiB - 2 * MiB * BURST_S) / (2 * MiB), rel=1e-6)


def test_the_event_stream_and_an_unlimited_client_are_not_paced() -> None:
    clock = FakeClock()
    limits = RateLimits(clock=clock.now, wait=clock.wait)
    answer = os.urandom(2 * MiB)
    client = paced_client(lambda request: httpx.Response(200, content=iter([answer])), limits)
    assert client.request("GET", "x")[1] == answer and clock.waits == 0
    limits.set(MIN_SLICE, MIN_SLICE)
    with client.stream("GET", "events", paced=False) as response:
        assert b"".join(response.iter_bytes()) == answer
    assert clock.waits == 0


def test_a_webdav_client_is_paced_by_its_servers_buckets() -> None:
    from syncline.engine.replicas.webdav.address import parse_dav
    from syncline.engine.replicas.webdav.client import DavClient
    from syncline.engine.replicas.webdav.credentials import DavCredentials

    clock = FakeClock()
    limits = RateLimits(clock=clock.now, wait=clock.wait)
    limits.set(MiB, MiB)
    sent, answer = os.urandom(2 * MiB), os.urandom(2 * MiB)
    got: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append(request.read())
        return httpx.Response(200, content=iter([answer]))

    address = parse_dav("webdavs://dav.example/remote.php/dav/files/me/Docs")
    client = DavClient(address, DavCredentials(address.server, "me", "pw"), limits=limits,
                       http=httpx.Client(transport=httpx.MockTransport(handler)))
    start = clock.t
    status, _, body = client.request("PUT", address.url("a.bin"), content=sent)
    assert status == 200 and got == [sent] and body == answer
    assert clock.t - start == pytest.approx(2 * (2 - BURST_S), rel=1e-6)
    assert limits.buckets(address.server)[0] is not limits.buckets(CREDS.url)[0]
