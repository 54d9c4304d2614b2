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

import errno
import fcntl
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..core.paths import META_DIR
from .replicas.confined import Confined, write_all

FOLDER_ID_FILE = "folder-id"
GENERATION = "generation"
_ID = re.compile(r"^[0-9a-f]{32}$")


def new_folder_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def _tree(root: Path) -> Iterator[Confined]:
    tree = Confined(os.path.abspath(root))
    try:
        yield tree
    finally:
        tree.close()


def ensure_meta_dir_in(tree: Confined) -> bool:
    """``.syncline`` in ``tree``, made if needed without changing the root's mtime (so a mirrored root
    still matches its source: ``rsync -a`` sees nothing to do). True when this call made it;
    ``NotADirectoryError`` when something else (a file, a symlink: never followed) is in its place."""
    try:
        st = tree.lstat(META_DIR)
    except FileNotFoundError:
        root = tree.lstat("")
        try:
            tree.mkdir(META_DIR, 0o755)
        except FileExistsError:
            return ensure_meta_dir_in(tree)
        tree.utime("", root.st_mtime_ns, root.st_atime_ns)
        return True
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, f"{META_DIR} here is not a folder; move it away",
                                 f"{tree.root}/{META_DIR}")
    return False


def ensure_meta_dir(root: Path) -> Path:
    """:func:`ensure_meta_dir_in` for the tree at ``root``; returns ``<root>/.syncline``."""
    with _tree(root) as tree:
        ensure_meta_dir_in(tree)
    return root / META_DIR


def write_meta_in(tree: Confined, name: str, text: str) -> None:
    """Write ``.syncline/<name>`` in ``tree`` atomically and durably (temp file, fsync, rename, fsync of
    the folder): a crash leaves the old text or the new one, never a torn file. ``text`` may hold a path
    that is not UTF-8 (``os.fsdecode``'s surrogates): its bytes are written as they are."""
    ensure_meta_dir_in(tree)
    tmp = f"{META_DIR}/{name}.tmp-{os.urandom(6).hex()}"
    fd = tree.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_all(fd, text.encode("utf-8", errors="surrogateescape"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tree.unlink(tmp)
        raise
    os.close(fd)
    tree.rename(tmp, f"{META_DIR}/{name}")
    fd = tree.open(META_DIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_meta_if_in(tree: Confined, name: str, text: str, expect: str | None) -> bool:
    """:func:`write_meta_in` only if ``.syncline/<name>`` holds ``expect`` (None: there is none); False,
    nothing written, otherwise. Two writers (two processes, or two machines on a share whose file system
    keeps ``flock``) take turns on an exclusive ``flock`` of ``.syncline``, so one of two that read the
    same text wins. Where the file system refuses the lock (some network shares), it goes unlocked: a
    write made between the read and the rename is then not told, as without the ability."""
    ensure_meta_dir_in(tree)
    fd = tree.open(META_DIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EBADF, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        if read_meta_in(tree, name) != expect:
            return False
        write_meta_in(tree, name, text)
        return True
    finally:
        os.close(fd)  # releases the lock


def read_meta_in(tree: Confined, name: str) -> str | None:
    """The text of ``.syncline/<name>`` in ``tree``; None when there is none (or ``.syncline`` is not a
    folder). Bytes that are not UTF-8 come back as ``os.fsdecode`` gives them, so a path written by
    :func:`write_meta_in` reads back equal."""
    try:
        fd = tree.open(f"{META_DIR}/{name}", os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        chunks = []
        while block := os.read(fd, 1 << 16):
            chunks.append(block)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="surrogateescape")


def read_marker(root: Path) -> str | None:
    """The folder id in ``root``'s marker; None when there is none. A marker that is not a folder id
    counts as another folder's (it halts the pair too)."""
    with _tree(root) as tree:
        try:
            tree.lstat(META_DIR)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return "(unreadable marker)"
        return folder_id_of(read_meta_in(tree, FOLDER_ID_FILE))


def is_folder_id(text: str) -> bool:
    """Whether ``text`` is a folder id (not the stand-in :func:`folder_id_of` gives for unreadable text)."""
    return bool(_ID.match(text))


def folder_id_of(raw: str | None) -> str | None:
    """The folder id a marker file's text holds (None: no marker); text that is not a folder id reads as
    another folder's marker, so it halts the pair too."""
    if raw is None:
        return None
    text = raw.strip()
    return text if _ID.match(text) else f"(unreadable marker {text[:40]!r})"


def write_marker(root: Path, folder_id: str) -> None:
    """Write the marker atomically and durably."""
    write_meta_file(root, FOLDER_ID_FILE, folder_id + "\n")


def read_generation(root: Path) -> int:
    """``root``'s generation (see :func:`generation_of`)."""
    return generation_of(read_meta_file(root, GENERATION))


def generation_of(text: str | None) -> int:
    """The generation a generation file's text holds; 0 when there is none yet (never changed by a run
    that keeps generations) or it holds no number (so it reads as older than anything a pair remembers)."""
    if text is None or not text.strip().isdigit():
        return 0
    return int(text.strip())


def write_generation(root: Path, generation: int) -> None:
    """Write ``root``'s generation atomically and durably."""
    write_meta_file(root, GENERATION, f"{generation}\n")


def write_meta_file(root: Path, name: str, text: str) -> None:
    """:func:`write_meta_in` for the tree at ``root``."""
    with _tree(root) as tree:
        write_meta_in(tree, name, text)


def read_meta_file(root: Path, name: str) -> str | None:
    """:func:`read_meta_in` for the tree at ``root``."""
    with _tree(root) as tree:
        return read_meta_in(tree, name)


def case_probe(*, may_write: bool) -> Callable[[Path], bool]:
    """What a ``LocalReplica`` asks to learn whether its root ignores case (``case_probe=``): a root that
    does not exist (yet) is taken as case-sensitive, and a probe file is written only when ``may_write``."""
    def probe(root: Path) -> bool:
        return root.is_dir() and case_insensitive(root, probe=may_write)

    return probe


def case_insensitive(root: Path, *, probe: bool = True) -> bool:
    """Whether ``root``'s file system treats names that differ only in case as one (exFAT and FAT USB
    sticks, macOS, Windows shares).

    Asks an existing name with letters first (does its other case exist as the same file?); otherwise, with
    ``probe``, a temp file in ``<root>/.syncline``; otherwise assumes case-sensitive. The probe leaves no
    trace: a ``.syncline`` it had to make goes again (with the root's mtime as it was), so asking before a
    root's marker is checked writes nothing into a root that turns out to be the wrong one.
    """
    with os.scandir(root) as it:
        for d in it:
            other = d.name.swapcase()
            if other == d.name:
                continue
            try:
                mine, theirs = os.lstat(d.path), os.lstat(os.path.join(root, other))
            except OSError:
                return False
            if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
                return False
            # The same file under both spellings: one name, unless it is a file with several names (two
            # hard links spelled so on a case-sensitive disk). Not followed: a symlink to its other
            # spelling is two names. Such a file tells nothing: ask the next name.
            if stat.S_ISDIR(mine.st_mode) or mine.st_nlink == 1:
                return True
    if not probe:
        return False
    name = f"{META_DIR}/case-probe-{uuid.uuid4().hex[:12]}"
    with _tree(root) as tree:
        made = ensure_meta_dir_in(tree)
        os.close(tree.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            tree.lstat(f"{META_DIR}/{name.rpartition('/')[2].upper()}")
            return True
        except FileNotFoundError:
            return False
        finally:
            tree.unlink(name)
            if made:
                st = tree.lstat("")
                with suppress(OSError):  # something else came to live there meanwhile: it stays
                    tree.rmdir(META_DIR)
                    tree.utime("", st.st_mtime_ns, st.st_atime_ns)
