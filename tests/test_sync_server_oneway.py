"""One-way ``syncline sync`` with a server folder on one side (``sync_with_server``): an upload mirror
``sync DIR https://host:port/NAME`` and a download mirror ``sync https://host:port/NAME DIR``, through the
same plan, guards, dry run and report as between local folders.

Most tests run the real app in process (``remotehelp.served``), reached through the address and the
credentials saved in the state directory, as a user's run reaches it: the replica's HTTP client is pointed
at the in-process app. One test runs the CLI against a real server process over TLS.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import syncline
from syncline.cli.main import _run
from syncline.core.errors import BusyError, SafetyStop, UsageError
from syncline.engine.replicas.remote import RemoteReplica, Transfers, save_credentials
from syncline.engine.replicas.remote import replica as remote_replica
from syncline.engine.replicas.remote.basis import basis_path
from syncline.engine.replicas.remote.client import Client

from .conftest import write
from .remotehelp import URL, Served, served
from .server.storetree import ServerTree
from .test_remote_process import REPO, Process, server  # noqa: F401 - the real server process fixture

T0 = 1_700_000_000
NS = 10**9


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The app in process, anna's credentials saved as ``syncline connect`` leaves them, and every
    replica's HTTP client pointed at the app."""
    with served(tmp_path) as s:
        monkeypatch.setenv("SYNCLINE_STATE_DIR", str(s.state))
        save_credentials(s.state, s.credentials)

        def client(credentials: Any, *, http: Any = None, **kw: Any) -> Client:
            return Client(credentials, http=http if http is not None else s.http, **kw)

        monkeypatch.setattr(remote_replica, "Client", client)
        yield s


def on_server(s: Served, name: str) -> dict[str, bytes | str]:
    """What the server folder ``name`` holds: file -> bytes, folder -> "dir", symlink -> "-> target"."""
    folder = s.store.folders.get(s.owner(), name)
    assert folder is not None, f"no folder {name}"
    fs = s.store.folder(folder)
    out: dict[str, bytes | str] = {}
    for row in fs.entries(0, dir="", deep=True, limit=10_000).rows:
        if row.path == "":
            continue
        if row.kind == "file":
            out[row.path] = b"".join(fs.read(row.path)[1])
        else:
            out[row.path] = "dir" if row.kind == "dir" else f"-> {row.target}"
    return out


def made(s: Served, name: str) -> ServerTree:
    """A new server folder ``name`` of anna's, and another device's hands on it."""
    s.store.folders.create(s.owner(), name)
    return s.tree(name)


def on_disk(root: Path) -> dict[str, bytes | str]:
    """What the local folder ``root`` holds, as :func:`on_server` tells it (syncline's own ``.syncline``
    left out)."""
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel == ".syncline" or rel.startswith(".syncline/"):
            continue
        out[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else "dir" if p.is_dir() else p.read_bytes()
    return out


def cli(capsys: pytest.CaptureFixture[str], *args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """``syncline ARGS`` in this process (its error handling too); exit code, stdout, stderr."""
    code = _run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("syncline: error:") and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def tree(root: Path) -> None:
    write(root, "docs/report.txt", "report", mtime=T0)
    write(root, "docs/notes.txt", "notes", mtime=T0, mode=0o600)
    write(root, "photo.jpg", os.urandom(300_000), mtime=T0)
    (root / "empty").mkdir()
    os.symlink("docs/report.txt", root / "latest")


def test_upload_mirror_then_an_edit_then_a_delete_that_goes_to_the_servers_trash(
        tmp_path: Path, app: Served, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    tree(src)
    code, out, err = cli(capsys, "sync", src, f"{URL}/Docs")
    assert code == 0, err
    assert on_server(app, "Docs") == on_disk(src)
    entry = app.replica("Docs").stat("docs/notes.txt")
    assert entry is not None and entry.mtime_ns == T0 * NS and entry.mode & 0o777 == 0o600

    write(src, "docs/report.txt", "report, edited", mtime=T0 + 10)
    (src / "docs/notes.txt").unlink()
    code, out, err = cli(capsys, "sync", src, f"{URL}/Docs")  # no --delete: nothing goes
    assert code == 0, err
    assert on_server(app, "Docs")["docs/report.txt"] == b"report, edited"
    assert on_server(app, "Docs")["docs/notes.txt"] == b"notes"

    code, out, err = cli(capsys, "sync", "--delete", src, f"{URL}/Docs")
    assert code == 0, err
    assert "kept in the server's trash" in out
    assert on_server(app, "Docs") == on_disk(src)
    assert ("docs/notes.txt", b"notes") in app.tree("Docs").trashed()


def test_download_mirror_into_a_new_folder(tmp_path: Path, app: Served) -> None:
    src = tmp_path / "src"
    tree(src)
    syncline.sync(src, f"{URL}/Docs")
    dst = tmp_path / "dst"
    report = syncline.sync(f"{URL}/Docs", dst)
    assert report.exit_code == 0 and report.copied == 3, report.problems
    assert on_disk(dst) == on_disk(src)
    assert (dst / "docs/notes.txt").stat().st_mode & 0o777 == 0o600
    assert (dst / "photo.jpg").stat().st_mtime_ns == T0 * NS
    again = syncline.sync(f"{URL}/Docs", dst)
    assert again.changed == 0, "a second run has nothing to do"


def test_a_download_mirror_over_extra_files_stops_at_max_delete_and_loses_nothing(
        tmp_path: Path, app: Served, capsys: pytest.CaptureFixture[str]) -> None:
    made(app, "Docs").write("a.txt", b"from the server", T0 * NS)
    dst = tmp_path / "dst"
    for i in range(3):
        write(dst, f"mine-{i}.txt", f"mine {i}", mtime=T0)
    before = on_disk(dst)
    code, _, err = cli(capsys, "sync", "--delete", f"{URL}/Docs", dst)  # 3 of 3 files: past 50%
    one_line_error(code, err, "--max-delete")
    assert on_disk(dst) == before, "a safety stop changes nothing"

    with pytest.raises(SafetyStop):
        syncline.sync(f"{URL}/Docs", dst, delete=True)
    assert on_disk(dst) == before

    report = syncline.sync(f"{URL}/Docs", dst, delete=True, max_delete=10)
    assert report.exit_code == 0 and report.deleted == 3
    assert on_disk(dst) == {"a.txt": b"from the server"}
    trashed = sorted(p.name for p in (dst / ".syncline/trash").rglob("mine-*"))
    assert trashed == ["mine-0.txt", "mine-1.txt", "mine-2.txt"], "deleted files are kept in the trash"

    without = syncline.sync(f"{URL}/Docs", tmp_path / "plain")  # no --delete: extra files stay
    assert without.deleted == 0


def test_an_empty_server_folder_does_not_empty_the_local_one(tmp_path: Path, app: Served) -> None:
    made(app, "Empty")
    dst = tmp_path / "dst"
    write(dst, "keep.txt", "keep")
    with pytest.raises(SafetyStop, match="source is empty"):
        syncline.sync(f"{URL}/Empty", dst, delete=True, max_delete=100)
    assert (dst / "keep.txt").read_text() == "keep"


def test_an_empty_local_source_does_not_empty_the_server_folder(tmp_path: Path, app: Served) -> None:
    made(app, "Docs").write("keep.txt", b"keep", T0 * NS)
    (tmp_path / "src").mkdir()
    with pytest.raises(SafetyStop, match="source is empty"):
        syncline.sync(tmp_path / "src", f"{URL}/Docs", delete=True, max_delete=100)
    assert on_server(app, "Docs") == {"keep.txt": b"keep"}


def test_checksum_compare_uses_the_servers_digests_and_downloads_nothing_to_compare(
        tmp_path: Path, app: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    there = made(app, "Docs")
    there.write("same.txt", b"same content", T0 * NS)
    there.write("differs.txt", b"A" * 12, T0 * NS)
    dst = tmp_path / "dst"
    write(dst, "same.txt", "same content", mtime=T0 + 100)  # another mtime, the same content
    write(dst, "differs.txt", b"B" * 12, mtime=T0)  # the same size and mtime, another content
    opened: list[str] = []
    real_open = RemoteReplica.open_file

    def counting(self: RemoteReplica, path: str) -> Any:
        opened.append(path)
        return real_open(self, path)

    monkeypatch.setattr(RemoteReplica, "open_file", counting)
    report = syncline.sync(f"{URL}/Docs", dst, checksum=True)
    assert report.exit_code == 0 and report.copied == 1, report.problems
    assert opened == ["differs.txt"], "only the file whose digest differs is downloaded"
    assert (dst / "differs.txt").read_bytes() == b"A" * 12
    assert (dst / "same.txt").stat().st_mtime_ns == T0 * NS, "same content: only the mtime is set"

    # Upload: a local edit of the same size and mtime goes up only with a checksum compare.
    write(dst, "same.txt", "SAME content", mtime=T0)
    assert syncline.sync(dst, f"{URL}/Docs").copied == 0
    assert syncline.sync(dst, f"{URL}/Docs", checksum=True).copied == 1
    assert there.read("same.txt") == b"SAME content"


def test_a_dry_run_changes_nothing_on_either_side(tmp_path: Path, app: Served,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    tree(src)
    code, out, err = cli(capsys, "sync", "--dry-run", src, f"{URL}/New")
    assert code == 0 and "would copy 3 files" in out, err
    assert app.store.folders.get(app.owner(), "New") is None, "a dry run makes no server folder"

    syncline.sync(src, f"{URL}/Docs")
    (src / "photo.jpg").unlink()
    write(src, "added.txt", "added")
    before = on_server(app, "Docs")
    code, out, err = cli(capsys, "sync", "-n", "--delete", "--json", src, f"{URL}/Docs")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["dry_run"] and summary["target"] == f"{URL}/Docs"
    assert {(a["op"], a["path"]) for a in summary["plan"]} >= {("copy", "added.txt"),
                                                                        ("delete", "photo.jpg")}
    assert on_server(app, "Docs") == before and not app.tree("Docs").trashed()

    dst = tmp_path / "dst"
    write(dst, "mine.txt", "mine")
    report = syncline.sync(f"{URL}/Docs", dst, delete=True, dry_run=True, force=True)
    assert report.dry_run and report.plan is not None and report.plan.summary().deletes == 1
    assert on_disk(dst) == {"mine.txt": b"mine"}


def test_json_output_of_an_upload(tmp_path: Path, app: Served, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    tree(src)
    code, out, err = cli(capsys, "sync", "--json", src, f"{URL}/Docs")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["source"] == str(src) and summary["target"] == f"{URL}/Docs"
    assert summary["copied"] == 3 and summary["symlinks"] == 1 and not summary["dry_run"]


def test_a_local_only_flag_with_a_server_folder_is_one_line_of_error(
        tmp_path: Path, app: Served, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    write(src, "a.txt", "a")
    for flag, named in (("-X", "-X/--xattrs"), ("--acls", "-A/--acls"), ("-H", "-H/--hard-links")):
        code, _, err = cli(capsys, "sync", flag, src, f"{URL}/Docs")
        one_line_error(code, err, named)
        code, _, err = cli(capsys, "sync", flag, f"{URL}/Docs", tmp_path / "dst")
        one_line_error(code, err, named)
    with pytest.raises(UsageError, match="hard_links"):
        syncline.sync(src, f"{URL}/Docs", hard_links=True)
    assert app.store.folders.get(app.owner(), "Docs") is None and not (tmp_path / "dst").exists()


def test_server_addresses_refused_in_one_line(tmp_path: Path, app: Served,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    here = tmp_path / "here"
    here.mkdir()
    for args, words in (
        (("index", f"{URL}/Docs", "-o", tmp_path / "x.slidx"), ("server folder",)),
        (("snapshot", f"{URL}/Docs"), ("server folder",)),
        (("log", f"{URL}/Docs"), ("server folder",)),
        (("diff", f"{URL}/Docs", here), ("server folder",)),
        (("archive", f"{URL}/Docs", "--against", tmp_path / "x.slidx", "-o", tmp_path / "x.slar"),
         ("server folder",)),
        (("watch", here, f"{URL}/Docs"), ("watch mirrors into local and WebDAV folders only",)),
        (("sync", f"{URL}/Docs", f"{URL}/Other"), ("both server folders",)),
        (("sync", f"{URL}/Missing", here), ("no server folder", f"{URL}/Missing")),
        (("sync", here, "https://elsewhere.example:8765/Docs"), ("not connected to https://elsewhere.example",)),
        (("sync", "--since", "latest", here, f"{URL}/Docs"), ("server folder",)),
    ):
        code, _, err = cli(capsys, *args)
        one_line_error(code, err, *words)
    assert app.store.folders.get(app.owner(), "Docs") is None and not list(tmp_path.glob("x.*"))


def test_an_upload_waits_for_no_one_while_this_device_holds_the_folders_lock(tmp_path: Path, app: Served) -> None:
    src = tmp_path / "src"
    write(src, "a.txt", "a")
    made(app, "Docs")
    daemon = app.replica("Docs")  # this device's daemon, writing into the folder
    with daemon.lock(), pytest.raises(BusyError, match="another syncline run of this device"):
        syncline.sync(src, f"{URL}/Docs")
    daemon.close()
    assert on_server(app, "Docs") == {}
    assert syncline.sync(src, f"{URL}/Docs").copied == 1, "the lock is free again"


def test_cli_upload_and_download_mirror_with_a_real_server(tmp_path: Path, server: Process) -> None:  # noqa: F811
    state = tmp_path / "state"
    save_credentials(state, server.credentials())
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SYNCLINE_STATE_DIR": str(state)}
    folder = f"{server.url}/Photos"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "syncline", "sync", *map(str, args)], capture_output=True,
                              text=True, env=env, timeout=120, check=False)

    src = tmp_path / "src"
    tree(src)
    done = run(src, folder)
    assert done.returncode == 0, done.stderr
    (src / "docs/notes.txt").unlink()
    write(src, "docs/report.txt", "report v2", mtime=T0 + 5)
    done = run("--delete", src, folder)
    assert done.returncode == 0 and "kept in the server's trash" in done.stdout, done.stdout + done.stderr
    dst = tmp_path / "dst"
    done = run("--checksum", folder, dst)
    assert done.returncode == 0, done.stderr
    assert on_disk(dst) == on_disk(src)


def test_a_name_that_is_not_utf8_is_reported_and_not_uploaded(tmp_path: Path, app: Served) -> None:
    src = tmp_path / "src"
    write(src, "fine.txt", "fine")
    (src / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name")
    report = syncline.sync(src, f"{URL}/Docs", delete=True)
    assert report.exit_code == 1 and any("caf" in p.path for p in report.problems), report.problems
    assert on_server(app, "Docs") == {"fine.txt": b"fine"}
    assert (src / os.fsdecode(b"caf\xe9.txt")).read_bytes() == b"latin-1 name"


@pytest.fixture
def transfers(monkeypatch: pytest.MonkeyPatch) -> list[Transfers]:
    """What each server folder a run opened sent and fetched, as the run closes it."""
    seen: list[Transfers] = []
    close = RemoteReplica.close

    def closing(self: RemoteReplica) -> None:
        seen.append(dataclasses.replace(self.transfers))
        close(self)

    monkeypatch.setattr(RemoteReplica, "close", closing)
    return seen


@pytest.mark.parametrize("two_way", [False, True], ids=["one-way", "two-way"])
def test_a_download_of_a_big_file_reuses_the_chunks_the_local_folder_holds(
        tmp_path: Path, app: Served, transfers: list[Transfers], two_way: bool) -> None:
    """``sync URL DIR`` and ``sync --two-way DIR URL`` keep DIR's chunk basis in the state directory: a new
    version of a big file made on another device comes down as its changed chunks only."""
    dst = tmp_path / "dst"
    other = made(app, "Big")
    data = os.urandom(6 << 20)
    other.write("big.bin", data, T0 * NS)

    def run() -> None:
        report = syncline.sync(dst, f"{URL}/Big", two_way=True) if two_way else syncline.sync(f"{URL}/Big", dst)
        assert report.exit_code == 0, report.problems

    run()
    assert (dst / "big.bin").read_bytes() == data
    assert transfers[-1].fetched_bytes >= len(data), transfers[-1]  # through the chunk list, not whole
    assert basis_path(app.state, dst).exists()
    edited = data[:3 << 20] + os.urandom(1000) + data[(3 << 20) + 1000:]
    other.write("big.bin", edited, (T0 + 10) * NS)
    run()
    assert (dst / "big.bin").read_bytes() == edited
    got = transfers[-1]
    assert got.whole_bytes == 0 and 0 < got.fetched_bytes <= 2 * 300_000, got  # the one or two pieces edited
