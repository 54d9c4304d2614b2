"""The event stream (SSE), driven through the ASGI interface so that it can be read as it is written."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from .apphelp import World, make_world, put_file, run


class Stream:
    """One ``GET /v1/events`` in flight: ``messages`` gets what the app sends; ``leave()`` disconnects.
    ``headers`` replace the ``Authorization`` of ``token`` (a web session sends its cookie instead)."""

    def __init__(self, app: Starlette, token: str, query: str, block_after: int | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._gone = asyncio.Event()
        self._sent = 0
        self._block_after = block_after
        self._asked = False
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": "/v1/events", "raw_path": b"/v1/events",
                 "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 5000),
                 "server": ("testserver", 80),
                 "headers": headers if headers is not None else [(b"authorization", f"Bearer {token}".encode())]}
        self.task = asyncio.create_task(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        self._sent += 1
        if self._block_after is not None and self._sent > self._block_after:
            await self._gone.wait()  # a client that reads nothing: the app's writes wait
        await self.messages.put(message)

    async def status(self) -> int:
        start = await self.messages.get()
        return int(start["status"])

    async def text(self) -> str:
        """The next piece of the body ("" once the stream has ended)."""
        message = await self.messages.get()
        if not message.get("more_body", False) and not message.get("body"):
            return ""
        return bytes(message["body"]).decode()

    async def event(self, kind: str = "seq") -> dict[str, Any]:
        """The next event (``kind`` names which; any other fails), skipping comments."""
        while True:
            piece = await self.text()
            assert piece, "the stream ended"
            if piece.startswith("event: "):
                assert piece.startswith(f"event: {kind}\n"), piece
                return dict(json.loads(piece.split("data: ", 1)[1]))

    async def leave(self) -> None:
        self._gone.set()
        await self.task


def _world(tmp_path: Path, **options: Any) -> World:
    return make_world(tmp_path, **options)


def test_initial_positions_then_live_commits(tmp_path: Path) -> None:
    w = _world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await c.put("/v1/folders/Quiet")
            await put_file(c, "Docs", "a.txt", b"a")
            s = Stream(w.app, w.tokens["anna"], "folder=Docs:0&folder=Quiet:0")
            assert await s.status() == 200
            assert await s.text() == "retry: 2000\n\n"
            assert await s.event() == {"folder": "Docs", "seq": 1}  # missed while away; Quiet is at 0
            await put_file(c, "Docs", "b.txt", b"b")
            assert await s.event() == {"folder": "Docs", "seq": 2}
            await s.leave()
        assert w.notifier.streams_of(w.device("anna").id) == 0

    run(main())


@pytest.mark.parametrize("how", ["logout", "outside"])
def test_keep_alive_comments_and_a_revocation_ends_the_stream(tmp_path: Path, how: str) -> None:
    """``logout`` closes the device's streams at once; a revocation made outside the process (``syncline``
    on the data directory: no notifier call) ends them at the next keep-alive."""
    w = _world(tmp_path, keepalive_s=0.2)
    device = w.device("anna")

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            s = Stream(w.app, w.tokens["anna"], "folder=Docs:0")
            assert await s.status() == 200
            assert await s.text() == "retry: 2000\n\n"
            assert await s.text() == ": keep-alive\n\n"
            if how == "logout":
                assert (await c.post("/v1/logout")).status_code == 204
            else:
                w.store.devices.revoke(device.id)
            while await s.text():  # the server ends the stream
                pass
            await s.task
        assert w.notifier.streams_of(device.id) == 0

    run(main())


def test_four_streams_per_device(tmp_path: Path) -> None:
    w = _world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            streams = [Stream(w.app, w.tokens["anna"], "folder=Docs:0") for _ in range(4)]
            assert [await s.status() for s in streams] == [200] * 4
            r = await c.get("/v1/events", params={"folder": "Docs:0"})
            assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
            assert "Retry-After" in r.headers
            await streams[0].leave()
            fifth = Stream(w.app, w.tokens["anna"], "folder=Docs:0")
            assert await fifth.status() == 200
            for s in [*streams[1:], fifth]:
                await s.leave()

    run(main())


def test_a_stream_that_reads_nothing_holds_one_slot_per_folder(tmp_path: Path) -> None:
    w = _world(tmp_path)
    anna = w.device("anna")
    folder, _ = w.store.folders.create(anna.user_id, "Docs")

    async def main() -> None:
        s = Stream(w.app, w.tokens["anna"], "folder=Docs:0", block_after=2)  # headers and retry, then stuck
        assert await s.status() == 200
        while w.notifier.streams_of(anna.id) == 0:
            await asyncio.sleep(0.01)
        for seq in range(1, 20_001):
            w.notifier.publish(folder.id, seq)
        (sub,) = list(w.notifier._subs)
        assert sub._pending == {folder.id: 20_000}  # the slot: the latest seq, never a backlog
        await s.leave()

    run(main())


def test_shares_and_a_revoked_share_on_the_member_s_stream(tmp_path: Path) -> None:
    """bob's stream with ``shares=1``: an offer is told (``event: shares``); once accepted and followed, a
    commit in the share arrives as in his own folder; revoked, the stream says so once and goes on with his
    own folder; other users' streams hear nothing of it."""
    w = _world(tmp_path)

    async def main() -> None:
        async with w.client("anna") as anna, w.client("bob") as bob:
            await anna.put("/v1/folders/Photos")
            await bob.put("/v1/folders/Mine")
            s = Stream(w.app, w.tokens["bob"], "shares=1&folder=Mine:0")
            assert await s.status() == 200
            assert await s.text() == "retry: 2000\n\n"
            assert (await anna.put("/v1/folders/Photos/members/bob", json={"rights": "rw"})).status_code == 201
            assert await s.event("shares") == {}
            [offer] = (await bob.get("/v1/shares")).json()["incoming"]
            assert (await bob.post(f"/v1/shares/{offer['uid']}/accept", json={})).status_code == 200
            assert await s.event("shares") == {}
            await s.leave()

            s = Stream(w.app, w.tokens["bob"], "folder=Photos:0&folder=Mine:0")
            assert await s.status() == 200
            await put_file(anna, "Photos", "a.txt", b"a")
            assert await s.event() == {"folder": "Photos", "seq": 1}
            assert (await anna.delete("/v1/folders/Photos/members/bob")).status_code == 204
            assert await s.event("revoked") == {"folder": "Photos"}
            await put_file(anna, "Photos", "b.txt", b"b")  # no longer followed: nothing
            await put_file(bob, "Mine", "c.txt", b"c")
            assert await s.event() == {"folder": "Mine", "seq": 1}
            r = await bob.get("/v1/events", params={"folder": "Photos:0"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "share_revoked"
            await s.leave()

    run(main())


def test_a_stream_needs_a_folder_or_shares(tmp_path: Path) -> None:
    w = _world(tmp_path)

    async def main() -> None:
        async with w.client("bob") as bob:
            r = await bob.get("/v1/events")
            assert r.status_code == 400 and "shares=1" in r.json()["error"]["message"]
            r = await bob.get("/v1/events", params={"shares": "2"})
            assert r.status_code == 400

    run(main())


def test_lock_changes_reach_the_folder_s_streams_without_a_seq(tmp_path: Path) -> None:
    w = _world(tmp_path)

    async def main() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/Docs")
            await put_file(c, "Docs", "a.txt", b"a")
            s = Stream(w.app, w.tokens["anna"], "folder=Docs:1")
            assert await s.status() == 200
            assert await s.text() == "retry: 2000\n\n"
            r = await c.post("/v1/folders/Docs/file-locks", json={"path": "a.txt"})
            assert r.status_code == 201
            assert await s.event("locks") == {"folder": "Docs", "lock_seq": 1}
            assert (await c.delete(f"/v1/folders/Docs/file-locks/{r.json()['lock']}")).status_code == 204
            assert await s.event("locks") == {"folder": "Docs", "lock_seq": 2}
            await put_file(c, "Docs", "b.txt", b"b")
            assert await s.event() == {"folder": "Docs", "seq": 2}, "a lock moved no seq"
            await s.leave()

    run(main())
