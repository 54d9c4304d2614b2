"""The WebDAV replica against a real WebDAV server (wsgidav on 127.0.0.1, served by cheroot in a
thread, HTTP Basic): the conformance suite, syncs through it, and the data-safety cases."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import syncline
from syncline.cli.main import _run
from syncline.core.entry import Entry
from syncline.core.errors import SynclineError
from syncline.engine.replicas.replica import (
    BatchCommit,
    BatchStat,
    CheckedMarkers,
    FileIdFinder,
    Hasher,
    Linker,
    Locker,
    Markers,
    Mover,
    WritePolicy,
)
from syncline.engine.replicas.webdav import WebdavReplica, save_credentials
from syncline.testing import CHECKS, Check, LocalTree

from .conftest import write
from .davhelp import PASSWORD, SERVERS, USER, DavServer, daemon_running, served, wsgidav

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[DavServer]:
    with wsgidav(tmp_path) as server:
        yield server


@pytest.fixture(params=SERVERS)
def any_dav(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DavServer]:
    """Each real WebDAV server in turn: wsgidav, ``rclone serve webdav``, Apache mod_dav."""
    with served(request.param, tmp_path) as server:
        yield server


@pytest.fixture(scope="module", params=SERVERS)
def shared_dav(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    """Each server once for the whole conformance suite (each check on a folder of its own)."""
    with served(request.param, tmp_path_factory.mktemp(request.param)) as server:
        yield server


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_webdav_replica_conforms(check: Check, shared_dav: DavServer) -> None:
    check.run(shared_dav.factory())


# -- syncs through it ----------------------------------------------------------------------------------------
T0 = 1_700_000_000
NS = 10**9


@pytest.fixture
def connected(any_dav: DavServer, monkeypatch: pytest.MonkeyPatch) -> DavServer:
    """Each server with anna's user and password saved as ``syncline connect`` leaves them."""
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(any_dav.state))
    save_credentials(any_dav.state, any_dav.credentials())
    return any_dav


def on_disk(root: Path) -> dict[str, bytes | str]:
    """What a local folder holds (its ``.syncline`` left out): file -> bytes, folder -> "dir"."""
    return {p.relative_to(root).as_posix(): "dir" if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*")) if ".syncline" not in p.relative_to(root).parts}


def stat_of(dav: DavServer, folder: str, path: str) -> Entry | None:
    replica = dav.replica(folder)
    try:
        return replica.stat(path)
    finally:
        replica.close()


def tree(root: Path) -> None:
    write(root, "docs/report.txt", "report", mtime=T0)
    write(root, "docs/notes.txt", "notes", mtime=T0 + 5)
    write(root, "été & #1 %.txt", "unicode and escapes", mtime=T0)
    (root / "empty").mkdir()
    write(root, "big.bin", "x" * 300_000, mtime=T0)


def test_a_one_way_upload_then_a_second_run_plans_nothing(tmp_path: Path, connected: DavServer) -> None:
    src = tmp_path / "src"
    tree(src)
    report = syncline.sync(src, connected.url("Docs"))
    assert report.exit_code == 0, report.problems
    assert on_disk(connected.root / "Docs") == on_disk(src)
    again = syncline.sync(src, connected.url("Docs"))
    assert again.exit_code == 0 and len(again.plan) == 0, list(again.plan)
    entry = stat_of(connected, "Docs", "docs/notes.txt")
    assert entry is not None and entry.mtime_ns == (T0 + 5) * NS, "the mtime we gave, through the shadow"
    # ...and down again into an empty folder, with the mtimes the shadow keeps.
    down = tmp_path / "down"
    assert syncline.sync(connected.url("Docs"), down).exit_code == 0
    assert on_disk(down) == on_disk(src) and (down / "docs/notes.txt").stat().st_mtime_ns == (T0 + 5) * NS


def test_two_way_through_webdav_converges_and_then_plans_nothing(tmp_path: Path, connected: DavServer) -> None:
    a = tmp_path / "a"
    tree(a)
    first = syncline.sync(a, connected.url("Both"), two_way=True)
    assert first.exit_code == 0, first.problems
    assert on_disk(connected.root / "Both") == on_disk(a)
    again = syncline.sync(a, connected.url("Both"), two_way=True)
    assert again.exit_code == 0 and not again.to_a.plan and not again.to_b.plan, (again.to_a.plan, again.to_b.plan)
    # A change on each side crosses over; a delete on the server side reaches the local folder.
    write(a, "docs/report.txt", "report, edited here", mtime=T0 + 100)
    write(connected.root / "Both", "from-server.txt", "made on the server")
    (connected.root / "Both/docs/notes.txt").unlink()
    third = syncline.sync(a, connected.url("Both"), two_way=True)
    assert third.exit_code == 0, third.problems
    assert (connected.root / "Both/docs/report.txt").read_text() == "report, edited here"
    assert (a / "from-server.txt").read_text() == "made on the server" and not (a / "docs/notes.txt").exists()
    assert on_disk(connected.root / "Both") == on_disk(a)
    fourth = syncline.sync(a, connected.url("Both"), two_way=True)
    assert not fourth.to_a.plan and not fourth.to_b.plan, "no loop"


def test_a_foreign_edit_of_the_same_size_is_seen(tmp_path: Path, connected: DavServer) -> None:
    src = tmp_path / "src"
    write(src, "f.txt", "version 1", mtime=T0)
    assert syncline.sync(src, connected.url("Docs")).exit_code == 0
    before = stat_of(connected, "Docs", "f.txt")
    assert before is not None and before.mtime_ns == T0 * NS
    write(connected.root / "Docs", "f.txt", "version 2", mtime=T0 + 7)  # same size, another hand
    after = stat_of(connected, "Docs", "f.txt")
    assert after is not None and after.etag != before.etag and after.mtime_ns == (T0 + 7) * NS, \
        "a new etag: the shadow no longer applies, the server's mtime shows"
    report = syncline.sync(src, connected.url("Docs"))
    assert report.exit_code == 0 and (connected.root / "Docs/f.txt").read_text() == "version 1"
    assert [data for _, data in LocalTree(connected.root / "Docs").trashed()] == [b"version 2"]


def cli(capsys: pytest.CaptureFixture[str], *args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """``syncline ARGS`` in this process (its error handling too); exit code, stdout, stderr."""
    code = _run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("two_way", [False, True])
def test_a_wrong_password_is_one_line_a_failed_exit_and_nothing_written(
        tmp_path: Path, dav: DavServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        two_way: bool) -> None:
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(dav.state))
    save_credentials(dav.state, dav.credentials(password="wrong"))
    src = tmp_path / "src"
    tree(src)
    (dav.root / "Docs").mkdir()
    code, _, err = cli(capsys, "sync", *(["--two-way"] if two_way else []), src, dav.url("Docs"))
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    assert "refused the user name or password" in lines[0] and "syncline connect" in lines[0], lines[0]
    assert "wrong" not in err, "the password is never shown"
    assert list((dav.root / "Docs").iterdir()) == [], "nothing written"


def test_no_credentials_says_how_to_connect(tmp_path: Path, dav: DavServer, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(dav.state))
    monkeypatch.delenv("SYNCLINE_WEBDAV_USER", raising=False)
    code, _, err = cli(capsys, "sync", tmp_path, dav.url("Docs"))
    assert code == 2 and "syncline connect" in err and len(err.strip().splitlines()) == 1, err


# -- data safety: each destructive step meets a change made in its window -----------------------------------
def before(replica: WebdavReplica, method: str, url_part: str, act: Callable[[], None]) -> list[int]:
    """Run ``act`` once, right before the first ``method`` request whose URL ends with ``url_part`` (or
    holds it, for a ``url_part`` that ends with ``/``): another
    hand's change in the window between the replica's last check and its act. Returns a list that gets
    one element when it ran."""
    ran: list[int] = []
    inner = replica.client.request

    def request(m: str, url: str, **kw: Any) -> Any:
        hit = url_part in url if url_part.endswith("/") else url.endswith(url_part)
        if m == method and hit and not ran:
            ran.append(1)
            act()
        return inner(m, url, **kw)

    replica.client.request = request  # type: ignore[method-assign]
    return ran


def stage(replica: WebdavReplica, tree: LocalTree, path: str, data: bytes) -> Any:
    tree.write(".source", data, T0 * NS)
    with replica.open_file(".source") as source:
        staged = replica.stage_file(path, source)
    tree.remove(".source")
    return staged


@pytest.mark.parametrize("policy", [WritePolicy(), WritePolicy(trash=False)])
def test_a_file_edited_just_before_its_delete_is_kept(dav: DavServer, policy: WritePolicy) -> None:
    replica, tree = dav.factory()(policy=policy)
    tree.write("f", b"seen", T0 * NS)
    seen = replica.stat("f")
    assert seen is not None
    ran = before(replica, "MOVE" if policy.trash else "DELETE", "/f",
                 lambda: tree.write("f", b"edit", (T0 + 3) * NS))
    out = replica.delete("f", seen)
    assert ran and not out.done and tree.read("f") == b"edit"
    replica.close()


def test_a_file_added_to_a_folder_while_it_is_deleted_survives(dav: DavServer) -> None:
    replica, tree = dav.factory()()
    tree.mkdir("d")
    seen = replica.stat("d")
    assert seen is not None
    ran = before(replica, "MOVE", "/d/", lambda: tree.write("d/new", b"arrived"))
    out = replica.delete("d", seen)
    assert ran and not out.done and tree.read("d/new") == b"arrived"
    replica.close()


@pytest.mark.parametrize("policy", [WritePolicy(), WritePolicy(trash=False), WritePolicy(keep_changed=True)])
def test_a_destination_edited_just_before_it_is_replaced_is_never_lost(dav: DavServer, policy: WritePolicy) -> None:
    replica, tree = dav.factory()(policy=policy)
    tree.write("f", b"old", T0 * NS)
    seen = replica.stat("f")
    staged = stage(replica, tree, "f", b"ours")
    ran = before(replica, "MOVE", "/f", lambda: tree.write("f", b"their edit", (T0 + 3) * NS))
    out = replica.commit(staged, seen)
    assert ran
    if policy.keep_changed:
        assert not out.done and tree.read("f") == b"their edit"
    else:
        assert out.done and out.trashed and out.note and tree.read("f") == b"ours"
        assert ("f", b"their edit") in tree.trashed()
    replica.close()


def test_a_file_that_appears_just_before_the_staged_copy_moves_in_is_kept(dav: DavServer) -> None:
    replica, tree = dav.factory()()
    staged = stage(replica, tree, "f", b"ours")
    ran = before(replica, "MOVE", "/.syncline/tmp/", lambda: tree.write("f", b"appeared"))
    out = replica.commit(staged, None)
    assert ran and out.done and out.trashed and tree.read("f") == b"ours"
    assert tree.trashed() == [("f", b"appeared")]
    replica.close()


# -- syncline connect ------------------------------------------------------------------------------------------
def test_connect_checks_the_password_and_keeps_it_for_the_user_only(
        tmp_path: Path, dav: DavServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    state = tmp_path / "st"
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\n"))
    code, _, err = cli(capsys, "connect", dav.url("Docs"), "--user", USER, "--password-stdin", "--state", state)
    assert code != 0 and "refused the user name or password" in err and len(err.strip().splitlines()) == 1, err
    assert not (state / "webdav-servers").exists() or not list((state / "webdav-servers").iterdir())
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, out, err = cli(capsys, "connect", dav.url("Docs"), "--user", USER, "--password-stdin", "--state", state)
    assert code == 0 and "not there yet" in out, err
    [kept] = list((state / "webdav-servers").iterdir())
    assert kept.stat().st_mode & 0o777 == 0o600 and (state / "webdav-servers").stat().st_mode & 0o777 == 0o700
    src = tmp_path / "src"
    write(src, "a.txt", "a")
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(state))
    code, _, err = cli(capsys, "sync", src, dav.url("Docs"))
    assert code == 0 and (dav.root / "Docs/a.txt").read_text() == "a", err


def test_connect_refuses_plain_http_to_another_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    code, _, err = cli(capsys, "connect", "webdav://nas.example/share", "--user", "anna", "--password-stdin",
                       "--state", tmp_path)
    assert code == 2 and "in clear" in err and "webdavs://nas.example/share" in err, err


def test_the_webdav_replica_has_the_abilities_of_the_plan(dav: DavServer) -> None:
    replica = dav.replica("x")
    for ability in (Mover, Locker, Markers, CheckedMarkers, FileIdFinder, BatchCommit):  # ids: OC servers only
        assert isinstance(replica, ability), ability.__name__
    for ability in (Hasher, Linker, BatchStat):
        assert not isinstance(replica, ability), ability.__name__
    f = replica.features()
    assert (f.mtime_ns_precision, f.symlinks, f.permissions, f.owner, f.utf8_names, f.case_sensitive) == \
        (NS, False, False, False, True, True)
    assert replica.address() == f"webdav://127.0.0.1:{dav.port}/x"


def test_a_server_side_move_keeps_the_mtime_we_gave(any_dav: DavServer) -> None:
    replica, tree = any_dav.factory()()
    assert replica.make_dir("d", Entry("dir", 0, T0 * NS, 0o755), None).done
    assert replica.commit(stage(replica, tree, "d/f", b"ours"), None).done  # type: ignore[arg-type]
    assert replica.set_meta("f", Entry("file", 4, (T0 + 9) * NS, 0o644), None).done is False  # not there
    assert isinstance(replica, Mover)
    d = replica.stat("d")
    assert d is not None and replica.move("d", "e", d).done
    moved = replica.stat("e/f")
    assert moved is not None and moved.mtime_ns == T0 * NS and tree.read("e/f") == b"ours"
    replica.close()


def test_watch_mirrors_into_a_webdav_folder(tmp_path: Path, dav: DavServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from .test_watch import mirroring, wait_until

    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(dav.state))
    save_credentials(dav.state, dav.credentials())
    src = tmp_path / "src"
    write(src, "docs/a.txt", "a")
    with mirroring(src, dav.url("W")):  # type: ignore[arg-type]
        assert wait_until(lambda: (dav.root / "W/docs/a.txt").exists())
        write(src, "docs/b.txt", "b")
        (src / "docs/a.txt").unlink()
        assert wait_until(lambda: on_disk(dav.root / "W") == on_disk(src))


@pytest.mark.parametrize("kind", ["rclone", "apache"])  # not wsgidav: it leaves its file open on a cut PUT
def test_an_upload_cut_mid_way_leaves_nothing_under_a_real_name(tmp_path: Path, kind: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection cut while a big file goes up: the run fails (retryable), the file is not in the
    tree, nothing is there but the partial upload under this owner's temp name; the next run removes it
    and uploads the file whole."""
    (tmp_path / "server").mkdir()
    with served(kind, tmp_path / "server") as dav:
        _cut_upload(tmp_path, dav, monkeypatch)


def _cut_upload(tmp_path: Path, dav: DavServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncline.testing import NetProxy

    src = tmp_path / "src"
    write(src, "big.bin", os.urandom(3 << 20), mtime=T0)
    write(src, "small.txt", "s", mtime=T0)
    with NetProxy("127.0.0.1", dav.port) as proxy:
        via = DavServer(dav.root, proxy.port, dav.state, dav.tree)
        monkeypatch.setenv("SYNCLINE_STATE_DIR", str(dav.state))
        save_credentials(dav.state, via.credentials())
        proxy.cut_after(1 << 20, "up")
        report = syncline.sync(src, via.url("Docs"))
        assert report.exit_code != 0 and any(p.retryable for p in report.problems), report.problems
        assert not (dav.root / "Docs/big.bin").exists()
        there = sorted(p.name for p in (dav.root / "Docs").iterdir())
        assert there in ([".syncline"], [".syncline", "small.txt"]), "only whole files under real names"
        assert "small.txt" not in there or (dav.root / "Docs/small.txt").read_text() == "s"
        again = syncline.sync(src, via.url("Docs"))
        assert again.exit_code == 0, again.problems
    assert on_disk(dav.root / "Docs") == on_disk(src)
    assert list((dav.root / "Docs/.syncline/tmp").iterdir()) == [], "the partial upload was removed"


def test_an_emptied_or_replaced_webdav_folder_never_empties_the_local_side(tmp_path: Path,
                                                                          connected: DavServer) -> None:
    a = tmp_path / "a"
    tree(a)
    assert syncline.sync(a, connected.url("W"), two_way=True).exit_code == 0
    shutil.rmtree(connected.root / "W")  # the share was wiped and made again, empty
    connected.tree(connected.root).mkdir("W")
    with pytest.raises(SynclineError) as stopped:
        syncline.sync(a, connected.url("W"), two_way=True)
    assert "marker" in str(stopped.value).lower() or "empty" in str(stopped.value).lower(), stopped.value
    assert on_disk(a) != {} and (a / "docs/report.txt").read_text() == "report", "nothing deleted locally"


def test_a_checksum_compare_downloads_each_foreign_file_once(tmp_path: Path, dav: DavServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Digests come from the shadow: ours from the upload, a foreign file's from one download, kept while
    its tag holds."""
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(dav.state))
    save_credentials(dav.state, dav.credentials())
    src = tmp_path / "src"
    tree(src)
    first = syncline.sync(src, dav.url("Docs"), checksum=True)
    assert first.exit_code == 0, first.problems
    write(dav.root / "Docs", "foreign.txt", "someone else's", mtime=T0)
    gets: list[str] = []
    inner = WebdavReplica.open_file

    def counted(self: WebdavReplica, path: str) -> Any:
        gets.append(path)
        return inner(self, path)

    monkeypatch.setattr(WebdavReplica, "open_file", counted)
    for _ in range(2):
        report = syncline.sync(src, dav.url("Docs"), checksum=True, delete=False)
        assert report.exit_code == 0 and len(report.plan) == 0, list(report.plan)
    assert gets == ["foreign.txt"], "our uploads' digests are known; the foreign file is read once"


@pytest.mark.timeout(120)
def test_a_daemon_folder_bound_to_a_webdav_folder(tmp_path: Path, dav: DavServer) -> None:
    """``remote = "webdav://..."`` in a daemon's ``[[folder]]``: local edits go up at once (inotify), the
    server's come down by the folder's ``check_every`` (a plain WebDAV server has no change feed)."""
    from .test_watch import wait_until

    with daemon_running(tmp_path, dav.url("D"), dav.credentials()) as a:
        assert wait_until(lambda: (dav.root / "D/x.txt").exists(), timeout=45)
        write(dav.root / "D", "from-server.txt", "s")
        write(a, "from-here.txt", "h")
        assert wait_until(lambda: on_disk(a) == on_disk(dav.root / "D") and len(on_disk(a)) == 3, timeout=45)


def test_a_run_killed_while_a_folder_was_aside_loses_nothing(dav: DavServer) -> None:
    """A folder moved aside for its delete, a file arriving in it, then the run killed: the next run's
    lock puts the folder in the trash (an empty one is deleted), never deletes it unseen; an upload
    left half-way is removed."""
    replica, tree = dav.factory()()
    assert isinstance(replica, WebdavReplica) and isinstance(tree, LocalTree)
    tree.mkdir("d")
    seen = replica.stat("d")
    assert seen is not None
    inner = replica.ops.children

    def dies_after_the_move(path: str) -> Any:
        if path.startswith(".syncline/tmp/"):  # the folder, moved aside, is being checked
            tree.write(f"{path}/arrived", b"precious")  # a file arrives in the window...
            raise KeyboardInterrupt  # ...and the run dies right there
        return inner(path)

    replica.ops.children = dies_after_the_move  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        replica.delete("d", seen)
    replica.ops.children = inner  # type: ignore[method-assign]
    stage(replica, tree, "x", b"half")  # an upload the killed run left, never committed
    replica.close()
    with replica.lock():  # the next run (the same state directory: the same owner)
        pass
    assert [data for p, data in tree.trashed() if p.endswith("/arrived")] == [b"precious"]
    assert list((tree.root / ".syncline/tmp").iterdir()) == [], "nothing left aside, no upload left"
    replica.close()


NAMES = ["a b.txt", "100%.txt", "#hash", "q?x=1", "plus+sign", "amp&semi;", "emoji 😀.txt", "e\u0301t\u00e9",
         "quote'\"", "back\\slash", "colon:x", "[brackets]", "~tilde", "dir with space/inner %41.txt"]


def test_names_that_need_escaping_round_trip(tmp_path: Path, connected: DavServer) -> None:
    src = tmp_path / "src"
    # wsgidav under cheroot takes an encoded ? or ; in a path for the query or parameters that follow
    # (it writes q?x=1 as "q"): a server bug. The replica then never overwrites anything (its checks see
    # another name answer), but such a name cannot be kept there.
    names = [n for n in NAMES if connected.kind != "wsgidav" or not {"?", ";"} & set(n)]
    for n, name in enumerate(names):
        write(src, name, f"content {n}", mtime=T0 + n)
    report = syncline.sync(src, connected.url("Names"))
    assert report.exit_code == 0, report.problems
    assert on_disk(connected.root / "Names") == on_disk(src)
    again = syncline.sync(src, connected.url("Names"))
    assert len(again.plan) == 0, list(again.plan)
    down = tmp_path / "down"
    assert syncline.sync(connected.url("Names"), down).exit_code == 0 and on_disk(down) == on_disk(src)


def test_a_server_that_mangles_a_name_never_overwrites_another_file(tmp_path: Path, dav: DavServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """wsgidav takes ``q%3Fx`` for ``q``: syncing a file named ``q?x`` over a user's ``q`` leaves ``q`` as
    it was (the checks see the answer for another name), and the run says so."""
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(dav.state))
    save_credentials(dav.state, dav.credentials())
    src = tmp_path / "src"
    write(src, "q?x=1", "mine")
    write(dav.root / "N", "q", "the user's own q")
    report = syncline.sync(src, dav.url("N"))
    assert report.exit_code != 0 and report.problems
    assert (dav.root / "N/q").read_text() == "the user's own q"


def test_a_rename_on_the_local_side_is_a_move_on_the_server(tmp_path: Path, connected: DavServer) -> None:
    a = tmp_path / "a"
    tree(a)
    assert syncline.sync(a, connected.url("R"), two_way=True).exit_code == 0
    before = (connected.root / "R/big.bin").stat().st_ino
    (a / "big.bin").rename(a / "renamed.bin")
    (a / "docs").rename(a / "papers")
    report = syncline.sync(a, connected.url("R"), two_way=True)
    assert report.exit_code == 0 and report.moved >= 2, (report.moved, report.problems)
    assert (connected.root / "R/renamed.bin").stat().st_ino == before, "moved on the server, not sent again"
    assert on_disk(connected.root / "R") == on_disk(a)
