"""A tree that holds only UTF-8 names (a server, ``Features.utf8_names``) gets no other name: each is an
error naming it, its path unreadable, never a reason to delete (``core/project.py``, decision 1 of issue 13)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from syncline.core.entry import Compare, Entry, Keep
from syncline.core.index import Index
from syncline.core.project import Keeps, non_utf8_tops, project, project_index, project_pair
from syncline.engine.oneway import SyncOptions, sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import Features, WritePolicy
from syncline.engine.twoway.run import TwoWaySyncOptions, sync_two_way_replicas
from syncline.testing import MemoryReplica

BAD = os.fsdecode(b"bad\xff")  # a Latin-1 name on a UTF-8 system: carried as a surrogate escape
F = Entry("file", 1, 10, 0o644)
D = Entry("dir", 0, 10, 0o755)


def test_tops() -> None:
    assert non_utf8_tops(["a", "b/c", "é"]) == set()
    assert non_utf8_tops([BAD, f"{BAD}/x", f"a/{BAD}/y/{BAD}", "ok"]) == {BAD, f"a/{BAD}"}


def test_nothing_to_leave_out_gives_the_same_object() -> None:
    index = Index({"a": F, "é/b": F, "é": D})
    assert project_index(index, utf8_names=True) is index
    assert project(index, index, Compare(), Keep(), utf8_names=True).source is index


def test_names_left_out_with_everything_below_them() -> None:
    index = Index({"a": F, BAD: D, f"{BAD}/x": F, f"{BAD}/y": D, f"{BAD}/y/z": F, "k": D, f"k/{BAD}": F},
                  hard_links={f"{BAD}/x": "a", "b": f"{BAD}/y/z", "c": "a"})
    out = project_index(index, utf8_names=True, onto="the server")
    assert set(out) == {"a", "k"}
    assert out.unreadable == frozenset({BAD, f"k/{BAD}"})
    assert [(p.path, p.error) for p in out.problems] == [(BAD, True), (f"k/{BAD}", True)]
    assert "the server holds only UTF-8 names" in out.problems[0].message
    assert "rename" in out.problems[0].message
    assert dict(out.hard_links) == {"c": "a"}
    assert out.is_unreadable(f"{BAD}/y/z")
    assert project_index(index) is index  # without the rule: nothing changes


def test_pair_leaves_out_each_sides_names_the_other_cannot_hold() -> None:
    a = Index({"x": F, BAD: F})
    b = Index({"y": F, f"{BAD}2": F})
    fit = project_pair(a, b, Compare(), Keeps(), Keeps(utf8_names=True))
    assert set(fit.a) == {"x"} and fit.a.unreadable == frozenset({BAD})
    assert fit.b is b  # side A holds any name


class Utf8Memory(MemoryReplica):
    """A tree in memory that, as a server, holds only UTF-8 names."""

    def features(self) -> Features:
        return replace(super().features(), utf8_names=True)


def _tree(root: Path) -> None:
    (root / "ok.txt").write_bytes(b"ok")
    with open(os.path.join(os.fsencode(root), b"bad\xff"), "wb") as fh:
        fh.write(b"latin")
    os.mkdir(os.path.join(os.fsencode(root), b"dir\xfe"))
    with open(os.path.join(os.fsencode(root), b"dir\xfe", b"inner"), "wb") as fh:
        fh.write(b"in")


def test_one_way_into_a_utf8_tree(tmp_path: Path) -> None:
    _tree(tmp_path)
    src = LocalReplica(tmp_path)
    dst = Utf8Memory("server")
    try:
        for _ in range(2):
            report = sync_replicas(src, dst, SyncOptions())
            assert dst.paths() == ["ok.txt"]
            errors = sorted(p.path for p in report.problems if p.error)
            assert errors == sorted([BAD, os.fsdecode(b"dir\xfe")])
            assert report.deleted == 0
    finally:
        src.close()


def test_two_way_never_deletes_a_name_the_other_side_cannot_hold(tmp_path: Path) -> None:
    _tree(tmp_path)
    a = LocalReplica(tmp_path, policy=WritePolicy.two_way())
    b = Utf8Memory("server", policy=WritePolicy.two_way())
    b.put_file("from-b", b"b")
    try:
        for _ in range(3):
            report = sync_two_way_replicas(a, b, TwoWaySyncOptions())  # type: ignore[arg-type]
            assert sorted(b.paths()) == ["from-b", "ok.txt"]
            assert (tmp_path / BAD).exists()
            assert (tmp_path / os.fsdecode(b"dir\xfe") / "inner").exists()
            assert (tmp_path / "from-b").read_bytes() == b"b"
            assert {p.path for p in report.problems if p.error} == {BAD, os.fsdecode(b"dir\xfe")}
    finally:
        a.close()
