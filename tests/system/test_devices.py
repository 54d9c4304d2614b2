"""Three devices and a server, each device running one-shot ``syncline sync --two-way`` processes: edits
propagate, a conflict keeps both versions everywhere, a folder rename is one server-side move."""

from __future__ import annotations

import os

from syncline.testing import NetProxy

from .harness import Device, Server, changes, conflict_copies, converge, dirs


def test_edits_on_three_devices_propagate_after_each_syncs_twice(devices: list[Device]) -> None:
    a, b, c = devices
    a.write("notes/a.txt", "from a")
    a.write("shared.txt", "v1")
    for d in devices:
        d.sync()
    b.write("notes/b.txt", "from b")
    c.write("deep/er/c.bin", os.urandom(3 << 20))  # chunked: above the server's min_file_size
    a.write("shared.txt", "v2 by a")
    (c.dir / "notes/a.txt").unlink()
    for _ in range(2):
        for d in devices:
            d.sync()
    want = {"notes/b.txt": b"from b", "shared.txt": b"v2 by a", "deep/er/c.bin": (c.dir / "deep/er/c.bin").read_bytes()}
    for d in devices:
        assert d.tree() == want, d.name


def test_a_conflict_between_two_devices_leaves_both_versions_on_all_three(devices: list[Device]) -> None:
    a, b, c = devices
    a.write("plan.txt", "original")
    converge(devices)
    a.write("plan.txt", "a's edit")
    b.write("plan.txt", "b's edit, longer")
    a.sync()
    b.sync()  # b finds the server changed under its own edit
    final = converge(devices)
    kept = [final.get("plan.txt"), *conflict_copies(final, "plan.txt")]
    assert sorted(k for k in kept if k is not None) == [b"a's edit", b"b's edit, longer"], sorted(final)
    assert c.tree() == final


def test_a_folder_rename_is_one_move_everywhere_and_sends_no_content(devices: list[Device], server: Server,
                                                                     proxy: NetProxy) -> None:
    a, b, c = devices
    big = os.urandom(4 << 20)
    a.write("papers/2025/big.bin", big)
    a.write("papers/2025/small.txt", "small")
    a.write("papers/readme.txt", "readme")
    final = converge(devices)
    seq = max(ch[0] for ch in changes(server, a.token))
    os.rename(a.dir / "papers", a.dir / "archive")
    up = proxy.bytes_up
    a.sync()
    sent = proxy.bytes_up - up
    assert sent < 256 << 10, f"a rename sent {sent} bytes up"
    journal = changes(server, a.token, since=seq)
    assert [(op, path, old) for _, op, path, old, _ in journal] == [("move", "archive", "papers")], journal
    for d in (b, c):
        d.sync()
    want = {k.replace("papers/", "archive/", 1): v for k, v in final.items()}
    for d in devices:
        assert d.tree() == want, d.name
        assert "papers" not in dirs(d.dir), d.name


def test_three_devices_joining_a_new_folder_at_once_all_keep_syncing(devices: list[Device]) -> None:
    """First runs of three devices at the same moment on a server folder none has synced yet: each must
    adopt one folder id, not make its own and find, next run, the server carrying another's."""
    for d in devices:
        d.write(f"{d.name}.txt", f"from {d.name}")
    started = [d.start_sync() for d in devices]
    for d, proc in zip(devices, started, strict=True):
        run = d.finish(proc)
        assert run.code == 0, f"{d.name}: {run}"
    for d in devices:
        d.sync()  # a device whose first run lost the race for the folder id stops here
    assert converge(devices) == {f"{d.name}.txt": f"from {d.name}".encode() for d in devices}
