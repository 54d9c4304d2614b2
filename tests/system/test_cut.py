"""A connection cut mid-upload and mid-download (the proxy resets the connection carrying the N-th byte):
the run fails or recovers, the next one converges, no temp or torn file is left anywhere."""

from __future__ import annotations

import os

from syncline.testing import NetProxy

from .harness import Device, converge

MiB = 1 << 20
SLACK = MiB


def test_a_connection_cut_mid_upload_then_converge(devices: list[Device], proxy: NetProxy) -> None:
    a = devices[0]
    big = os.urandom(8 * MiB)
    a.write("up/big.bin", big)
    a.write("up/small.txt", "small")
    rule = proxy.cut_after(3 * MiB, "up")
    first = a.sync(expect=None)
    assert rule.fired == 1, f"no connection was cut: {first}"
    up = proxy.bytes_up
    if first.code != 0:
        a.sync_when_free()
    assert proxy.bytes_up - up <= len(big) + SLACK, "the file was sent more than once after the cut"
    assert (a.dir / "up/big.bin").read_bytes() == big
    assert converge(devices) == {"up/big.bin": big, "up/small.txt": b"small"}


def test_a_connection_cut_mid_download_then_converge(devices: list[Device], proxy: NetProxy) -> None:
    a, b, _c = devices
    big = os.urandom(8 * MiB)
    a.write("down/big.bin", big)
    a.write("down/small.txt", "small")
    a.sync()
    b.write("b.txt", "b's own")
    rule = proxy.cut_after(3 * MiB, "down")
    first = b.sync(expect=None)
    assert rule.fired == 1, f"no connection was cut: {first}"
    b.tree()  # no temp file left by the cut run, whatever it did
    down = proxy.bytes_down
    if first.code != 0:
        b.sync_when_free()
    assert proxy.bytes_down - down <= len(big) + SLACK, "the file was fetched more than once after the cut"
    assert converge(devices) == {"down/big.bin": big, "down/small.txt": b"small", "b.txt": b"b's own"}
