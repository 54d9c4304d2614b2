"""Three ``syncline daemon`` processes against a server: edits propagate, a device that was off catches up,
the server restarted, a daemon killed at a crash point."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.testing import NetProxy

from .harness import LEASE_S, Daemon, Server, settle, wait_for

MiB = 1 << 20


@pytest.fixture
def daemons(tmp_path: Path, server: Server) -> Iterator[list[Daemon]]:
    running = [Daemon.connected(tmp_path, name, server) for name in ("a", "b", "c")]
    try:
        for d in running:  # one after the other: first runs at once race for the folder id (test_devices)
            d.start()
            wait_for(f"{d.name} in sync", lambda d=d: "in sync" in d.status())
        yield running
    finally:
        for d in running:
            d.stop()


def test_edits_on_three_daemons_propagate(daemons: list[Daemon]) -> None:
    _, b, c = daemons
    for d in daemons:
        d.write(f"{d.name}/note.txt", f"from {d.name}")
    want = {f"{d.name}/note.txt": f"from {d.name}".encode() for d in daemons}
    settle(daemons, want)
    b.write("a/note.txt", "a's note, edited on b")
    (c.dir / "b/note.txt").unlink()
    big = os.urandom(2 * MiB)
    c.write("c/big.bin", big)
    settle(daemons, {"a/note.txt": b"a's note, edited on b", "c/note.txt": b"from c", "c/big.bin": big})


def test_a_device_that_was_off_catches_up(daemons: list[Daemon]) -> None:
    a, b, c = daemons
    a.write("shared.txt", "v1")
    a.write("gone.txt", "to be deleted")
    settle(daemons, {"shared.txt": b"v1", "gone.txt": b"to be deleted"})
    c.stop()
    a.write("shared.txt", "v2 while c was off")
    b.write("from-b.txt", "b")
    (a.dir / "gone.txt").unlink()
    settle([a, b], {"shared.txt": b"v2 while c was off", "from-b.txt": b"b"})
    c.write("from-c.txt", "written while off")
    c.start()
    settle(daemons, {"shared.txt": b"v2 while c was off", "from-b.txt": b"b", "from-c.txt": b"written while off"})


@pytest.mark.slow
def test_daemons_follow_a_server_restart(daemons: list[Daemon], server: Server) -> None:
    a, b, _ = daemons
    _in_sync_then_server_stopped(daemons, server)
    wait_for("a daemon to see the server gone", lambda: "offline" in a.status())
    a.write("while-down.txt", "written while the server was down")
    server.start()
    settle(daemons, {"before.txt": b"before", "while-down.txt": b"written while the server was down"})
    b.write("after.txt", "after the restart")
    settle(daemons, {"before.txt": b"before", "while-down.txt": b"written while the server was down",
                     "after.txt": b"after the restart"})


@pytest.mark.slow
def test_daemons_killed_at_each_crash_point_catch_up(daemons: list[Daemon], server: Server) -> None:
    """b, c and d are restarted with a crash point each (``barrier``, ``base``, ``commit``); a's writes make
    them download and die there; started again (once their leases lapse), all converge."""
    a, b, c = daemons
    d = Daemon.connected(a.dir.parent, "d", server)
    d.start()
    everyone = [a, b, c, d]
    try:
        a.write("seed.txt", "seed")
        settle(everyone, {"seed.txt": b"seed"})
        crashers = [(b, "barrier"), (c, "base"), (d, "commit")]
        for daemon, point in crashers:
            daemon.stop()
            daemon.start(crash_at=f"{point}:1")
        want = {"seed.txt": b"seed", "one.txt": b"one", "two.bin": os.urandom(2 * MiB)}
        a.write("one.txt", "one")
        a.write("two.bin", want["two.bin"])
        for daemon, point in crashers:
            proc = daemon.proc
            assert proc is not None
            wait_for(f"{daemon.name} to die at {point}", lambda p=proc: p.poll() is not None, LEASE_S)
            assert proc.returncode == -signal.SIGKILL, f"{daemon.name}: {daemon.log()}"
        b.write("b-after.txt", "b after its crash")
        want["b-after.txt"] = b"b after its crash"
        for daemon, _ in crashers:
            daemon.start()
        settle(everyone, want)
    finally:
        d.stop()


@pytest.mark.slow
def test_the_server_killed_at_its_commit_under_a_daemons_upload(daemons: list[Daemon], server: Server) -> None:
    a, b, _ = daemons
    _in_sync_then_server_stopped(daemons, server)
    server.start(crash_at="server-commit:1")
    big = os.urandom(6 * MiB)
    a.write("big.bin", big)
    b.write("small.txt", "small")
    assert server.wait_dead() == -signal.SIGKILL, server.log()
    server.start()
    settle(daemons, {"before.txt": b"before", "big.bin": big, "small.txt": b"small"})


def test_daemons_through_a_proxy_that_cuts_their_connections(tmp_path: Path, server: Server) -> None:
    """Every connection cut while the daemons idle (their event streams), then the connection carrying an
    upload cut in the middle: the daemons reconnect, and all converge."""
    with NetProxy("127.0.0.1", server.port) as proxy:
        pair = [Daemon.connected(tmp_path, name, server, proxy.port) for name in ("a", "b")]
        try:
            for d in pair:
                d.start()
                wait_for(f"{d.name} in sync", lambda d=d: "in sync" in d.status())
            a = pair[0]
            proxy.cut_all()
            a.write("after-cut.txt", "after the cut")
            settle(pair, {"after-cut.txt": b"after the cut"})
            rule = proxy.cut_after(2 * MiB, "up")
            big = os.urandom(6 * MiB)
            a.write("big.bin", big)
            wait_for("the upload cut", rule.done.is_set)
            settle(pair, {"after-cut.txt": b"after the cut", "big.bin": big})
        finally:
            for d in pair:
                d.stop()


def _in_sync_then_server_stopped(daemons: list[Daemon], server: Server) -> None:
    """``before.txt`` written on the first daemon and settled on all, then the server stopped (SIGTERM)."""
    daemons[0].write("before.txt", "before")
    settle(daemons, {"before.txt": b"before"})
    server.stop()
