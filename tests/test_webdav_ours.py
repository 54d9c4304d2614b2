"""Our own server's WebDAV (the OC dialect) as a replica, against a real ``syncline serve`` on 127.0.0.1:
nothing is written under ``.syncline`` there (direct conditional PUTs, chunked uploads, conditional
DELETEs, markers as dead properties of the folder's root), the conformance suite, syncs through it, and
each destructive step raced by another writer without losing anything."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import syncline
from syncline.cli.main import _run
from syncline.core.entry import DIR, FILE, Entry
from syncline.core.errors import UsageError
from syncline.core.ignore import Rules
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.replicas.webdav import DavCredentials, WebdavReplica, parse_dav, save_credentials
from syncline.testing import CHECKS, Check
from syncline.testing.adapt import read_source

from .conftest import write
from .daemonserver import PASSWORD, USER
from .davhelp import daemon_running
from .ourdav import BytesSource, NativeTree, Ours, ours
from .test_watch import wait_until
from .test_webdav_replica import NS, T0, on_disk, tree

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ours]:
    with ours(tmp_path_factory.mktemp("ours")) as o:
        yield o


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_replica_on_our_server_conforms(check: Check, server: Ours) -> None:
    check.run(server.factory())


# -- syncs through it ----------------------------------------------------------------------------------------
@pytest.fixture
def state(server: Ours, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory with anna's user and password saved as ``syncline connect`` leaves them."""
    where = tmp_path / "state"
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(where))
    save_credentials(where, server.credentials())
    return where


def folder(server: Ours) -> str:
    name = f"sync-{next(server.numbers)}"
    server.make_folder(name)
    return name


def on_server(server: Ours, name: str) -> dict[str, bytes | str]:
    """The server folder as another device sees it (native protocol): file -> bytes, folder -> "dir"."""
    native = server.native(name)
    try:
        index = native.scan(Rules(), False, "source")
        out: dict[str, bytes | str] = {}
        for path, entry in sorted(index.items()):
            if entry.kind == DIR:
                out[path] = "dir"
            else:
                with native.open_file(path) as source:
                    out[path] = read_source(source)
        return out
    finally:
        native.close()


@pytest.mark.parametrize("layout", ["files", "webdav"])
def test_one_way_then_a_run_that_plans_nothing_and_costs_one_propfind(tmp_path: Path, server: Ours, state: Path,
                                                                      layout: str) -> None:
    src, name = tmp_path / "src", folder(server)
    tree(src)
    url = server.dav_url(name, layout)
    report = syncline.sync(src, url)
    assert report.exit_code == 0, report.problems
    assert on_server(server, name) == on_disk(src)
    again = syncline.sync(src, url)
    assert again.exit_code == 0 and len(again.plan) == 0, list(again.plan)
    replica = server.replica(name, state=state, layout=layout)
    try:
        entry = replica.stat("docs/notes.txt")
        assert entry is not None and entry.mtime_ns == (T0 + 5) * NS, "the server keeps the mtime we gave"
        replica.client.counts.clear()
        replica.scan(Rules(), False, "destination")
        assert replica.client.counts.get("PROPFIND") == 1, replica.client.counts
    finally:
        replica.close()
    down = tmp_path / "down"
    assert syncline.sync(url, down).exit_code == 0 and on_disk(down) == on_disk(src)


def test_two_way_converges_sees_foreign_edits_and_then_plans_nothing(tmp_path: Path, server: Ours,
                                                                     state: Path) -> None:
    a, name = tmp_path / "a", folder(server)
    tree(a)
    url = server.dav_url(name)
    first = syncline.sync(a, url, two_way=True)
    assert first.exit_code == 0, first.problems
    assert on_server(server, name) == on_disk(a)
    again = syncline.sync(a, url, two_way=True)
    assert not again.to_a.plan and not again.to_b.plan, (again.to_a.plan, again.to_b.plan)
    # A change on each side crosses over: a native device's and another WebDAV client's, of the same size.
    write(a, "docs/report.txt", "report, edited here", mtime=T0 + 100)
    hands = NativeTree(server, name)
    hands.write("from-server.txt", b"made natively")
    hands.remove("docs/notes.txt")
    with httpx.Client(auth=(USER, PASSWORD), timeout=30) as web:
        r = web.put(f"{url}/%C3%A9t%C3%A9%20%26%20%231%20%25.txt", content=b"UNICODE AND ESCAPES")
        assert r.status_code == 204, r.text
    third = syncline.sync(a, url, two_way=True)
    assert third.exit_code == 0, third.problems
    assert (a / "from-server.txt").read_text() == "made natively" and not (a / "docs/notes.txt").exists()
    assert (a / "été & #1 %.txt").read_text() == "UNICODE AND ESCAPES", "a foreign edit of the same size"
    assert on_server(server, name) == on_disk(a)
    fourth = syncline.sync(a, url, two_way=True)
    assert not fourth.to_a.plan and not fourth.to_b.plan, "no loop"


def test_a_rename_is_a_server_side_move_keeping_the_file_id(tmp_path: Path, server: Ours, state: Path) -> None:
    a, name = tmp_path / "a", folder(server)
    tree(a)
    url = server.dav_url(name)
    assert syncline.sync(a, url, two_way=True).exit_code == 0
    replica = server.replica(name, state=state)
    before = replica.stat("big.bin")
    replica.close()
    assert before is not None and before.file_id
    (a / "big.bin").rename(a / "renamed.bin")
    (a / "docs").rename(a / "papers")
    report = syncline.sync(a, url, two_way=True)
    assert report.exit_code == 0 and report.moved >= 2, (report.moved, report.problems)
    replica = server.replica(name, state=state)
    after = replica.stat("renamed.bin")
    replica.close()
    assert after is not None and after.file_id == before.file_id, "moved on the server, not sent again"
    assert on_server(server, name) == on_disk(a)


def test_a_wrong_password_is_one_line_and_nothing_written(tmp_path: Path, server: Ours,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    where = tmp_path / "state"
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(where))
    save_credentials(where, server.credentials(password="wrong password"))
    src, name = tmp_path / "src", folder(server)
    tree(src)
    code = _run(["sync", "--two-way", str(src), server.dav_url(name)])
    _, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    assert "refused the user name or password" in lines[0] and "wrong password" not in err
    assert on_server(server, name) == {}, "nothing written"


def test_a_daemon_folder_bound_to_our_webdav_address_syncs(tmp_path: Path, server: Ours) -> None:
    name = folder(server)
    with daemon_running(tmp_path, server.dav_url(name), server.credentials()) as a:
        assert wait_until(lambda: "x.txt" in on_server(server, name), timeout=45)
        NativeTree(server, name).write("from-server.txt", b"s")
        write(a, "from-here.txt", "h")
        assert wait_until(lambda: on_disk(a) == on_server(server, name) and len(on_disk(a)) == 3, timeout=45)


# -- what is kept, and where -----------------------------------------------------------------------------
def test_markers_are_dead_properties_of_the_folder_and_nothing_is_under_syncline(server: Ours) -> None:
    name = folder(server)
    replica = server.replica(name)
    try:
        assert replica.read_meta("folder-id") is None
        replica.write_meta("folder-id", "abc\r\n<&>")
        assert replica.read_meta("folder-id") == "abc\r\n<&>", "kept exactly (base64)"
        assert replica.write_meta_if("odd name é", "one", None)
        assert not replica.write_meta_if("odd name é", "two", None), "holds something else"
        assert replica.write_meta_if("odd name é", "two", "one") and replica.read_meta("odd name é") == "two"
        with pytest.raises(ValueError):
            replica.write_meta("../x", "no")
    finally:
        replica.close()
    with httpx.Client(auth=(USER, PASSWORD), timeout=30) as web:
        r = web.request("PROPFIND", server.dav_url(name), headers={"Depth": "1"},
                        content=b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>')
        assert r.status_code == 207 and b"urn:syncline:markers" in r.content, r.text
        assert b".syncline" not in r.content
    assert on_server(server, name) == {}, "the tree holds nothing of ours"


@pytest.mark.parametrize("layout", ["files", "webdav"])
def test_a_big_file_goes_in_chunks_and_leaves_no_upload_behind(server: Ours, layout: str) -> None:
    name = folder(server)
    replica = server.replica(name, layout=layout)
    replica.oc().chunked_above, replica.oc().chunk = 1000, 700
    data, other = os.urandom(2500), os.urandom(3000)
    try:
        assert replica.dialect().chunking
        staged = replica.stage_file("d/big", BytesSource(Entry(FILE, 2500, T0 * NS, 0o644), data))
        assert staged.upload and on_server(server, name) == {}, "chunks are out of sight"
        replica.make_dir("d", Entry(DIR, 0, T0 * NS, 0o755), None)
        out = replica.commit(staged, None)
        assert out.done and not out.note, out
        seen = replica.stat("d/big")
        assert seen is not None and seen.mtime_ns == T0 * NS
        staged = replica.stage_file("d/big", BytesSource(Entry(FILE, 3000, T0 * NS, 0o644), other))
        out = replica.commit(staged, seen)
        assert out.done and out.trashed, out
    finally:
        replica.close()
    assert on_server(server, name) == {"d": "dir", "d/big": other}
    assert NativeTree(server, name).trashed() == [("d/big", data)], "the replaced version is kept"
    with httpx.Client(auth=(USER, PASSWORD), timeout=30) as web:
        r = web.request("PROPFIND", f"{server.server.url}/remote.php/dav/uploads/{USER}/", headers={"Depth": "1"})
        assert r.status_code == 207 and r.content.count(b"<d:response>") <= 1, r.text


# -- data safety: each destructive step raced by another writer ---------------------------------------------
def _race(replica: WebdavReplica, act: Callable[[], None]) -> None:
    """Run ``act`` (another writer) once, right after the replica's next lookup or right before its next
    upload, whichever comes first: between what it saw and its conditional request, where only the
    server's condition stands."""
    fired: list[bool] = []

    def once() -> None:
        if not fired:
            fired.append(True)
            act()

    real_lookup, oc = replica.ops.lookup, replica.oc()
    real_put, real_finish = oc.put, oc.finish_chunks

    def lookup(path: str) -> Any:
        got = real_lookup(path)
        once()
        return got

    def put(*args: Any, **kwargs: Any) -> Any:
        once()
        return real_put(*args, **kwargs)

    def finish(*args: Any, **kwargs: Any) -> Any:
        once()
        return real_finish(*args, **kwargs)

    replica.ops.lookup = lookup  # type: ignore[method-assign]
    oc.put, oc.finish_chunks = put, finish  # type: ignore[method-assign]


@pytest.mark.parametrize("policy", [WritePolicy(), WritePolicy(trash=False), WritePolicy.two_way()], ids=str)
@pytest.mark.parametrize("chunked", [False, True])
def test_a_replace_raced_by_another_writer_loses_nothing(server: Ours, policy: WritePolicy, chunked: bool) -> None:
    name = folder(server)
    hands = NativeTree(server, name)
    hands.write("f", b"old", T0 * NS)
    replica = server.replica(name, policy)
    if chunked:
        replica.oc().chunked_above, replica.oc().chunk = 10, 8
    try:
        seen = replica.stat("f")
        staged = replica.stage_file("f", BytesSource(Entry(FILE, 20, T0 * NS, 0o644), b"ours" * 5))
        _race(replica, lambda: hands.write("f", b"theirs, written last", (T0 + 9) * NS))
        out = replica.commit(staged, seen)
    finally:
        replica.close()
    now = hands.read("f")
    kept = [d for p, d in hands.trashed() if p == "f"]
    assert b"theirs, written last" in [now, *kept], "the other writer's version is never lost"
    if policy.keep_changed:
        assert not out.done and now == b"theirs, written last", out
    else:
        assert out.done and out.note and now == b"ours" * 5, out


def test_a_delete_raced_by_an_edit_loses_nothing(server: Ours) -> None:
    name = folder(server)
    hands = NativeTree(server, name)
    hands.write("f", b"old", T0 * NS)
    replica = server.replica(name, WritePolicy(trash=False))
    try:
        seen = replica.stat("f")
        assert seen is not None
        _race(replica, lambda: hands.write("f", b"edited", (T0 + 9) * NS))
        assert not replica.delete("f", seen).done
    finally:
        replica.close()
    assert hands.read("f") == b"edited"


def test_a_folder_delete_raced_by_a_new_file_deletes_nothing(server: Ours) -> None:
    name = folder(server)
    hands = NativeTree(server, name)
    hands.mkdir("d")
    replica = server.replica(name)
    try:
        seen = replica.stat("d")
        assert seen is not None
        real = replica.oc().delete

        def delete(item: Any) -> bool | None:  # the folder was listed empty; a file arrives before DELETE
            hands.write("d/new", b"arrived")
            return real(item)

        replica.oc().delete = delete  # type: ignore[method-assign]
        assert not replica.delete("d", seen).done
    finally:
        replica.close()
    assert hands.read("d/new") == b"arrived"


def test_a_write_never_lands_outside_the_tree(server: Ours) -> None:
    name, other = folder(server), folder(server)
    NativeTree(server, other).write("f", b"other folder")
    replica = server.replica(name)
    entry = Entry(FILE, 1, T0 * NS, 0o644)
    try:
        for path in ("../" + other + "/f", "a/../../" + other + "/f", "/abs", ".syncline/x", "a//b", ""):
            with pytest.raises(OSError):
                replica.stage_file(path, BytesSource(entry, b"x"))
            with pytest.raises(OSError):
                replica.delete(path, entry)
            with pytest.raises(OSError):
                replica.make_dir(path, Entry(DIR, 0, T0 * NS, 0o755), None)
        with pytest.raises(OSError):
            replica.move("..", "x", entry)
    finally:
        replica.close()
    assert on_server(server, other) == {"f": b"other folder"} and on_server(server, name) == {}


@pytest.mark.parametrize("path", [f"remote.php/dav/files/{USER}", "remote.php/webdav"])
def test_the_list_of_folders_is_refused_in_one_line(server: Ours, tmp_path: Path, path: str) -> None:
    replica = WebdavReplica(parse_dav(f"{server.server.url}/{path}"), server.credentials(), state_dir=tmp_path)
    try:
        with pytest.raises(UsageError, match="not a folder") as refused:
            replica.scan(Rules(), False, "source")
        assert "/FOLDER" in refused.value.hint and "\n" not in refused.value.message
    finally:
        replica.close()


def test_connect_then_a_sync_and_nothing_is_ever_asked_under_syncline(tmp_path: Path, server: Ours,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``syncline connect`` takes our server's WebDAV address (one PROPFIND checks the password); then a
    two-way run, its markers, a delete and a replace, none of whose requests names ``.syncline``."""
    from syncline.engine.replicas.webdav.client import DavClient

    asked: list[str] = []
    real = DavClient.stream

    def stream(self: DavClient, method: str, url: str, **kwargs: Any) -> Any:
        asked.append(f"{method} {url}")
        return real(self, method, url, **kwargs)

    monkeypatch.setattr(DavClient, "stream", stream)
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    name = folder(server)
    url = server.dav_url(name)
    assert _run(["connect", url, "--user", USER, "--password-stdin"]) == 0, capsys.readouterr()
    a = tmp_path / "a"
    tree(a)
    assert syncline.sync(a, url, two_way=True).exit_code == 0
    (a / "docs/notes.txt").unlink()
    write(a, "docs/report.txt", "report, again", mtime=T0 + 50)
    report = syncline.sync(a, url, two_way=True)
    assert report.exit_code == 0 and on_server(server, name) == on_disk(a), report.problems
    assert not [r for r in asked if ".syncline" in r], [r for r in asked if ".syncline" in r]
    assert any(r.startswith("PROPPATCH ") for r in asked), "the two-way markers, as dead properties"


def test_markers_of_a_folder_not_there_yet_are_none(server: Ours) -> None:
    replica = server.replica(f"not-yet-{next(server.numbers)}")
    try:
        assert replica.read_meta("folder-id") is None and not replica.exists()
    finally:
        replica.close()


def test_a_put_cut_mid_way_is_never_the_file(tmp_path: Path, server: Ours, state: Path) -> None:
    """A connection cut while a file goes up (one PUT straight to its real name): the run fails,
    retryable; the server committed nothing of it (the old version stays whole); the next run sends it."""
    from syncline.testing import NetProxy

    src, name = tmp_path / "src", folder(server)
    NativeTree(server, name).write("big.bin", b"the old version", T0 * NS)
    write(src, "big.bin", os.urandom(3 << 20), mtime=T0 + 1)
    with NetProxy("127.0.0.1", server.server.port) as proxy:
        via = f"http://127.0.0.1:{proxy.port}/remote.php/dav/files/{USER}/{name}"
        save_credentials(state, DavCredentials(f"http://127.0.0.1:{proxy.port}", USER, PASSWORD))
        proxy.cut_after(1 << 20, "up")
        report = syncline.sync(src, via)
        assert report.exit_code != 0 and any(p.retryable for p in report.problems), report.problems
        assert on_server(server, name) == {"big.bin": b"the old version"}
        assert syncline.sync(src, via).exit_code == 0
    assert on_server(server, name) == on_disk(src)


def test_a_file_over_10_mib_goes_in_chunks_as_is(server: Ours) -> None:
    name = folder(server)
    data = os.urandom((10 << 20) + 1)
    replica = server.replica(name)
    try:
        out = replica.commit(replica.stage_file("big", BytesSource(Entry(FILE, len(data), T0 * NS, 0o644), data)),
                             None)
        assert out.done and replica.client.counts.get("PUT") == 2 and replica.client.counts.get("MOVE") == 1, \
            replica.client.counts
    finally:
        replica.close()
    assert NativeTree(server, name).read("big") == data


def test_racing_checked_marker_writes_leave_a_winners_text(server: Ours, tmp_path: Path) -> None:
    """Two runs race ``write_meta_if`` over one marker, round after round: at least one is told it won,
    and the marker always holds the text of one told so (never a loser's); both winning at once is the
    documented hole (docs/replicas.md, "The OC mode")."""
    name = folder(server)
    sides = [server.replica(name, state=tmp_path / f"s{i}") for i in range(2)]
    try:
        last: str | None = None
        for n in range(8):
            won = _race_markers(sides, n, last)
            now = sides[0].read_meta("generation")
            assert any(won) and now in [f"{n}-{i}" for i in range(2) if won[i]], (won, now)
            last = now
    finally:
        for side in sides:
            side.close()


def _race_markers(sides: list[WebdavReplica], n: int, expect: str | None) -> list[bool]:
    """Each side's ``write_meta_if("generation", "<n>-<side>", expect)``, started together."""
    import threading

    barrier, won = threading.Barrier(len(sides)), [False] * len(sides)

    def go(i: int) -> None:
        barrier.wait(10)
        won[i] = sides[i].write_meta_if("generation", f"{n}-{i}", expect)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(sides))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return won
