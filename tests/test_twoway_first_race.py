"""Two devices make their first two-way run against one new (empty) folder at the same moment: each reads
no folder-id marker there, and each would write its own. The marker is written only over what the run
read (``Markers`` with ``write_meta_if``): one wins, the other adopts the winner's id, and both pairs go on
syncing; neither stops later with "belongs to another synced folder"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from syncline.core.entry import FILE
from syncline.core.errors import SafetyStop
from syncline.engine.marker import FOLDER_ID_FILE, folder_id_of
from syncline.engine.replicas.abilities import write_meta_if
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import RemoteReplica
from syncline.engine.replicas.replica import CheckedMarkers, Replica, WritePolicy
from syncline.engine.twoway.run import TwoWayReport, sync_two_way_replicas
from syncline.testing import MemoryReplica
from syncline.testing.adapt import without

from .conftest import write
from .remotehelp import URL, served
from .test_archive import snapshot

ROUNDS = 4
RACER = "first-run-"  # the threads of the race: only they wait for each other
WAIT = 10.0  # seconds a device waits for the other at the race; far more than either needs


def _racing(cls: type[Replica], barrier: threading.Barrier) -> type[Replica]:
    """``cls`` as two devices share the folder: no lock of the whole folder between them (a server's lease
    is per device; a folder on a network share is locked by each machine for itself), and each device's
    first read of the folder-id waits until the other has made its own, so both read it before either
    writes it (the race, every time)."""
    first = threading.local()

    class Racing(without(cls, ["lock"])):  # type: ignore[misc,valid-type]
        def read_meta(self, name: str) -> str | None:
            text: str | None = super().read_meta(name)
            if name == FOLDER_ID_FILE and threading.current_thread().name.startswith(RACER) \
                    and not getattr(first, "done", False):
                first.done = True
                barrier.wait(WAIT)
            return text

    return Racing


def _race(devices: list[Replica], shared: list[Replica]) -> list[TwoWayReport | BaseException]:
    out: list[TwoWayReport | BaseException] = [RuntimeError("not run")] * len(devices)

    def run(i: int) -> None:
        try:
            out[i] = sync_two_way_replicas(devices[i], shared[i])
        except BaseException as exc:  # handed to the test
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"{RACER}{i}") for i in range(len(devices))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(4 * WAIT)
        assert not t.is_alive(), "a first run hung"
    return out


def _memory_case(tmp: Path, n: int, barrier: threading.Barrier, _: ExitStack) -> tuple[
        list[Replica], list[Replica], Callable[[], dict[str, bytes]]]:
    policy = WritePolicy.two_way()
    server = _racing(MemoryReplica, barrier)(f"server-{n}", policy=policy)  # type: ignore[call-arg]
    devices: list[Replica] = []
    for d in range(2):
        device = MemoryReplica(f"device-{n}-{d}", policy=policy)
        device.put_file(f"from-{d}.txt", f"device {d}".encode(), 1_700_000_000 * 10**9)
        devices.append(device)

    def files() -> dict[str, bytes]:
        return {p: server.read(p) for p in server.paths() if server.stat(p).kind == FILE}  # type: ignore[attr-defined]

    return devices, [server, server], files


def _local_case(tmp: Path, n: int, barrier: threading.Barrier, _: ExitStack) -> tuple[
        list[Replica], list[Replica], Callable[[], dict[str, bytes]]]:
    policy = WritePolicy.two_way()
    folder = tmp / f"share-{n}"
    folder.mkdir()
    racing = _racing(LocalReplica, barrier)
    devices: list[Replica] = []
    for d in range(2):
        root = tmp / f"device-{n}-{d}"
        write(root, f"from-{d}.txt", f"device {d}".encode(), mtime=1_700_000_000)
        devices.append(LocalReplica(root, policy=policy))
    shared = [racing(folder, policy=policy) for _ in range(2)]  # type: ignore[call-arg]
    return devices, shared, lambda: {p: (folder / p).read_bytes() for p in snapshot(folder) if (folder / p).is_file()}


def _server_case(tmp: Path, n: int, barrier: threading.Barrier, stack: ExitStack) -> tuple[
        list[Replica], list[Replica], Callable[[], dict[str, bytes]]]:
    """A new server folder, each device on it through its own RemoteReplica (the app in process)."""
    server = stack.enter_context(served(tmp / f"server-{n}"))
    name = f"Docs{n}"
    server.store.folders.create(server.owner(), name)
    policy = WritePolicy.two_way()
    racing = _racing(RemoteReplica, barrier)
    devices: list[Replica] = []
    for d in range(2):
        device = MemoryReplica(f"device-{n}-{d}", policy=policy)
        device.put_file(f"from-{d}.txt", f"device {d}".encode(), 1_700_000_000 * 10**9)
        devices.append(device)
    shared = [racing(URL, name, server.credentials, policy=policy, state_dir=tmp / f"state-{n}-{d}",  # type: ignore[call-arg]
                     http=server.http) for d in range(2)]
    tree = server.tree(name)
    return devices, shared, lambda: {p: tree.read(p) for p in ("from-0.txt", "from-1.txt")}


@pytest.mark.parametrize("case", [_memory_case, _local_case, _server_case], ids=["memory", "local", "server"])
def test_two_first_runs_against_one_new_folder_both_go_on_syncing(tmp_path: Path, case: Callable[
        [Path, int, threading.Barrier, ExitStack], tuple[list[Replica], list[Replica], Callable[[], dict[str, bytes]]]]
        ) -> None:
    for n in range(ROUNDS):
        barrier = threading.Barrier(2)
        stack = ExitStack()
        devices, shared, files = case(tmp_path, n, barrier, stack)
        try:
            first = _race(devices, shared)
            assert not barrier.broken, "the two first runs did not meet at the folder-id"
            for report in first:
                assert isinstance(report, TwoWayReport), report
                assert report.first_run and not report.problems
            ids = {folder_id_of(r.read_meta(FOLDER_ID_FILE)) for r in [*devices, shared[0]]}  # type: ignore[attr-defined]
            assert len(ids) == 1 and None not in ids, "the devices and the folder hold one folder id"
            # Each pair's next run: none stops, and the folder and both devices end with both files.
            for _ in range(2):
                for device, folder in zip(devices, shared, strict=True):
                    report = sync_two_way_replicas(device, folder)
                    assert not report.first_run and not report.problems
            assert files() == {"from-0.txt": b"device 0", "from-1.txt": b"device 1"}
        finally:
            for r in [*devices, *shared]:
                r.close()
            stack.close()


def test_a_marker_is_written_only_over_what_was_read(tmp_path: Path) -> None:
    plain = without(MemoryReplica, ["write_meta_if"])("plain", policy=WritePolicy.two_way())  # type: ignore[call-arg]
    assert not isinstance(plain, CheckedMarkers)  # what abilities.write_meta_if does without the ability
    for replica in (MemoryReplica("m", policy=WritePolicy.two_way()),
                    LocalReplica(tmp_path, policy=WritePolicy.two_way()), plain):
        assert write_meta_if(replica, "k", "one", None)
        assert not write_meta_if(replica, "k", "two", None), "a marker that is there is not created again"
        assert not write_meta_if(replica, "k", "two", "zero")
        assert replica.read_meta("k") == "one"
        assert write_meta_if(replica, "k", "two", "one")
        assert replica.read_meta("k") == "two"
        replica.close()


def test_a_run_that_did_not_make_its_id_does_not_adopt_another(tmp_path: Path) -> None:
    """Adopting is for an id the run made up itself: a root that already held a folder id keeps it, and the
    pair stops as it would had it started after the other run."""
    policy = WritePolicy.two_way()
    barrier = threading.Barrier(2)
    server = _racing(MemoryReplica, barrier)("server", policy=policy)  # type: ignore[call-arg]
    own = MemoryReplica("device-1", policy=policy)
    own.write_meta(FOLDER_ID_FILE, "1" * 32 + "\n")  # from a pair with another root
    fresh = MemoryReplica("device-0", policy=policy)
    out = _race([fresh, own], [server, server])
    assert not barrier.broken
    stopped = [r for r in out if isinstance(r, SafetyStop)]
    assert [r for r in out if not isinstance(r, SafetyStop | TwoWayReport)] == []
    held = folder_id_of(server.read_meta(FOLDER_ID_FILE))
    assert own.read_meta(FOLDER_ID_FILE) == "1" * 32 + "\n", "a root's own folder id is never replaced"
    if held == "1" * 32:  # the device with its own id won; the fresh one adopted it
        assert not stopped and folder_id_of(fresh.read_meta(FOLDER_ID_FILE)) == held
    else:  # the fresh one won: the other stops, as it would have, one moment later
        assert len(stopped) == 1 and "another" in str(stopped[0])
