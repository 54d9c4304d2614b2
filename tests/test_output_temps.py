"""Output temp files of ``index -o``, ``archive -o`` and ``snapshot``: a run killed while writing leaves its
temp file, and the next run of any of these commands removes it, and only it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import syncline
from syncline.engine.outputs import output_file

from .conftest import write

TEMP_SHAPE = re.compile(r"^\.syncline-tmp-[0-9a-f]{16}$")  # what new_temp_name makes

LOOKALIKE = ".syncline-tmp-0123456789abcdef"  # a user's file that only looks like one of ours


def _syncline(*args: str | os.PathLike[str], crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("SYNCLINE_CRASH_AT", None)
    if crash is not None:
        env["SYNCLINE_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-m", "syncline", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def _temps(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if TEMP_SHAPE.match(n))


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path, Path]:
    src, far, out = tmp_path / "src", tmp_path / "far", tmp_path / "out"
    for i in range(20):
        write(src, f"d/f{i}.bin", os.urandom(20_000))
    write(far, "old.txt", "old")
    out.mkdir()
    syncline.index(far, out / "far.slidx")
    return src, far, out


def _command(kind: str, src: Path, out: Path) -> tuple[list[str | os.PathLike[str]], Path]:
    """(arguments, folder the output is written in) of one command of each kind."""
    if kind == "index":
        return ["index", src, "-o", out / "src.slidx"], out
    if kind == "archive":
        return ["archive", src, "--against", out / "far.slidx", "-o", out / "d.slar"], out
    return ["snapshot", src], src / ".syncline" / "snapshots"


@pytest.mark.parametrize("killed", ["index", "archive", "snapshot"])
@pytest.mark.parametrize("rerun", ["index", "archive", "snapshot"])
def test_the_temp_of_a_killed_run_is_removed_by_the_next_run(trees: tuple[Path, Path, Path], killed: str,
                                                             rerun: str) -> None:
    src, _, out = trees
    args, folder = _command(killed, src, out)
    if killed == "snapshot":  # the snapshots folder exists once one snapshot was taken
        assert _syncline("snapshot", src, "-q").returncode == 0
    dead = _syncline(*args, crash="output:1")
    assert dead.returncode == -9, (dead.stdout, dead.stderr)
    (left,) = _temps(folder)
    assert os.path.getsize(folder / left) > 0
    write(folder, LOOKALIKE, "mine")
    again, _ = _command(rerun, src, out)
    done = _syncline(*again)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert _temps(folder) == [LOOKALIKE]
    assert (folder / LOOKALIKE).read_text() == "mine"


def test_the_temp_of_a_live_run_is_left_alone(trees: tuple[Path, Path, Path]) -> None:
    src, _, out = trees
    with output_file(out / "mine.bin") as fh:
        fh.write(b"being written")
        (ours,) = _temps(out)
        assert _syncline("index", src, "-o", out / "src.slidx").returncode == 0
        assert _temps(out) == [ours]
    assert (out / "mine.bin").read_bytes() == b"being written" and _temps(out) == []
