"""The command line's own surface: the tour, --help of every command, and one-line usage errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .cli_helpers import assert_one_line_error, run
from .conftest import write

T0 = 1_600_000_000


def test_the_bare_command_prints_the_tour_once() -> None:
    proc = run()
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert sum("syncline sync SRC DST" in ln for ln in lines) == 1
    assert sum(ln.strip() == "Commands:" for ln in lines) == 1
    assert not [ln for ln in lines if ln.rstrip().endswith("...") and "[ARGS]" not in ln], proc.stdout
    assert proc.stdout == run("--help").stdout


@pytest.mark.parametrize("command,options", [
    ("index", ("--output", "--no-digests", "--previous", "--chunks", "--chunk-size", "--exclude", "--json")),
    ("archive", ("--against", "--since", "--output", "--delete", "--max-delete", "--compare", "--label")),
])
def test_index_and_archive_help_list_their_options(command: str, options: tuple[str, ...]) -> None:
    proc = run(command, "--help")
    assert proc.returncode == 0
    for option in options:
        assert option in proc.stdout, (option, proc.stdout)
    assert "create" not in proc.stdout
    assert f"syncline {command} show FILE" in proc.stdout


def test_sub_commands_of_index_and_archive_still_work(tmp_path: Path, src: Path) -> None:
    write(src, "a.txt", "x")
    far = tmp_path / "far.slidx"
    assert run("index", src, "-o", far, "-q").returncode == 0
    assert "a.txt" in run("index", "show", far).stdout
    (tmp_path / "empty").mkdir()
    assert run("index", tmp_path / "empty", "-o", far, "-q").returncode == 0
    delta = tmp_path / "d.slar"
    assert run("archive", src, "--against", far, "-o", delta, "-q").returncode == 0
    assert "+ a.txt" in run("archive", "show", delta).stdout
    assert "--json" in run("index", "show", "--help").stdout


@pytest.mark.parametrize("args,words", [
    (("sync", "--bogus", "{src}", "{tmp}/d"), ("no such option", "--bogus", "`syncline sync --help`")),
    (("sync", "{src}"), ("missing argument 'DST'", "`syncline sync --help`")),
    (("sync", "--max-delete", "lots", "{src}", "{tmp}/d"), ("--max-delete", "lots", "`syncline sync --help`")),
    (("index",), ("missing argument 'DIR'", "`syncline index --help`")),
    (("index", "{src}"), ("missing option", "--output", "`syncline index --help`")),
    (("index", "show"), ("missing argument 'FILE'", "`syncline index show --help`")),
    (("archive", "{src}", "-o", "{tmp}/x.slar"), ("--against", "--since", "`syncline archive --help`")),
    (("archive", "{src}", "--against", "{tmp}/f.slidx", "--bogus"), ("--bogus", "`syncline archive --help`")),
    (("apply", "{tmp}/x.slar"), ("missing argument 'DIRECTORY'", "`syncline apply --help`")),
    (("diff", "--compare", "colour", "{src}", "{src}"), ("colour", "`syncline diff --help`")),
    (("frobnicate",), ("no such command", "frobnicate", "`syncline --help`")),
])
def test_usage_errors_are_one_line(tmp_path: Path, src: Path, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    proc = run(*[a.format(src=src, tmp=tmp_path) for a in args])
    assert_one_line_error(proc, *words)
    assert "create" not in proc.stderr and proc.stdout == ""


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_destination_its_file_system_refuses_is_not_blamed_on_its_parent(src: Path) -> None:
    write(src, "a.txt", "x")
    proc = run("sync", src, "/proc/syncline-test-newdir")
    assert_one_line_error(proc, "/proc", "refuses new folders")
    assert "does not exist" not in proc.stderr


def test_a_rejected_archive_leaves_the_folder_as_it_was(tmp_path: Path, src: Path) -> None:
    for i in range(40):
        write(src, f"f{i}.txt", f"data {i}\n")
    (tmp_path / "far").mkdir()
    far, delta = tmp_path / "far.slidx", tmp_path / "d.slar"
    assert run("index", tmp_path / "far", "-o", far, "-q").returncode == 0
    assert run("archive", src, "--against", far, "-o", delta, "-q").returncode == 0
    data = bytearray(delta.read_bytes())
    data[len(data) // 2] ^= 0xFF  # damaged in the body: found while the files are staged
    delta.write_bytes(bytes(data))
    target = tmp_path / "target"
    target.mkdir()
    os.utime(target, (T0, T0))
    assert_one_line_error(run("apply", delta, target), "nothing was changed")
    assert list(target.iterdir()) == [] and target.stat().st_mtime == T0
