"""Shared fixtures: temp trees, a private state directory, and a tree builder."""

from __future__ import annotations

import ctypes
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

_CLONE_NEWNS = 0x00020000
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_private_mounts = False


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    yield


def write(root: Path, rel: str, data: bytes | str = b"x", mtime: float | None = None, mode: int | None = None) -> Path:
    """Create a file (and its parents) with content, optional mtime (seconds) and mode."""
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(p, mode)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    return d


@pytest.fixture
def dst(tmp_path: Path) -> Path:
    return tmp_path / "dst"


@pytest.fixture
def shared_base() -> Iterator[Path]:
    """A directory an unprivileged user can reach (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="syncline-perm-", dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        for dirpath, dirnames, _ in os.walk(base):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def private_mounts() -> None:
    """Move this test process into a mount namespace of its own (once), or skip the test: a tmpfs a test
    mounts is then seen by this process and its children only, and goes away with it, even after a
    kill -9 (a test never changes what other programs on the machine see). Needs root (CAP_SYS_ADMIN).

    Threads started from now on share the new namespace; mounts are made private first, so none
    propagates back to the machine's own mount table."""
    global _private_mounts
    if _private_mounts:
        return
    if os.geteuid() != 0:
        pytest.skip("needs root to mount in a mount namespace of its own")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        pytest.skip(f"cannot make a mount namespace: {os.strerror(ctypes.get_errno())}")
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        # Still in a namespace of its own, but its mounts could reach the machine's: never mount here.
        raise OSError(ctypes.get_errno(), "cannot make the test's mounts private")
    _private_mounts = True


@contextmanager
def calls_of(cls: type, name: str) -> Iterator[list[Any]]:
    """The objects whose method ``name`` (of ``cls``) was called in the block, in call order; the method
    still runs as it would."""
    real = getattr(cls, name)
    seen: list[Any] = []

    def counted(self: Any, *args: Any, **kw: Any) -> Any:
        seen.append(self)
        return real(self, *args, **kw)

    setattr(cls, name, counted)
    try:
        yield seen
    finally:
        setattr(cls, name, real)
