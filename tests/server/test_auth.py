"""Logins, tokens and revocation against a real store: one code path for every login, tokens kept only
hashed, the rate limits applied before any password is checked."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type

from syncline.formats.wire.errors import WireError
from syncline.server.auth import Authenticator, bearer_token, is_token, new_token, token_hash
from syncline.server.passwords import HashGate, Passwords
from syncline.server.ratelimit import LoginLimiter
from syncline.server.store import Store, open_store
from syncline.server.users import add_user

from .conftest import Clock, cheap_hasher
from .test_passwords import CountingHasher

PASSWORD = "correct horse battery"



@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "data", min_free=0)
    yield s
    s.close()



@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def auth(store: Store, hasher: CountingHasher, clock: Clock) -> Authenticator:
    passwords = Passwords(hasher, HashGate())
    add_user(store, passwords, "anna", PASSWORD)
    add_user(store, passwords, "root", PASSWORD, admin=True)
    return Authenticator(store, passwords, LoginLimiter(clock))


def code_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(WireError) as info:
        call()
    return info.value.code


def test_login_gives_a_token_that_names_the_device(auth: Authenticator) -> None:
    token, who = auth.login("anna", PASSWORD, "anna-laptop", None, "192.0.2.1")
    assert is_token(token) and len(token) == 47 and token.startswith("slt_")
    assert (who.user.name, who.device.name, who.user.admin) == ("anna", "anna-laptop", False)
    again = auth.device_of(token)
    assert (again.user.id, again.device.id) == (who.user.id, who.device.id)


@pytest.mark.parametrize(("user", "password"), [
    ("anna", PASSWORD), ("anna", "wrong password"), ("nobody", PASSWORD), ("Not A Name!", PASSWORD),
    ("anna", ""), ("", ""),
])
def test_every_login_verifies_one_hash(auth: Authenticator, hasher: CountingHasher, user: str,
                                       password: str) -> None:
    before = hasher.calls
    try:
        auth.login(user, password, "dev", None, "192.0.2.1")
        outcome = "ok"
    except WireError as exc:
        outcome = exc.code
    assert hasher.calls == before + 1
    assert outcome == ("ok" if (user, password) == ("anna", PASSWORD) else "bad_login")


def test_wrong_user_and_wrong_password_get_the_same_answer(auth: Authenticator) -> None:
    errors = []
    for user, password in [("anna", "wrong password"), ("nobody", PASSWORD)]:
        with pytest.raises(WireError) as info:
            auth.login(user, password, "dev", None, "192.0.2.1")
        errors.append(info.value)
    assert errors[0] == errors[1]
    assert errors[0].status == 401


def test_a_disabled_user_gets_bad_login_and_loses_their_tokens(auth: Authenticator, store: Store) -> None:
    token, _ = auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")
    with store.db.write() as conn:
        conn.exec_driver_sql("UPDATE users SET disabled = 1 WHERE name = 'anna'")
    assert code_of(lambda: auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")) == "bad_login"
    assert code_of(lambda: auth.device_of(token)) == "unauthenticated"


def test_the_sixth_failure_waits_and_the_password_is_not_checked(auth: Authenticator, hasher: CountingHasher,
                                                                  clock: Clock) -> None:
    for _ in range(5):
        assert code_of(lambda: auth.login("anna", "wrong password", "dev", None, "192.0.2.1")) == "bad_login"
    before = hasher.calls
    with pytest.raises(WireError) as info:
        auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")  # even the right password
    assert info.value.code == "rate_limited" and info.value.details == {"retry_after": 1}
    assert hasher.calls == before
    clock.now += 1
    token, _ = auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")
    assert is_token(token)
    # A success forgets the failures.
    assert code_of(lambda: auth.login("anna", "wrong password", "dev", None, "192.0.2.1")) == "bad_login"


def test_an_unknown_name_is_limited_like_a_known_one(auth: Authenticator) -> None:
    for _ in range(5):
        auth_error = code_of(lambda: auth.login("nobody", "wrong password", "dev", None, "192.0.2.1"))
        assert auth_error == "bad_login"
    assert code_of(lambda: auth.login("nobody", "wrong password", "dev", None, "192.0.2.1")) == "rate_limited"


def test_the_address_limit(auth: Authenticator, clock: Clock) -> None:
    for i in range(30):
        code_of(lambda i=i: auth.login(f"user{i}", "wrong password", "dev", None, "198.51.100.1"))
    assert code_of(lambda: auth.login("anna", PASSWORD, "dev", None, "198.51.100.1")) == "rate_limited"
    token, _ = auth.login("anna", PASSWORD, "dev", None, "198.51.100.2")
    assert is_token(token)


def test_twenty_parallel_logins_run_at_most_two_argon2_at_once(store: Store) -> None:
    hasher = CountingHasher()
    passwords = Passwords(hasher, HashGate(concurrent=2, waiting=20))
    add_user(store, passwords, "anna", PASSWORD)
    auth = Authenticator(store, passwords, LoginLimiter(per_address=100))

    def one(i: int) -> str:
        try:
            auth.login("anna" if i % 2 else f"nobody{i}", PASSWORD, f"dev{i}", None, f"192.0.2.{i}")
            return "ok"
        except WireError as exc:
            return exc.code

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(one, range(20)))
    assert sorted(outcomes) == ["bad_login"] * 10 + ["ok"] * 10
    assert hasher.peak == 2 and hasher.calls >= 20


def test_a_full_gate_is_rate_limited_not_verified(store: Store) -> None:
    hold = threading.Event()
    hasher = CountingHasher(hold)
    passwords = Passwords(cheap_hasher(), HashGate(concurrent=1, waiting=0))
    add_user(store, passwords, "anna", PASSWORD)
    passwords.hasher = hasher
    auth = Authenticator(store, passwords, LoginLimiter())
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(auth.login, "anna", PASSWORD, "dev", None, "192.0.2.1")
        for _ in range(1000):
            if hasher.running:
                break
            hold.wait(0.01)
        assert code_of(lambda: auth.login("anna", PASSWORD, "dev", None, "192.0.2.2")) == "rate_limited"
        hold.set()
        assert is_token(first.result(timeout=10)[0])


def test_a_revoked_token_is_refused(auth: Authenticator) -> None:
    token, who = auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")
    other, _ = auth.login("anna", PASSWORD, "dev2", None, "192.0.2.1")
    auth.device_of(token)
    auth.revoke(who.device.id, who)
    assert code_of(lambda: auth.device_of(token)) == "unauthenticated"
    assert auth.device_of(other).device.name == "dev2"


def test_replaces_revokes_the_old_device_in_the_login(auth: Authenticator) -> None:
    old, who = auth.login("anna", PASSWORD, "laptop", None, "192.0.2.1")
    new, again = auth.login("anna", PASSWORD, "laptop", who.device.id, "192.0.2.1")
    assert code_of(lambda: auth.device_of(old)) == "unauthenticated"
    assert auth.device_of(new).device.id == again.device.id != who.device.id


def test_replaces_cannot_revoke_another_users_device(auth: Authenticator) -> None:
    token, root = auth.login("root", PASSWORD, "server", None, "192.0.2.1")
    assert code_of(lambda: auth.login("anna", PASSWORD, "x", root.device.id, "192.0.2.1")) == "not_found"
    assert auth.device_of(token).device.id == root.device.id


def test_only_an_admin_revokes_another_users_device(auth: Authenticator) -> None:
    anna_token, anna = auth.login("anna", PASSWORD, "laptop", None, "192.0.2.1")
    root_token, root = auth.login("root", PASSWORD, "server", None, "192.0.2.1")
    assert code_of(lambda: auth.revoke(root.device.id, anna)) == "not_found"
    assert code_of(lambda: auth.revoke("D" + "x" * 500, anna)) == "not_found"
    assert auth.device_of(root_token).device.id == root.device.id
    auth.revoke(anna.device.id, root)
    assert code_of(lambda: auth.device_of(anna_token)) == "unauthenticated"
    auth.revoke(anna.device.id, root)  # twice is done


def test_tokens_are_stored_only_as_their_sha256(auth: Authenticator, store: Store, tmp_path: Path) -> None:
    tokens = [auth.login("anna", PASSWORD, f"dev{i}", None, "192.0.2.1")[0] for i in range(3)]
    store.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("meta.db*"))
    db = sqlite3.connect(tmp_path / "data" / "meta.db")
    try:
        hashes = {row[0] for row in db.execute("SELECT token_hash FROM devices")}
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in tokens}
    for token in tokens:
        assert token not in dump and token.encode() not in raw
        assert token[4:].encode() not in raw
    assert PASSWORD not in dump and PASSWORD.encode() not in raw


@pytest.mark.parametrize("token", [
    "", "slt_", "slt_" + "A" * 42, "slt_" + "A" * 44, "slt_" + "A" * 42 + "=", "Bearer x", "slt_" + "é" * 43,
    "slt_" + "\udc80" * 43, "x" * 1_000_000,
])
def test_malformed_tokens_are_refused_without_a_lookup(auth: Authenticator, token: str) -> None:
    calls = []
    real = auth.store.devices.by_token_hash
    auth.store.devices.by_token_hash = lambda h: calls.append(h) or real(h)  # type: ignore[method-assign]
    assert code_of(lambda: auth.device_of(token)) == "unauthenticated"
    assert calls == []


def test_a_well_formed_unknown_token_is_refused(auth: Authenticator) -> None:
    assert code_of(lambda: auth.device_of(new_token())) == "unauthenticated"


@pytest.mark.parametrize(("args", "code"), [
    (("anna", PASSWORD, ""), "bad_request"),
    (("anna", PASSWORD, "x" * 65), "bad_request"),
    (("anna", PASSWORD, "line\nbreak"), "bad_request"),
    (("anna", "x" * 1025, "dev"), "too_large"),
    ((None, PASSWORD, "dev"), "bad_request"),
    (("anna", 12345678, "dev"), "bad_request"),
])
def test_malformed_logins_are_refused_before_hashing(auth: Authenticator, hasher: CountingHasher,
                                                     args: tuple[object, object, object], code: str) -> None:
    before = hasher.calls
    assert code_of(lambda: auth.login(*args, None, "192.0.2.1")) == code  # type: ignore[arg-type]
    assert hasher.calls == before


def test_a_lone_surrogate_password_is_a_bad_login(auth: Authenticator) -> None:
    assert code_of(lambda: auth.login("anna", "abc\udc80defgh", "dev", None, "192.0.2.1")) == "bad_login"


def test_an_old_hash_is_replaced_on_login(store: Store) -> None:
    add_user(store, Passwords(cheap_hasher(), HashGate()), "anna", PASSWORD)
    old = store.users.get("anna")
    assert old is not None
    stronger = PasswordHasher(time_cost=2, memory_cost=8, parallelism=1, hash_len=16, salt_len=8, type=Type.ID)
    auth = Authenticator(store, Passwords(stronger, HashGate()), LoginLimiter())
    auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")
    new = store.users.get("anna")
    assert new is not None and new.password_hash != old.password_hash and "t=2" in new.password_hash
    auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")  # the new hash verifies


def test_last_seen_is_written_at_most_once_a_minute(auth: Authenticator, store: Store) -> None:
    token, who = auth.login("anna", PASSWORD, "dev", None, "192.0.2.1")
    writes = []
    real = store.devices.seen
    store.devices.seen = lambda d, now=None: writes.append(d) or real(d, now)  # type: ignore[method-assign]
    for _ in range(10):
        auth.device_of(token)
    assert writes == [who.device.id]
    device = store.devices.get(who.device.id)
    assert device is not None and device.last_seen_ns is not None


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer slt_short", "Bearer  ", "slt_x"])
def test_bearer_header_without_a_token(header: str | None) -> None:
    assert code_of(lambda: bearer_token(header)) == "unauthenticated"


def test_bearer_header_with_a_token() -> None:
    token = new_token()
    assert bearer_token(f"Bearer {token}") == token
    assert bearer_token(f"bearer  {token} ") == token
    assert token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert new_token() != token
