"""The real command line: exit codes, one-line errors, output formats, unreadable parts."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from .cli_helpers import NOBODY, assert_one_line_error, give_to, run, run_json
from .conftest import write

T0 = 1_600_000_000


def test_tour_without_arguments() -> None:
    proc = run()
    assert proc.returncode == 0
    for cmd in ("sync SRC DST", "index DIR -o FILE", "index show FILE", "diff OLD NEW"):
        assert cmd in proc.stdout


def test_sync_json_summary_and_exit_codes(src: Path, dst: Path) -> None:
    write(src, "a", "1")
    write(src, "b/c", "22")
    code, out = run_json("sync", src, dst)
    assert code == 0 and out["copied"] == 2 and out["copied_bytes"] == 3 and out["errors"] == []
    code, out = run_json("sync", src, dst)
    assert code == 0 and out["copied"] == 0


def test_dry_run_prints_itemized_lines(src: Path, dst: Path) -> None:
    write(src, "new.txt", "n")
    proc = run("sync", "--dry-run", src, dst)
    assert proc.returncode == 0
    assert ">f+++++++++ new.txt" in proc.stdout.splitlines()
    assert not dst.exists()


@pytest.mark.parametrize("args,words", [
    (("sync", "/no/such/src", "/tmp/x"), ("no such directory", "/no/such/src")),
    (("sync", "{src}", "{src}/inner"), ("nested",)),
    (("sync", "{src}", "/no/such/parent/dst"), ("parent does not exist",)),
    (("diff", "/no/such", "{src}"), ("no such directory or index file",)),
    (("index", "/no/such", "-o", "{tmp}/x.slidx"), ("no such directory",)),
    (("index", "{src}", "-o", "/no/such/dir/x.slidx"), ("directory does not exist",)),
    (("index", "show", "/no/such.slidx"), ("no such index file",)),
    (("index", "show", "{src}"), ("is a directory",)),
    (("sync", "--checksum", "--size-only", "{src}", "{tmp}/d"), ("exclude each other",)),
])
def test_user_mistakes_get_one_line_errors(tmp_path: Path, src: Path, args: tuple[str, ...],
                                           words: tuple[str, ...]) -> None:
    argv = [a.format(src=src, tmp=tmp_path) for a in args]
    assert_one_line_error(run(*argv), *words)


def test_corrupt_and_foreign_index_files(tmp_path: Path, src: Path) -> None:
    write(src, "a", "x")
    good = tmp_path / "good.slidx"
    assert run("index", src, "-o", good).returncode == 0
    data = good.read_bytes()
    (tmp_path / "cut.slidx").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.slidx").write_text("hello, not an index\n")
    (tmp_path / "v9.slidx").write_bytes(data[:8] + b"\x00\x09" + data[10:])
    assert_one_line_error(run("diff", tmp_path / "cut.slidx", good), "corrupt")
    assert_one_line_error(run("index", "show", tmp_path / "text.slidx"), "not a syncline index file")
    assert_one_line_error(run("diff", good, tmp_path / "v9.slidx"), "v9", "upgrade")


def test_max_delete_stop_and_force(src: Path, dst: Path) -> None:
    for i in range(4):
        write(dst, f"old{i}", "x")
    write(src, "keep", "k")
    proc = run("sync", "--delete", src, dst)
    assert_one_line_error(proc, "source" if False else "would delete 4 of 4 files", "--max-delete")
    assert len(list(dst.iterdir())) == 4
    assert run("sync", "--delete", "--max-delete", "100%", src, dst).returncode == 0
    assert sorted(p.name for p in dst.iterdir()) == [".syncline", "keep"]


def test_empty_source_stop(src: Path, dst: Path) -> None:
    write(dst, "precious", "x")
    assert_one_line_error(run("sync", "--delete", src, dst), "source is empty", "--force")
    assert (dst / "precious").exists()


def test_index_show_and_diff(tmp_path: Path, src: Path) -> None:
    write(src, "keep.txt", "same", mtime=T0)
    write(src, "edit.txt", "v1", mtime=T0)
    write(src, "move-me.txt", "moving content", mtime=T0)
    write(src, "gone.txt", "bye", mtime=T0)
    old = tmp_path / "old.slidx"
    assert run("index", src, "-o", old).returncode == 0
    show = run("index", "show", old)
    assert show.returncode == 0 and "keep.txt" in show.stdout and "4 entries" in show.stdout
    lines = [json.loads(x) for x in run("index", "show", "--json", old).stdout.splitlines()]
    assert lines[0]["root"] == str(src) and {x["path"] for x in lines[1:]} >= {"keep.txt", "gone.txt"}
    write(src, "edit.txt", "v2 longer", mtime=T0 + 5)
    os.rename(src / "move-me.txt", src / "moved.txt")
    (src / "gone.txt").unlink()
    write(src, "new.txt", "new")
    os.chmod(src / "keep.txt", 0o600)
    proc = run("diff", old, src)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "M edit.txt",
        "- gone.txt",
        "m keep.txt",
        "R move-me.txt -> moved.txt",
        "+ new.txt",
        "1 added, 1 deleted, 1 moved, 1 modified, 1 meta",
    ]
    code, out = run_json("diff", old, src)
    assert code == 1 and out["counts"]["moved"] == 1 and out["equal"] is False
    new = tmp_path / "new.slidx"
    run("index", src, "-o", new)
    same = run("diff", new, src)
    assert same.returncode == 0 and same.stdout.strip() == "no differences"


def test_index_rerun_reuses_digests_and_sees_changes(tmp_path: Path, src: Path) -> None:
    import syncline.core.hashing as hashing
    from syncline.engine.offline.indexing import make_index

    for i in range(20):
        write(src, f"f{i}", os.urandom(1000), mtime=T0)
    out = tmp_path / "i.slidx"
    first = make_index(src, out)
    write(src, "f3", os.urandom(1000), mtime=T0 + 1)
    hashed: list[str] = []
    real = hashing.hash_file

    def counting(path: str, entry, chunker=None):  # type: ignore[no-untyped-def]
        hashed.append(path)
        return real(path, entry, chunker)

    hashing.hash_file = counting
    try:
        second = make_index(src, out)
    finally:
        hashing.hash_file = real
    assert [os.path.basename(p) for p in hashed] == ["f3"]  # only the changed file is read again
    assert second["f3"].digest != first["f3"].digest and second["f4"].digest == first["f4"].digest
    shown = run("index", "show", "--json", out).stdout.splitlines()[1:]
    assert {json.loads(x)["path"] for x in shown} == {f"f{i}" for i in range(20)}


def test_non_utf8_names_end_to_end(tmp_path: Path, src: Path, dst: Path) -> None:
    name = b"r\xe9sum\xe9.txt"
    with open(os.fsencode(src) + b"/" + name, "wb") as fh:
        fh.write(b"bytes name")
    assert run("sync", src, dst).returncode == 0
    with open(os.fsencode(dst) + b"/" + name, "rb") as fh:
        assert fh.read() == b"bytes name"
    proc = run("sync", "--dry-run", "--delete", dst, tmp_path / "other")
    assert proc.returncode == 0 and proc.stdout.count("r\\#351sum\\#351.txt") == 1  # escaped as rsync does
    out = tmp_path / "n.slidx"
    assert run("index", src, "-o", out).returncode == 0
    assert run("diff", out, dst).returncode == 0


def test_unreadable_parts_are_errors_and_never_deleted(shared_base: Path) -> None:
    src, dst = shared_base / "src", shared_base / "dst"
    write(src, "ok.txt", "fine")
    write(src, "locked/inside.txt", "secret")
    write(src, "noread.txt", "can't read me")
    write(src, "gone.txt", "will be deleted")
    assert run("sync", src, dst).returncode == 0
    (src / "gone.txt").unlink()
    write(src, "ok.txt", "fine, changed", mtime=T0)
    os.chmod(src / "locked", 0)
    os.chmod(src / "noread.txt", 0)
    give_to(shared_base, NOBODY)
    env = {"SYNCLINE_STATE_DIR": str(shared_base / "state")}
    proc = run("sync", "--delete", "--force", src, dst, user=NOBODY, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "locked: cannot list directory: Permission denied" in proc.stderr
    assert (dst / "locked/inside.txt").read_text() == "secret"  # not deleted: the source part is unreadable
    assert not (dst / "gone.txt").exists()
    assert (dst / "ok.txt").read_text() == "fine, changed"
    assert (dst / "noread.txt").exists()


def test_unwritable_destination_is_reported(shared_base: Path) -> None:
    src, dst = shared_base / "src", shared_base / "dst"
    write(src, "ro/new.txt", "x")
    write(src, "other.txt", "y")
    (dst / "ro").mkdir(parents=True)
    give_to(shared_base, NOBODY)
    os.chmod(dst / "ro", stat.S_IRUSR | stat.S_IXUSR)
    env = {"SYNCLINE_STATE_DIR": str(shared_base / "state")}
    proc = run("sync", src, dst, user=NOBODY, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "ro/new.txt: cannot write: Permission denied" in proc.stderr
    assert (dst / "other.txt").read_text() == "y"


def test_progress_bar_on_a_terminal(src: Path, dst: Path) -> None:
    import subprocess
    import sys

    for i in range(300):
        write(src, f"d{i % 7}/f{i}", os.urandom(3000))
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "syncline", "sync", str(src), str(dst)],
                                stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert "300/300 files" in screen and "copied 300 files" in screen
