"""One-way sync end to end through the public API, on real temp trees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import syncline
from syncline.core.oneway import mirror
from syncline.core.scan import scan
from syncline.engine.execute import execute
from syncline.engine.replicas.local import LocalReplica, LocalSourceFile
from syncline.engine.replicas.replica import WritePolicy

from .conftest import write

T0 = 1_600_000_000


def make_tree(root: Path) -> None:
    write(root, "a.txt", "alpha", mtime=T0)
    write(root, "dir/b.bin", os.urandom(5000), mtime=T0 + 1, mode=0o600)
    write(root, "dir/sub/c.sh", "#!/bin/sh\n", mtime=T0 + 2, mode=0o755)
    (root / "empty").mkdir()
    os.symlink("dir/b.bin", root / "link")
    os.symlink("/nonexistent/target", root / "dangling")
    os.utime(root / "dir", (T0, T0))


def trash_files(root: Path) -> list[Path]:
    base = root / ".syncline" / "trash"
    return sorted(p for p in base.rglob("*") if p.is_file() or p.is_symlink()) if base.exists() else []


def rsync_changes(src: Path, dst: Path) -> list[str]:
    out = subprocess.run(["rsync", "-ani", "--delete", "--exclude=/.syncline/", f"{src}/", f"{dst}/"],
                         capture_output=True, text=True, check=True, timeout=60)
    return [line for line in out.stdout.splitlines() if line.strip()]


def test_initial_copy_keeps_content_mtimes_modes_links_and_empty_dirs(src: Path, dst: Path) -> None:
    make_tree(src)
    report = syncline.sync(src, dst)
    assert report.exit_code == 0
    assert report.copied == 3
    assert (dst / "a.txt").read_text() == "alpha"
    assert (dst / "dir/b.bin").read_bytes() == (src / "dir/b.bin").read_bytes()
    assert os.stat(dst / "dir/b.bin").st_mtime_ns == os.stat(src / "dir/b.bin").st_mtime_ns
    assert os.stat(dst / "dir/b.bin").st_mode & 0o777 == 0o600
    assert os.stat(dst / "dir/sub/c.sh").st_mode & 0o777 == 0o755
    assert os.readlink(dst / "link") == "dir/b.bin"
    assert os.readlink(dst / "dangling") == "/nonexistent/target"
    assert (dst / "empty").is_dir()
    assert os.stat(dst / "dir").st_mtime_ns == os.stat(src / "dir").st_mtime_ns


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is installed by .ci/run")
def test_rsync_sees_nothing_to_do_after_a_mirror(src: Path, dst: Path) -> None:
    make_tree(src)
    os.chmod(src / "empty", 0o711)
    write(dst, "stale/old.txt", "old")
    write(dst, "a.txt", "an older alpha", mtime=T0 - 100)
    (dst / "dir").mkdir(exist_ok=True)
    write(dst, "dir/sub", "a file where src has a dir")
    report = syncline.sync(src, dst, delete=True, force=True)
    assert report.exit_code == 0, report.problems
    assert rsync_changes(src, dst) == []


def test_second_run_does_nothing(src: Path, dst: Path) -> None:
    make_tree(src)
    syncline.sync(src, dst, delete=True)
    again = syncline.sync(src, dst, delete=True)
    assert again.changed == 0 and again.plan is not None and len(again.plan) == 0


def test_without_delete_keeps_destination_only_files(src: Path, dst: Path) -> None:
    make_tree(src)
    write(dst, "mine.txt", "keep me")
    syncline.sync(src, dst)
    assert (dst / "mine.txt").read_text() == "keep me"


def test_delete_mirrors_and_keeps_deleted_files_in_trash(src: Path, dst: Path) -> None:
    make_tree(src)
    syncline.sync(src, dst)
    for i in range(5):
        write(dst, f"extra/{i}.txt", f"extra {i}")
    (src / "a.txt").unlink()
    report = syncline.sync(src, dst, delete=True, max_delete=1.0)
    assert report.deleted == 7  # a.txt, 5 extras and the extra/ directory
    assert not (dst / "a.txt").exists() and not (dst / "extra").exists()
    kept = {p.name: p.read_text() for p in trash_files(dst)}
    assert kept["a.txt"] == "alpha" and kept["3.txt"] == "extra 3"


def test_overwritten_files_go_to_trash_unless_no_trash(src: Path, dst: Path) -> None:
    write(src, "f.txt", "new", mtime=T0 + 10)
    write(dst, "f.txt", "old", mtime=T0)
    syncline.sync(src, dst)
    assert (dst / "f.txt").read_text() == "new"
    assert [p.read_text() for p in trash_files(dst)] == ["old"]
    write(src, "f.txt", "newer", mtime=T0 + 20)
    syncline.sync(src, dst, trash=False)
    assert [p.read_text() for p in trash_files(dst)] == ["old"]


def test_dry_run_changes_nothing(src: Path, dst: Path) -> None:
    make_tree(src)
    write(dst, "gone.txt", "x")
    before = sorted(str(p) for p in dst.rglob("*"))
    report = syncline.sync(src, dst, delete=True, dry_run=True, force=True)
    assert sorted(str(p) for p in dst.rglob("*")) == before
    assert report.plan is not None
    lines = list(report.plan.lines())
    assert ">f+++++++++ a.txt" in lines and "*deleting   gone.txt" in lines


def test_compare_modes(src: Path, dst: Path) -> None:
    write(src, "f", "same-size-A", mtime=T0)
    write(dst, "f", "same-size-B", mtime=T0)
    assert syncline.sync(src, dst).copied == 0  # quick check: size and mtime equal
    assert syncline.sync(src, dst, size_only=True).copied == 0
    assert syncline.sync(src, dst, checksum=True).copied == 1
    assert (dst / "f").read_text() == "same-size-A"
    write(dst, "f", "same-size-A", mtime=T0 + 1)
    assert syncline.sync(src, dst, modify_window=2).meta_updated == 0
    report = syncline.sync(src, dst, checksum=True)
    assert report.copied == 0 and report.meta_updated == 1
    assert os.stat(dst / "f").st_mtime_ns == T0 * 10**9


def test_excludes_and_ignore_files(src: Path, dst: Path) -> None:
    write(src, "keep.log", "k")
    write(src, "drop.log", "d")
    write(src, "build/out.o", "o")
    write(src, "sub/.synclineignore", "secret*\n")
    write(src, "sub/secret.txt", "s")
    write(src, "sub/public.txt", "p")
    syncline.sync(src, dst, exclude=["*.log", "build/"], include=["keep.log"])
    assert (dst / "keep.log").exists() and not (dst / "drop.log").exists()
    assert not (dst / "build").exists()
    assert (dst / "sub/public.txt").exists() and not (dst / "sub/secret.txt").exists()


def test_excluded_destination_files_are_not_deleted(src: Path, dst: Path) -> None:
    write(src, "a", "a")
    write(dst, "a", "a")
    write(dst, "cache.tmp", "mine")
    syncline.sync(src, dst, delete=True, exclude=["*.tmp"])
    assert (dst / "cache.tmp").exists()


def test_destination_changed_after_the_scan_is_kept(src: Path, dst: Path) -> None:
    write(src, "f.txt", "from source", mtime=T0 + 50)
    write(src, "g.txt", "g", mtime=T0)
    write(dst, "f.txt", "dest v1", mtime=T0)
    write(dst, "gone.txt", "dest v1", mtime=T0)
    plan = mirror(scan(src), scan(dst), delete=True)
    # Someone edits the destination between the scan and the write.
    write(dst, "f.txt", "dest v2, edited meanwhile", mtime=T0 + 99)
    write(dst, "gone.txt", "edited too", mtime=T0 + 99)
    report = execute(plan, LocalReplica(src), LocalReplica(dst, policy=WritePolicy(trash=False)))
    assert (dst / "f.txt").read_text() == "from source"
    assert [p.read_text() for p in trash_files(dst)] == ["dest v2, edited meanwhile"]
    assert (dst / "gone.txt").read_text() == "edited too"  # not deleted
    assert report.kept == 2


def test_source_file_changing_during_copy_is_never_stored_torn(src: Path, dst: Path) -> None:
    write(src, "busy.bin", b"A" * 100_000)

    class Busy(LocalReplica):
        """Appends to the source file each time it is opened for copying: every copy is torn."""

        @contextmanager
        def open_file(self, path: str) -> Iterator[LocalSourceFile]:
            with super().open_file(path) as handle:
                with open(self.abspath(path), "ab") as fh:
                    fh.write(b"B")
                yield handle

    plan = mirror(scan(src), syncline.Index({}))
    dst.mkdir()
    report = execute(plan, Busy(src), LocalReplica(dst))
    assert not (dst / "busy.bin").exists()
    assert any("kept changing" in p.message for p in report.errors)
    assert not [p for p in dst.iterdir() if p.name.startswith(".syncline-")]
    # Once it is quiet, the next run copies it whole.
    assert syncline.sync(src, dst).copied == 1
    assert (dst / "busy.bin").read_bytes() == (src / "busy.bin").read_bytes()


def test_safety_stops_change_nothing(src: Path, dst: Path) -> None:
    for i in range(10):
        write(dst, f"f{i}", "x")
    with pytest.raises(syncline.SafetyStop, match="source is empty"):
        syncline.sync(src, dst, delete=True)
    write(src, "f0", "x")
    with pytest.raises(syncline.SafetyStop, match="max-delete"):
        syncline.sync(src, dst, delete=True)
    assert len(list(dst.iterdir())) == 10
    with pytest.raises(syncline.SafetyStop):
        syncline.sync(src, dst, delete=True, max_delete=8)
    assert syncline.sync(src, dst, delete=True, max_delete=9).deleted == 9


def test_bad_roots_are_refused(tmp_path: Path, src: Path) -> None:
    with pytest.raises(syncline.UsageError, match="no such directory"):
        syncline.sync(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(syncline.UsageError, match="nested"):
        syncline.sync(src, src / "inside")
    with pytest.raises(syncline.UsageError, match="nested"):
        syncline.sync(src, tmp_path)
    with pytest.raises(syncline.UsageError, match="same directory"):
        syncline.sync(src, src)
    write(tmp_path, "plain", "x")
    with pytest.raises(syncline.UsageError, match="not a directory"):
        syncline.sync(src, tmp_path / "plain")
    with pytest.raises(syncline.UsageError, match="parent does not exist"):
        syncline.sync(src, tmp_path / "no" / "such")


def test_type_changes_replace_and_keep_the_old(src: Path, dst: Path) -> None:
    write(src, "x/inner.txt", "now a dir")
    write(src, "y", "now a file")
    write(dst, "x", "was a file")
    write(dst, "y/old.txt", "was in a dir")
    report = syncline.sync(src, dst)
    assert (dst / "x").is_file() is False and (dst / "x/inner.txt").read_text() == "now a dir"
    # Without --delete a non-empty directory is not replaced: reported, and kept.
    assert (dst / "y/old.txt").read_text() == "was in a dir"
    assert any("not empty" in p.message for p in report.errors)
    syncline.sync(src, dst, delete=True, force=True)
    assert (dst / "y").read_text() == "now a file"
    assert sorted(p.read_text() for p in trash_files(dst)) == ["was a file", "was in a dir"]


def test_names_near_name_max_and_deep_paths(src: Path, dst: Path) -> None:
    long_name = "L" * 255
    write(src, long_name, "long")
    deep = "/".join(["d" * 200] * 15) + "/leaf"
    write(src, deep, "deep")
    write(dst, long_name, "older long", mtime=T0)
    report = syncline.sync(src, dst)
    assert report.exit_code == 0, report.problems
    assert (dst / long_name).read_text() == "long"
    assert (dst / deep).read_text() == "deep"


def test_a_write_racing_the_final_rename_is_kept(src: Path, dst: Path) -> None:
    """Someone writes the destination file right after the last re-check: the swap still keeps it."""
    write(src, "f.txt", "from source", mtime=T0 + 50)
    write(dst, "f.txt", "dest v1", mtime=T0)
    plan = mirror(scan(src), scan(dst))

    class Racy(LocalReplica):
        def stat(self, path: str):  # type: ignore[no-untyped-def]
            seen = super().stat(path)
            if path == "f.txt" and seen is not None:
                write(dst, "f.txt", "written in the window", mtime=T0 + 99)
            return seen

    report = execute(plan, LocalReplica(src), Racy(dst, policy=WritePolicy(trash=False)))
    assert (dst / "f.txt").read_text() == "from source"
    assert [p.read_text() for p in trash_files(dst)] == ["written in the window"]
    assert report.kept == 1


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is installed by .ci/run")
def test_first_use_of_the_trash_keeps_the_root_mtime(src: Path, dst: Path) -> None:
    make_tree(src)
    syncline.sync(src, dst)
    write(src, "dir/b.bin", b"changed deep down", mtime=T0 + 500)
    os.utime(src / "dir", (T0, T0))
    os.utime(src, (T0, T0))
    os.utime(dst, (T0, T0))  # the root's times as a previous run left them
    report = syncline.sync(src, dst)
    assert report.trashed == 1
    assert os.stat(dst).st_mtime_ns == os.stat(src).st_mtime_ns == T0 * 10**9
    assert rsync_changes(src, dst) == []


def test_a_second_run_into_the_same_destination_waits_its_turn(src: Path, dst: Path) -> None:
    from syncline.engine.state import root_lock

    write(src, "a", "x")
    dst.mkdir()
    with root_lock(dst), pytest.raises(syncline.BusyError, match="another syncline run"):
        syncline.sync(src, dst)
    assert not (dst / "a").exists()
    assert syncline.sync(src, dst).copied == 1


def test_the_trash_folder_removed_during_a_run_is_made_again(tmp_path: Path) -> None:
    from syncline.engine.replicas.local import LocalReplica

    root = tmp_path / "root"
    write(root, "d/a.txt", "first")
    write(root, "d/b.txt", "second")
    trash = LocalReplica(root).trash
    first = trash.move_in("d/a.txt")
    shutil.rmtree(root / ".syncline")  # someone empties the trash meanwhile
    second = trash.move_in("d/b.txt")
    assert (root / second).read_text() == "second" and not (root / first).exists()


def test_a_trash_that_cannot_take_a_replaced_file_loses_nothing(src: Path, dst: Path) -> None:
    write(src, "f.txt", "new version", mtime=1_700_000_100)
    write(dst, "f.txt", "old version", mtime=1_700_000_000)
    (dst / ".syncline").mkdir()
    (dst / ".syncline" / "trash").write_text("a file where the trash folder should be")
    report = syncline.sync(src, dst)
    assert report.exit_code == 1  # reported, not hidden
    versions = sorted(p.read_text() for p in dst.iterdir() if p.is_file())
    assert "old version" in versions  # still in place, or kept beside it; never deleted


def test_a_move_that_cannot_finish_leaves_the_file_under_its_name(tmp_path: Path) -> None:
    from syncline.core.paths import run_temp
    from syncline.engine.replicas.local import LocalReplica

    write(tmp_path, "Report.txt", "mine")
    os.link(tmp_path / "Report.txt", tmp_path / "report.txt")  # two names of one file, as on a case-insensitive disk
    side = LocalReplica(tmp_path, policy=WritePolicy(keep_changed=True))
    expect = side.stat("Report.txt")
    assert expect is not None
    outcome = side.move("Report.txt", "report.txt", expect)
    assert not outcome.done
    assert sorted(os.listdir(tmp_path)) == ["Report.txt", "report.txt"]
    assert not [p for p in os.listdir(tmp_path) if run_temp(p) or p.startswith(".syncline-moving")]


def test_a_directory_with_a_temp_like_name_is_left_alone(src: Path, dst: Path) -> None:
    write(src, "a.txt", "a")
    odd = dst / ".syncline-tmp-0123456789abcdef"
    odd.mkdir(parents=True)
    (odd / "inside.txt").write_text("not syncline's")
    syncline.sync(src, dst)
    assert (odd / "inside.txt").read_text() == "not syncline's"


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is installed by .ci/run")
@pytest.mark.skipif(os.geteuid() != 0, reason="owners are kept as root only (CI runs as root)")
@pytest.mark.skipif(shutil.which("setfacl") is None, reason="setfacl comes with Debian's acl package (.ci/run)")
def test_sync_aHAX_as_root_ends_as_rsync_aHAX_does(tmp_path: Path, src: Path) -> None:
    """syncline -aHAX and rsync -aHAX from one source: ``rsync -aHAXni`` sees no difference between the
    two results, nor between the source and syncline's."""
    make_tree(src)
    os.chown(src / "a.txt", 1234, 2345)
    os.chown(src / "dir", 1111, 2222)
    os.chown(src / "link", 555, 666, follow_symlinks=False)
    os.link(src / "dir/b.bin", src / "hard.bin")
    os.link(src / "dir/b.bin", src / "empty/hard2.bin")
    os.setxattr(src / "a.txt", "user.color", b"blue")
    os.setxattr(src / "dir/sub", "trusted.mark", b"root only")
    subprocess.run(["setfacl", "-m", "u:4321:rw,g:77:r", str(src / "dir/sub/c.sh")], check=True)
    subprocess.run(["setfacl", "-d", "-m", "g:77:rx", str(src / "dir")], check=True)
    with open(src / "sparse.img", "wb") as f:
        f.truncate(8 << 20)
        f.write(b"head")
    for d in ("empty", "dir", ""):
        os.utime(src / d, (T0, T0))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    r = subprocess.run([sys.executable, "-m", "syncline", "sync", "-aHAX", f"{src}", f"{ours}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    subprocess.run(["rsync", "-aHAX", f"{src}/", f"{theirs}/"], check=True, timeout=60)

    def changes(a: Path, b: Path) -> list[str]:
        out = subprocess.run(["rsync", "-aHAXni", "--delete", "--exclude=/.syncline/", f"{a}/", f"{b}/"],
                             capture_output=True, text=True, check=True, timeout=60)
        return [line for line in out.stdout.splitlines() if line.strip()]

    assert changes(src, ours) == []
    assert changes(ours, theirs) == []
    assert changes(theirs, ours) == []
    assert os.stat(ours / "sparse.img").st_blocks <= os.stat(theirs / "sparse.img").st_blocks + 64


def test_a_file_replaced_by_a_folder_is_counted_as_trashed(src: Path, dst: Path) -> None:
    # The file at a path where the source now has a folder goes to the trash, and the report says so.
    write(src, "x/inside.txt", "in")
    write(dst, "x", "a file here")
    report = syncline.sync(src, dst)
    assert report.trashed == 1
    assert [p.read_text() for p in (dst / ".syncline/trash").rglob("x")] == ["a file here"]
    assert (dst / "x/inside.txt").read_text() == "in"
