"""Shared fixtures: temp trees, a private state directory, and a tree builder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


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
