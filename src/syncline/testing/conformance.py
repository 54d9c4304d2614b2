"""The replica conformance suite: every method of the Replica interface and every ``expect`` rule, as plain
functions any test runner can call.

Each :class:`Check` gets a fresh replica (with the write policy it needs) and a :class:`~.trees.Tree` on
the same place from a factory (see ``trees.py``), and raises ``AssertionError`` when the replica does not
keep the contract. Checks read the replica's declared :class:`Features` and hold it to them: a replica
without symlinks must refuse to make one, a 2 s-mtime replica must store 2 s mtimes, a case-insensitive
one must find ``A.TXT`` at ``a.txt``. A pytest module runs the suite with::

    @pytest.mark.parametrize("check", CHECKS, ids=str)
    def test_my_replica(check, tmp_path):
        check.run(my_factory(tmp_path))

or all of it in one test with :func:`check_replica`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import blake3

from ..core.entry import DIR, FILE, SYMLINK, Entry
from ..core.errors import BusyError
from ..core.ignore import Rules
from ..engine.replicas import abilities
from ..engine.replicas.replica import (
    BatchStat,
    CheckedMarkers,
    Hasher,
    Linker,
    Locker,
    Markers,
    Mover,
    Replica,
    WritePolicy,
)
from .adapt import read_source
from .trees import Factory, Tree

T0 = 1_700_000_000_123_456_789  # an mtime with every digit set: truncation shows


@dataclass(frozen=True)
class Check:
    """One check: ``fn(replica, tree)`` run on a replica made with ``policy`` (``exists``: with its root)."""

    name: str
    fn: Callable[[Replica, Tree], None]
    policy: WritePolicy = field(default_factory=WritePolicy)
    exists: bool = True

    def __str__(self) -> str:
        return self.name

    def run(self, factory: Factory) -> None:
        replica, tree = factory(policy=self.policy, exists=self.exists)
        try:
            self.fn(replica, tree)
        finally:
            replica.close()


def check_replica(factory: Factory) -> None:
    """Run every check of :data:`CHECKS` on fresh replicas from ``factory``; ``AssertionError`` naming
    each check that failed, with its reason."""
    failed = []
    for check in CHECKS:
        try:
            check.run(factory)
        except AssertionError as exc:
            failed.append(f"{check.name}: {exc}")
    assert not failed, "the replica does not conform:\n" + "\n".join(failed)


# -- helpers -------------------------------------------------------------------------------------------------
def _mtime(replica: Replica, mtime_ns: int) -> int:
    """What the replica stores for ``mtime_ns`` (truncated to its precision)."""
    step = replica.features().mtime_ns_precision
    return mtime_ns - mtime_ns % step


def _stat(replica: Replica, path: str) -> Entry:
    e = replica.stat(path)
    assert e is not None, f"{path} should be there"
    return e


def _stage(replica: Replica, tree: Tree, path: str, data: bytes, mtime_ns: int = T0, mode: int = 0o640) -> Any:
    """``data`` staged for ``path``, read from a file of the replica itself (so any replica can be a
    source for itself)."""
    tree.write(".source", data, mtime_ns, mode)
    with replica.open_file(".source") as source:
        staged = replica.stage_file(path, source)
    tree.remove(".source")
    return staged


def _commit(replica: Replica, tree: Tree, path: str, data: bytes, expect: Entry | None) -> Any:
    return replica.commit(_stage(replica, tree, path, data), expect)


def _paths(replica: Replica) -> list[str]:
    return list(replica.scan(Rules(), False, "destination"))


# -- reading -------------------------------------------------------------------------------------------------
def describes_itself(replica: Replica, tree: Tree) -> None:
    assert replica.describe(), "describe() should name the replica"
    assert replica.address() and replica.address() == replica.address(), \
        "address() should name the tree, the same at every call (two-way bases are kept under it)"
    f = replica.features()
    assert f.mtime_ns_precision >= 1
    assert replica.exists() and replica.is_empty()
    tree.write("a", b"x")
    assert not replica.is_empty()


def creates_its_root(replica: Replica, tree: Tree) -> None:
    assert not replica.exists()
    replica.create_root()
    assert replica.exists() and replica.is_empty()
    replica.create_root()  # again: nothing happens
    assert replica.exists()


def stats_every_kind(replica: Replica, tree: Tree) -> None:
    tree.write("d/f.txt", b"hello", T0, 0o640)
    assert replica.stat("missing") is None and replica.stat("d/missing") is None
    f = _stat(replica, "d/f.txt")
    assert (f.kind, f.size, f.mtime_ns) == (FILE, 5, _mtime(replica, T0))
    if replica.features().permissions:
        assert f.mode == 0o640
    assert _stat(replica, "d").kind == DIR
    try:
        replica.stat("d/f.txt/below")
    except NotADirectoryError:
        pass
    else:
        raise AssertionError("a path below a file should raise NotADirectoryError")
    if replica.features().symlinks:
        tree.symlink("d/l", "f.txt")
        link = _stat(replica, "d/l")
        assert (link.kind, link.target, link.size) == (SYMLINK, "f.txt", 5)


def finds_names_by_its_case_rule(replica: Replica, tree: Tree) -> None:
    tree.write("Read Me.TXT", b"x")
    other = replica.stat("read me.txt")
    if replica.features().case_sensitive:
        assert other is None, "a case-sensitive replica holds no read me.txt"
    else:
        assert other is not None and other.size == 1, "a case-insensitive replica finds Read Me.TXT"


def scans_what_is_there(replica: Replica, tree: Tree) -> None:
    tree.write("a.txt", b"aaa", T0, 0o600)
    tree.write("sub/b.bin", b"bb", T0 + 1, 0o644)
    tree.mkdir("empty")
    if isinstance(replica, Markers):
        replica.write_meta("marker", "id")
    index = replica.scan(Rules(), True, "destination")
    assert list(index) == ["a.txt", "empty", "sub", "sub/b.bin"], list(index)
    a = index["a.txt"]
    assert (a.kind, a.size, a.mtime_ns) == (FILE, 3, _mtime(replica, T0))
    if replica.features().permissions:
        assert a.mode == 0o600
    assert a.digest == blake3.blake3(b"aaa").digest(), "digests are BLAKE3 of the content"
    assert index.root is not None and index.root.kind == DIR
    # Unasked, a digest may still come (a server's listing carries them for free), but only the right one.
    assert replica.scan(Rules(), False, "destination")["a.txt"].digest in (None, blake3.blake3(b"aaa").digest())


def scans_by_the_rules(replica: Replica, tree: Tree) -> None:
    tree.write("keep.txt", b"k")
    tree.write("skip.log", b"s")
    tree.write("cache/x", b"c")
    tree.write("sub/.synclineignore", b"*.tmp\n")
    tree.write("sub/a.tmp", b"t")
    tree.write("sub/b", b"b")
    index = replica.scan(Rules(excludes=("*.log", "cache/")), False, "source")
    assert list(index) == ["keep.txt", "sub", "sub/.synclineignore", "sub/b"], list(index)


def scans_chosen_folders(replica: Replica, tree: Tree) -> None:
    for p in ("top", "a/one", "a/deep/two", "b/three"):
        tree.write(p, b"x")
    shallow = replica.scan_dirs([("a", False)], Rules(), "destination")
    assert list(shallow) == ["a", "a/deep", "a/one"], list(shallow)
    deep = replica.scan_dirs([("a", True), ("missing", True)], Rules(), "destination")
    assert list(deep) == ["a", "a/deep", "a/deep/two", "a/one"], list(deep)
    root = replica.scan_dirs([("", False)], Rules(), "destination")
    assert list(root) == ["a", "b", "top"], list(root)
    through_a_file = replica.scan_dirs([("top/x", True)], Rules(), "destination")
    assert not list(through_a_file) and "top/x" in through_a_file.unreadable, \
        "a folder asked for below a file is unreadable on a destination (nothing below it may be deleted)"


def scans_named_children(replica: Replica, tree: Tree) -> None:
    """``abilities.scan_children``: the replica's own (:class:`ChildScanner`) or the fallback's listing."""
    for p in ("top", "a/one", "a/two", "a/deep/three", "a/skip.log"):
        tree.write(p, b"x")
    got = abilities.scan_children(replica, {"a": ["one", "deep", "gone", "skip.log"], "": ["top"]},
                                  Rules(excludes=("*.log",)), "destination")
    assert list(got) == ["a", "a/deep", "a/one", "top"], list(got)
    whole = replica.scan(Rules(excludes=("*.log",)), False, "destination")
    assert {p: whole[p] for p in got} == dict(got.items()), "a named child as a full scan records it"


def keeps_its_own_small_files(replica: Replica, tree: Tree) -> None:
    if not isinstance(replica, Markers):
        return
    assert replica.read_meta("mirror-of") is None
    replica.write_meta("mirror-of", "somewhere ü")
    replica.write_meta("mirror-of", "elsewhere ü")
    assert replica.read_meta("mirror-of") == "elsewhere ü"
    if isinstance(replica, CheckedMarkers):
        assert not replica.write_meta_if("mirror-of", "x", None), "a file that is there is not made again"
        assert not replica.write_meta_if("mirror-of", "x", "somewhere ü"), "written over what was not read"
        assert replica.write_meta_if("mirror-of", "third ü", "elsewhere ü")
        assert replica.write_meta_if("new-one", "made", None)
        assert (replica.read_meta("mirror-of"), replica.read_meta("new-one")) == ("third ü", "made")
    assert _paths(replica) == [], "the replica's own files are never part of the tree"


def locks_one_run_at_a_time(replica: Replica, tree: Tree) -> None:
    if not isinstance(replica, Locker):
        with replica.session(), replica.session():
            return
    with replica.lock():
        try:
            with replica.lock():
                pass
        except BusyError:
            pass
        else:
            raise AssertionError("a second lock while the first is held should raise BusyError")
        with replica.session(), replica.session():
            tree.write("a", b"x")
            assert replica.stat("a") is not None
    with replica.lock():  # free again
        pass
    replica.close()
    assert replica.stat("a") is not None, "a closed replica can still be used (a new run)"


def opens_files_to_read(replica: Replica, tree: Tree) -> None:
    tree.write("f", b"content", T0)
    tree.mkdir("d")
    with replica.open_file("f") as source:
        assert source.entry.size == 7 and source.entry.mtime_ns == _mtime(replica, T0)
        assert read_source(source) == b"content"
        assert not source.changed()
    with replica.open_file("f") as source:
        tree.touch("f", T0 + 10**10)
        assert source.changed(), "a file touched while it was open says so"
    for bad, error in (("missing", FileNotFoundError), ("d", OSError)):
        try:
            with replica.open_file(bad):
                pass
        except error:
            continue
        raise AssertionError(f"opening {bad} should raise {error.__name__}")


# -- writing files -------------------------------------------------------------------------------------------
def stages_out_of_sight(replica: Replica, tree: Tree) -> None:
    tree.mkdir("d")
    staged = _stage(replica, tree, "d/new", b"data")
    assert staged.path == "d/new" and staged.size == 4
    index = replica.scan(Rules(), False, "destination")
    assert list(index) == ["d"], "a staged file is not in the tree until it is committed"
    staged.discard()
    staged.discard()  # twice is fine
    index = replica.scan(Rules(), False, "destination")
    assert list(index) == ["d"] and not index.temp_files


def commits_a_new_file(replica: Replica, tree: Tree) -> None:
    out = _commit(replica, tree, "n.txt", b"new", None)
    assert out.done and not out.trashed and not out.note, out
    e = _stat(replica, "n.txt")
    assert (e.size, e.mtime_ns) == (3, _mtime(replica, T0))
    if replica.features().permissions:
        assert e.mode == 0o640
    assert tree.read("n.txt") == b"new" and tree.trashed() == []


def commit_keeps_a_file_that_appeared(replica: Replica, tree: Tree) -> None:
    staged = _stage(replica, tree, "n.txt", b"ours")
    tree.write("n.txt", b"theirs")
    out = replica.commit(staged, None)
    assert out.done and out.trashed and out.note, out
    assert tree.read("n.txt") == b"ours" and tree.trashed() == [("n.txt", b"theirs")]


def _edited(replica: Replica, tree: Tree, path: str) -> Entry:
    """What a scan saw at ``path`` before someone edited the file there."""
    tree.write(path, b"old", T0)
    seen = _stat(replica, path)
    tree.write(path, b"edited!", T0 + 5 * 10**9)
    return seen


def commit_keeps_a_changed_destination(replica: Replica, tree: Tree) -> None:
    out = _commit(replica, tree, "f", b"ours", _edited(replica, tree, "f"))
    assert out.done and out.trashed and out.note, out
    assert tree.read("f") == b"ours" and tree.trashed() == [("f", b"edited!")]
    assert _paths(replica) == ["f"], "the trash is never part of the tree"


def keep_changed_leaves_the_destination(replica: Replica, tree: Tree) -> None:
    out = _commit(replica, tree, "f", b"ours", _edited(replica, tree, "f"))
    assert not out.done and out.note, out
    assert tree.read("f") == b"edited!" and tree.trashed() == []
    out = _commit(replica, tree, "g", b"ours", None)
    assert out.done
    tree.write("h", b"appeared")
    out = _commit(replica, tree, "h", b"ours", None)
    assert not out.done and tree.read("h") == b"appeared"
    made = replica.make_dir("h", Entry(DIR, 0, T0, 0o755), None)
    assert not made.done and tree.read("h") == b"appeared"


def commit_replaces_what_was_expected(replica: Replica, tree: Tree) -> None:
    tree.write("f", b"old", T0)
    out = _commit(replica, tree, "f", b"new", _stat(replica, "f"))
    assert out.done and out.trashed and not out.note, out
    assert tree.read("f") == b"new" and tree.trashed() == [("f", b"old")]


def commit_without_trash_destroys_what_was_expected(replica: Replica, tree: Tree) -> None:
    tree.write("f", b"old", T0)
    out = _commit(replica, tree, "f", b"new", _stat(replica, "f"))
    if replica.features().keeps_versions:  # it keeps every version whatever the policy says, and says so
        assert out.done and out.trashed, out
        assert tree.read("f") == b"new" and tree.trashed() == [("f", b"old")]
    else:
        assert out.done and not out.trashed, out
        assert tree.read("f") == b"new" and tree.trashed() == []
    tree.write("g", b"old", T0)
    seen = _stat(replica, "g")
    tree.write("g", b"changed", T0 + 5 * 10**9)
    out = _commit(replica, tree, "g", b"new", seen)
    assert out.done and out.trashed, "a changed destination is kept even without the trash"
    assert tree.trashed()[-1] == ("g", b"changed")


def commit_over_a_folder(replica: Replica, tree: Tree) -> None:
    tree.mkdir("empty")
    out = _commit(replica, tree, "empty", b"file", _stat(replica, "empty"))
    assert out.done and _stat(replica, "empty").kind == FILE
    tree.write("full/child", b"c")
    out = _commit(replica, tree, "full", b"file", _stat(replica, "full"))
    assert not out.done and _stat(replica, "full").kind == DIR
    tree.mkdir("appeared")
    out = _commit(replica, tree, "appeared", b"file", None)
    assert not out.done and _stat(replica, "appeared").kind == DIR


def reports_file_ids_when_asked(replica: Replica, tree: Tree) -> None:
    out = _commit(replica, tree, "f", b"x", None)
    made = replica.make_dir("d", Entry(DIR, 0, T0, 0o755), None)
    for outcome, path in ((out, "f"), (made, "d")):
        now = _stat(replica, path).file_id
        assert outcome.file_id == now, f"{path}: told {outcome.file_id}, is {now}"


# -- writing everything else -------------------------------------------------------------------------------
def makes_folders(replica: Replica, tree: Tree) -> None:
    d = Entry(DIR, 0, T0, 0o755)
    assert replica.make_dir("d", d, None).done and _stat(replica, "d").kind == DIR
    assert replica.make_dir("d", d, None).done, "an existing folder is fine"
    tree.write("f", b"file")
    # What a folder replaces goes to the trash. (LocalReplica does not say so in the outcome yet: its
    # ``trashed`` and note are not asked for here.)
    out = replica.make_dir("f", d, _stat(replica, "f"))
    assert out.done and _stat(replica, "f").kind == DIR and tree.trashed() == [("f", b"file")]
    tree.write("g", b"appeared")
    out = replica.make_dir("g", d, None)
    assert out.done and tree.trashed()[-1] == ("g", b"appeared")
    try:
        replica.make_dir("no/parent", d, None)
    except OSError:
        pass
    else:
        raise AssertionError("a folder whose parent is missing cannot be made")


def makes_symlinks_if_it_keeps_them(replica: Replica, tree: Tree) -> None:
    link = Entry(SYMLINK, 6, T0, 0o777, target="target")
    if not replica.features().symlinks:
        try:
            replica.make_symlink("l", link, None)
        except OSError:
            assert replica.stat("l") is None
            return
        raise AssertionError("a replica without symlinks refuses to make one (OSError)")
    out = replica.make_symlink("l", link, None)
    assert out.done and _stat(replica, "l").target == "target"
    other = link._replace(target="other", size=5)
    out = replica.make_symlink("l", other, _stat(replica, "l"))
    assert out.done and _stat(replica, "l").target == "other"
    seen = _stat(replica, "l")
    tree.remove("l")
    tree.write("l", b"a file now")
    out = replica.make_symlink("l", link, seen)
    assert out.done and out.note and b"a file now" in [data for _, data in tree.trashed()]


def makes_hard_links(replica: Replica, tree: Tree) -> None:
    if not isinstance(replica, Linker):
        return  # the executor copies the file again instead
    staged = _stage(replica, tree, "first", b"shared")
    assert replica.commit(staged, None).done
    entry = Entry(FILE, 6, T0, 0o640)
    assert replica.make_link("second", entry, "first", None).done
    assert tree.read("second") == b"shared"
    a, b = _stat(replica, "first"), _stat(replica, "second")
    assert not a.file_id or a.file_id == b.file_id, "two names of one file"
    assert replica.make_link("second", entry, "first", None).done, "linked already is fine"
    assert not replica.make_link("third", entry._replace(size=99), "first", None).done
    assert replica.stat("third") is None


def deletes_only_what_was_seen(replica: Replica, tree: Tree) -> None:
    tree.write("f", b"x")
    assert replica.delete("gone", Entry(FILE, 1, T0, 0o644)).done, "absent already is fine"
    out = replica.delete("f", _stat(replica, "f"))
    assert out.done and out.trashed and replica.stat("f") is None and tree.trashed() == [("f", b"x")]
    tree.write("g", b"x", T0)
    seen = _stat(replica, "g")
    tree.write("g", b"changed", T0 + 10**10)
    assert not replica.delete("g", seen).done and tree.read("g") == b"changed"
    tree.mkdir("d")
    assert not replica.delete("d", seen).done, "a folder where a file was seen stays"
    assert replica.delete("d", _stat(replica, "d")).done and replica.stat("d") is None
    tree.mkdir("full")
    seen = _stat(replica, "full")
    tree.write("full/new", b"n")
    assert not replica.delete("full", seen).done and tree.read("full/new") == b"n"


def deletes_without_trash(replica: Replica, tree: Tree) -> None:
    tree.write("f", b"x")
    out = replica.delete("f", _stat(replica, "f"))
    assert out.done and replica.stat("f") is None
    if replica.features().keeps_versions:
        assert out.trashed and tree.trashed() == [("f", b"x")], "kept, and said so"
    else:
        assert not out.trashed and tree.trashed() == [], out


def moves_on_its_side_or_by_the_fallback(replica: Replica, tree: Tree) -> None:
    tree.write("d/a", b"a")
    tree.write("d/sub/b", b"b")
    tree.write("f", b"f")
    move = replica.move if isinstance(replica, Mover) else partial(abilities.move, replica)
    assert move("f", "g", _stat(replica, "f")).done
    assert replica.stat("f") is None and tree.read("g") == b"f"
    assert move("d", "e", _stat(replica, "d")).done
    assert _paths(replica) == ["e", "e/a", "e/sub", "e/sub/b", "g"], _paths(replica)
    assert not move("f", "h", Entry(FILE, 1, T0, 0o644)).done, "vanished"
    seen = _stat(replica, "g")
    tree.write("g", b"changed", T0 + 10**10)
    assert not move("g", "h", seen).done, "changed since the scan"
    tree.write("x", b"x")
    assert not move("g", "x", _stat(replica, "g")).done and tree.read("x") == b"x", "taken"


def answers_for_its_abilities(replica: Replica, tree: Tree) -> None:
    tree.write("a", b"alpha")
    tree.mkdir("d")
    if isinstance(replica, BatchStat):
        assert replica.stat_many(["a", "missing", "d"]) == [replica.stat("a"), None, replica.stat("d")]
    kinds = replica.features().hash_kinds
    assert isinstance(replica, Hasher) == bool(kinds), "features().hash_kinds names what digest() computes"
    if isinstance(replica, Hasher) and "blake3" in kinds:
        assert replica.digest("a") == blake3.blake3(b"alpha").digest()


def sets_metadata(replica: Replica, tree: Tree) -> None:
    tree.write("f", b"x", T0, 0o644)
    tree.mkdir("d")
    seen = _stat(replica, "f")
    assert replica.set_meta("f", seen._replace(mode=0o600, mtime_ns=T0 + 7), seen).done
    f = _stat(replica, "f")
    assert f.mtime_ns == _mtime(replica, T0 + 7)
    if replica.features().permissions:
        assert f.mode == 0o600
    d = _stat(replica, "d")
    assert replica.set_meta("d", d._replace(mode=0o700, mtime_ns=T0), d._replace(mtime_ns=1)).done
    assert _stat(replica, "d").mtime_ns == _mtime(replica, T0)
    tree.write("f", b"changed", T0 + 10**10)
    assert not replica.set_meta("f", seen, f).done, "a file changed since the scan is left alone"


def barrier_and_close(replica: Replica, tree: Tree) -> None:
    with abilities.writing(replica):
        assert _commit(replica, tree, "f", b"x", None).done
        replica.barrier()
    replica.close()
    assert tree.read("f") == b"x"


CHECKS: tuple[Check, ...] = (
    Check("describes_itself", describes_itself),
    Check("creates_its_root", creates_its_root, exists=False),
    Check("stats_every_kind", stats_every_kind),
    Check("finds_names_by_its_case_rule", finds_names_by_its_case_rule),
    Check("scans_what_is_there", scans_what_is_there),
    Check("scans_by_the_rules", scans_by_the_rules),
    Check("scans_chosen_folders", scans_chosen_folders),
    Check("scans_named_children", scans_named_children),
    Check("keeps_its_own_small_files", keeps_its_own_small_files),
    Check("locks_one_run_at_a_time", locks_one_run_at_a_time),
    Check("opens_files_to_read", opens_files_to_read),
    Check("stages_out_of_sight", stages_out_of_sight),
    Check("commits_a_new_file", commits_a_new_file),
    Check("commit_keeps_a_file_that_appeared", commit_keeps_a_file_that_appeared),
    Check("commit_keeps_a_changed_destination", commit_keeps_a_changed_destination),
    Check("keep_changed_leaves_the_destination", keep_changed_leaves_the_destination, WritePolicy(keep_changed=True)),
    Check("commit_replaces_what_was_expected", commit_replaces_what_was_expected),
    Check("commit_without_trash_destroys_what_was_expected", commit_without_trash_destroys_what_was_expected,
          WritePolicy(trash=False)),
    Check("commit_over_a_folder", commit_over_a_folder),
    Check("reports_file_ids_when_asked", reports_file_ids_when_asked, WritePolicy(report_ids=True)),
    Check("makes_folders", makes_folders),
    Check("makes_symlinks_if_it_keeps_them", makes_symlinks_if_it_keeps_them),
    Check("makes_hard_links", makes_hard_links),
    Check("deletes_only_what_was_seen", deletes_only_what_was_seen),
    Check("deletes_without_trash", deletes_without_trash, WritePolicy(trash=False)),
    Check("moves_on_its_side_or_by_the_fallback", moves_on_its_side_or_by_the_fallback),
    Check("answers_for_its_abilities", answers_for_its_abilities),
    Check("sets_metadata", sets_metadata),
    Check("barrier_and_close", barrier_and_close),
)
