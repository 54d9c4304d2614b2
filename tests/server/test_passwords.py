"""Argon2id hashing: bounds, the dummy hash for unknown users, rehash, and at most two hashes at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher, Type

from syncline.server.passwords import BadPassword, Busy, HashGate, Passwords, check_new_password

from .conftest import cheap_hasher


class CountingHasher(PasswordHasher):
    """A cheap hasher that counts every verification and the most that ran at once."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=8, type=Type.ID)
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0
        self.hold = hold

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.hold is not None:
                self.hold.wait(10)
            else:
                # Give others a chance to overlap if the gate let them; no timing is asserted.
                threading.Event().wait(0.005)
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.running -= 1


def test_hash_and_verify(passwords: Passwords) -> None:
    stored = passwords.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert passwords.verify(stored, "correct horse").ok
    assert not passwords.verify(stored, "wrong horse").ok


def test_default_parameters_are_rfc9106_low_memory() -> None:
    hasher = Passwords(gate=HashGate()).hasher
    assert (hasher.type, hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (Type.ID, 65536, 3, 4)


@pytest.mark.parametrize(("password", "why"), [
    ("abc", "too short"), ("x" * 1025, "too long"), ("é" * 513, "too long"), ("abcdefgh\udc80", "not valid text"),
])
def test_new_password_bounds(password: str, why: str) -> None:
    with pytest.raises(BadPassword, match=why) as info:
        check_new_password(password)
    assert password not in str(info.value)


def test_bounds_are_bytes() -> None:
    assert check_new_password("x" * 1024) == b"x" * 1024
    assert check_new_password("ééééé") == "ééééé".encode()  # 5 characters, 10 bytes


def test_unknown_user_and_bad_hash_verify_once_like_a_known_one() -> None:
    hasher = CountingHasher()
    pw = Passwords(hasher, HashGate())
    stored = pw.hash("correct horse")
    for stored_hash, password in [(stored, "correct horse"), (stored, "wrong"), (None, "correct horse"),
                                  (None, "x" * 5000), (stored, "x" * 5000), (stored, "a\udc80")]:
        before = hasher.calls
        result = pw.verify(stored_hash, password)
        assert hasher.calls == before + 1, (stored_hash, password)
        assert result.ok == (stored_hash is not None and password == "correct horse")


def test_unreadable_stored_hash_never_matches_and_costs_a_verification() -> None:
    hasher = CountingHasher()
    pw = Passwords(hasher, HashGate())
    before = hasher.calls
    assert not pw.verify("not a hash", "anything at all").ok
    assert not pw.verify("$argon2id$v=19$m=8,t=1,p=1$garbage", "anything at all").ok
    assert not pw.verify("", "anything at all").ok
    assert hasher.calls == before + 3


def test_a_hash_with_old_parameters_is_rehashed_on_success() -> None:
    old = Passwords(cheap_hasher(), HashGate()).hash("correct horse")
    newer = Passwords(PasswordHasher(time_cost=2, memory_cost=8, parallelism=1, hash_len=16, salt_len=8),
                      HashGate())
    result = newer.verify(old, "correct horse")
    assert result.ok and result.rehash is not None and result.rehash != old
    assert "t=2" in result.rehash
    again = newer.verify(result.rehash, "correct horse")
    assert again.ok and again.rehash is None
    wrong = newer.verify(old, "wrong horse")
    assert not wrong.ok and wrong.rehash is None


def test_twenty_parallel_verifications_run_at_most_two_at_once() -> None:
    hasher = CountingHasher()
    pw = Passwords(hasher, HashGate(concurrent=2, waiting=20))
    stored = pw.hash("correct horse")
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: pw.verify(stored if i % 2 else None, "correct horse"), range(20)))
    assert sum(r.ok for r in results) == 10
    assert hasher.peak == 2  # the gate let two overlap, never three
    assert pw.gate.peak == 2


def test_an_ungated_hasher_would_overlap() -> None:
    """The instrument can see a broken gate: with room for 20, twenty verifications overlap."""
    hasher = CountingHasher()
    pw = Passwords(hasher, HashGate(concurrent=20, waiting=0))
    stored = pw.hash("correct horse")
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda _: pw.verify(stored, "x"), range(20)))
    assert hasher.peak > 2


def test_beyond_eight_waiting_is_refused_at_once() -> None:
    hold = threading.Event()
    hasher = CountingHasher(hold)
    pw = Passwords(hasher, HashGate(concurrent=2, waiting=8, timeout=10))
    stored = pw.hash("correct horse")
    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(pw.verify, stored, "correct horse") for _ in range(10)]
        done = threading.Event()
        for _ in range(1000):
            if pw.gate.waiting == 8 and hasher.running == 2:
                done.set()
                break
            done.wait(0.01)
        assert done.is_set(), (pw.gate.waiting, hasher.running)
        with pytest.raises(Busy):
            pw.verify(stored, "correct horse")
        hold.set()
        assert all(f.result(timeout=10).ok for f in futures)
    assert hasher.peak == 2


def test_a_waiter_gives_up_after_the_timeout() -> None:
    gate = HashGate(concurrent=1, waiting=1, timeout=0.01)
    with gate.enter(), pytest.raises(Busy), gate.enter():
        pass
    with gate.enter():  # the place was given back
        pass
