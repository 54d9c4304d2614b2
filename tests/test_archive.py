"""Offline sync: index on the far side, archive at the source, apply on the far side.

The water company's workflow end to end (a fitter's laptop and the office's master library), idempotence,
resuming after kill -9, stale archives, deltas of big files, and the far side's own changes: nothing the
fitter made is ever lost.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import syncline
from syncline.core.errors import SafetyStop
from syncline.formats.archivefile import open_archive
from syncline.formats.indexfile import load_index

from .cli_helpers import run
from .conftest import write

T0 = 1_700_000_000  # a fixed old mtime (seconds)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` (but .syncline) with kind, content or target, mode and mtime."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != ".syncline"]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir", st.st_mode & 0o7777)
            else:
                out[rel] = ("file", Path(p).read_bytes(), st.st_mode & 0o7777, st.st_mtime_ns)
    return out


def contents(root: Path) -> dict[str, tuple]:
    """Like :func:`snapshot` without directory modes and file mtimes: what a user compares."""
    return {p: v[:2] for p, v in snapshot(root).items()}


def library(root: Path, files: int = 120, seed: int = 1) -> None:
    """A master library of drawings in nested folders, with a symlink and an empty folder."""
    rng = random.Random(seed)
    for i in range(files):
        write(root, f"zone{i % 4}/street{i % 7}/house{i}.dwg", rng.randbytes(rng.randint(0, 3000)), mtime=T0 + i)
    (root / "empty").mkdir()
    os.symlink("zone0", root / "latest")


@pytest.fixture
def office_laptop(tmp_path: Path) -> tuple[Path, Path, Path]:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    library(office)
    shutil.copytree(office, laptop, symlinks=True)
    idx = tmp_path / "laptop.slidx"
    syncline.index(laptop, idx)
    return office, laptop, idx


def office_changes(office: Path) -> None:
    write(office, "zone1/street1/house1.dwg", b"revised by the office" * 10, mtime=T0 + 5000)
    write(office, "zone2/new-street/house900.dwg", b"a new house", mtime=T0 + 5001)
    os.unlink(office / "zone3/street3/house3.dwg")
    shutil.rmtree(office / "zone0/street0")
    os.chmod(office / "zone2/street2/house2.dwg", 0o600)


def fitter_changes(laptop: Path) -> None:
    write(laptop, "zone1/street1/house1.dwg", b"measured on site", mtime=T0 + 6000)  # the office changed it too
    write(laptop, "zone1/my-sketch.dwg", b"fitter's own drawing", mtime=T0 + 6001)
    write(laptop, "zone0/street0/fitter-note.txt", b"in a folder the office deleted", mtime=T0 + 6002)


def test_water_company_round_trip_keeps_everything_the_fitter_made(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    fitter_changes(laptop)
    delta = tmp_path / "delta.slar"
    made = syncline.archive(office, idx, delta, delete=True)
    assert made.exit_code == 0 and made.ops > 0

    report = syncline.apply(delta, laptop)
    assert report.exit_code == 0, report.problems
    got = contents(laptop)
    want = contents(office)
    # The fitter's own things are all there...
    assert got.pop("zone1/my-sketch.dwg") == ("file", b"fitter's own drawing")
    assert got.pop("zone0/street0/fitter-note.txt") == ("file", b"in a folder the office deleted")
    assert got.pop("zone0/street0") == ("dir", 0o755)  # kept: it holds the fitter's note
    # ...the file both changed keeps the fitter's version, the office's lands beside it...
    assert got["zone1/street1/house1.dwg"] == ("file", b"measured on site")
    got["zone1/street1/house1.dwg"] = want["zone1/street1/house1.dwg"]
    [(path, copy)] = report.conflicts
    assert path == "zone1/street1/house1.dwg" and ".sync-conflict-" in copy
    assert got.pop(copy) == ("file", b"revised by the office" * 10)
    # ...and everything else is the office's.
    assert got == want
    assert (laptop / "zone2/street2/house2.dwg").stat().st_mode & 0o777 == 0o600
    assert not list((laptop / ".syncline").glob("apply-*"))


def test_no_delete_adds_and_updates_only(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    before = contents(laptop)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    report = syncline.apply(delta, laptop, delete=False)
    assert report.exit_code == 0 and report.not_deleted > 0
    got = contents(laptop)
    for path, value in contents(office).items():
        assert got[path] == value
    for path in before:
        assert path in got  # nothing deleted
    assert (laptop / "zone3/street3/house3.dwg").exists()


def test_an_archive_without_delete_carries_no_deletion(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    delta = tmp_path / "delta.slar"
    made = syncline.archive(office, idx, delta)
    assert made.deletes == 0
    syncline.apply(delta, laptop)
    assert (laptop / "zone3/street3/house3.dwg").exists()
    assert (laptop / "zone2/new-street/house900.dwg").read_bytes() == b"a new house"


def test_applying_twice_changes_nothing_the_second_time(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    fitter_changes(laptop)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    syncline.apply(delta, laptop)
    after_first = snapshot(laptop)
    again = syncline.apply(delta, laptop)
    assert again.exit_code == 0
    assert again.done.changed == 0
    assert snapshot(laptop) == after_first  # no second conflict copy, nothing touched


def test_deleted_and_replaced_files_go_to_the_trash(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    old = (laptop / "zone3/street3/house3.dwg").read_bytes()
    office_changes(office)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    syncline.apply(delta, laptop)
    trashed = [p for p in (laptop / ".syncline" / "trash").rglob("house3.dwg")]
    assert trashed and trashed[0].read_bytes() == old


def test_a_file_deleted_here_that_the_archive_updates_comes_back(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    os.unlink(laptop / "zone1/street1/house1.dwg")
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    syncline.apply(delta, laptop)
    assert (laptop / "zone1/street1/house1.dwg").read_bytes() == b"revised by the office" * 10


def test_a_delete_of_a_file_changed_here_is_not_done(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    os.unlink(office / "zone3/street3/house3.dwg")
    write(laptop, "zone3/street3/house3.dwg", b"the fitter's edit", mtime=T0 + 9000)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    report = syncline.apply(delta, laptop)
    assert (laptop / "zone3/street3/house3.dwg").read_bytes() == b"the fitter's edit"
    assert report.kept == 1


def test_dry_run_changes_nothing(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    before = snapshot(laptop)
    report = syncline.apply(delta, laptop, dry_run=True)
    assert report.done.plan is not None and len(report.done.plan) > 0
    assert snapshot(laptop) == before
    assert not (laptop / ".syncline").exists()


def test_a_stale_archive_is_refused_and_force_applies_it(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    write(office, "zone1/a.dwg", b"first", mtime=T0 + 100)
    old_archive = tmp_path / "old.slar"
    syncline.archive(office, idx, old_archive)
    # The next round: the fitter's tree moves on through a newer index and archive.
    write(office, "zone1/b.dwg", b"second", mtime=T0 + 200)
    idx2 = tmp_path / "laptop2.slidx"
    syncline.index(laptop, idx2)
    new_archive = tmp_path / "new.slar"
    syncline.archive(office, idx2, new_archive)
    syncline.apply(new_archive, laptop)
    before = snapshot(laptop)
    with pytest.raises(SafetyStop, match="newer index"):
        syncline.apply(old_archive, laptop)
    assert snapshot(laptop) == before
    result = run("apply", old_archive, laptop)
    assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr
    assert syncline.apply(old_archive, laptop, force=True).exit_code == 0


def test_a_big_file_travels_as_a_delta(tmp_path: Path) -> None:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    rng = random.Random(7)
    data = rng.randbytes(6 << 20)
    write(office, "big.bin", data, mtime=T0)
    shutil.copytree(office, laptop)
    idx = tmp_path / "far.slidx"
    syncline.index(laptop, idx, chunks=True)
    assert load_index(idx).entries["big.bin"].chunks
    # 4 KiB inserted near the start, 64 KiB changed in the middle.
    new = data[:10_000] + rng.randbytes(4096) + data[10_000:3_000_000] + rng.randbytes(65536) + data[3_065_536:]
    write(office, "big.bin", new, mtime=T0 + 10)
    delta = tmp_path / "delta.slar"
    made = syncline.archive(office, idx, delta)
    assert made.deltas == 1
    assert made.literal_bytes < 1_000_000  # far less than the 6 MiB file
    assert delta.stat().st_size < 1_000_000
    syncline.apply(delta, laptop)
    assert (laptop / "big.bin").read_bytes() == new


def test_a_delta_over_a_locally_changed_file_keeps_the_local_file(tmp_path: Path) -> None:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    rng = random.Random(8)
    data = rng.randbytes(3 << 20)
    write(office, "big.bin", data, mtime=T0)
    shutil.copytree(office, laptop)
    idx = tmp_path / "far.slidx"
    syncline.index(laptop, idx, chunks=True)
    write(office, "big.bin", data[:1000] + b"office" + data[1000:], mtime=T0 + 10)
    local = b"fitter" + data
    write(laptop, "big.bin", local, mtime=T0 + 20)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta)
    report = syncline.apply(delta, laptop)
    assert (laptop / "big.bin").read_bytes() == local
    assert report.exit_code == 1 and "make a new index" in str(report.errors[0])


def test_writes_never_go_through_a_symlink_in_the_tree(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    write(office, "zone2/street2/new.dwg", b"new", mtime=T0 + 50)
    write(office, "zone3/street3/new.dwg", b"new", mtime=T0 + 50)
    outside = tmp_path / "outside"
    outside.mkdir()
    # Since the index, the fitter replaced a folder by a symlink to somewhere else, and another folder's
    # parent too.
    shutil.rmtree(laptop / "zone2/street2")
    os.symlink(outside, laptop / "zone2/street2")
    shutil.rmtree(laptop / "zone3")
    os.symlink(outside, laptop / "zone3")
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta)
    report = syncline.apply(delta, laptop)
    assert list(outside.iterdir()) == []
    # The folder that became a symlink keeps it; what the archive brings for it lands beside it.
    [(path, copy)] = report.conflicts
    assert path == "zone2/street2" and (laptop / copy / "new.dwg").read_bytes() == b"new"
    assert any(p.path.startswith("zone3/") and "symlink" in p.message for p in report.errors)


def test_an_interrupted_apply_resumes(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    for i in range(30):
        write(office, f"zone1/batch/new{i}.dwg", f"new {i}", mtime=T0 + 7000 + i)
    fitter_changes(laptop)
    delta = tmp_path / "delta.slar"
    syncline.archive(office, idx, delta, delete=True)
    reference = tmp_path / "reference"
    shutil.copytree(laptop, reference, symlinks=True)
    syncline.apply(delta, reference)
    for crash in ("stage:5", "commit:3", "commit:20", "direct:4"):
        target = tmp_path / f"laptop-{crash.replace(':', '-')}"
        shutil.copytree(laptop, target, symlinks=True)
        killed = run("apply", delta, target, env={"SYNCLINE_CRASH_AT": crash})
        assert killed.returncode == -9, (crash, killed.stderr)
        resumed = run("apply", delta, target)
        assert resumed.returncode == 0, resumed.stderr
        assert contents(target) == contents(reference), crash
        assert not list((target / ".syncline").glob("apply-*"))


def test_archive_show_lists_the_changes(office_laptop, tmp_path: Path) -> None:
    office, _laptop, idx = office_laptop
    office_changes(office)
    delta = tmp_path / "delta.slar"
    run("archive", office, "--against", idx, "-o", delta, "--delete", "-q")
    shown = run("archive", "show", delta)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "+ zone2/new-street/house900.dwg  11 B" in lines
    assert "M zone1/street1/house1.dwg  210 B" in lines
    assert "- zone3/street3/house3.dwg" in lines
    assert lines[-1].endswith("checksum verified")
    fh, reader = open_archive(delta)
    with fh:
        assert reader.header.delete and reader.header.source.root == str(office)


def test_cli_round_trip_with_json(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    office_changes(office)
    delta = tmp_path / "delta.slar"
    made = run("archive", office, "--against", idx, "-o", delta, "--json")
    assert made.returncode == 0, made.stderr
    import json

    assert json.loads(made.stdout)["files"] == 2
    applied = run("apply", delta, laptop, "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["copied"] == 2


def test_compare_modes_decide_what_content_travels(office_laptop, tmp_path: Path) -> None:
    office, laptop, idx = office_laptop
    os.utime(office / "zone1/street1/house1.dwg", (T0 + 99999, T0 + 99999))  # a new mtime, same bytes
    h8 = "zone0/street1/house8.dwg"
    size = (laptop / h8).stat().st_size
    write(office, h8, bytes(size), mtime=T0 + 8)  # other bytes, same size, old mtime
    by_mtime = syncline.archive(office, idx, tmp_path / "mtime.slar")
    by_size = syncline.archive(office, idx, tmp_path / "size.slar", compare="size")
    by_hash = syncline.archive(office, idx, tmp_path / "hash.slar", compare="hash")
    assert by_mtime.files == 1  # the new mtime: sent; house8 looks unchanged (size and mtime)
    assert by_size.files == 0  # neither is sent (the new mtime travels as metadata only)
    assert by_hash.files == 1  # house8's bytes differ; house1 only gets its new mtime
    syncline.apply(tmp_path / "hash.slar", laptop)
    assert contents(laptop) == contents(office)
    assert (laptop / "zone1/street1/house1.dwg").stat().st_mtime == T0 + 99999


@pytest.mark.parametrize("args, message", [
    (["archive", "NOPE", "--against", "IDX", "-o", "OUT"], "no such directory"),
    (["archive", "SRC", "--against", "NOPE", "-o", "OUT"], "no such index file"),
    (["archive", "SRC", "--against", "IDX", "-o", "SRC/inside.slar"], "inside the source"),
    (["apply", "NOPE", "SRC"], "no such archive"),
    (["apply", "IDX", "SRC"], "not a syncline archive"),
    (["apply", "OUT", "NOPE"], "no such directory"),
])
def test_bad_input_is_one_line_and_exit_2(office_laptop, tmp_path: Path, args: list[str], message: str) -> None:
    office, _laptop, idx = office_laptop
    out = tmp_path / "out.slar"
    syncline.archive(office, idx, out)
    subst = {"SRC": str(office), "IDX": str(idx), "OUT": str(out), "NOPE": str(tmp_path / "nope")}
    argv = [subst.get(a, a.replace("SRC", str(office))) for a in args]
    result = run(*argv)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_index_chunks_are_reused_and_only_for_big_files(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    write(tree, "small", b"x" * 100, mtime=T0)
    write(tree, "big", random.Random(1).randbytes(2 << 20), mtime=T0)
    idx = tmp_path / "t.slidx"
    first = syncline.index(tree, idx, chunks=True)
    assert first.entries["small"].chunks is None
    chunks = first.entries["big"].chunks
    assert chunks and sum(c.length for c in chunks) == 2 << 20
    assert first.header.chunker is not None and first.header.chunker["avg_size"] == 64 << 10
    again = run("index", tree, "-o", idx, "--chunks", "-q")
    assert again.returncode == 0
    assert load_index(idx).entries["big"].chunks == chunks
    plain = syncline.index(tree, tmp_path / "plain.slidx")
    assert plain.entries["big"].chunks is None and plain.header.chunker is None


def test_the_cli_archive_and_apply_run_as_documented(tmp_path: Path) -> None:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    write(office, "a.txt", b"a", mtime=T0)
    shutil.copytree(office, laptop)
    assert run("index", laptop, "-o", tmp_path / "far.slidx", "--chunks", "-q").returncode == 0
    write(office, "b.txt", b"b", mtime=T0)
    made = run("archive", office, "--against", tmp_path / "far.slidx", "-o", tmp_path / "d.slar")
    assert made.returncode == 0 and "wrote" in made.stdout
    applied = run("apply", tmp_path / "d.slar", laptop)
    assert applied.returncode == 0 and "copied 1 file" in applied.stdout
    assert (laptop / "b.txt").read_bytes() == b"b"
    assert subprocess.run([sys.executable, "-m", "syncline", "diff", office, laptop],
                          capture_output=True, check=False).returncode == 0


def test_the_root_folder_gets_the_source_root_s_mtime(tmp_path: Path) -> None:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    write(office, "top.txt", b"a", mtime=T0)
    write(office, "sub/x.txt", b"b", mtime=T0)
    for d in (office / "sub", office):
        os.utime(d, (T0, T0))
    shutil.copytree(office, laptop)
    os.utime(laptop, (T0, T0))
    idx = tmp_path / "far.slidx"
    syncline.index(laptop, idx)
    write(office, "top.txt", b"changed", mtime=T0 + 100)
    os.utime(office, (T0 + 50, T0 + 50))
    syncline.archive(office, idx, tmp_path / "d.slar")
    syncline.apply(tmp_path / "d.slar", laptop)
    assert laptop.stat().st_mtime == T0 + 50
    check = subprocess.run(["rsync", "-ani", "--delete", "--exclude=/.syncline/", f"{office}/", f"{laptop}/"],
                           capture_output=True, text=True, check=True)
    assert check.stdout == ""
