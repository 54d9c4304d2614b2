"""A daemon folder downloads a new version of a big file through its chunk basis: only the chunks it does
not hold cross the wire, counted by a proxy between the device and a real server process. The basis is
the folder's (in its state directory), held by the folder's loop: it serves run after run, is closed
when the loop ends, and is used again by the next loop (that a replica's ``close`` leaves it open is
``test_remote_transfers``'). Every wait is bounded; no duration is asserted."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.engine.replicas.remote.basis import basis_path
from syncline.testing import NetProxy

from .daemonserver import Device, serving, wait_for

MiB = 1 << 20
SIZE = 12 * MiB
EDIT = 256 << 10  # bytes another device overwrites in the middle of the file
FOLDER = "Big"


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[NetProxy, Device, Device]]:
    """The laptop reaches the server through a proxy that counts its bytes; the desk reaches it directly."""
    started: list[Device] = []
    with serving(tmp_path / "data") as server, NetProxy("127.0.0.1", server.port) as proxy:
        try:
            laptop = Device(tmp_path / "laptop", server, FOLDER, "laptop", url=f"http://127.0.0.1:{proxy.port}")
            desk = Device(tmp_path / "desk", server, FOLDER, "desk")
            # One after the other: two first runs at once race to mark the new server folder.
            for device in (laptop, desk):
                device.start()
                started.append(device)
                wait_for(lambda d=device: d.state_of() == "in sync", describe=device.status)  # type: ignore[misc]
            yield proxy, laptop, desk
        finally:
            for device in started:
                device.stop()


def _put(device: Device, name: str, data: bytes) -> None:
    """Write ``name`` in the device's folder at once (a temp file beside the folder, renamed in), so its
    daemon never reads it half written."""
    tmp = device.base / f"{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, device.local / name)


def _edited(data: bytes, seed: int) -> bytes:
    new = bytearray(data)
    at = random.Random(seed).randrange(SIZE // 8, SIZE - SIZE // 8)
    new[at:at + EDIT] = random.Random(seed).randbytes(EDIT)
    return bytes(new)


def _holds(device: Device, name: str, data: bytes) -> bool:
    try:
        return (device.local / name).read_bytes() == data and device.state_of() == "in sync"
    except FileNotFoundError:
        return False


def _open_files(path: Path) -> list[str]:
    """The files of this process open at ``path`` (the database, its WAL and shared memory)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith(str(path)):
            found.append(target)
    return found


def _download(proxy: NetProxy, laptop: Device, desk: Device, data: bytes) -> int:
    """The desk writes ``data`` as big.bin; the bytes that came down to the laptop until it held it."""
    before = proxy.bytes_down
    _put(desk, "big.bin", data)
    wait_for(lambda: _holds(laptop, "big.bin", data), describe=laptop.status)
    return proxy.bytes_down - before


def test_a_daemon_downloads_only_the_changed_chunks_of_a_big_file(
        devices: tuple[NetProxy, Device, Device]) -> None:
    proxy, laptop, desk = devices
    data = random.Random(1).randbytes(SIZE)
    first = _download(proxy, laptop, desk, data)
    assert first >= SIZE, "the first download brings the whole file"
    for seed in (2, 3):
        data = _edited(data, seed)
        down = _download(proxy, laptop, desk, data)
        print(f"edit {seed}: {down} bytes down for a {SIZE}-byte file with {EDIT} bytes changed")
        assert down < SIZE // 4, f"{down} bytes down: the whole file came again, not its changed chunks"


def test_the_basis_outlives_the_loop_and_serves_the_next_one(
        devices: tuple[NetProxy, Device, Device]) -> None:
    proxy, laptop, desk = devices
    where = basis_path(laptop.state, laptop.local)
    data = random.Random(4).randbytes(SIZE)
    _download(proxy, laptop, desk, data)
    assert where.exists() and _open_files(where), "the running loop holds the folder's basis open"

    laptop.stop()
    assert not _open_files(where), "the loop closes the basis when it ends"
    data = _edited(data, 5)
    _put(desk, "big.bin", data)
    wait_for(lambda: desk.state_of() == "in sync" and (desk.status() or {}).get("files") == 0)

    before = proxy.bytes_down
    laptop.start()
    wait_for(lambda: _holds(laptop, "big.bin", data), describe=laptop.status)
    down = proxy.bytes_down - before
    print(f"after a restart: {down} bytes down for a {SIZE}-byte file with {EDIT} bytes changed")
    assert down < SIZE // 4, f"{down} bytes down: the restarted loop did not use the folder's basis"
