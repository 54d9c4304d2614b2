"""Small files that hold a secret (a device token, a WebDAV password): written atomically, readable only
by the user (0600, in a folder of mode 0700, the mode set before a byte of the secret is written), and
read back within a bound. Shared by ``remote/credentials.py`` and ``webdav/credentials.py``."""

from __future__ import annotations

import os
from pathlib import Path

from ...core.errors import UsageError
from ...formats.framing import atomic_file

MAX_RECORD = 64 * 1024


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` all or nothing, mode 0600 (its folder made 0700 when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_file(path) as fh:
        os.fchmod(fh.fileno(), 0o600)  # before the secret is written: never readable by others, even briefly
        fh.write(data)


def read_secret(path: Path, what: str, fix: str) -> bytes | None:
    """The bytes at ``path``; None when there is no such file. :class:`UsageError` naming ``what`` and
    saying ``fix`` when it cannot be read or is over :data:`MAX_RECORD` bytes."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_RECORD + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {what}: {exc.strerror}", fix) from None
    if len(raw) > MAX_RECORD:
        raise UsageError(f"the file {path} is damaged (too long)", fix)
    return raw
