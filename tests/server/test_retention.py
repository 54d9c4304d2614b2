"""Version retention (issue 14, design D8): the pure rule as a table and as properties, the cap per user,
the collector applying it to a store (never a live file's content, never a version restored meanwhile),
``DATA/server.toml``, and ``syncline serve --gc`` with its clock guard."""

from __future__ import annotations

import time
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.core.errors import UsageError
from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import Expect, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.config import load_server_config
from syncline.server.store import Store
from syncline.server.store.folder import FolderStore
from syncline.server.store.gc import collect
from syncline.server.store.retention import CAP_MIN_AGE_S, DAY_NS, Kept, Policy, keep, keep_of_path, over_cap

from ..daemonserver import syncline
from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

NOW = 1_800_000_000 * 10**9  # a Friday, 2027-01-15 08:00 UTC
H = 3600 * 10**9
POLICY = Policy()  # all for a day, daily for 30 days, weekly for 52 weeks, trash 30 days


def _ago(*ages_ns: int, path: str = "f", trash_last: bool = False) -> list[Kept]:
    out = [Kept(n, path, NOW - age, 10) for n, age in enumerate(ages_ns)]
    if trash_last:
        newest = min(range(len(out)), key=lambda i: ages_ns[i])
        out[newest] = Kept(out[newest].id, path, out[newest].kept_ns, 10, trash=True)
    return out


@pytest.mark.parametrize(("ages", "kept"), [
    ((1 * H, 5 * H, 23 * H), {0, 1, 2}),  # a day: all of them
    ((25 * H, 26 * H), {0}),  # the same day, older than a day: its newest
    ((2 * DAY_NS, 3 * DAY_NS, 29 * DAY_NS), {0, 1, 2}),  # one a day each
    ((31 * DAY_NS, 32 * DAY_NS), {0}),  # a Tuesday and a Monday a month back: one ISO week, its newest
    ((31 * DAY_NS, 33 * DAY_NS), {0, 1}),  # a Tuesday and the Sunday before: two weeks
    ((360 * DAY_NS, 400 * DAY_NS), {0}),  # past 52 weeks: gone
    ((-5 * H,), {0}),  # a future time (the clock went back): kept
])
def test_the_age_buckets(ages: tuple[int, ...], kept: set[int]) -> None:
    assert keep(_ago(*ages), NOW, POLICY) == kept


def test_a_deleted_file_stays_its_trash_time_with_its_versions_then_all_goes() -> None:
    versions = _ago(10 * DAY_NS, 10 * DAY_NS + H, 200 * DAY_NS, trash_last=True)
    assert keep_of_path(versions, NOW, POLICY) == {0, 2}, "the trash row, and the buckets' choice of the rest"
    assert keep_of_path(versions, NOW + 21 * DAY_NS, POLICY) == set(), "30 days after the delete: all of it"
    live = _ago(10 * DAY_NS, 10 * DAY_NS + H)  # not deleted: the buckets alone
    assert keep_of_path(live, NOW + 21 * DAY_NS, POLICY) == {0}


_ages = st.lists(st.integers(min_value=-2 * DAY_NS, max_value=500 * DAY_NS), min_size=0, max_size=40)


@settings(max_examples=300, deadline=None)
@given(_ages, st.booleans())
def test_retention_properties(ages: list[int], deleted: bool) -> None:
    """Idempotent; never drops a version younger than keep_all; keeps the newest version of every day and
    every week within reach; only ever drops (a second pass over what stayed drops nothing more)."""
    versions = _ago(*ages, trash_last=deleted and bool(ages))
    stay = keep(versions, NOW, POLICY)
    assert stay <= {v.id for v in versions}
    assert keep([v for v in versions if v.id in stay], NOW, POLICY) == stay, "idempotent"
    trash_gone = any(v.trash and NOW - v.kept_ns >= POLICY.trash_s * 10**9 for v in versions)
    if trash_gone:
        assert stay == set(), "a deleted file past its trash time goes with every version"
        return
    for v in versions:
        if NOW - v.kept_ns < POLICY.keep_all_s * 10**9 or v.trash:
            assert v.id in stay
    for reach, width in ((POLICY.keep_daily_s, DAY_NS), (POLICY.keep_weekly_s, 7 * DAY_NS)):
        buckets: dict[int, Kept] = {}
        for v in versions:
            if POLICY.keep_all_s * 10**9 <= NOW - v.kept_ns < reach * 10**9:
                key = (v.kept_ns // DAY_NS + 3) // 7 if width > DAY_NS else v.kept_ns // DAY_NS
                if key not in buckets or (v.kept_ns, v.id) > (buckets[key].kept_ns, buckets[key].id):
                    buckets[key] = v
        if reach == POLICY.keep_daily_s:
            assert all(b.id in stay for b in buckets.values()), "the newest of every day within 30 days"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400 * DAY_NS), st.integers(0, 10**6)), max_size=40),
       st.integers(0, 10**7))
def test_the_cap_drops_the_oldest_and_never_one_under_a_day(rows: list[tuple[int, int]], cap: int) -> None:
    versions = [Kept(n, f"p{n}", NOW - age, size) for n, (age, size) in enumerate(rows)]
    drop = over_cap(versions, NOW, cap)
    assert all(NOW - v.kept_ns >= CAP_MIN_AGE_S * 10**9 for v in versions if v.id in drop)
    left = sum(v.size for v in versions if v.id not in drop)
    oldest_left = min((v.kept_ns for v in versions if v.id not in drop), default=NOW)
    assert all(v.kept_ns <= oldest_left for v in versions if v.id in drop), "the oldest go first"
    if left > cap:  # over still: only because the oldest left is too young to go
        assert NOW - oldest_left < CAP_MIN_AGE_S * 10**9
    if drop:  # as few as needed: without the last one dropped it would not fit
        last = max((v for v in versions if v.id in drop), key=lambda v: (v.kept_ns, v.id))
        assert left + last.size > cap


def _write(fs: FolderStore, path: str, data: bytes) -> None:
    found = fs.stat_many([path])[1][0]
    assert not isinstance(found, WireError)
    digest, chunks = put_bytes(fs, data)
    _, [r] = fs.apply_ops([Op(new_op_id(), "put", path, Expect.of(found.entry()) if found else None,
                              OpEntry(1, 0o644, len(data), digest), chunks)], WirePolicy(), "D1")
    assert r.done, r


def test_the_collector_applies_the_policy_and_the_cap(store: tuple[Store, int], fs: FolderStore) -> None:
    """Five versions of one file, kept now: a year on, none stays (past 52 weeks) and the live file reads
    whole; with a cap, the oldest go first as soon as they are a day old, never the live content."""
    s = store[0]
    for n in range(5):
        _write(fs, "f", b"version %d" % n)
    _, kept = fs.versions("f", 100)
    assert len(kept) == 4
    report = collect(s, now_ns=time.time_ns() + 2 * DAY_NS, policy=Policy(keep_all_s=7 * 86400, cap=20))
    assert report.trash_dropped == 2, "9 bytes each: two of the four fit 20 bytes, the oldest went"
    _, left = fs.versions("f", 100)
    assert [b"".join(fs.read_trashed(v.version_id)[1]) for v in left] == [b"version 3", b"version 2"]
    collect(s, now_ns=time.time_ns() + 400 * DAY_NS)
    assert fs.versions("f", 100)[1] == []
    assert b"".join(fs.read("f")[1]) == b"version 4"
    assert blake3.blake3(b"version 4").digest() in set(s.chunks.ids(fs.ns))


def test_server_toml_is_read_and_a_mistake_is_one_line(tmp_path: Path) -> None:
    assert load_server_config(tmp_path).policy == Policy(), "no file: the defaults"
    (tmp_path / "server.toml").write_text('[versions]\nkeep_all = "2d"\nkeep_daily = "0"\ncap_per_user = "1GiB"\n'
                                          '[trash]\nkeep = "90d"\n[gc]\nevery = "30m"\n')
    got = load_server_config(tmp_path)
    assert got.policy == Policy(2 * 86400, 0, 52 * 7 * 86400, 90 * 86400, 1 << 30) and got.gc_every_s == 1800
    assert got.dav_account_passwords, "WebDAV takes account passwords unless told not to"
    (tmp_path / "server.toml").write_text("[webdav]\naccount_passwords = false\n")
    assert not load_server_config(tmp_path).dav_account_passwords
    for bad, says in (('[versions]\nkeep_all = "soon"\n', "keep_all in [versions]"),
                      ('[versions]\nkeep_hourly = "1d"\n', "unknown key 'keep_hourly'"),
                      ('[gc]\nevery = "1s"\n', "every in [gc]"), ("[oops\n", "not TOML"),
                      ('[versions]\ncap_per_user = "lots"\n', "cap_per_user"), ("port = 1\n", "unknown table"),
                      ('[webdav]\naccount_passwords = "no"\n', "account_passwords in [webdav]")):
        (tmp_path / "server.toml").write_text(bad)
        with pytest.raises(UsageError) as err:
            load_server_config(tmp_path)
        assert says in str(err.value) and "\n" not in str(err.value), bad


def test_serve_gc_collects_once_and_the_clock_guard_keeps_versions(tmp_path: Path) -> None:
    """``syncline serve --gc``: one collection and exit; after one that ran, a clock far ahead drops no
    version until ``--clock-ok``."""
    data = tmp_path / "data"
    from syncline.server.store import open_store
    from syncline.server.store.gc import LAST_RETENTION_KEY

    s = open_store(data, min_free=0)
    try:
        user = s.users.add("anna", "x", False)
        fs = s.folder(s.folders.create(user.id, "Docs")[0])
        _write(fs, "f", b"one")
        _write(fs, "f", b"two")
        with s.db.write() as conn:  # the last collection that ran retention: a year ago
            from syncline.server.store import schema as t

            conn.execute(t.settings.insert().values(key=LAST_RETENTION_KEY, text=str(time.time_ns() - 365 * DAY_NS)))
        (data / "server.toml").write_text('[versions]\nkeep_all = "1s"\nkeep_daily = "0"\nkeep_weekly = "0"\n')
    finally:
        s.close()
    time.sleep(1.1)  # past keep_all
    done = syncline("serve", "--gc", "--data", str(data))
    assert done.returncode == 0 and "no version was dropped" in done.stderr, done
    assert "0 kept versions dropped" in done.stdout, done
    done = syncline("serve", "--gc", "--clock-ok", "--data", str(data))
    assert done.returncode == 0 and "1 kept versions dropped" in done.stdout, done
    again = syncline("serve", "--gc", "--data", str(data))
    assert again.returncode == 0 and "no version was dropped" not in again.stderr, "the clock is trusted again"
    bad = syncline("serve", "--clock-ok", "--data", str(data))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1, bad
    none = syncline("serve", "--gc", "--data", str(tmp_path / "nothing"))
    assert none.returncode == 2 and "no server data" in none.stderr, none


def test_a_version_restored_while_retention_decides_is_not_dropped(store: tuple[Store, int], fs: FolderStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Retention decides on a read and drops in short write transactions: a version restored in between
    (now live) is not dropped, and the live file reads whole."""
    from syncline.server.store import gc

    s = store[0]
    _write(fs, "f", b"old")
    _write(fs, "f", b"new")
    _, [old] = fs.versions("f", 10)
    decide = gc.keep

    def restore_then_decide(kept: list[Kept], now_ns: int, policy: Policy) -> set[int]:
        stay = decide(kept, now_ns, policy)
        current = fs.stat_many(["f"])[1][0]
        assert current is not None and not isinstance(current, WireError)
        _, [r] = fs.apply_ops([Op(new_op_id(), "restore", "f", Expect.of(current.entry()),
                                  version_id=old.version_id)], WirePolicy(keep_changed=True), "D1")
        assert r.done, r
        return stay

    monkeypatch.setattr(gc, "keep", restore_then_decide)
    report = collect(s, now_ns=time.time_ns() + 400 * DAY_NS)  # past every rule: both versions would go
    assert b"".join(fs.read("f")[1]) == b"old", "the restored version is live and whole"
    assert report.trash_dropped == 0, "the one kept then was restored; the one it replaced was kept after"
