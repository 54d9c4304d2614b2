"""The replica error family: each errno's class, LocalReplica mapping at its edge, and what the executor reads."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from syncline.core.ignore import Rules
from syncline.core.oneway import mirror
from syncline.core.scan import scan
from syncline.engine.execute import execute
from syncline.engine.replicas import errors as E
from syncline.engine.replicas.local import LocalReplica

from .conftest import write

MAPPED = sorted(E.ERRNO_CLASSES.items())
RETRYABLE = {E.Unreachable, E.NotFound, E.Changed, E.NoSpace, E.ReadOnly, E.Locked, E.RateLimited}


def test_every_class_says_whether_it_may_pass() -> None:
    for cls in E.FAMILY:
        assert issubclass(cls, OSError)
        assert cls.retryable is (cls in RETRYABLE), cls
    assert issubclass(E.ReadOnly, E.Denied) and not E.Denied.retryable


@pytest.mark.parametrize(("number", "family"), MAPPED, ids=[errno.errorcode[n] for n, _ in MAPPED])
def test_each_errno_maps_to_its_class_keeping_the_os_error(number: int, family: type[E.ReplicaError]) -> None:
    original = OSError(number, os.strerror(number), "a/b")  # OSError() gives the builtin subclass for the errno
    mapped = E.map_os_error(original)
    assert type(mapped).__mro__[1:].count(family) or type(mapped) is family
    assert isinstance(mapped, family) and isinstance(mapped, type(original))  # except FileNotFoundError still works
    assert (mapped.errno, mapped.strerror, mapped.filename, str(mapped)) == \
        (number, original.strerror, "a/b", str(original))
    assert mapped.retryable is family.retryable
    assert E.map_os_error(mapped) is mapped
    again = pickle.loads(pickle.dumps(mapped))
    assert type(again) is type(mapped) and str(again) == str(mapped)


def test_an_unmapped_errno_is_a_plain_replica_error_that_is_not_retried() -> None:
    mapped = E.map_os_error(OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300))
    assert type(mapped) is E.ReplicaError and not mapped.retryable and mapped.errno == errno.ENAMETOOLONG
    plain = E.map_os_error(OSError("the marker names another source"))
    assert type(plain) is E.ReplicaError and str(plain) == "the marker names another source"
    assert not E.is_retryable(ValueError()) and E.is_retryable(OSError(errno.ENOSPC, "full"))


@pytest.mark.parametrize(("number", "family"), MAPPED, ids=[errno.errorcode[n] for n, _ in MAPPED])
def test_local_replica_maps_at_its_edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: int,
                                        family: type[E.ReplicaError]) -> None:
    write(tmp_path, "f", "x")
    replica = LocalReplica(tmp_path)

    def fails(*args: object, **kwargs: object) -> None:
        raise OSError(number, os.strerror(number), "f")

    monkeypatch.setattr(replica.tree, "lstat", fails)
    if number == errno.ENOENT:
        assert replica.stat("f") is None  # absent is an answer of stat, not an error
    else:
        with pytest.raises(family) as raised:
            replica.stat("f")
        assert raised.value.errno == number
    monkeypatch.setattr(replica.tree, "open", fails)
    with pytest.raises(family), replica.open_file("f"):  # raised on entering the context
        pass


def test_real_os_errors_come_out_as_the_family(tmp_path: Path) -> None:
    write(tmp_path, "file", "x")
    replica = LocalReplica(tmp_path)
    with pytest.raises(E.NotFound) as gone, replica.open_file("missing"):
        pass
    assert isinstance(gone.value, FileNotFoundError)
    with pytest.raises(E.Changed) as swapped:  # a file where a folder was: the tree changed under us
        replica.stat("file/child")
    assert isinstance(swapped.value, NotADirectoryError)


def test_what_the_block_raises_is_not_mapped(tmp_path: Path) -> None:
    write(tmp_path, "f", "x")
    replica = LocalReplica(tmp_path)
    with pytest.raises(OSError) as raised, replica.open_file("f"):
        raise OSError(errno.ENOSPC, "the caller's own")
    assert not isinstance(raised.value, E.ReplicaError)


def test_a_subclass_s_public_methods_are_mapped_too(tmp_path: Path) -> None:
    class Sub(LocalReplica):
        def extra(self) -> None:
            os.lstat(tmp_path / "missing")

        def _private(self) -> None:
            os.lstat(tmp_path / "missing")

    with pytest.raises(E.NotFound):
        Sub(tmp_path).extra()
    with pytest.raises(FileNotFoundError) as raw:
        Sub(tmp_path)._private()  # inside a replica the OS's errors stay as they are
    assert not isinstance(raw.value, E.ReplicaError)


@pytest.mark.parametrize(("number", "retryable"), [(errno.ENOSPC, True), (errno.EROFS, True), (errno.EACCES, False),
                                                   (errno.ENAMETOOLONG, False)])
def test_the_report_says_whether_a_failed_item_may_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: int,
                                                        retryable: bool) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", "alpha")
    dst.mkdir()
    target = LocalReplica(dst)

    def refuses(*args: object, **kwargs: object) -> None:
        raise OSError(number, os.strerror(number), "a.txt")

    monkeypatch.setattr(target.tree, "open", refuses)
    report = execute(mirror(scan(src), scan(dst)), LocalReplica(src), target)
    [problem] = report.errors
    assert (problem.side, problem.errno, problem.retryable) == ("destination", number, retryable)
    assert problem.message == f"cannot write: {os.strerror(number)}"


def test_a_source_file_not_found_is_a_notice(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", "alpha")
    dst.mkdir()
    plan = mirror(scan(src), scan(dst))
    (src / "a.txt").unlink()
    report = execute(plan, LocalReplica(src), LocalReplica(dst))
    assert not report.errors and [p.message for p in report.problems] == ["vanished from the source; skipped"]


def test_the_retryable_errnos_are_those_the_watch_retried() -> None:
    """What services/watch/targets.py retried by errno (RETRY_ERRNOS | MOVED_ERRNOS) is exactly what the
    family calls retryable, so the watch can retry by ``Problem.retryable`` and change nothing."""
    retried = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ETXTBSY,
               errno.ENOTCONN, errno.ESTALE, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED,
               errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOMEM, errno.ENOENT, errno.ENOTDIR, errno.ELOOP}
    assert {n for n, cls in E.ERRNO_CLASSES.items() if cls.retryable} == retried


def test_a_scan_s_problems_are_judged_at_the_replica_s_edge(tmp_path: Path) -> None:
    write(tmp_path, "file", "x")
    index = LocalReplica(tmp_path).scan_dirs([("file/below", False)], Rules(), "destination")
    [problem] = index.problems
    assert problem.errno == errno.ENOTDIR and problem.retryable
