"""The server's data dir on a small tmpfs (mounted in a private mount namespace only: ``unshare -m``) that
fills up: an upload is refused (507 ``no_space``) with a clear message, nothing is lost on the device;
once space is freed, every device converges."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from syncline.server.store import DEFAULT_MIN_FREE

from .harness import Device, Server, converge

MiB = 1 << 20
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="a private tmpfs needs root and unshare")


def test_a_full_server_disk_refuses_the_upload_then_space_is_freed(tmp_path: Path) -> None:
    # `syncline serve` keeps 1 GiB free (DEFAULT_MIN_FREE) and refuses chunks that would eat into it; a
    # tmpfs takes memory only for what is written on it, so a 1,100 MiB one with a filler file is "full".
    server = Server(tmp_path / "server", tmpfs=f"{DEFAULT_MIN_FREE // MiB + 76}m")
    try:
        server.start()
        a, b = (Device.connected(tmp_path, name, server) for name in ("a", "b"))
        a.write("kept.txt", "first")
        converge([a, b])
        usage = shutil.disk_usage(server.path())
        filler = server.path("filler")
        with open(filler, "wb") as fh:
            fh.truncate(0)
            block = b"\0" * MiB
            for _ in range(max(1, (usage.free - DEFAULT_MIN_FREE) // MiB + 1)):
                fh.write(block)
        big = os.urandom(4 * MiB)
        a.write("new/big.bin", big)
        a.write("new/small.txt", "small")
        a.write("kept.txt", "second")
        refused = a.sync(expect=None)
        assert refused.code != 0, f"the upload was not refused: {refused}"
        assert "the server's disk is (nearly) full" in refused.err, refused
        assert a.tree() == {"kept.txt": b"second", "new/big.bin": big, "new/small.txt": b"small"}
        b.sync()
        assert b.tree() == {"kept.txt": b"first"}, "a half-refused upload showed on the other device"
        filler.unlink()
        a.sync_when_free()
        assert converge([a, b]) == {"kept.txt": b"second", "new/big.bin": big, "new/small.txt": b"small"}
    finally:
        server.close()
