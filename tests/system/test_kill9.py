"""kill -9 at each crash point (``SYNCLINE_CRASH_AT``): of the server during a device's upload, and of a
device's sync. Afterwards every device converges, nothing is lost, no temp or torn file is left, and the
bytes through the proxy after the restart do not repeat what the server had stored."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from syncline.testing import NetProxy

from .harness import Device, Server, converge

MiB = 1 << 20
BIG = 20 * MiB  # one file: its first 16 MiB of chunks are one pack (UPLOAD_BATCH), the rest a second

# For each server crash point: at most how many bytes the run after the restart may send up. The first
# pack dies at the point: before its chunks are renamed into place, or renamed but not recorded (both:
# nothing is stored yet, the whole file is sent once more), or recorded (only the second pack's 4 MiB are
# left to send), or the commit itself is durable (nothing is left to send).
SLACK = MiB
SERVER_POINTS = {
    "server-chunks-temp": BIG + SLACK,
    "server-chunks-renamed": BIG + SLACK,
    "server-chunks-rows": BIG - 16 * MiB + SLACK,
    "server-commit": SLACK,
}
DEVICE_POINTS = ["barrier", "base", "commit"]


@pytest.mark.slow
def test_server_killed_at_each_crash_point_during_an_upload(tmp_path: Path, devices: list[Device], server: Server,
                                                            proxy: NetProxy) -> None:
    """One device per crash point uploads a big file to a server that dies there; the server restarts on
    its data dir; each device runs again (once its lease lapsed: the leases lapse together)."""
    crashers = [*devices, Device.connected(tmp_path, "d", server, proxy.port)]
    crashers[0].write("before.txt", "before")
    converge(crashers)
    bigs = {}
    for device, point in zip(crashers, SERVER_POINTS, strict=True):
        bigs[device.name] = big = os.urandom(BIG)
        device.write(f"media/big-{device.name}.bin", big)
        server.stop()
        server.start(crash_at=f"{point}:1")
        run = device.sync(expect=None)
        assert server.wait_dead() == -signal.SIGKILL, f"{point} not reached: {server.log()}"
        assert run.code not in (0, -signal.SIGKILL), f"{point}: the run went on as if the server had not died: {run}"
        assert (device.dir / f"media/big-{device.name}.bin").read_bytes() == big
    server.start()
    for device, (point, most) in zip(crashers, SERVER_POINTS.items(), strict=True):
        up = proxy.bytes_up
        device.sync_when_free()
        sent = proxy.bytes_up - up
        assert sent <= most, f"{point}: {sent} bytes sent up after the restart, at most {most} expected"
    final = converge(crashers)
    assert final == {"before.txt": b"before", **{f"media/big-{n}.bin": big for n, big in bigs.items()}}


@pytest.mark.slow
def test_device_syncs_killed_at_each_crash_point(tmp_path: Path, devices: list[Device], server: Server,
                                                 proxy: NetProxy) -> None:
    """One device per crash point of a two-way run (``barrier``, ``base``, ``commit``) is killed while it
    both downloads and uploads; it runs again once its lease lapsed; all converge, nothing lost."""
    a = devices[0]
    crashers = [*devices[1:], Device.connected(tmp_path, "d", server, proxy.port)]
    a.write("from-a/one.txt", "one")
    a.write("from-a/two.bin", os.urandom(2 * MiB))
    a.write("edited.txt", "v1")
    converge(devices + crashers[2:])
    a.write("from-a/three.txt", "three")
    a.write("edited.txt", "v2 by a")
    a.sync()
    want = {"from-a/two.bin": (a.dir / "from-a/two.bin").read_bytes(), "from-a/three.txt": b"three",
            "edited.txt": b"v2 by a"}
    for device, point in zip(crashers, DEVICE_POINTS, strict=True):
        want[f"from-{device.name}/big.bin"] = big = os.urandom(3 * MiB)
        want[f"from-{device.name}/small.txt"] = small = f"small of {device.name}".encode()
        device.write(f"from-{device.name}/big.bin", big)
        device.write(f"from-{device.name}/small.txt", small)
        run = device.sync(crash_at=f"{point}:1", expect=None)
        assert run.code == -signal.SIGKILL, f"the crash point {point} was not reached: {run}"
    (crashers[0].dir / "from-a/one.txt").unlink()  # a delete after a crash is still a delete
    for device in crashers:
        device.sync_when_free()
    assert converge([a, *crashers]) == want
