"""The conflicts of a device's folder (``services/daemon/conflicts.py``): listed with their originals,
settled by each choice with the loser in the trash, refused when a file changed after it was looked at or
when a path tries to leave the folder; a text diff of the two. Real files in temp folders; the last test
settles a conflict two real daemons made through a real server."""

from __future__ import annotations

import calendar
import difflib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import blake3
import pytest

from syncline.core.conflicts import conflict_name
from syncline.core.ignore import Rules
from syncline.engine.replicas.confined import Confined
from syncline.services.daemon import conflicts
from syncline.services.daemon.conflicts import (
    KEEP_BOTH,
    KEEP_COPY,
    KEEP_ORIGINAL,
    Conflict,
    ConflictRefused,
    FileState,
    Seen,
    conflict_diff,
    list_conflicts,
    resolve,
    seen_from_json,
)
from syncline.services.daemon.textdiff import MAX_WORK, text_diff

from .conftest import write
from .daemonserver import Device, make_conflict, two_devices, wait_for

LINES = 5000  # every seventh line of 5,000 changed: 7 million units of difflib's work, over MAX_WORK

T = calendar.timegm((2026, 11, 17, 9, 46, 40)) * 10**9
COPY = conflict_name("report.txt", T, "laptop")  # report.sync-conflict-20261117-094640-laptop.txt


def _digest(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _pair(root: Path, original: str = "report.txt", mine: bytes = b"mine\n", theirs: bytes | None = b"theirs\n",
          device: str = "laptop") -> Conflict:
    """An original holding ``mine`` (None: no original) and its conflict copy holding ``theirs``; listed."""
    copy = conflict_name(original, T, device)
    write(root, copy, theirs)
    if mine is not None:
        write(root, original, mine)
    return next(c for c in list_conflicts(root) if c.path == copy)


def _seen(c: Conflict) -> Seen:
    return Seen(c.copy, c.original)


def _trashed(root: Path) -> dict[str, bytes]:
    """Everything in the folder's trash: path below the run's trash folder -> bytes."""
    found: dict[str, bytes] = {}
    trash = root / ".syncline" / "trash"
    for p in trash.rglob("*") if trash.exists() else ():
        if p.is_file():
            found[str(p.relative_to(trash)).split("/", 1)[1]] = p.read_bytes()
    return found


def _files(root: Path) -> dict[str, bytes]:
    """Every file outside ``.syncline``: path -> bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.is_symlink() and ".syncline" not in p.relative_to(root).parts}


# -- listing --------------------------------------------------------------------------------------------------

def test_listing_finds_each_copy_with_its_original(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    write(root, "notes/week plan.md", b"original plan\n")
    write(root, conflict_name("notes/week plan.md", T, "desk"), b"the desk's plan\n")
    write(root, "Ünïcode/日本語.txt", b"u\n")
    write(root, conflict_name("Ünïcode/日本語.txt", T, "phone", 1), b"v\n")
    write(root, conflict_name("a/b/c/gone.txt", T, "pc"), b"no original\n")  # its original was deleted
    write(root, "plain.txt", b"no conflict\n")
    write(root, ".syncline/trash/20261117-094640/" + COPY, b"in the trash: not listed\n")
    conflicts = list_conflicts(root)
    assert [c.path for c in conflicts] == sorted(c.path for c in conflicts)
    by_path = {c.path: c for c in conflicts}
    assert set(by_path) == {conflict_name("notes/week plan.md", T, "desk"),
                            conflict_name("Ünïcode/日本語.txt", T, "phone", 1),
                            conflict_name("a/b/c/gone.txt", T, "pc")}
    plan = by_path[conflict_name("notes/week plan.md", T, "desk")]
    st = (root / plan.path).stat()
    assert plan.original_path == "notes/week plan.md" and plan.original_kind == "file"
    assert plan.copy == FileState(st.st_size, st.st_mtime_ns, _digest(b"the desk's plan\n"))
    assert plan.original is not None and plan.original.digest == _digest(b"original plan\n")
    assert (plan.device, plan.when) == ("desk", "2026-11-17T09:46:40Z")
    assert by_path[conflict_name("Ünïcode/日本語.txt", T, "phone", 1)].original_path == "Ünïcode/日本語.txt"
    gone = by_path[conflict_name("a/b/c/gone.txt", T, "pc")]
    assert gone.original is None and gone.original_kind is None
    assert asdict(plan)["copy"]["digest"] == plan.copy.digest  # plain data: JSON as it is


def test_listing_honours_excludes_and_ignore_files_and_follows_no_symlink(tmp_path: Path) -> None:
    root, outside = tmp_path / "folder", tmp_path / "outside"
    write(root, conflict_name("build/out.log", T, "pc"), b"x")
    write(root, conflict_name("src/keep.c", T, "pc"), b"x")
    write(root, conflict_name("src/gen/made.c", T, "pc"), b"x")
    write(root, "src/.synclineignore", "gen/\n")
    write(outside, conflict_name("secret.txt", T, "pc"), b"outside\n")
    (root / "link").symlink_to(outside)
    (root / conflict_name("alias.txt", T, "pc")).symlink_to(outside / conflict_name("secret.txt", T, "pc"))
    assert [c.path for c in list_conflicts(root, Rules(excludes=("build/",)))] == [conflict_name("src/keep.c", T, "pc")]
    assert {c.path for c in list_conflicts(root, Rules(ignore_files=False))} == {
        conflict_name("build/out.log", T, "pc"), conflict_name("src/keep.c", T, "pc"),
        conflict_name("src/gen/made.c", T, "pc")}


def test_a_folder_or_symlink_at_the_originals_name_is_told(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    write(root, "docs/inside.txt", b"a folder won the name\n")
    write(root, conflict_name("docs", T, "pc"), b"the file that lost it\n")
    (conflict,) = list_conflicts(root)
    assert (conflict.original_path, conflict.original, conflict.original_kind) == ("docs", None, "folder")


def test_listing_stops_at_the_limit_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    for n in range(5):
        write(root, conflict_name(f"f{n}.txt", T, "pc"), b"x")
    assert len(list_conflicts(root, limit=3)) == 3
    with pytest.raises(ConflictRefused, match="is not a folder"):
        list_conflicts(tmp_path / "nowhere")


def test_listing_20000_files_is_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "big"
    one = write(tmp_path, "one.txt", b"x" * 100)
    for d in range(200):
        folder = root / f"dir{d:03}"
        folder.mkdir(parents=True)
        for n in range(100):
            os.link(one, folder / f"file {n}.txt")  # names are what the walk reads; links are 20 times quicker to make
    for d in range(0, 200, 20):
        write(root, conflict_name(f"dir{d:03}/file 0.txt", T, "pc"), b"y" * 100)
    started = time.perf_counter()
    found = list_conflicts(root)
    took = time.perf_counter() - started
    assert len(found) == 10
    with capsys.disabled():
        print(f"\nlist_conflicts: 20,010 files in 200 folders, 10 conflicts: {took:.3f} s")


# -- each choice ------------------------------------------------------------------------------------------------

def test_keep_original_puts_the_copy_in_the_trash(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root)
    done = resolve(root, c.path, KEEP_ORIGINAL, _seen(c))
    assert (done.choice, done.path) == (KEEP_ORIGINAL, "report.txt")
    assert _files(root) == {"report.txt": b"mine\n"}
    assert _trashed(root) == {COPY: b"theirs\n"}
    assert done.trashed is not None and (root / done.trashed).read_bytes() == b"theirs\n"
    os.rename(root / done.trashed, root / COPY)  # restorable: it is the file, moved
    assert _files(root) == {"report.txt": b"mine\n", COPY: b"theirs\n"}
    assert list_conflicts(root) == [c]


def test_keep_copy_gives_the_copy_the_name_and_trashes_the_original(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root)
    inode = (root / COPY).stat().st_ino
    done = resolve(root, c.path, KEEP_COPY, _seen(c))
    assert (done.choice, done.path) == (KEEP_COPY, "report.txt")
    assert _files(root) == {"report.txt": b"theirs\n"}
    assert (root / "report.txt").stat().st_ino == inode  # renamed, not copied
    assert _trashed(root) == {"report.txt": b"mine\n"}
    assert done.trashed is not None and done.trashed.endswith("/report.txt")
    assert list_conflicts(root) == []


def test_keep_copy_where_the_original_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root, "sub/gone.txt", mine=None)
    done = resolve(root, c.path, KEEP_COPY, _seen(c))
    assert (done.path, done.trashed) == ("sub/gone.txt", None)
    assert _files(root) == {"sub/gone.txt": b"theirs\n"} and _trashed(root) == {}


def test_keep_copy_without_renameat2_goes_through_the_trash_and_a_link(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Confined, "exchange", lambda self, a, b: False)
    monkeypatch.setattr(Confined, "rename_noreplace", lambda self, a, b: False)
    root = tmp_path / "folder"
    c = _pair(root)
    resolve(root, c.path, KEEP_COPY, _seen(c))
    assert _files(root) == {"report.txt": b"theirs\n"} and _trashed(root) == {"report.txt": b"mine\n"}
    c = _pair(root, "b.txt", b"b mine\n", b"b theirs\n")
    done = resolve(root, c.path, KEEP_BOTH, _seen(c))
    assert _files(root) == {"report.txt": b"theirs\n", "b.txt": b"b mine\n", done.path: b"b theirs\n"}


def test_keep_both_renames_the_copy_to_a_free_name(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root, "docs/report.txt")
    write(root, "docs/report (conflict 2026-11-17 0946).txt", b"a file of the user's\n")
    done = resolve(root, c.path, KEEP_BOTH, _seen(c))
    assert (done.path, done.trashed) == ("docs/report (conflict 2026-11-17 0946, 2).txt", None)
    assert _files(root) == {"docs/report.txt": b"mine\n", "docs/report (conflict 2026-11-17 0946).txt":
                            b"a file of the user's\n", done.path: b"theirs\n"}
    assert _trashed(root) == {} and list_conflicts(root) == []
    c = _pair(root, "Makefile", b"m\n", b"n\n")
    assert resolve(root, c.path, KEEP_BOTH, _seen(c)).path == "Makefile (conflict 2026-11-17 0946)"


def test_keep_both_shortens_a_long_name_to_fit(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root, "é" * 100 + ".txt")
    done = resolve(root, c.path, KEEP_BOTH, _seen(c))
    assert len(os.fsencode(done.path)) <= 255 and done.path.endswith(" (conflict 2026-11-17 0946).txt")
    assert (root / done.path).read_bytes() == b"theirs\n"


# -- refusals: changed since seen -------------------------------------------------------------------------------

def _changes(root: Path) -> list[tuple[str, Callable[[], object]]]:
    same_time = (root / "report.txt").stat().st_mtime_ns
    copy_time = (root / COPY).stat().st_mtime_ns

    def same_size_same_time(path: Path, data: bytes, mtime_ns: int) -> None:
        path.write_bytes(data)
        os.utime(path, ns=(mtime_ns, mtime_ns))

    return [
        ("copy longer", lambda: (root / COPY).write_bytes(b"theirs, edited\n")),
        ("copy, same size and time", lambda: same_size_same_time(root / COPY, b"THEIRS\n", copy_time)),
        ("copy gone", lambda: (root / COPY).unlink()),
        ("original edited", lambda: (root / "report.txt").write_bytes(b"mine, edited\n")),
        ("original, same size and time", lambda: same_size_same_time(root / "report.txt", b"MINE\n", same_time)),
        ("original gone", lambda: (root / "report.txt").unlink()),
    ]


@pytest.mark.parametrize("choice", [KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH])
@pytest.mark.parametrize("change", range(6))
def test_a_file_changed_after_it_was_seen_is_refused(tmp_path: Path, choice: str, change: int) -> None:
    root = tmp_path / "folder"
    c = _pair(root)
    what, act = _changes(root)[change]
    act()
    before = _files(root)
    with pytest.raises(ConflictRefused, match=r"changed since you looked|is gone since you looked") as err:
        resolve(root, c.path, choice, _seen(c))
    assert err.value.reason == "changed", what
    assert "same size and time" in str(err.value) or "same size" not in what
    assert _files(root) == before and _trashed(root) == {}, what


def test_an_original_that_appeared_after_it_was_seen_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root, mine=None)
    write(root, "report.txt", b"new\n")
    for choice in (KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH):
        with pytest.raises(ConflictRefused, match="appeared since you looked"):
            resolve(root, c.path, choice, _seen(c))
    assert _files(root) == {"report.txt": b"new\n", COPY: b"theirs\n"} and _trashed(root) == {}


@pytest.mark.parametrize("exchange", [True, False])
@pytest.mark.parametrize("choice", [KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH])
def test_a_file_replaced_between_the_check_and_the_move_is_put_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    choice: str, exchange: bool) -> None:
    root = tmp_path / "folder"
    c = _pair(root)
    checked = conflicts._recheck_original
    if not exchange:
        monkeypatch.setattr(Confined, "exchange", lambda self, a, b: False)
    racer = "report.txt" if choice == KEEP_COPY and not exchange else COPY

    def then_replaced(*args: object) -> object:
        done = checked(*args)  # type: ignore[arg-type]
        write(root, "racing", b"written right after the check\n")
        os.rename(root / "racing", root / racer)  # an editor's save: a new file under the name
        return done

    monkeypatch.setattr(conflicts, "_recheck_original", then_replaced)
    with pytest.raises(ConflictRefused, match="changed while being settled") as err:
        resolve(root, c.path, choice, _seen(c))
    assert err.value.reason == "changed"
    expected = {"report.txt": b"mine\n", COPY: b"theirs\n", racer: b"written right after the check\n"}
    assert _files(root) == expected and _trashed(root) == {}


def test_keep_copy_never_replaces_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    write(root, "docs/inside.txt", b"in the folder\n")
    write(root, conflict_name("docs", T, "pc"), b"a file\n")
    (c,) = list_conflicts(root)
    with pytest.raises(ConflictRefused, match="is a folder") as err:
        resolve(root, c.path, KEEP_COPY, _seen(c))
    assert err.value.reason == "unsupported"
    assert resolve(root, c.path, KEEP_BOTH, _seen(c)).path == "docs (conflict 2026-11-17 0946)"
    assert _files(root) == {"docs/inside.txt": b"in the folder\n", "docs (conflict 2026-11-17 0946)": b"a file\n"}


# -- refusals: hostile paths ------------------------------------------------------------------------------------

@pytest.mark.parametrize("choice", [KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH])
@pytest.mark.parametrize("path", ["../" + COPY, "/tmp/" + COPY, "sub/../" + COPY, "./" + COPY, "sub//" + COPY,
                                  "", ".syncline/trash/x/" + COPY, "report.txt", "sub/\0" + COPY, None, 7,
                                  conflict_name(".syncline", T, "pc"),
                                  conflict_name(".syncline-tmp-0123456789abcdef-1", T, "pc")])
def test_a_path_outside_the_folder_or_not_a_copy_is_refused(tmp_path: Path, choice: str, path: object) -> None:
    root = tmp_path / "folder"
    c = _pair(root)
    write(root, ".syncline/trash/x/" + COPY, b"in the trash\n")
    write(tmp_path, COPY, b"outside\n")
    with pytest.raises(ConflictRefused) as err:
        resolve(root, path, choice, _seen(c))  # type: ignore[arg-type]
    assert err.value.reason == "bad_request"
    with pytest.raises(ConflictRefused):
        conflict_diff(root, path)  # type: ignore[arg-type]
    assert (tmp_path / COPY).read_bytes() == b"outside\n"
    assert _files(root) == {"report.txt": b"mine\n", COPY: b"theirs\n"}


@pytest.mark.parametrize("choice", [KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH])
def test_a_symlinked_parent_folder_is_not_followed(tmp_path: Path, choice: str) -> None:
    root, outside = tmp_path / "folder", tmp_path / "outside"
    c = _pair(outside)  # a real conflict, outside the folder
    (root / "sub").parent.mkdir(parents=True)
    (root / "sub").symlink_to(outside)
    with pytest.raises(ConflictRefused, match="symlink") as err:
        resolve(root, "sub/" + COPY, choice, _seen(c))
    assert err.value.reason == "bad_request"
    assert conflict_diff(root, "sub/" + COPY) is None
    assert _files(outside) == {"report.txt": b"mine\n", COPY: b"theirs\n"} and _trashed(outside) == {}
    assert list_conflicts(root) == []


@pytest.mark.parametrize("choice", [KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH])
def test_a_symlinked_copy_is_not_followed(tmp_path: Path, choice: str) -> None:
    root, outside = tmp_path / "folder", tmp_path / "outside"
    c = _pair(outside)
    write(root, "report.txt", b"mine\n")
    (root / COPY).symlink_to(outside / COPY)
    with pytest.raises(ConflictRefused, match="not a regular file"):
        resolve(root, COPY, choice, _seen(c))
    assert (root / COPY).is_symlink() and _files(outside) == {"report.txt": b"mine\n", COPY: b"theirs\n"}


def test_a_symlinked_original_is_left_alone(tmp_path: Path) -> None:
    root, outside = tmp_path / "folder", tmp_path / "outside"
    write(outside, "target.txt", b"outside\n")
    write(root, COPY, b"theirs\n")
    (root / "report.txt").symlink_to(outside / "target.txt")
    (c,) = list_conflicts(root)
    assert (c.original, c.original_kind) == (None, "symlink")
    with pytest.raises(ConflictRefused, match="is a symlink"):
        resolve(root, COPY, KEEP_COPY, _seen(c))
    resolve(root, COPY, KEEP_ORIGINAL, _seen(c))
    assert (root / "report.txt").is_symlink() and (outside / "target.txt").read_bytes() == b"outside\n"
    assert _trashed(root) == {COPY: b"theirs\n"}


@pytest.mark.parametrize("where", [".syncline", ".syncline/trash"])
@pytest.mark.parametrize("choice", [KEEP_ORIGINAL, KEEP_COPY])
def test_a_trash_that_is_a_symlink_out_is_not_followed(tmp_path: Path, where: str, choice: str) -> None:
    root, outside = tmp_path / "folder", tmp_path / "outside"
    outside.mkdir()
    c = _pair(root)
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    (root / where).symlink_to(outside)
    with pytest.raises(ConflictRefused) as err:
        resolve(root, c.path, choice, _seen(c))
    assert err.value.reason == "failed"
    assert list(outside.iterdir()) == []
    assert _files(root) == {"report.txt": b"mine\n", COPY: b"theirs\n"}


def test_an_unknown_choice_and_a_malformed_seen_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root)
    with pytest.raises(ConflictRefused, match="no such choice"):
        resolve(root, c.path, "keep_neither", _seen(c))
    good = {"copy": asdict(c.copy), "original": asdict(c.original) if c.original else None}
    assert seen_from_json(good) == _seen(c)
    assert seen_from_json({**good, "original": None}) == Seen(c.copy, None)
    for bad in (None, [], {"copy": good["copy"]}, {**good, "copy": {**good["copy"], "size": -1}},
                {**good, "copy": {**good["copy"], "size": True}}, {**good, "copy": {**good["copy"], "digest": "ab"}},
                {**good, "copy": {**good["copy"], "digest": "G" * 64}}, {**good, "copy": {**good["copy"], "x": 1}},
                {**good, "extra": 1}):
        with pytest.raises(ConflictRefused) as err:
            seen_from_json(bad)
        assert err.value.reason == "bad_request"
    assert _files(root) == {"report.txt": b"mine\n", COPY: b"theirs\n"}


def test_a_stale_digest_alone_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root)
    with pytest.raises(ConflictRefused, match="same size and time"):
        resolve(root, c.path, KEEP_COPY, Seen(replace(c.copy, digest="0" * 64), c.original))
    assert _files(root) == {"report.txt": b"mine\n", COPY: b"theirs\n"}


# -- the text diff ----------------------------------------------------------------------------------------------

def test_text_diff_of_two_files(tmp_path: Path) -> None:
    lines = [f"line {n}" for n in range(1000)]
    a = write(tmp_path, "a.txt", "\n".join(lines) + "\n")
    lines[500] = "changed"
    b = write(tmp_path, "b.txt", "\n".join(lines) + "\n")
    assert text_diff(a, b) == ["--- a.txt", "+++ b.txt", "@@ -498,7 +498,7 @@", " line 497", " line 498",
                               " line 499", "-line 500", "+changed", " line 501", " line 502", " line 503"]
    assert text_diff(a, a) == []
    assert text_diff(a, write(tmp_path, "c.txt", b"bin\0ary\n")) is None
    assert text_diff(a, write(tmp_path, "d.txt", b"\xff\xfe not utf-8\n")) is None
    assert text_diff(a, b, limit=100) is None
    assert text_diff(a, tmp_path / "missing.txt") is None
    (tmp_path / "link.txt").symlink_to(b)
    assert text_diff(a, tmp_path / "link.txt") is None


def test_text_diff_gives_up_on_too_many_changed_lines(tmp_path: Path) -> None:
    a = write(tmp_path, "a.txt", "".join(f"{n}\n" for n in range(LINES + 10)))
    b = write(tmp_path, "b.txt", "".join(f"{n}{'x' if n % 7 == 0 else ''}\n" for n in range(LINES + 10)))
    assert text_diff(a, b) is None and 2 * (LINES // 7) * LINES > MAX_WORK
    c = write(tmp_path, "c.txt", "start\n" + a.read_text(encoding="utf-8") + "end\n")
    assert text_diff(a, c) == list(difflib.unified_diff(_text_lines(a), _text_lines(c), "a.txt", "c.txt", lineterm=""))
    assert text_diff(a, c)[-6:] == ["@@ -5008,4 +5009,5 @@", " 5007", " 5008", " 5009", "+end", " "]  # type: ignore[index]


def _text_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def test_conflict_diff_reads_inside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    c = _pair(root, "docs/a.txt", b"one\ntwo\n", b"one\nthree\n")
    assert conflict_diff(root, c.path) == ["--- docs/a.txt", f"+++ {c.path}", "@@ -1,3 +1,3 @@", " one", "-two",
                                           "+three", " "]
    gone = _pair(root, "docs/gone.txt", None)
    assert conflict_diff(root, gone.path) is None


# -- with real daemons ------------------------------------------------------------------------------------------

def test_a_conflict_settled_on_one_device_is_settled_on_the_other(tmp_path: Path) -> None:
    with two_devices(tmp_path, "Shared") as (_, a, b):
        make_conflict(a, b, "plan.txt", b"first\n", b"the laptop's plan\n", b"the desk's plan\n")

        def settled(device: Device) -> list[Conflict] | None:
            """the device holds the name and one conflict copy, and is in sync"""
            names = sorted(p.name for p in device.local.iterdir() if p.name != ".syncline")
            found = list_conflicts(device.local)
            return found if len(names) == 2 and len(found) == 1 and device.state_of() == "in sync" else None

        wait_for(lambda: settled(a) and settled(b), describe=lambda: (_files(a.local), _files(b.local)))
        (conflict,) = wait_for(lambda: settled(a))
        kept = (a.local / conflict.path).read_bytes()
        lost = (a.local / "plan.txt").read_bytes()
        assert {kept, lost} == {b"the laptop's plan\n", b"the desk's plan\n"}
        done = resolve(a.local, conflict.path, KEEP_COPY, Seen(conflict.copy, conflict.original))

        def only_the_kept(device: Device) -> bool:
            """the device holds plan.txt with the version kept, and no conflict copy"""
            return _files(device.local) == {"plan.txt": kept} and list_conflicts(device.local) == []

        wait_for(lambda: only_the_kept(b), describe=lambda: (_files(b.local), b.status()))
        wait_for(lambda: only_the_kept(a), describe=lambda: (_files(a.local), a.status()))
        # The trash holds the daemon's runs' replaced versions too: look where this one went.
        assert done.trashed is not None and (a.local / done.trashed).read_bytes() == lost

