"""The folder marker: ``<root>/.syncline/folder-id`` holds the id of the synced folder a root belongs to.

Two-way sync checks it before every run: a root that lost its marker (an unmounted disk, a replaced or
recreated directory) or holds another folder's id halts the pair instead of being taken for "everything
deleted". ``.syncline`` is never scanned, so the marker is never synced as a file.

Beside it, ``<root>/.syncline/generation`` holds the root's *generation*: a count that every two-way run
that changes anything raises (to more than any pair of that root has seen), and that each pair's base
remembers. A root copied back from an older backup (``cp -a``, ``.syncline`` and all) has a lower
generation than its pair remembers: the pair halts instead of taking the old versions for new edits. It is
a file of its own so that the folder-id stays as every syncline reads it.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from ..core.paths import META_DIR, new_temp_name

MARKER = "folder-id"
GENERATION = "generation"
_ID = re.compile(r"^[0-9a-f]{32}$")


def new_folder_id() -> str:
    return uuid.uuid4().hex


def ensure_meta_dir(root: Path) -> Path:
    """``<root>/.syncline``, created if needed without changing the root's mtime (so a mirrored root
    still matches its source: ``rsync -a`` sees nothing to do)."""
    meta = root / META_DIR
    if not meta.is_dir():
        st = os.stat(root)
        meta.mkdir(exist_ok=True)
        os.utime(root, ns=(st.st_atime_ns, st.st_mtime_ns))
    return meta


def read_marker(root: Path) -> str | None:
    """The folder id in ``root``'s marker; None when there is none. A marker that is not a folder id
    counts as another folder's (it halts the pair too)."""
    try:
        text = (root / META_DIR / MARKER).read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return "(unreadable marker)"
    return text if _ID.match(text) else f"(unreadable marker {text[:40]!r})"


def write_marker(root: Path, folder_id: str) -> None:
    """Write the marker atomically and durably."""
    write_meta_file(root, MARKER, folder_id + "\n")


def read_generation(root: Path) -> int:
    """``root``'s generation; 0 when it has none yet (never changed by a run that keeps generations) or
    holds no number (so it reads as older than anything a pair remembers)."""
    text = read_meta_file(root, GENERATION)
    if text is None or not text.strip().isdigit():
        return 0
    return int(text.strip())


def write_generation(root: Path, generation: int) -> None:
    """Write ``root``'s generation atomically and durably."""
    write_meta_file(root, GENERATION, f"{generation}\n")


def write_meta_file(root: Path, name: str, text: str) -> None:
    """Write ``<root>/.syncline/<name>`` atomically and durably (temp file, fsync, rename, fsync of the
    folder): a crash leaves the old text or the new one, never a torn file. ``text`` may hold a path
    that is not UTF-8 (``os.fsdecode``'s surrogates): its bytes are written as they are."""
    meta = ensure_meta_dir(root)
    tmp = meta / new_temp_name()
    with open(tmp, "x", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, meta / name)
    fd = os.open(meta, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_meta_file(root: Path, name: str) -> str | None:
    """The text of ``<root>/.syncline/<name>``; None when there is none (or ``.syncline`` is not a
    folder). Bytes that are not UTF-8 come back as ``os.fsdecode`` gives them, so a path written by
    :func:`write_meta_file` reads back equal."""
    try:
        return (root / META_DIR / name).read_text(encoding="utf-8", errors="surrogateescape")
    except (FileNotFoundError, NotADirectoryError):
        return None


def case_insensitive(root: Path, *, probe: bool = True) -> bool:
    """Whether ``root``'s file system treats names that differ only in case as one (exFAT and FAT USB
    sticks, macOS, Windows shares).

    Asks an existing name with letters first (does its other case exist as the same file?); otherwise, with
    ``probe``, a temp file in ``<root>/.syncline``; otherwise assumes case-sensitive.
    """
    with os.scandir(root) as it:
        for d in it:
            other = d.name.swapcase()
            if other != d.name:
                try:
                    return os.path.samefile(d.path, os.path.join(root, other))
                except OSError:
                    return False
    if not probe:
        return False
    meta = ensure_meta_dir(root)
    name = f"case-probe-{uuid.uuid4().hex[:12]}"
    (meta / name).touch()
    try:
        return (meta / name.upper()).exists()
    finally:
        (meta / name).unlink()
