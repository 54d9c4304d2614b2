"""Login rate limits: the sixth failure waits, doubling; per-address windows; memory stays bounded."""

from __future__ import annotations

import pytest

from syncline.server.ratelimit import LoginLimiter

from .conftest import Clock


def fail(limiter: LoginLimiter, user: str, address: str = "192.0.2.1") -> float:
    wait = limiter.check(user, address)
    if wait == 0:
        limiter.failed(user)
    return wait


def test_five_failures_are_free_then_the_sixth_attempt_waits(clock: Clock) -> None:
    limiter = LoginLimiter(clock)
    for _ in range(5):
        assert fail(limiter, "anna") == 0
    assert limiter.check("anna", "192.0.2.1") == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.check("anna", "192.0.2.1") == pytest.approx(0.5)
    clock.now += 0.5
    assert fail(limiter, "anna") == 0  # the sixth failure, after its wait
    assert limiter.check("anna", "192.0.2.1") == pytest.approx(2.0)  # doubling
    clock.now += 2
    assert fail(limiter, "anna") == 0
    assert limiter.check("anna", "192.0.2.1") == pytest.approx(4.0)


def test_the_wait_stops_doubling_at_fifteen_minutes(clock: Clock) -> None:
    limiter = LoginLimiter(clock, per_address=10_000)
    for _ in range(80):
        clock.now += limiter.check("anna", "192.0.2.1")
        limiter.failed("anna")
    assert limiter.check("anna", "192.0.2.1") == pytest.approx(900.0)


def test_a_success_forgets_the_failures(clock: Clock) -> None:
    limiter = LoginLimiter(clock)
    for _ in range(5):
        fail(limiter, "anna")
    limiter.succeeded("anna")
    assert limiter.check("anna", "192.0.2.1") == 0


def test_failures_are_forgotten_after_a_quiet_day(clock: Clock) -> None:
    limiter = LoginLimiter(clock)
    for _ in range(6):
        clock.now += limiter.check("anna", "192.0.2.1")
        limiter.failed("anna")
    assert limiter.check("anna", "192.0.2.1") > 0
    clock.now += 86400 + 1
    assert limiter.check("anna", "192.0.2.1") == 0
    limiter.failed("anna")
    assert limiter.check("anna", "192.0.2.1") == 0  # counting starts again from one


def test_users_are_limited_apart_and_unknown_names_like_known_ones(clock: Clock) -> None:
    limiter = LoginLimiter(clock)
    for _ in range(5):
        fail(limiter, "nobody-such")
    assert limiter.check("nobody-such", "192.0.2.1") > 0
    assert limiter.check("anna", "192.0.2.2") == 0


def test_thirty_attempts_per_address_per_ten_minutes(clock: Clock) -> None:
    limiter = LoginLimiter(clock)
    for i in range(30):
        assert limiter.check(f"user{i}", "192.0.2.7") == 0
        clock.now += 1
    # The window slides: the first attempt leaves it 600 s after it was made.
    assert limiter.check("another", "192.0.2.7") == pytest.approx(570.0)
    assert limiter.check("another", "192.0.2.8") == 0  # another address has its own budget
    clock.now += 570
    assert limiter.check("another", "192.0.2.7") == 0


def test_refused_attempts_do_not_count(clock: Clock) -> None:
    limiter = LoginLimiter(clock, per_address=2)
    assert limiter.check("a", "192.0.2.9") == 0
    assert limiter.check("b", "192.0.2.9") == 0
    for _ in range(100):
        assert limiter.check("c", "192.0.2.9") > 0
    clock.now += 600
    assert limiter.check("c", "192.0.2.9") == 0


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4(clock: Clock) -> None:
    limiter = LoginLimiter(clock, per_address=2)
    limiter.check("a", "2001:db8:1:2::1")
    limiter.check("a", "2001:db8:1:2:ffff::9")
    assert limiter.check("a", "2001:db8:1:2:abcd::1") > 0  # same /64
    assert limiter.check("a", "2001:db8:1:3::1") == 0  # another /64
    limiter.check("a", "::ffff:192.0.2.44")
    limiter.check("a", "192.0.2.44")
    assert limiter.check("a", "192.0.2.44") > 0


def test_memory_is_bounded_when_names_and_addresses_cycle(clock: Clock) -> None:
    limiter = LoginLimiter(clock, max_keys=100)
    for i in range(5000):
        fail(limiter, f"name{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter) <= 200


def test_the_name_under_attack_survives_other_names_being_cycled(clock: Clock) -> None:
    """Eviction takes the least recently failed name: the target, failing each time, stays."""
    limiter = LoginLimiter(clock, max_keys=50, per_address=10_000)
    for i in range(200):
        clock.now += limiter.check("anna", "192.0.2.1")
        limiter.failed("anna")
        for j in range(10):
            fail(limiter, f"decoy{i}-{j}")
    assert limiter.check("anna", "192.0.2.1") > 0


def test_hostile_keys_are_cut(clock: Clock) -> None:
    limiter = LoginLimiter(clock)
    huge = "x" * 1_000_000
    for _ in range(5):
        fail(limiter, huge, huge)
    assert limiter.check(huge, "192.0.2.1") > 0
    assert limiter.check("x" * 64 + "different tail", "192.0.2.1") > 0  # same key: the first 64 characters
    assert limiter.check("", "") >= 0
