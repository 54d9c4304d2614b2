"""A folder's activity (protocol 1.3): the journal counted per UTC day and op, on a fake clock (the store
stamps ``changes.made_ns`` with ``time.time_ns``, set here as the store tests set it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.formats.wire.activity import DAY_NS, JOURNAL_OPS, Activity, day_name, day_start_ns
from syncline.formats.wire.ops import new_op_id
from syncline.server.store.activity import counts_query
from syncline.server.store.gc import collect

from .apphelp import make_world, ops_body, put_file, run

# 2026-03-10 00:00:00 UTC: the fake clock's "today" starts here.
TODAY = 1_773_100_800 * 10**9
MTIME = 1_700_000_000_000_000_000  # what put_item gives every file


class Clock:
    """``time.time_ns`` for the whole process while a test runs: the store's commits and the route's now."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: int) -> None:
        self.now = now
        monkeypatch.setattr(time, "time_ns", lambda: self.now)


def _file(size: int) -> dict[str, Any]:
    return {"kind": "file", "size": size, "mtime_ns": MTIME}


async def _ops(c: httpx.AsyncClient, folder: str, *items: dict[str, Any]) -> None:
    r = await c.post(f"/v1/folders/{folder}/ops", json=ops_body(*items))
    assert r.status_code == 200, r.text
    assert all(x["done"] for x in r.json()["results"]), r.text


def _mkdir(path: str) -> dict[str, Any]:
    return {"id": new_op_id(), "op": "mkdir", "path": path, "expect": None, "entry": {"mode": 0o755, "mtime_ns": 5}}


def _zeros(day: str) -> dict[str, Any]:
    return {"day": day, **dict.fromkeys(JOURNAL_OPS, 0), "total": 0}


def test_counts_per_day_and_op_across_day_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = make_world(tmp_path)
    clock = Clock(monkeypatch, TODAY - 2 * DAY_NS + 3600 * 10**9)  # 2026-03-08 01:00

    async def main() -> dict[str, Any]:
        async with w.client() as c:
            assert (await c.put("/v1/folders/Docs")).status_code == 201
            await put_file(c, "Docs", "a.txt", b"one")
            await _ops(c, "Docs", _mkdir("d"))
            clock.now = TODAY - DAY_NS - 1  # 2026-03-08 23:59:59.999999999: still the 8th
            await put_file(c, "Docs", "b.txt", b"two")
            clock.now = TODAY - DAY_NS  # midnight: the 9th
            await _ops(c, "Docs", {"id": new_op_id(), "op": "move", "path": "a.txt", "to": "d/a.txt",
                                   "expect": _file(3)})
            clock.now = TODAY - 1  # the last nanosecond of the 9th
            await _ops(c, "Docs", {"id": new_op_id(), "op": "delete", "path": "b.txt", "expect": _file(3)},
                       {"id": new_op_id(), "op": "meta", "path": "d", "expect": None,
                        "entry": {"mode": 0o700, "mtime_ns": 9}})
            clock.now = TODAY + 12 * 3600 * 10**9  # noon on the 10th: today
            await put_file(c, "Docs", "d/a.txt", b"edited")  # an edit is a put too
            await _ops(c, "Docs", {"id": new_op_id(), "op": "symlink", "path": "l", "expect": None,
                                   "entry": {"target": "d/a.txt", "mode": 0o777, "mtime_ns": 6}})
            r = await c.get("/v1/folders/Docs/activity", params={"days": 4})
            assert r.status_code == 200, r.text
            return dict(r.json())

    body = run(main())
    assert body["folder"] == "Docs" and body["ops"] == list(JOURNAL_OPS) and body["kept_from"] is None
    assert body["days"] == [
        _zeros("2026-03-07"),
        {**_zeros("2026-03-08"), "put": 2, "mkdir": 1, "total": 3},
        {**_zeros("2026-03-09"), "move": 1, "delete": 1, "meta": 1, "total": 3},
        {**_zeros("2026-03-10"), "put": 1, "symlink": 1, "total": 2},
    ]


def test_the_default_window_is_30_days_and_pruned_history_is_named(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Days older than what the journal keeps show as zeros, and ``kept_from`` says where the record starts."""
    w = make_world(tmp_path)
    clock = Clock(monkeypatch, TODAY - 40 * DAY_NS)

    async def main() -> list[dict[str, Any]]:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await put_file(c, "Docs", "old.txt", b"old")
            clock.now = TODAY - 5 * DAY_NS
            await put_file(c, "Docs", "new.txt", b"new")
            clock.now = TODAY
            before = (await c.get("/v1/folders/Docs/activity", params={"days": 90})).json()
            collect(w.store, now_ns=TODAY, history_min=0)  # the 40-day-old change goes
            after = (await c.get("/v1/folders/Docs/activity", params={"days": 90})).json()
            default = (await c.get("/v1/folders/Docs/activity")).json()
            return [before, after, default]

    before, after, default = run(main())
    assert len(before["days"]) == len(after["days"]) == 90 and len(default["days"]) == 30
    assert before["days"][-1]["day"] == after["days"][-1]["day"] == default["days"][-1]["day"] == "2026-03-10"
    assert default["days"][0]["day"] == "2026-02-09"
    assert [(d["day"], d["put"]) for d in before["days"] if d["total"]] == [("2026-01-29", 1), ("2026-03-05", 1)]
    assert before["kept_from"] is None
    assert [(d["day"], d["put"]) for d in after["days"] if d["total"]] == [("2026-03-05", 1)]
    assert after["kept_from"] == "2026-03-05"
    assert [d["day"] for d in default["days"] if d["total"]] == ["2026-03-05"]


@pytest.mark.parametrize("days", ["0", "91", "-1", "1.5", "x", "", "30 "])
def test_days_out_of_bounds_or_not_a_number_is_refused(tmp_path: Path, days: str) -> None:
    w = make_world(tmp_path)

    async def main() -> httpx.Response:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            return await c.get("/v1/folders/Docs/activity", params={"days": days})

    r = run(main())
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text
    assert "days" in r.json()["error"]["message"]


@pytest.mark.parametrize("days", [1, 90])
def test_the_bounds_themselves_are_served(tmp_path: Path, days: int) -> None:
    w = make_world(tmp_path)

    async def main() -> httpx.Response:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await put_file(c, "Docs", "a.txt", b"a")
            return await c.get("/v1/folders/Docs/activity", params={"days": days})

    r = run(main())
    assert r.status_code == 200, r.text
    assert len(r.json()["days"]) == days and r.json()["days"][-1]["put"] == 1


def test_no_read_right_is_answered_as_no_such_folder(tmp_path: Path) -> None:
    """Bob asking for anna's folder gets what he gets from any folder route for it, and what a folder
    that does not exist gets: nothing says whether it is there."""
    w = make_world(tmp_path)

    async def main() -> list[httpx.Response]:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await put_file(c, "Docs", "a.txt", b"a")
        async with w.client("bob") as c:
            return [await c.get("/v1/folders/Docs/activity"), await c.get("/v1/folders/Docs/entries"),
                    await c.get("/v1/folders/Nothing/activity")]

    activity, entries, nothing = run(main())
    assert activity.status_code == entries.status_code == nothing.status_code == 404
    assert activity.json() == entries.json()
    assert activity.json()["error"]["code"] == nothing.json()["error"]["code"] == "not_found"


def test_a_member_with_read_only_rights_sees_the_activity(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> httpx.Response:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await put_file(c, "Docs", "a.txt", b"a")
            assert (await c.put("/v1/folders/Docs/members/bob", json={"rights": "ro"})).status_code == 201
            uid = (await c.get("/v1/folders/Docs")).json()["uid"]
        async with w.client("bob") as c:
            assert (await c.post(f"/v1/shares/{uid}/accept", json={"name": "Annas"})).status_code == 200
            return await c.get("/v1/folders/Annas/activity", params={"days": 1})

    r = run(main())
    assert r.status_code == 200, r.text
    assert r.json()["folder"] == "Annas" and r.json()["days"][0]["put"] == 1


def test_without_a_token_it_is_401(tmp_path: Path) -> None:
    w = make_world(tmp_path)

    async def main() -> httpx.Response:
        async with w.client(None) as c:
            return await c.get("/v1/folders/Docs/activity")

    assert run(main()).status_code == 401


def test_the_count_reads_one_range_of_the_journal_s_key(tmp_path: Path) -> None:
    """Bounded cost: the folder's rows by the primary key, never a scan of every folder's journal."""
    w = make_world(tmp_path)
    with w.store.db.read() as conn:
        sql = str(counts_query(7, TODAY - 29 * DAY_NS, 30).compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "SEARCH changes USING INDEX" in plan and "folder_id=?" in plan and "SCAN changes" not in plan, plan


def test_days_are_utc_and_an_op_the_table_does_not_know_is_kept() -> None:
    assert day_start_ns(TODAY + DAY_NS - 1) == TODAY and day_start_ns(TODAY) == TODAY
    assert day_name(TODAY - 1) == "2026-03-09" and day_name(TODAY) == "2026-03-10"
    body = Activity("Docs", TODAY, [{"put": 2, "later-op": 1}], None).to_json()
    assert body["days"] == [{"day": "2026-03-10", **dict.fromkeys(JOURNAL_OPS, 0), "put": 2, "later-op": 1,
                             "total": 3}]
