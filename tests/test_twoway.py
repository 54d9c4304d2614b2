"""Two-way sync on real directories: what propagates, what is kept, and every safety stop."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

import syncline
from syncline.core.conflicts import is_conflict_name
from syncline.core.errors import SafetyStop, UsageError
from syncline.core.paths import META_DIR

from .cli_helpers import NOBODY, give_to, run
from .conftest import write

T0 = 1_700_000_000


def tree(root: Path) -> dict[str, object]:
    """Everything a user sees in ``root`` (``.syncline`` aside): kind, content or target, mode."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != META_DIR]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                with open(p, "rb") as fh:
                    out[rel] = ("file", fh.read(), stat.S_IMODE(st.st_mode))
    return out


def two_way(a: Path, b: Path, **kw: object) -> syncline.TwoWayReport:
    report = syncline.sync(a, b, two_way=True, **kw)  # type: ignore[call-overload]
    assert isinstance(report, syncline.TwoWayReport)
    return report


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    return a, b


def synced(pair: tuple[Path, Path]) -> tuple[Path, Path]:
    """The pair after a first run over a small shared tree."""
    a, b = pair
    write(a, "docs/report.txt", "v1", mtime=T0)
    write(a, "docs/notes.txt", "notes", mtime=T0)
    write(a, "keep.txt", "keep", mtime=T0)
    (a / "empty").mkdir()
    two_way(a, b)
    assert tree(a) == tree(b)
    return a, b


def test_first_run_merges_and_deletes_nothing(pair: tuple[Path, Path]) -> None:
    a, b = pair
    write(a, "only-a.txt", "A", mtime=T0)
    write(b, "only-b/x.txt", "B", mtime=T0)
    write(a, "same.txt", "same", mtime=T0)
    write(b, "same.txt", "same", mtime=T0)
    write(a, "same-content-other-mtime.txt", "equal", mtime=T0)
    write(b, "same-content-other-mtime.txt", "equal", mtime=T0 + 50)
    write(a, "differ.txt", "from A", mtime=T0)
    write(b, "differ.txt", "from B!", mtime=T0 + 10)
    report = two_way(a, b)
    assert report.first_run and report.exit_code == 0
    assert tree(a) == tree(b)
    got = tree(a)
    assert got["only-a.txt"][1] == b"A" and got["only-b/x.txt"][1] == b"B"  # type: ignore[index]
    assert got["differ.txt"][1] == b"from B!"  # type: ignore[index]  # the newer keeps the name
    copies = [p for p in got if is_conflict_name(os.path.basename(p))]
    assert len(copies) == 1 and got[copies[0]][1] == b"from A"  # type: ignore[index]
    assert len(report.conflicts) == 1  # equal content with other mtimes is no conflict
    ida = (a / META_DIR / "folder-id").read_text()
    assert ida == (b / META_DIR / "folder-id").read_text() and len(ida.strip()) == 32


def test_second_run_does_nothing(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    report = two_way(a, b)
    assert not report.first_run
    assert report.plan is not None and report.plan.empty


def test_changes_on_either_side_propagate(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "v2 from A", mtime=T0 + 100)
    write(b, "new-in-b/deep/file.txt", "hello", mtime=T0 + 5)
    (b / "keep.txt").unlink()
    os.chmod(a / "docs/notes.txt", 0o600)
    os.symlink("docs/report.txt", b / "link")
    (a / "empty").rmdir()
    write(a, "empty", "now a file", mtime=T0 + 7)
    report = two_way(a, b)
    assert report.exit_code == 0, report.problems
    assert tree(a) == tree(b)
    got = tree(a)
    assert got["docs/report.txt"][1] == b"v2 from A"  # type: ignore[index]
    assert "keep.txt" not in got
    assert got["docs/notes.txt"][2] == 0o600  # type: ignore[index]
    assert got["link"] == ("link", "docs/report.txt")
    assert got["empty"][0] == "file"  # type: ignore[index]
    assert (b / "docs/report.txt").stat().st_mtime_ns == (a / "docs/report.txt").stat().st_mtime_ns
    assert two_way(a, b).plan.empty  # type: ignore[union-attr]


def test_deleted_and_overwritten_files_go_to_that_sides_trash(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    (a / "keep.txt").unlink()
    write(b, "docs/report.txt", "v2 from B", mtime=T0 + 100)
    two_way(a, b)
    trashed_b = [p.read_bytes() for p in (b / META_DIR / "trash").rglob("*") if p.is_file()]
    trashed_a = [p.read_bytes() for p in (a / META_DIR / "trash").rglob("*") if p.is_file()]
    assert trashed_b == [b"keep"]
    assert trashed_a == [b"v1"]


def test_a_change_beats_a_delete(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    (a / "docs/report.txt").unlink()
    write(b, "docs/report.txt", "edited while A deleted it", mtime=T0 + 100)
    two_way(a, b)
    assert (a / "docs/report.txt").read_text() == "edited while A deleted it"
    assert tree(a) == tree(b)


def test_a_deleted_directory_with_a_change_below_on_the_other_side_is_kept(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    import shutil

    shutil.rmtree(a / "docs")
    write(b, "docs/notes.txt", "B edited", mtime=T0 + 100)
    two_way(a, b)
    assert tree(a) == tree(b)
    assert (a / "docs/notes.txt").read_text() == "B edited"
    assert not (a / "docs/report.txt").exists()  # unchanged on B: the delete went through


def test_conflict_keeps_both_and_a_rerun_makes_no_second_copy(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 100)
    write(b, "docs/report.txt", "B's edit", mtime=T0 + 200)
    report = two_way(a, b)
    assert [(c.path, c.winner) for c in report.conflicts] == [("docs/report.txt", "b")]
    copy = report.conflicts[0].copy
    assert copy is not None and copy.startswith("docs/report.sync-conflict-") and copy.endswith(".txt")
    for side in (a, b):
        assert (side / "docs/report.txt").read_text() == "B's edit"
        assert (side / copy).read_text() == "A's edit"
    again = two_way(a, b)
    assert not again.conflicts and again.plan is not None and again.plan.empty


def test_both_sides_making_the_same_change_is_no_conflict(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "same edit", mtime=T0 + 100)
    write(b, "docs/report.txt", "same edit", mtime=T0 + 130)
    report = two_way(a, b)
    assert not report.conflicts and report.to_a.copied == report.to_b.copied == 0
    assert tree(a) == tree(b)
    assert two_way(a, b).plan.empty  # type: ignore[union-attr]


def test_conflict_policy_newer_replaces_the_older(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 300)
    write(b, "docs/report.txt", "B's edit", mtime=T0 + 200)
    report = two_way(a, b, conflict="newer")
    assert [c.copy for c in report.conflicts] == [None]
    assert (b / "docs/report.txt").read_text() == "A's edit"
    assert [p.read_text() for p in (b / META_DIR / "trash").rglob("*") if p.is_file()] == ["B's edit"]


def test_a_renamed_file_is_renamed_not_copied(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    inode_b = (b / "docs/report.txt").stat().st_ino
    os.rename(a / "docs/report.txt", a / "report-final.txt")
    report = two_way(a, b)
    assert report.moved == 1 and report.to_b.copied == 0
    assert (b / "report-final.txt").stat().st_ino == inode_b
    assert tree(a) == tree(b)


def test_a_renamed_directory_of_thousands_of_files_is_one_rename(pair: tuple[Path, Path]) -> None:
    a, b = pair
    for i in range(3000):
        write(a, f"photos/2026/img{i:04}.jpg", f"jpeg {i}", mtime=T0)
    two_way(a, b)
    inode_b = (b / "photos/2026").stat().st_ino
    os.rename(a / "photos/2026", a / "photos/2026-summer")
    write(b, "photos/2026/img0042.jpg", "edited on B meanwhile", mtime=T0 + 60)
    report = two_way(a, b)
    assert report.moved == 1 and report.to_b.copied == 0 and report.to_a.copied == 1
    assert (b / "photos/2026-summer").stat().st_ino == inode_b
    assert (a / "photos/2026-summer/img0042.jpg").read_text() == "edited on B meanwhile"
    assert tree(a) == tree(b)


def test_non_utf8_names_sync_both_ways(pair: tuple[Path, Path]) -> None:
    a, b = pair
    name = b"caf\xe9.txt"
    with open(os.fsencode(a) + b"/" + name, "wb") as fh:
        fh.write(b"latin-1 name")
    write(a, "plain.txt", "so that B is not emptied below")
    two_way(a, b)
    with open(os.fsencode(b) + b"/" + name, "rb") as fh:
        assert fh.read() == b"latin-1 name"
    os.unlink(os.fsencode(b) + b"/" + name)
    two_way(a, b)
    assert not os.path.lexists(os.fsencode(a) + b"/" + name)


# ------------------------------------------------------------------------------------------- safety stops


def test_a_missing_root_halts(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    before = tree(a)
    shutil.rmtree(b)  # an unmounted disk's mount point gone, or the folder removed: the pair has a base
    with pytest.raises(SafetyStop, match="does not exist, and this pair was synced before"):
        two_way(a, b)
    assert tree(a) == before and not b.exists()
    with pytest.raises(SafetyStop, match="neither does its parent"):
        two_way(a, b.parent / "not-mounted" / "b")
    assert tree(a) == before


def test_a_missing_side_on_a_first_run_is_made_as_one_way_sync_makes_its_destination(tmp_path: Path) -> None:
    """Point 22 of issue 11: with no base nothing can be taken for deletions, so B is created and filled."""
    a, b = tmp_path / "a", tmp_path / "new-b"
    write(a, "docs/x.txt", "x")
    with pytest.raises(syncline.UsageError, match="a run without -n makes it"):
        syncline.sync(a, b, two_way=True, dry_run=True)
    assert not b.exists()
    report = two_way(a, b)
    assert report.exit_code == 0 and tree(a) == tree(b)
    r = run("sync", "--two-way", tmp_path / "c-missing", tmp_path / "d-missing")
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_a_root_that_lost_its_marker_halts_and_force_merges(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    (b / META_DIR / "folder-id").unlink()
    (b / "keep.txt").unlink()
    with pytest.raises(SafetyStop, match="lost its syncline marker"):
        two_way(a, b)
    assert (a / "keep.txt").exists()
    report = two_way(a, b, force=True)
    assert report.first_run
    assert (a / "keep.txt").exists() and (b / "keep.txt").exists()  # merged back, not deleted


def test_a_foreign_marker_halts(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = synced(pair)
    other = tmp_path / "other"
    other.mkdir()
    write(other, "x", "x")
    c = tmp_path / "c"
    c.mkdir()
    two_way(other, c)
    (b / META_DIR / "folder-id").write_text((c / META_DIR / "folder-id").read_text())
    with pytest.raises(SafetyStop, match="another synced folder"):
        two_way(a, b)
    with pytest.raises(SafetyStop, match="different synced folders"):
        two_way(a, c)


def test_a_root_that_became_empty_halts(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    import shutil

    for p in b.iterdir():
        if p.name != META_DIR:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    with pytest.raises(SafetyStop, match="is empty"):
        two_way(a, b)
    assert (a / "docs/report.txt").exists()


def test_more_deletes_than_max_delete_stops(pair: tuple[Path, Path]) -> None:
    a, b = pair
    for i in range(10):
        write(a, f"f{i}", str(i), mtime=T0)
    two_way(a, b)
    for i in range(6):
        (a / f"f{i}").unlink()
    with pytest.raises(SafetyStop, match="more than --max-delete"):
        two_way(a, b)
    assert len(list(b.glob("f*"))) == 10
    two_way(a, b, force=True)
    assert len(list(b.glob("f*"))) == 4


def test_a_corrupt_base_merges_like_a_first_run(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    (a / "keep.txt").unlink()
    db = next((Path(os.environ["SYNCLINE_STATE_DIR"]) / "pairs").glob("*.sqlite"))
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    report = two_way(a, b)
    assert report.first_run and any("could not be read" in n for n in report.notices)
    assert (a / "keep.txt").read_text() == "keep"  # merged back: a lost base never deletes


def test_a_destination_changed_during_the_run_is_kept(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 100)
    import syncline.engine.twoway.run as tw

    real = tw.reconcile
    calls = []

    def racing(*args: object, **kw: object) -> object:
        plan = real(*args, **kw)  # type: ignore[arg-type]
        if not calls:  # B is edited after the scan, right before A's version would replace it
            write(b, "docs/report.txt", "B's late edit", mtime=T0 + 200)
        calls.append(1)
        return plan

    monkeypatch.setattr(tw, "reconcile", racing)
    report = two_way(a, b)
    assert report.rounds == 2  # the kept item was reconciled in a second round
    contents = sorted(p.read_text() for p in b.rglob("report*"))
    assert contents == ["A's edit", "B's late edit"]
    assert tree(a) == tree(b)
    # The second round settled what the first one refused: the run reports what it ended with.
    assert report.exit_code == 0 and not report.errors, report.problems
    assert [c.path for c in report.conflicts] == ["docs/report.txt"]


def test_a_destination_that_changes_in_every_round_is_reported(pair: tuple[Path, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = synced(pair)
    import syncline.engine.twoway.run as tw

    real = tw.reconcile
    edits = iter(range(1, 100))

    def racing(*args: object, **kw: object) -> object:
        plan = real(*args, **kw)  # type: ignore[arg-type]
        n = next(edits)  # each round: A edits, B edits after the scan (so every round keeps B's edit)
        write(a, "docs/report.txt", f"A's edit {n}", mtime=T0 + 1000 * n)
        write(b, "docs/report.txt", f"B's late edit {n}", mtime=T0 + 1000 * n + 500)
        return plan

    write(a, "docs/report.txt", "A's edit 0", mtime=T0 + 100)
    monkeypatch.setattr(tw, "reconcile", racing)
    report = two_way(a, b)
    assert report.rounds == tw.ROUNDS
    assert report.exit_code == 1
    assert any("changed since the scan" in p.message for p in report.errors)


def test_read_errors_make_no_deletes_under_the_unreadable_part(shared_base: Path) -> None:
    a, b = shared_base / "a", shared_base / "b"
    write(a, "locked/inside.txt", "secret", mtime=T0)
    write(a, "open.txt", "x", mtime=T0)
    b.mkdir()
    give_to(shared_base, NOBODY)
    env = {"SYNCLINE_STATE_DIR": str(shared_base / "state")}
    assert run("sync", "--two-way", a, b, user=NOBODY, env=env).returncode == 0
    (b / "locked/inside.txt").unlink()  # deleted on B ...
    os.chmod(a / "locked", 0)  # ... while A cannot read that folder
    proc = run("sync", "--two-way", a, b, user=NOBODY, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    os.chmod(a / "locked", 0o755)
    assert (a / "locked/inside.txt").read_text() == "secret"


# ------------------------------------------------------------------------------------------- command line


def test_cli_dry_run_prints_directions_and_changes_nothing(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "new-a.txt", "a", mtime=T0)
    (b / "keep.txt").unlink()
    proc = run("sync", "--two-way", "--dry-run", a, b)
    assert proc.returncode == 0, proc.stderr
    assert "A -> B  >f+++++++++ new-a.txt" in proc.stdout
    assert "A <- B  *deleting   keep.txt" in proc.stdout
    assert not (b / "new-a.txt").exists() and (a / "keep.txt").exists()


def test_cli_json_summary(pair: tuple[Path, Path]) -> None:
    import json

    a, b = pair
    write(a, "x", "x")
    proc = run("sync", "--two-way", "--json", a, b)
    data = json.loads(proc.stdout)
    assert data["to_b"]["copied"] == 1 and data["first_run"] is True and data["exit_code"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--two-way", "--delete"], "--delete does not apply to --two-way"),
    (["--conflict", "newer"], "--conflict applies to --two-way only"),
])
def test_cli_option_mistakes(pair: tuple[Path, Path], args: list[str], message: str) -> None:
    a, b = pair
    proc = run("sync", *args, a, b)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_api_refuses_delete_with_two_way(pair: tuple[Path, Path]) -> None:
    a, b = pair
    with pytest.raises(UsageError):
        syncline.sync(a, b, True, two_way=True)


def test_state_is_one_database_per_pair_whatever_the_order(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(b, "from-b.txt", "b", mtime=T0)
    two_way(b, a)  # the same pair, named the other way round
    assert (a / "from-b.txt").exists()
    dbs = list((Path(os.environ["SYNCLINE_STATE_DIR"]) / "pairs").glob("*.sqlite"))
    assert len(dbs) == 1
    with sqlite3.connect(dbs[0]) as db:
        assert db.execute("SELECT count(*) FROM base").fetchone()[0] == len(tree(a))


# ------------------------------------------------------------------------------------------- names


def test_a_case_clash_against_a_case_insensitive_side_loses_nothing(pair: tuple[Path, Path],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import syncline.engine.twoway.run as tw

    a, b = pair
    # Emulate a case-insensitive B (an exFAT stick): this machine's file systems are case-sensitive.
    monkeypatch.setattr(tw, "case_insensitive", lambda root, probe=True: root == b)
    write(a, "Report.txt", "upper", mtime=T0)
    write(a, "report.txt", "lower", mtime=T0)
    for _ in range(2):
        report = two_way(a, b)
        assert report.exit_code == 1 and any("case clash" in p.message for p in report.errors)
        assert (a / "Report.txt").read_text() == "upper" and (a / "report.txt").read_text() == "lower"
        assert sorted(p.name for p in b.iterdir() if p.name != META_DIR) == ["Report.txt"]


def test_a_case_only_rename_propagates_as_a_rename(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    inode_b = (b / "keep.txt").stat().st_ino
    os.rename(a / "keep.txt", a / "KEEP.txt")
    report = two_way(a, b)
    assert report.moved == 1
    assert (b / "KEEP.txt").stat().st_ino == inode_b and not (b / "keep.txt").exists()
    assert tree(a) == tree(b)


def test_nfc_and_nfd_twins_sync_as_two_files_with_a_notice(pair: tuple[Path, Path]) -> None:
    a, b = pair
    write(a, "caf\u00e9.txt", "nfc", mtime=T0)
    write(a, "cafe\u0301.txt", "nfd", mtime=T0)
    report = two_way(a, b)
    assert report.exit_code == 0 and any("normalization" in p.message for p in report.problems)
    assert tree(a) == tree(b) and len(tree(b)) == 2


def test_excluded_paths_are_neither_synced_nor_deleted(pair: tuple[Path, Path]) -> None:
    a, b = pair
    write(a, "src/main.c", "code", mtime=T0)
    write(a, "src/util.c", "more code", mtime=T0)
    write(a, "README", "readme", mtime=T0)
    write(a, "build/out.o", "object A", mtime=T0)
    write(b, "build/out.o", "object B", mtime=T0 + 5)
    write(b, "notes.tmp", "scratch", mtime=T0)
    two_way(a, b, exclude=["build/", "*.tmp"])
    assert (b / "src/main.c").read_text() == "code"
    assert (a / "build/out.o").read_text() == "object A" and (b / "build/out.o").read_text() == "object B"
    assert not (a / "notes.tmp").exists() and (b / "notes.tmp").exists()
    (b / "notes.tmp").unlink()
    (a / "src/main.c").unlink()
    two_way(a, b, exclude=["build/", "*.tmp"])
    assert not (b / "src/main.c").exists() and (b / "build/out.o").exists() and (a / "build/out.o").exists()


def test_a_file_copied_by_the_last_run_is_recognised_when_renamed_there(pair: tuple[Path, Path]) -> None:
    a, b = pair
    write(a, "keep.txt", "keep", mtime=T0)
    write(a, "fresh.txt", "copied to B by the first run", mtime=T0)
    (a / "dir").mkdir()
    two_way(a, b)
    inode_a = (a / "fresh.txt").stat().st_ino
    dir_inode_a = (a / "dir").stat().st_ino
    os.rename(b / "fresh.txt", b / "renamed.txt")  # renamed on the side that received the copy
    os.rename(b / "dir", b / "dir2")
    report = two_way(a, b)
    assert report.moved == 2 and report.to_a.copied == 0
    assert (a / "renamed.txt").stat().st_ino == inode_a and (a / "dir2").stat().st_ino == dir_inode_a


def test_a_case_only_move_that_cannot_finish_leaves_the_file_where_it_was(tmp_path: Path) -> None:
    from syncline.core.paths import run_temp
    from syncline.engine.replicas.local import LocalReplica
    from syncline.engine.replicas.replica import WritePolicy

    write(tmp_path, "Report.txt", "mine", mtime=T0)
    write(tmp_path, "report.txt", "appeared meanwhile", mtime=T0)  # possible on a case-sensitive side
    side = LocalReplica(tmp_path, policy=WritePolicy(keep_changed=True))
    expect = side.stat("Report.txt")
    assert expect is not None
    outcome = side.move("Report.txt", "report.txt", expect)
    assert not outcome.done and "report.txt" in outcome.note
    assert (tmp_path / "Report.txt").read_text() == "mine"
    assert (tmp_path / "report.txt").read_text() == "appeared meanwhile"
    assert not [p for p in os.listdir(tmp_path) if run_temp(p)]


def _versions(root: Path, stem: str) -> list[str]:
    """The contents of ``stem`` and of its conflict copies in ``root``, sorted."""
    return sorted(p.read_text() for p in root.rglob(f"{stem}*") if p.is_file() and META_DIR not in p.parts)


def test_both_sides_edited_to_the_same_size_and_mtime_keep_both(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 100)
    write(b, "docs/report.txt", "B's edit", mtime=T0 + 100)  # same size, same mtime, other bytes
    report = two_way(a, b)
    assert report.exit_code == 0, report.problems
    assert [(c.path, c.winner) for c in report.conflicts] == [("docs/report.txt", "a")]  # a tie: A keeps it
    assert tree(a) == tree(b)
    assert _versions(a, "docs/report") == ["A's edit", "B's edit"]
    assert two_way(a, b).plan.empty  # type: ignore[union-attr]


def test_a_first_run_over_two_copies_of_same_size_and_mtime_keeps_both(pair: tuple[Path, Path]) -> None:
    a, b = pair
    write(a, "f.txt", "from A", mtime=T0)
    write(b, "f.txt", "from B", mtime=T0)
    write(a, "same.txt", "same", mtime=T0)
    write(b, "same.txt", "same", mtime=T0)
    report = two_way(a, b)
    assert report.exit_code == 0, report.problems
    assert [c.path for c in report.conflicts] == ["f.txt"]
    assert tree(a) == tree(b)
    assert _versions(a, "f") == ["from A", "from B"] and (a / "same.txt").read_text() == "same"
    assert two_way(a, b).plan.empty  # type: ignore[union-attr]


def test_a_repeated_conflict_converges(pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 100)
    write(b, "docs/report.txt", "B's edit", mtime=T0 + 200)
    copy = two_way(a, b).conflicts[0].copy
    assert copy is not None and (a / copy).read_text() == "A's edit"
    # A puts its version back (cp -p from the copy) while B edits again: the same conflict once more.
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 100)
    write(b, "docs/report.txt", "B's edit 2", mtime=T0 + 300)
    report = two_way(a, b)
    assert report.exit_code == 0, report.problems
    assert [(c.path, c.copy) for c in report.conflicts] == [("docs/report.txt", copy)]
    assert tree(a) == tree(b)
    assert _versions(a, "docs/report") == ["A's edit", "B's edit 2"]
    again = two_way(a, b)
    assert again.exit_code == 0 and again.plan is not None and again.plan.empty


def test_a_repeated_conflict_with_a_copy_of_same_size_and_mtime_but_other_bytes_keeps_all(
        pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 100)
    write(b, "docs/report.txt", "B's edit", mtime=T0 + 200)
    copy = two_way(a, b).conflicts[0].copy
    assert copy is not None
    write(a, "docs/report.txt", "A's EDIT", mtime=T0 + 100)  # the copy's size and mtime, other bytes
    write(b, "docs/report.txt", "B's edit 2", mtime=T0 + 300)
    report = two_way(a, b)
    assert report.exit_code == 0, report.problems
    assert tree(a) == tree(b)
    assert _versions(a, "docs/report") == ["A's EDIT", "A's edit", "B's edit 2"]


def test_checksum_finds_a_change_whose_mtime_was_put_back_over_a_base_without_digests(
        pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)  # base rows written without --checksum
    write(b, "docs/report.txt", "v9", mtime=T0)  # same size, mtime put back
    report = two_way(a, b, checksum=True)
    assert report.exit_code == 0, report.problems
    assert tree(a) == tree(b)
    # The base cannot tell which side changed: both versions are kept.
    assert _versions(a, "docs/report") == ["v1", "v9"]
    assert two_way(a, b, checksum=True).plan.empty  # type: ignore[union-attr]


def test_checksum_learns_the_digests_a_base_lacks_and_then_propagates_a_hidden_change(
        pair: tuple[Path, Path]) -> None:
    a, b = synced(pair)  # base rows written without --checksum
    assert two_way(a, b, checksum=True).plan.empty  # type: ignore[union-attr]
    write(b, "docs/report.txt", "v9", mtime=T0)
    report = two_way(a, b, checksum=True)
    assert report.exit_code == 0 and not report.conflicts, report.problems
    assert (a / "docs/report.txt").read_text() == "v9" and tree(a) == tree(b)


def test_conflict_names_held_by_other_bytes_of_the_same_size_and_mtime_are_all_passed_over(
        pair: tuple[Path, Path]) -> None:
    import socket

    from syncline.core.conflicts import conflict_name

    a, b = synced(pair)
    taken = [conflict_name("docs/report.txt", (T0 + 100) * 10**9, socket.gethostname(), n) for n in (0, 1)]
    write(a, taken[0], "A's EDIT", mtime=T0 + 100)  # copies of other edits, with the size and mtime
    write(a, taken[1], "A's EDlT", mtime=T0 + 100)  # that A's next edit will have
    two_way(a, b)  # copied to B: their base rows hold no digests
    write(a, "docs/report.txt", "A's edit", mtime=T0 + 100)
    write(b, "docs/report.txt", "B's edit 2", mtime=T0 + 300)
    report = two_way(a, b)
    assert report.exit_code == 0, report.problems
    assert [c.copy for c in report.conflicts] == [conflict_name("docs/report.txt", (T0 + 100) * 10**9,
                                                                socket.gethostname(), 2)]
    assert tree(a) == tree(b)
    assert _versions(a, "docs/report") == ["A's EDIT", "A's EDlT", "A's edit", "B's edit 2"]
