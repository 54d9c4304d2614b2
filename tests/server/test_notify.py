"""The notifier: a commit in any thread reaches a live stream; a reader that reads nothing costs a slot."""

from __future__ import annotations

import asyncio
import threading

import pytest

from syncline.server.notify import InProcessNotifier, SubscriptionClosed

DEADLINE = 30.0  # generous: a busy machine may be slow, never wrong


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


def test_publish_from_another_thread_wakes_the_stream() -> None:
    async def main() -> list[tuple[int, int]]:
        notifier = InProcessNotifier()
        sub = notifier.subscribe("dev1", {7: 3})
        threading.Thread(target=notifier.publish, args=(7, 4)).start()
        got: list[tuple[int, int]] = []
        while not got:
            got = await sub.next(timeout=DEADLINE)
        return got

    assert run(main()) == [(7, 4)]


def test_a_stream_that_reads_nothing_gets_only_the_latest_position() -> None:
    async def main() -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        notifier = InProcessNotifier()
        sub = notifier.subscribe("dev1", {1: 0, 2: 0})

        def commits() -> None:
            for seq in range(1, 20_001):
                notifier.publish(1, seq)
            notifier.publish(2, 5)

        worker = threading.Thread(target=commits)
        worker.start()
        await asyncio.to_thread(worker.join)
        held = len(sub._pending)
        first = await sub.next(timeout=DEADLINE)
        second = await sub.next(timeout=0.05)
        return held, first, second

    held, first, second = run(main())
    assert held == 2
    assert first == [(1, 20_000), (2, 5)]
    assert second == []


def test_positions_already_seen_and_other_folders_are_not_delivered() -> None:
    async def main() -> list[tuple[int, int]]:
        notifier = InProcessNotifier()
        sub = notifier.subscribe("dev1", {1: 10})
        notifier.publish(1, 9)
        notifier.publish(1, 10)
        notifier.publish(3, 50)
        sub.note(1, 11)  # how the app fills in what the client missed
        sub.note(1, 11)
        return await sub.next(timeout=DEADLINE) + await sub.next(timeout=0.05)

    assert run(main()) == [(1, 11)]


def test_revoking_a_device_closes_its_streams_only() -> None:
    async def main() -> tuple[int, int, list[tuple[int, int]]]:
        notifier = InProcessNotifier()
        mine = [notifier.subscribe("dev1", {1: 0}) for _ in range(3)]
        other = notifier.subscribe("dev2", {1: 0})
        before = notifier.streams_of("dev1")
        waiting = asyncio.ensure_future(mine[0].next(timeout=DEADLINE))
        await asyncio.sleep(0)
        await asyncio.to_thread(notifier.close_owner, "dev1")
        with pytest.raises(SubscriptionClosed):
            await waiting
        for sub in mine[1:]:
            with pytest.raises(SubscriptionClosed):
                await sub.next(timeout=DEADLINE)
        notifier.publish(1, 1)
        return before, notifier.streams_of("dev1"), await other.next(timeout=DEADLINE)

    assert run(main()) == (3, 0, [(1, 1)])


def test_close_all_ends_every_stream_and_publish_after_is_harmless() -> None:
    async def main() -> int:
        notifier = InProcessNotifier()
        subs = [notifier.subscribe(f"dev{i}", {1: 0}) for i in range(4)]
        notifier.close_all()
        notifier.publish(1, 1)
        closed = 0
        for sub in subs:
            try:
                await sub.next(timeout=DEADLINE)
            except SubscriptionClosed:
                closed += 1
        return closed + notifier.streams_of("dev0")

    assert run(main()) == 4
