"""rsync -a parity beyond content, mode and mtime: owner and group (as root), -X extended attributes,
-A POSIX ACLs, -H hard links, and sparse files; on real trees, checked with real rsync where it helps."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import syncline
from syncline.core.entry import Attrs, Entry, Keep
from syncline.core.index import Index
from syncline.core.oneway import mirror

from .cli_helpers import NOBODY, run
from .conftest import write

T0 = 1_600_000_000
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="keeping owners needs root (CI runs as root)")
needs_rsync = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is installed by .ci/run")
needs_acl = pytest.mark.skipif(shutil.which("setfacl") is None or shutil.which("getfacl") is None,
                               reason="setfacl/getfacl come with Debian's acl package (.ci/run installs it)")


def rsync_changes(src: Path, dst: Path, flags: str = "-ani") -> list[str]:
    out = subprocess.run(["rsync", flags, "--delete", "--exclude=/.syncline/", f"{src}/", f"{dst}/"],
                         capture_output=True, text=True, check=True, timeout=60)
    return [line for line in out.stdout.splitlines() if line.strip()]


def user_xattrs_work(path: Path) -> bool:
    probe = path / ".xattr-probe"
    probe.write_text("x")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def owned_tree(src: Path) -> None:
    write(src, "a.txt", "alpha", mtime=T0)
    write(src, "dir/b.txt", "beta", mtime=T0)
    os.symlink("a.txt", src / "link")
    os.chown(src / "a.txt", 1234, 2345)
    os.chown(src / "dir/b.txt", 4321, 0)
    os.chown(src / "dir", 1111, 2222)
    os.chown(src / "link", 555, 666, follow_symlinks=False)
    os.utime(src / "dir", (T0, T0))


# -- owner and group --------------------------------------------------------------------------------------

@needs_root
@needs_rsync
def test_owner_and_group_are_kept_as_root_and_rsync_sees_nothing_to_do(src: Path, dst: Path) -> None:
    owned_tree(src)
    os.chown(src, 777, 888)
    report = syncline.sync(src, dst)
    assert report.exit_code == 0, report.problems
    for rel in ("a.txt", "dir/b.txt", "dir", "link"):
        s, d = os.lstat(src / rel), os.lstat(dst / rel)
        assert (d.st_uid, d.st_gid) == (s.st_uid, s.st_gid), rel
    assert (os.stat(dst).st_uid, os.stat(dst).st_gid) == (777, 888)
    assert rsync_changes(src, dst) == []
    again = syncline.sync(src, dst)
    assert again.changed == 0


@needs_root
def test_a_changed_owner_is_itemized_and_mended_without_copying(src: Path, dst: Path) -> None:
    owned_tree(src)
    syncline.sync(src, dst)
    os.chown(dst / "a.txt", 9, 9)
    os.chown(dst / "dir", 1111, 9)
    dry = syncline.sync(src, dst, dry_run=True)
    assert dry.plan is not None
    assert sorted(dry.plan.lines()) == [".d.....g... dir/", ".f....og... a.txt"]
    report = syncline.sync(src, dst)
    assert report.copied == 0 and report.meta_updated == 2
    assert (os.stat(dst / "a.txt").st_uid, os.stat(dst / "a.txt").st_gid) == (1234, 2345)
    assert os.stat(dst / "dir").st_gid == 2222


@needs_root
def test_no_owner_and_no_group_leave_them(src: Path, dst: Path) -> None:
    owned_tree(src)
    r = run("sync", "--no-owner", "--no-group", src, dst)
    assert r.returncode == 0, r.stderr
    for rel in ("a.txt", "dir/b.txt", "dir", "link"):
        d = os.lstat(dst / rel)
        assert (d.st_uid, d.st_gid) == (0, 0), rel
    assert run("sync", "--no-owner", "--no-group", "-n", src, dst).stdout.startswith("dry run")
    r = run("sync", "--no-owner", src, dst, "-v")
    assert ".f.....g... a.txt" in r.stdout and ".f....o" not in r.stdout, r.stdout
    assert os.stat(dst / "a.txt").st_uid == 0 and os.stat(dst / "a.txt").st_gid == 2345


@needs_root
def test_a_new_file_in_a_set_group_id_folder_still_gets_the_sources_group(src: Path, dst: Path) -> None:
    """A file made in a set-group-ID folder takes the folder's group: the chown that a file made
    elsewhere can skip is needed there."""
    write(src, "d/f.txt", "x", mtime=T0)
    (dst / "d").mkdir(parents=True)
    os.chown(dst / "d", 0, 77)
    os.chmod(dst / "d", 0o2775)
    report = syncline.sync(src, dst)
    assert report.exit_code == 0, report.problems
    assert os.stat(dst / "d/f.txt").st_gid == 0
    assert syncline.sync(src, dst).changed == 0


@needs_root
def test_as_another_user_the_sync_converges_without_keeping_the_owner(shared_base: Path) -> None:
    """Run as an unprivileged user: files owned by others are copied as the user's own, with no error
    and no endless metadata changes (the owner and a foreign group are not kept)."""
    src, dst = shared_base / "src", shared_base / "dst"
    owned_tree(src)
    for p in (src, src / "dir"):
        os.chmod(p, 0o755)
    dst.mkdir()
    os.chown(dst, NOBODY, NOBODY)
    (shared_base / "state").mkdir()
    os.chown(shared_base / "state", NOBODY, NOBODY)
    env = {"SYNCLINE_STATE_DIR": str(shared_base / "state")}
    first = run("sync", src, dst, user=NOBODY, env=env)
    assert first.returncode == 0, first.stderr
    assert (os.stat(dst / "a.txt").st_uid, os.stat(dst / "a.txt").st_gid) == (NOBODY, NOBODY)
    again = run("sync", "-n", src, dst, user=NOBODY, env=env)
    assert again.returncode == 0 and again.stdout.startswith("dry run: would copy 0 files"), again.stdout


def test_as_another_user_only_the_users_own_groups_are_kept() -> None:
    """rsync as a user: never the owner; a group only if the user is a member (the planner's side)."""
    keep = Keep(owner=False, group=True, groups=frozenset({100, 1000}))
    assert keep.changes(Attrs(1, 100), Attrs(1000, 1000)) == "g"
    assert keep.changes(Attrs(1, 5), Attrs(1000, 1000)) == ""  # not a member of 5: not kept
    assert keep.uid(Attrs(1, 100)) == -1


# -- extended attributes and ACLs ------------------------------------------------------------------------

def test_xattrs_are_kept_with_x_and_only_then(src: Path, dst: Path) -> None:
    if not user_xattrs_work(src.parent):
        pytest.skip("this file system has no user extended attributes")
    write(src, "a.txt", "alpha", mtime=T0)
    write(src, "d/b.txt", "beta", mtime=T0)
    os.setxattr(src / "a.txt", "user.color", b"blue")
    os.setxattr(src / "d", "user.tag", b"\x00binary\xff")
    syncline.sync(src, dst)
    assert os.listxattr(dst / "a.txt") == []
    report = syncline.sync(src, dst, xattrs=True)
    assert report.exit_code == 0 and report.copied == 0
    assert os.getxattr(dst / "a.txt", "user.color") == b"blue"
    assert os.getxattr(dst / "d", "user.tag") == b"\x00binary\xff"
    os.removexattr(src / "a.txt", "user.color")
    os.setxattr(src / "a.txt", "user.size", b"L")
    dry = syncline.sync(src, dst, xattrs=True, dry_run=True)
    assert dry.plan is not None and list(dry.plan.lines()) == [".f........x a.txt"]
    syncline.sync(src, dst, xattrs=True)
    assert os.listxattr(dst / "a.txt") == ["user.size"]
    write(src, "new.txt", "new", mtime=T0)
    os.setxattr(src / "new.txt", "user.fresh", b"1")
    syncline.sync(src, dst, xattrs=True)
    assert os.getxattr(dst / "new.txt", "user.fresh") == b"1"
    assert syncline.sync(src, dst, xattrs=True).changed == 0


def test_an_xattr_the_destination_refuses_is_a_notice(src: Path, dst: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not user_xattrs_work(src.parent):
        pytest.skip("this file system has no user extended attributes")
    write(src, "a.txt", "alpha", mtime=T0)
    os.setxattr(src / "a.txt", "user.color", b"blue")

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", refuse)
    report = syncline.sync(src, dst, xattrs=True)
    assert report.exit_code == 0 and report.copied == 1
    assert (dst / "a.txt").read_text() == "alpha"
    assert any("user.color" in p.message and not p.error for p in report.problems), report.problems


def getfacl(path: Path) -> str:
    return subprocess.run(["getfacl", "-n", "-p", "-c", str(path)], capture_output=True, text=True,
                          check=True).stdout


@needs_acl
def test_acls_are_kept_with_a(src: Path, dst: Path) -> None:
    write(src, "a.txt", "alpha", mtime=T0)
    (src / "d").mkdir()
    if subprocess.run(["setfacl", "-m", "u:4321:rw", str(src / "a.txt")], capture_output=True).returncode:
        pytest.skip("this file system has no POSIX ACLs")
    subprocess.run(["setfacl", "-d", "-m", "g:77:rx", str(src / "d")], check=True)
    write(src, "d/plain.txt", "no acl of its own", mtime=T0)
    subprocess.run(["setfacl", "-b", str(src / "d/plain.txt")], check=True)
    os.utime(src / "d", (T0, T0))
    (dst / "d").mkdir(parents=True)
    subprocess.run(["setfacl", "-d", "-m", "u:99:rwx", str(dst / "d")], check=True)  # would be inherited
    report = syncline.sync(src, dst, acls=True)
    assert report.exit_code == 0, report.problems
    for rel in ("a.txt", "d", "d/plain.txt"):
        assert getfacl(dst / rel) == getfacl(src / rel), rel
    assert os.stat(dst / "a.txt").st_mode == os.stat(src / "a.txt").st_mode
    assert syncline.sync(src, dst, acls=True).changed == 0
    if shutil.which("rsync"):
        assert rsync_changes(src, dst, "-aAni") == []


# -- hard links ---------------------------------------------------------------------------------------------

def test_hard_links_stay_one_file_with_h(src: Path, dst: Path) -> None:
    write(src, "a.txt", "shared", mtime=T0)
    (src / "d").mkdir()
    os.link(src / "a.txt", src / "d/b.txt")
    os.link(src / "a.txt", src / "c.txt")
    write(src, "alone.txt", "one name", mtime=T0)
    report = syncline.sync(src, dst, hard_links=True)
    assert report.exit_code == 0, report.problems
    assert report.copied == 2 and report.hard_links == 2
    ino = os.stat(dst / "a.txt").st_ino
    assert os.stat(dst / "c.txt").st_ino == ino and os.stat(dst / "d/b.txt").st_ino == ino
    assert os.stat(dst / "a.txt").st_nlink == 3
    assert syncline.sync(src, dst, hard_links=True).changed == 0
    if shutil.which("rsync"):
        assert rsync_changes(src, dst, "-aHni") == []
    # A new version of the file (all names): copied once, linked again.
    (src / "a.txt").write_text("shared, changed")
    os.utime(src / "a.txt", (T0 + 5, T0 + 5))
    report = syncline.sync(src, dst, hard_links=True)
    assert report.copied == 1 and report.hard_links == 2
    assert (dst / "d/b.txt").read_text() == "shared, changed"
    assert os.stat(dst / "d/b.txt").st_ino == os.stat(dst / "a.txt").st_ino


def test_without_h_hard_links_are_copied_apart(src: Path, dst: Path) -> None:
    write(src, "a.txt", "shared", mtime=T0)
    os.link(src / "a.txt", src / "b.txt")
    syncline.sync(src, dst)
    assert os.stat(dst / "a.txt").st_ino != os.stat(dst / "b.txt").st_ino


def test_a_hard_link_whose_other_name_is_excluded_is_copied(src: Path, dst: Path) -> None:
    write(src, "skip/a.txt", "shared", mtime=T0)
    os.link(src / "skip/a.txt", src / "b.txt")
    report = syncline.sync(src, dst, hard_links=True, exclude=["skip/"])
    assert report.exit_code == 0, report.problems
    assert (dst / "b.txt").read_text() == "shared" and not (dst / "skip").exists()
    assert report.copied == 1 and report.hard_links == 0


def test_the_planner_links_later_names_after_every_copy() -> None:
    f = Entry("file", 3, T0, 0o644)
    source = Index({"a": f, "b": f, "c": Entry("file", 1, T0, 0o644)}, hard_links={"b": "a"})
    plan = mirror(source, Index({}), keep=Keep(hard_links=True))
    assert [(a.op, a.path, a.link_to) for a in plan.actions][:3] == [("copy", "a", None), ("copy", "c", None),
                                                                       ("link", "b", "a")]
    assert [a.op for a in mirror(source, Index({})).actions][:3] == ["copy", "copy", "copy"]
    # Already one file at the destination: nothing to do.
    target = Index({"a": f._replace(file_id=7), "b": f._replace(file_id=7), "c": Entry("file", 1, T0, 0o644)})
    assert mirror(source, target, keep=Keep(hard_links=True)).actions == ()


# -- sparse files -------------------------------------------------------------------------------------------

def test_a_sparse_file_stays_sparse(src: Path, dst: Path) -> None:
    src.mkdir(exist_ok=True)
    with open(src / "sparse.img", "wb") as f:
        f.truncate(100 << 20)
        f.seek(50 << 20)
        f.write(b"x")
    if os.stat(src / "sparse.img").st_blocks * 512 > 1 << 20:
        pytest.skip("this file system does not keep holes")
    report = syncline.sync(src, dst)
    assert report.exit_code == 0, report.problems
    st = os.stat(dst / "sparse.img")
    assert st.st_size == 100 << 20
    assert st.st_blocks * 512 <= 64 << 10, f"{st.st_blocks * 512} bytes on disk"
    with open(dst / "sparse.img", "rb") as f:
        f.seek((50 << 20) - 1)
        assert f.read(3) == b"\0x\0"


def test_a_folder_whose_unkept_owner_differs_shows_no_change() -> None:
    """As a user (owner not kept), a folder owned by someone else at the destination is not a change to
    show, even when its final meta runs because its content changed."""
    keep = Keep(owner=False, group=True, groups=frozenset({100}))
    d = Entry("dir", 0, T0, 0o755)
    source = Index({"d": d._replace(attrs=Attrs(1, 100)), "d/f": Entry("file", 1, T0, 0o644, attrs=Attrs(1, 100))})
    target = Index({"d": d._replace(attrs=Attrs(2, 100))})
    plan = mirror(source, target, keep=keep)
    assert list(plan.lines()) == [">f+++++++++ d/f"]
    target = Index({"d": d._replace(attrs=Attrs(2, 5))})
    assert list(mirror(source, target, keep=keep).lines()) == [">f+++++++++ d/f", ".d.....g... d/"]
