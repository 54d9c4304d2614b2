"""apply against what the far side did meanwhile, and against races: each test tries to make it lose data
or write outside DIR (these are the findings of a review, kept as regression tests)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import syncline
from syncline.core.errors import SafetyStop
from syncline.engine.offline.apply import planner, running

from .cli_helpers import NOBODY, give_to, run
from .conftest import write
from .test_archive import T0, contents
from .test_archive_hostile import file_rec, header, raw_archive, rejected


@pytest.fixture
def far(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(office, laptop, laptop's index): two equal small trees."""
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    for name in ("d/a.txt", "d/b.txt", "f.txt", "keep/k.txt"):
        write(office, name, name.encode(), mtime=T0)
    shutil.copytree(office, laptop)
    idx = tmp_path / "laptop.slidx"
    syncline.index(laptop, idx)
    return office, laptop, idx


def archive_and_apply(office: Path, laptop: Path, idx: Path, **apply: object) -> syncline.ApplyReport:
    out = office.parent / "delta.slar"
    syncline.archive(office, idx, out, delete=True)
    return syncline.apply(out, laptop, **apply)  # type: ignore[arg-type]


def test_a_sibling_between_a_symlink_and_its_child_does_not_open_the_door(tmp_path: Path) -> None:
    target = tmp_path / "far"
    (target / "cache").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = [0, b"cache", [1, 0o755, 0, T0 * 10**9, None, None],
            [2, 0o777, len(os.fsencode(str(outside))), T0, None, os.fsencode(str(outside))], 0]
    sibling = [[5, b".txt", None, file_rec(b"x"), 1], b"x", None]  # "cache.txt" sorts before "cache/"
    through = [[5, b"/authorized_keys", None, file_rec(b"key"), 1], b"key", None]
    rejected(tmp_path, target, raw_archive([link, *sibling, *through]), "below a path the archive makes")
    assert list(outside.iterdir()) == []


def test_a_symlink_raced_in_after_planning_is_not_written_through(far, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    office, laptop, idx = far
    write(office, "d/new.txt", b"new", mtime=T0 + 10)
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    real_execute = running.execute

    def racing(plan, source, target, **kw):  # type: ignore[no-untyped-def]
        shutil.rmtree(laptop / "d")
        os.symlink(outside, laptop / "d")
        return real_execute(plan, source, target, **kw)

    monkeypatch.setattr(running, "execute", racing)
    report = archive_and_apply(office, laptop, idx)
    assert list(outside.iterdir()) == []
    assert outside.stat().st_mode & 0o777 == 0o700
    assert report.exit_code == 1


def test_an_archive_from_an_empty_source_is_stopped(far, tmp_path: Path) -> None:
    _office, _laptop, idx = far
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SafetyStop, match="is empty"):
        syncline.archive(empty, idx, tmp_path / "d.slar", delete=True)
    assert not (tmp_path / "d.slar").exists()
    result = run("archive", empty, "--against", idx, "-o", tmp_path / "d.slar", "--delete")
    assert result.returncode == 2 and "--force" in result.stderr


def test_an_archive_that_deletes_most_of_dir_is_stopped_at_apply(far, tmp_path: Path) -> None:
    office, laptop, idx = far
    for name in ("d/a.txt", "d/b.txt", "f.txt"):
        os.unlink(office / name)
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out, delete=True, force=True)  # 3 of 4 files
    before = contents(laptop)
    with pytest.raises(SafetyStop, match="max-delete"):
        syncline.apply(out, laptop)
    assert contents(laptop) == before
    assert syncline.apply(out, laptop, force=True).done.deleted == 3


def test_the_archive_side_guard_counts_the_far_files(far, tmp_path: Path) -> None:
    office, _laptop, idx = far
    for name in ("d/a.txt", "d/b.txt", "f.txt"):
        os.unlink(office / name)
    result = run("archive", office, "--against", idx, "-o", tmp_path / "d.slar", "--delete")
    assert result.returncode == 2 and "more than --max-delete" in result.stderr
    ok = run("archive", office, "--against", idx, "-o", tmp_path / "d.slar", "--delete", "--max-delete", "3")
    assert ok.returncode == 0, ok.stderr


def test_an_edit_between_the_passes_keeps_its_mtime(far, monkeypatch: pytest.MonkeyPatch) -> None:
    office, laptop, idx = far
    write(office, "f.txt", b"F.TXT", mtime=T0 + 10)
    write(laptop, "f.txt", b"F.TXT", mtime=T0 + 20)  # the far side already has the content
    real_plan = planner.Planner.plan

    def edit_first(self, ops):  # type: ignore[no-untyped-def]
        write(laptop, "f.txt", b"EDIT!", mtime=T0 + 30)  # same size, saved between the passes
        return real_plan(self, ops)

    monkeypatch.setattr(planner.Planner, "plan", edit_first)
    archive_and_apply(office, laptop, idx)
    assert (laptop / "f.txt").read_bytes() == b"EDIT!"
    assert (laptop / "f.txt").stat().st_mtime_ns == (T0 + 30) * 10**9


def test_a_folder_replaced_by_a_file_keeps_what_was_added_in_it(far) -> None:
    office, laptop, idx = far
    shutil.rmtree(office / "d")
    write(office, "d", b"now a file", mtime=T0 + 10)
    write(laptop, "d/added-here.txt", b"mine", mtime=T0 + 20)
    report = archive_and_apply(office, laptop, idx)
    assert (laptop / "d/added-here.txt").read_bytes() == b"mine"
    [(path, copy)] = report.conflicts
    assert path == "d" and (laptop / copy).read_bytes() == b"now a file"


def test_a_file_replaced_by_a_folder_while_edited_here(far) -> None:
    office, laptop, idx = far
    os.unlink(office / "f.txt")
    write(office, "f.txt/inside.txt", b"inside", mtime=T0 + 10)
    write(laptop, "f.txt", b"edited here", mtime=T0 + 20)
    report = archive_and_apply(office, laptop, idx)
    assert (laptop / "f.txt").read_bytes() == b"edited here"
    [(path, copy)] = report.conflicts
    assert path == "f.txt" and (laptop / copy / "inside.txt").read_bytes() == b"inside"
    assert report.exit_code == 0


def test_a_chmod_made_here_is_a_local_change(far) -> None:
    office, laptop, idx = far
    write(office, "f.txt", b"office's new version", mtime=T0 + 10)
    os.chmod(laptop / "f.txt", 0o600)
    report = archive_and_apply(office, laptop, idx)
    assert (laptop / "f.txt").stat().st_mode & 0o777 == 0o600
    assert (laptop / "f.txt").read_bytes() == b"f.txt"
    [(_, copy)] = report.conflicts
    assert (laptop / copy).read_bytes() == b"office's new version"


def test_a_folder_chmod_made_here_stays(far) -> None:
    office, laptop, idx = far
    write(office, "d/c.txt", b"c", mtime=T0 + 10)
    os.chmod(laptop / "d", 0o700)
    archive_and_apply(office, laptop, idx)
    assert (laptop / "d").stat().st_mode & 0o777 == 0o700
    assert (laptop / "d/c.txt").read_bytes() == b"c"


def test_a_delta_over_an_edit_that_kept_size_and_mtime_is_a_per_file_problem(tmp_path: Path) -> None:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    data = os.urandom(3 << 20)
    write(office, "big.bin", data, mtime=T0)
    write(office, "small.txt", b"s", mtime=T0)
    shutil.copytree(office, laptop)
    idx = tmp_path / "i.slidx"
    syncline.index(laptop, idx, chunks=True)
    write(office, "big.bin", data[:100] + b"office" + data[106:], mtime=T0 + 10)
    write(office, "small.txt", b"S", mtime=T0 + 10)
    with open(laptop / "big.bin", "r+b") as fh:  # edited in place, its times put back
        fh.seek(2 << 20)
        fh.write(b"local edit")
    os.utime(laptop / "big.bin", (T0, T0))
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out)
    report = syncline.apply(out, laptop)
    assert report.exit_code == 1 and report.errors[0].path == "big.bin"
    assert (laptop / "small.txt").read_bytes() == b"S"


def test_an_unreadable_folder_in_dir_is_a_per_item_problem(shared_base: Path) -> None:
    office, laptop = shared_base / "office", shared_base / "laptop"
    for name in ("locked/x.txt", "open/y.txt"):
        write(office, name, b"1", mtime=T0)
    shutil.copytree(office, laptop)
    idx = shared_base / "i.slidx"
    syncline.index(laptop, idx)
    write(office, "locked/x.txt", b"2", mtime=T0 + 10)
    write(office, "open/y.txt", b"2", mtime=T0 + 10)
    out = shared_base / "d.slar"
    syncline.archive(office, idx, out)
    give_to(shared_base, NOBODY)
    os.chmod(laptop / "locked", 0)
    env = {"SYNCLINE_STATE_DIR": str(shared_base / "state")}
    result = run("apply", out, laptop, user=NOBODY, env=env)
    os.chmod(laptop / "locked", 0o755)
    assert result.returncode == 1, result.stderr
    assert "locked/x.txt" in result.stderr and "Traceback" not in result.stderr
    assert (laptop / "open/y.txt").read_bytes() == b"2"
    assert (laptop / "locked/x.txt").read_bytes() == b"1"


def test_the_stale_check_holds_through_another_path_and_ignores_the_future(far, tmp_path: Path) -> None:
    office, laptop, _ = far
    link = tmp_path / "laptop-link"
    os.symlink(laptop, link)
    old_idx = tmp_path / "old.slidx"
    syncline.index(link, old_idx)  # taken through another path
    write(office, "one.txt", b"1", mtime=T0)
    syncline.archive(office, old_idx, tmp_path / "old.slar")
    new_idx = tmp_path / "new.slidx"
    syncline.index(laptop, new_idx)
    syncline.archive(office, new_idx, tmp_path / "new.slar")
    syncline.apply(tmp_path / "new.slar", laptop)
    with pytest.raises(SafetyStop):
        syncline.apply(tmp_path / "old.slar", laptop)
    # An archive claiming an index from the far future is applied but not believed.
    future = {"root": os.fsencode(str(laptop)), "host": "vm", "scanned_ns": (1 << 63) - 1, "id": bytes(32)}
    data = raw_archive([[0, b"future.txt", None, file_rec(b"f"), 1], b"f", None],
                       head=header(1, 1, against=future))
    (tmp_path / "future.slar").write_bytes(data)
    report = syncline.apply(tmp_path / "future.slar", laptop)
    assert any("future" in p.message for p in report.problems)
    log = (laptop / ".syncline/applied.jsonl").read_text().splitlines()
    assert all(json.loads(line)["against_scanned_ns"] < (1 << 62) for line in log)


def test_sync_since_with_the_state_directory_inside_src(tmp_path: Path) -> None:
    src, dst = tmp_path / "home", tmp_path / "copy"
    write(src, "a.txt", b"a", mtime=T0)
    syncline.snapshot(src, "then")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".syncline"))
    write(src, "b.txt", b"b", mtime=T0)
    env = {"SYNCLINE_STATE_DIR": str(src / ".local/state/syncline")}
    result = run("sync", src, dst, "--since", "then", env=env)
    assert result.returncode == 0, result.stderr
    assert (dst / "b.txt").read_bytes() == b"b"


def test_a_date_far_in_the_future_is_no_traceback(far) -> None:
    _office, laptop, _ = far
    syncline.snapshot(laptop, "one")
    result = run("diff", f"{laptop}@9999-12-31", laptop)
    assert result.returncode == 0, result.stderr
    label = run("snapshot", laptop, "--label", "9999-12-31")
    assert label.returncode == 2 and "Traceback" not in label.stderr


def test_staging_left_by_an_interrupted_apply_is_cleared(far) -> None:
    office, laptop, idx = far
    leftover = laptop / ".syncline/apply-0123456789abcdef"
    write(leftover, "000000001", b"x" * 1000)
    write(office, "f.txt", b"new", mtime=T0 + 10)
    archive_and_apply(office, laptop, idx)
    assert not list((laptop / ".syncline").glob("apply-*"))


def test_control_characters_in_names_are_escaped(far, tmp_path: Path) -> None:
    office, _laptop, idx = far
    write(office, "evil\x1b]0;pwned\x07.txt", b"x", mtime=T0)
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out)
    shown = run("archive", "show", out)
    assert "\x1b" not in shown.stdout and "\\#033]0;pwned\\#007" in shown.stdout


@pytest.mark.parametrize("path", [b".SYNCLINE/trash/x", b".Syncline", b"a/.syncline", b"a/.Syncline"])
def test_names_of_syncline_s_own_files_are_refused(tmp_path: Path, path: bytes) -> None:
    target = tmp_path / "far"
    write(target, "a/keep.txt", b"k")
    records = [[0, b"a", None, [1, 0o755, 0, T0, None, None], 0]] if path.startswith(b"a/") else []
    records += [[0 if not records else 1, path if not records else path[1:], None, file_rec(b"x"), 1], b"x", None]
    rejected(tmp_path, target, raw_archive(records), "syncline")


def test_setuid_bits_are_not_applied(tmp_path: Path) -> None:
    target = tmp_path / "far"
    target.mkdir()
    rec = [0, 0o4755, 1, T0, __import__("blake3").blake3(b"x").digest(), None]
    (tmp_path / "s.slar").write_bytes(raw_archive([[0, b"tool", None, rec, 1], b"x", None]))
    report = syncline.apply(tmp_path / "s.slar", target)
    assert (target / "tool").stat().st_mode & 0o7777 == 0o755
    assert any("setuid" in p.message for p in report.problems)


def test_unknown_header_keys_are_skipped_not_decoded(tmp_path: Path) -> None:
    target = tmp_path / "far"
    target.mkdir()
    head = header(1, 1)
    head["future_key"] = [[] for _ in range(200_000)]
    (tmp_path / "h.slar").write_bytes(raw_archive([[0, b"x", None, file_rec(b"x"), 1], b"x", None], head=head))
    assert syncline.apply(tmp_path / "h.slar", target).exit_code == 0


def test_modes_set_here_stay(far) -> None:
    office, laptop, idx = far
    os.utime(office / "f.txt", (T0 + 10, T0 + 10))  # the office only touched it
    os.chmod(laptop / "f.txt", 0o600)
    for side, mode, file_mode in ((office, 0o755, 0o644), (laptop, 0o700, 0o600)):  # both made private/
        write(side, "private/secret.txt", b"s", mtime=T0)
        os.chmod(side / "private", mode)
        os.chmod(side / "private/secret.txt", file_mode)
    archive_and_apply(office, laptop, idx)
    assert (laptop / "f.txt").stat().st_mode & 0o777 == 0o600
    assert (laptop / "f.txt").stat().st_mtime == T0 + 10
    assert (laptop / "private").stat().st_mode & 0o777 == 0o700
    assert (laptop / "private/secret.txt").stat().st_mode & 0o777 == 0o600


def test_a_folder_conflict_copy_is_made_once_even_across_kills(far, tmp_path: Path) -> None:
    office, laptop, idx = far
    os.unlink(office / "f.txt")
    write(office, "f.txt/inside.txt", b"inside", mtime=T0 + 10)
    write(office, "f.txt/sub/deep.txt", b"deep", mtime=T0 + 10)
    write(laptop, "f.txt", b"edited here", mtime=T0 + 20)
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out)
    reference = tmp_path / "reference"
    shutil.copytree(laptop, reference)
    syncline.apply(out, reference)
    want = contents(reference)
    assert sum(".sync-conflict-" in p.rsplit("/", 1)[-1] for p in want) == 1
    for crash in ("commit:1", "direct:2", None):
        target = tmp_path / f"t-{crash}"
        shutil.copytree(laptop, target)
        if crash:
            run("apply", out, target, env={"SYNCLINE_CRASH_AT": crash})
        for _ in range(2):
            assert run("apply", out, target).returncode == 0
        assert contents(target) == want, crash


def test_a_setgid_folder_keeps_its_bit_and_gives_its_group(far) -> None:
    office, laptop, idx = far
    for side in (office, laptop):
        os.chmod(side / "d", 0o2775)
    os.chown(laptop / "d", -1, NOBODY)
    os.chown(laptop / "d/a.txt", -1, NOBODY)
    write(office, "d/a.txt", b"updated", mtime=T0 + 10)
    idx2 = idx.parent / "again.slidx"
    syncline.index(laptop, idx2)
    out = office.parent / "d.slar"
    syncline.archive(office, idx2, out)
    syncline.apply(out, laptop)
    assert (laptop / "d").stat().st_mode & 0o7777 == 0o2775
    assert (laptop / "d/a.txt").read_bytes() == b"updated"
    assert (laptop / "d/a.txt").stat().st_gid == NOBODY


def test_the_root_mtime_is_restored_on_a_resumed_apply(tmp_path: Path) -> None:
    office, laptop = tmp_path / "office", tmp_path / "laptop"
    write(office, "keep.txt", b"k", mtime=T0)
    shutil.copytree(office, laptop)
    idx = tmp_path / "i.slidx"
    syncline.index(laptop, idx)
    write(office, "n1.txt", b"1", mtime=T0)
    write(office, "n2.txt", b"2", mtime=T0)
    os.utime(office, (T0 + 100, T0 + 100))
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out)
    assert run("apply", out, laptop, env={"SYNCLINE_CRASH_AT": "commit:2"}).returncode == -9
    assert run("apply", out, laptop).returncode == 0
    assert laptop.stat().st_mtime == T0 + 100


def test_a_metadata_change_under_a_redirected_folder_is_no_error(far) -> None:
    office, laptop, idx = far
    shutil.rmtree(laptop / "d")
    write(laptop, "d", b"now a file here", mtime=T0 + 20)
    os.chmod(office / "d/a.txt", 0o600)
    write(office, "d/new.txt", b"new", mtime=T0 + 10)
    report = archive_and_apply(office, laptop, idx)
    assert report.exit_code == 0, report.errors
    assert (laptop / "d").read_bytes() == b"now a file here"


def test_no_delete_replaces_no_type(far) -> None:
    office, laptop, idx = far
    os.unlink(office / "f.txt")
    write(office, "f.txt/inside.txt", b"inside", mtime=T0 + 10)
    shutil.rmtree(office / "keep")
    os.symlink("d", office / "keep")
    report = archive_and_apply(office, laptop, idx, delete=False, trash=False)
    assert (laptop / "f.txt").read_bytes() == b"f.txt"
    assert (laptop / "keep/k.txt").read_bytes() == b"keep/k.txt"
    assert report.conflicts == [] and report.exit_code == 0


def test_dry_run_shows_the_plan_past_the_delete_guard(far, tmp_path: Path) -> None:
    office, laptop, idx = far
    for name in ("d/a.txt", "d/b.txt", "f.txt"):
        os.unlink(office / name)
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out, delete=True, force=True)
    result = run("apply", "-n", out, laptop)
    assert result.returncode == 1
    assert "*deleting" in result.stdout and "a real run would stop here" in result.stderr


def test_a_file_named_dot_syncline_is_a_clear_error(far, tmp_path: Path) -> None:
    office, laptop, idx = far
    write(office, "f.txt", b"new", mtime=T0 + 10)
    out = tmp_path / "d.slar"
    syncline.archive(office, idx, out)
    (laptop / ".syncline").write_bytes(b"not a folder")
    result = run("apply", out, laptop)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "is not a directory (move it away" in result.stderr
