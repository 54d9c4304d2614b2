"""The server stopped and started again (SIGTERM, a graceful stop) while a device's sync is under way."""

from __future__ import annotations

import os

import pytest

from syncline.testing import NetProxy

from .harness import Device, Server, converge, wait_for

MiB = 1 << 20


@pytest.mark.slow
def test_the_server_restarted_mid_sync(devices: list[Device], server: Server, proxy: NetProxy) -> None:
    a, b, _c = devices
    a.write("keep.txt", "kept")
    converge(devices)
    bigs = {f"big/{n}.bin": os.urandom(6 * MiB) for n in range(4)}
    for rel, data in bigs.items():
        a.write(rel, data)
    b.write("b.txt", "written on b meanwhile")
    up = proxy.bytes_up
    running = a.start_sync()
    wait_for("the upload under way", lambda: proxy.bytes_up - up > 2 * MiB or running.poll() is not None,
             every=0.01)
    server.stop()
    server.start()
    first = a.finish(running)
    if first.code != 0:
        a.sync_when_free()
    final = converge(devices)
    assert final == {"keep.txt": b"kept", "b.txt": b"written on b meanwhile", **{k: v for k, v in bigs.items()}}
