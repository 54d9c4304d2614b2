"""The conflict copies of a device's folder, and settling them as the user chooses (the settings UI).

A conflict copy is the version of a file that lost its name when both sides changed it differently:
``report.sync-conflict-20261122-153000-laptop.txt`` beside ``report.txt``. The names are the engine's
(``core/conflicts.py`` makes and parses them; nothing here has a naming scheme of its own).
:func:`list_conflicts` finds the copies of a folder with their originals; :func:`resolve` settles one:

- ``keep_original``: the copy goes to the folder's trash (``.syncline/trash/<run>/<path>``, the trash the
  engine uses for what a local folder loses: restorable by moving it back);
- ``keep_copy``: the copy takes the original's name in one atomic swap, and the original goes to the trash;
- ``keep_both``: the copy is renamed ``report (conflict 2026-11-22 1530).txt`` (the time of the losing
  version, UTC, from its conflict name), a free name found without ever replacing a file.

Safety (docs/safety.md, "Settling a conflict"): each call carries both files as the user saw them (size,
mtime, BLAKE3 digest: :class:`Seen`); both are read again right before anything is done, and a file that
changed (same size and time but other bytes included) or vanished makes the call refuse with
:class:`ConflictRefused`, nothing changed. What was moved is checked afterwards to be the very file checked
(inode, size, mtime) and put back otherwise. Paths are relative to the folder and reached only through
descriptors of the folder's own directories (:class:`~syncline.engine.replicas.confined.Confined`): ``..``,
an absolute path, a symlink on the way (a symlinked parent folder) or at the end, and ``.syncline`` itself
are refused. Nothing is deleted; renames stay in the folder (``renameat2`` ``RENAME_NOREPLACE`` /
``RENAME_EXCHANGE``, else link and unlink), so they never cross file systems and never replace a file.

A conflict name whose stem was shortened to fit 255 bytes names a shorter original than the file it was
made from: :class:`Conflict` always says which file it compares the copy with (``original_path``).

The daemon's watcher then sees the result as an ordinary local change and syncs it to the other devices.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ...core.conflicts import MARK, NAME_MAX, ConflictName, parse_conflict_name, split_ext
from ...core.errors import IndexFormatError, UsageError
from ...core.hashing import ATTEMPTS, RACY_WINDOW_NS, ChangingFileError, ReadGuard, digest_fd
from ...core.ignore import IGNORE_FILE, Matcher, Rules
from ...core.paths import META_DIR, check_relpath, join, parent, run_temp, sort_key
from ...engine.marker import ensure_meta_dir_in
from ...engine.replicas.confined import Confined
from ...engine.replicas.local import open_regular_in
from ...engine.trash import Trash
from .textdiff import DIFF_LIMIT, decode_text, diff_texts

__all__ = ["CHOICES", "KEEP_BOTH", "KEEP_COPY", "KEEP_ORIGINAL", "MAX_LISTED", "Conflict", "ConflictRefused",
           "FileState", "Resolved", "Seen", "conflict_diff", "list_conflicts", "resolve", "seen_from_json"]

KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH = "keep_original", "keep_copy", "keep_both"
CHOICES = (KEEP_ORIGINAL, KEEP_COPY, KEEP_BOTH)
MAX_LISTED = 1000  # conflict copies listed at most: each costs two digests
MAX_IGNORE_FILE = 1 << 20
_RELOAD = "look at the conflicts again and choose anew"
_log = logging.getLogger(__name__)


class ConflictRefused(UsageError):
    """A conflict was not settled, and nothing was changed (unless the message says where a file is now).

    ``reason`` (with the HTTP status it maps to): ``bad_request`` (400: a path outside the folder or not a
    conflict copy, an unknown choice, a malformed ``seen``), ``changed`` (409: a file changed or vanished
    since it was looked at, or a file appeared where one was to go), ``unsupported`` (409: the original is
    a folder or a symlink, which ``keep_copy`` never replaces), ``failed`` (409: the file system refused,
    for instance permissions or a read-only disk; the message says what: the folder's state, not a bug)."""

    def __init__(self, reason: str, message: str, hint: str = _RELOAD) -> None:
        super().__init__(message, hint)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FileState:
    """A regular file as it was looked at: size, mtime (ns) and BLAKE3 digest (64 hex digits)."""

    size: int
    mtime_ns: int
    digest: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict copy (``path``, relative to the folder) and its original (``original_path``, in the same
    folder). ``original`` is None when no regular file is there: ``original_kind`` then says what is
    (``folder``, ``symlink``, ``other``, or None: nothing). ``device`` and ``when`` (ISO 8601 UTC, the
    losing version's mtime to the second) are what the copy's name says."""

    path: str
    original_path: str
    copy: FileState
    original: FileState | None
    original_kind: str | None
    device: str
    when: str


@dataclass(frozen=True, slots=True)
class Seen:
    """Both files as the user saw them (from :class:`Conflict`); ``original`` None: no regular file there."""

    copy: FileState
    original: FileState | None


@dataclass(frozen=True, slots=True)
class Resolved:
    """What :func:`resolve` did: ``path`` is the name of the version kept (``keep_original``: the original's,
    where nothing may be if there was no original; ``keep_both``: the copy's new name, the original
    untouched); ``trashed`` is where the other version went (relative to the folder, under
    ``.syncline/trash/``), None when nothing was trashed."""

    choice: str
    path: str
    trashed: str | None


# -- listing ------------------------------------------------------------------------------------------------

def list_conflicts(folder_root: str | os.PathLike[str], rules: Rules | None = None,
                   limit: int = MAX_LISTED) -> list[Conflict]:
    """The conflict copies (regular files) in the folder at ``folder_root``, sorted by path, at most
    ``limit`` (the walk stops there). ``rules`` are the folder's excludes (with its ``.synclineignore``
    files): an excluded copy is not synced and not listed. ``.syncline`` is never entered, symlinks never
    followed. The walk reads each folder's names only (no stat per file): a stat and a digest are taken of
    each copy found and of its original; an unchanged file's digest is remembered by its stat key.

    ``ConflictRefused`` (``bad_request``) when ``folder_root`` is not a folder; a subfolder that cannot be
    read is left out (logged)."""
    tree = _open_tree(folder_root)
    try:
        found: list[Conflict] = []
        for path, parsed in _find_copies(tree, rules or Rules(), limit):
            try:
                conflict = _describe(tree, path, parsed)
            except OSError as exc:
                _log.warning("conflict copy %s not listed: %s", path, exc.strerror or exc)
                continue
            if conflict is not None:
                found.append(conflict)
        found.sort(key=lambda c: sort_key(c.path))
        return found
    finally:
        tree.close()


def _open_tree(folder_root: str | os.PathLike[str]) -> Confined:
    root = os.path.abspath(os.fspath(folder_root))
    if not os.path.isdir(root):
        raise ConflictRefused("bad_request", f"{root} is not a folder", "name one of the daemon's folders")
    return Confined(root)


def _find_copies(tree: Confined, rules: Rules, limit: int) -> list[tuple[str, ConflictName]]:
    found: list[tuple[str, ConflictName]] = []
    stack: list[tuple[str, Matcher]] = [("", rules.matcher())]
    while stack and len(found) < limit:
        folder, matcher = stack.pop()
        prefix = f"{folder}/" if folder else ""
        try:
            with tree.listing(folder) as it:
                names = [(d.name, d.is_dir(follow_symlinks=False), d.is_file(follow_symlinks=False)) for d in it]
        except OSError as exc:
            _log.warning("conflicts: cannot list %s: %s", folder or ".", exc.strerror or exc)
            continue
        if rules.ignore_files and any(name == IGNORE_FILE for name, _, _ in names):
            matcher = _with_ignore_file(tree, matcher, folder, prefix + IGNORE_FILE)
        active = matcher.active
        for name, is_dir, is_file in names:
            rel = prefix + name
            if is_dir:
                if name != META_DIR and not (active and matcher.ignored(rel, True)):
                    stack.append((rel, matcher))
            elif is_file and MARK in name and (parsed := parse_conflict_name(name)) is not None \
                    and _settleable(parsed) and not (active and matcher.ignored(rel, False)):
                found.append((rel, parsed))
                if len(found) >= limit:
                    break
    return found


def _with_ignore_file(tree: Confined, matcher: Matcher, folder: str, path: str) -> Matcher:
    try:
        fd, _ = open_regular_in(tree, path)
        try:
            text = os.read(fd, MAX_IGNORE_FILE).decode("utf-8", "surrogateescape")
        finally:
            os.close(fd)
    except OSError as exc:
        _log.warning("conflicts: cannot read %s: %s", path, exc.strerror or exc)
        return matcher
    return matcher.with_ignore_file(folder, text)


def _describe(tree: Confined, path: str, parsed: ConflictName) -> Conflict | None:
    try:
        copy = _state(tree, path, cached=True)
    except FileNotFoundError:
        return None  # gone since the listing
    if copy is None:
        return None
    original_path = join(parent(path), parsed.original)
    original, kind = None, None
    try:
        original = _state(tree, original_path, cached=True)
        kind = "file" if original is not None else _kind(tree.lstat(original_path).st_mode)
    except FileNotFoundError:
        pass
    w = parsed.when
    when = f"{w[0:4]}-{w[4:6]}-{w[6:8]}T{w[9:11]}:{w[11:13]}:{w[13:15]}Z"
    return Conflict(path, original_path, copy, original, kind, parsed.device, when)


def _kind(mode: int) -> str:
    return "folder" if stat.S_ISDIR(mode) else "symlink" if stat.S_ISLNK(mode) else \
        "file" if stat.S_ISREG(mode) else "other"


# -- digests ------------------------------------------------------------------------------------------------

_CACHED = 4096
_cache: OrderedDict[tuple[int, int, int, int, int], str] = OrderedDict()
_cache_lock = threading.Lock()


def _state(tree: Confined, path: str, cached: bool) -> FileState | None:
    """The regular file at ``path`` as :class:`FileState`; None when something else is there. With
    ``cached``, a digest taken before of the same stat key (device, inode, size, mtime, ctime) is reused
    unless the file was written within the racy window (git's racily clean rule)."""
    st = tree.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        return None
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if cached:
        with _cache_lock:
            digest = _cache.get(key)
        if digest is not None:
            return FileState(st.st_size, st.st_mtime_ns, digest)
    st, digest = _digest(tree, path)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= RACY_WINDOW_NS:
        with _cache_lock:
            _cache[(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)] = digest
            while len(_cache) > _CACHED:
                _cache.popitem(last=False)
    return FileState(st.st_size, st.st_mtime_ns, digest)


def _digest(tree: Confined, path: str) -> tuple[os.stat_result, str]:
    """(stat, BLAKE3 hex) of one version of the regular file at ``path``: a read torn by a write is done
    again, ``ChangingFileError`` after ``ATTEMPTS``; ``IsADirectoryError`` when not a regular file."""
    for _ in range(ATTEMPTS):
        fd, st = open_regular_in(tree, path)
        try:
            guard = ReadGuard(fd, st)
            digest = digest_fd(fd, st.st_size)
            if not guard.torn():
                return st, digest.hex()
        finally:
            os.close(fd)
    raise ChangingFileError(errno.EAGAIN, f"kept changing while being read ({ATTEMPTS} attempts)", path)


# -- resolving ----------------------------------------------------------------------------------------------

def resolve(folder_root: str | os.PathLike[str], conflict_path: str, choice: str, seen: Seen) -> Resolved:
    """Settle the conflict copy ``conflict_path`` (relative to the folder at ``folder_root``) by ``choice``
    (one of :data:`CHOICES`; see the module's docstring), if both files are still as ``seen``.
    ``folder_root`` is trusted: the caller takes it from the daemon's config, never from a request; every
    other argument may be hostile.

    ``ConflictRefused`` when the path or choice is refused, a file changed or vanished since it was seen,
    or the file system refused; nothing is changed then, or the message says where each version is."""
    if choice not in CHOICES:
        raise ConflictRefused("bad_request", f"no such choice {choice!r}", f"choose one of {', '.join(CHOICES)}")
    path, parsed = _checked_path(conflict_path)
    original = join(parent(path), parsed.original)
    tree = _open_tree(folder_root)
    try:
        copy_st = _recheck(tree, path, seen.copy, "the conflict copy")
        original_st = _recheck_original(tree, original, seen.original)
        if choice == KEEP_ORIGINAL:
            return _keep_original(tree, path, original, copy_st)
        if choice == KEEP_COPY:
            return _keep_copy(tree, path, original, copy_st, original_st)
        return _keep_both(tree, path, parsed, copy_st)
    except ConflictRefused:
        raise
    except OSError as exc:
        raise ConflictRefused("failed", f"{conflict_path}: not settled: {exc.strerror or exc}",
                              "check the folder's permissions and free space, then try again") from None
    finally:
        tree.close()


def _checked_path(conflict_path: object) -> tuple[str, ConflictName]:
    try:
        if not isinstance(conflict_path, str):
            raise IndexFormatError("not a string")
        check_relpath(conflict_path)
    except IndexFormatError:
        raise ConflictRefused("bad_request", f"not a path inside the folder: {conflict_path!r}",
                              "give the path of a conflict copy relative to the folder") from None
    if META_DIR in conflict_path.split("/"):
        raise ConflictRefused("bad_request", f"{conflict_path} is in syncline's own {META_DIR} folder",
                              "give the path of a conflict copy in the folder")
    parsed = parse_conflict_name(conflict_path.rpartition("/")[2])
    if parsed is None:
        raise ConflictRefused("bad_request", f"{conflict_path} is not a conflict copy's name",
                              "give the path of a file named like name.sync-conflict-DATE-TIME-DEVICE.ext")
    if not _settleable(parsed):
        raise ConflictRefused("bad_request", f"{conflict_path} is not a conflict copy syncline made",
                              "rename it by hand")
    return conflict_path, parsed


def _settleable(parsed: ConflictName) -> bool:
    """False for a copy of ``.syncline`` or of a run's temp name, which the engine never makes: a file put
    in syncline's own place, or under a temp name that a finished run's cleanup removes, would be lost."""
    return parsed.original != META_DIR and run_temp(parsed.original) is None


def _lstat(tree: Confined, path: str) -> os.stat_result | None:
    """The stat of ``path`` itself; None when absent. A parent folder that is a symlink or a file is refused."""
    try:
        return tree.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise ConflictRefused("bad_request", f"{path}: a parent folder is a symlink or a file (not followed)",
                              "settle this conflict by hand") from None


def _recheck(tree: Confined, path: str, seen: FileState, what: str) -> os.stat_result:
    """The stat of the regular file at ``path``, read again (digest too): refused unless it is ``seen``."""
    st = _lstat(tree, path)
    if st is None:
        raise ConflictRefused("changed", f"{what} {path} is gone since you looked")
    if not stat.S_ISREG(st.st_mode):
        raise ConflictRefused("changed" if _kind(st.st_mode) != "symlink" else "bad_request",
                              f"{what} {path} is not a regular file (a {_kind(st.st_mode)})")
    if st.st_size != seen.size or st.st_mtime_ns != seen.mtime_ns:
        raise ConflictRefused("changed", f"{what} {path} changed since you looked")
    try:
        st, digest = _digest(tree, path)
    except (ChangingFileError, IsADirectoryError, FileNotFoundError):
        raise ConflictRefused("changed", f"{what} {path} is changing right now") from None
    if (st.st_size, st.st_mtime_ns, digest) != (seen.size, seen.mtime_ns, seen.digest):
        raise ConflictRefused("changed", f"{what} {path} changed since you looked (other content, same size "
                              "and time)" if (st.st_size, st.st_mtime_ns) == (seen.size, seen.mtime_ns)
                              else f"{what} {path} changed since you looked")
    return st


def _recheck_original(tree: Confined, path: str, seen: FileState | None) -> os.stat_result | None:
    """The original's stat (None: absent), refused unless it is as ``seen`` (None: no regular file)."""
    if seen is not None:
        return _recheck(tree, path, seen, "the original")
    st = _lstat(tree, path)
    if st is not None and stat.S_ISREG(st.st_mode):
        raise ConflictRefused("changed", f"the original {path} appeared since you looked")
    return st


def _same(st: os.stat_result | None, was: os.stat_result | None) -> bool:
    """Whether ``st`` is the very file ``was`` (a rename keeps the inode; it changes ctime)."""
    if st is None or was is None:
        return st is was
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (was.st_dev, was.st_ino, was.st_size,
                                                                  was.st_mtime_ns)


def _trash(tree: Confined) -> Trash:
    def ensure() -> None:
        ensure_meta_dir_in(tree)
    return Trash(tree, ensure)


def _keep_original(tree: Confined, path: str, original: str, copy_st: os.stat_result) -> Resolved:
    dest = _trash(tree).move_in(path)
    if not _same(_lstat(tree, dest), copy_st):
        _put_back(tree, dest, path)
        raise ConflictRefused("changed", f"the conflict copy {path} changed while being settled")
    return Resolved(KEEP_ORIGINAL, original, dest)


def _keep_copy(tree: Confined, path: str, original: str, copy_st: os.stat_result,
               original_st: os.stat_result | None) -> Resolved:
    if original_st is not None and not stat.S_ISREG(original_st.st_mode):
        raise ConflictRefused("unsupported", f"the original {original} is a {_kind(original_st.st_mode)}, "
                              "which keeping the copy would have to replace",
                              "keep both (the copy gets a name of its own), or move it away by hand")
    if original_st is None:
        _rename_noclobber(tree, path, original, f"a file appeared at {original} since you looked")
        if not _same(_lstat(tree, original), copy_st):
            _put_back(tree, original, path)
            raise ConflictRefused("changed", f"the conflict copy {path} changed while being settled")
        return Resolved(KEEP_COPY, original, None)
    trash = _trash(tree)
    if tree.exchange(path, original):
        # One step: the copy holds the name, the original now sits at the copy's name, never a moment with
        # no file at the original's name (which a run could take for a delete).
        if not (_same(_lstat(tree, original), copy_st) and _same(_lstat(tree, path), original_st)):
            tree.exchange(path, original)
            raise ConflictRefused("changed", f"{original} or {path} changed while being settled")
        try:
            dest = trash.adopt(path, original)
        except OSError:
            tree.exchange(path, original)  # both back as they were: nothing half done
            raise
        return Resolved(KEEP_COPY, original, dest)
    # No RENAME_EXCHANGE here (an old kernel, a file system without it): the original to the trash first.
    dest = trash.move_in(original)
    if not _same(_lstat(tree, dest), original_st):
        _put_back(tree, dest, original)
        raise ConflictRefused("changed", f"the original {original} changed while being settled")
    _rename_noclobber(tree, path, original, f"a file appeared at {original} while being settled; the "
                      f"original is in the trash at {dest}")
    return Resolved(KEEP_COPY, original, dest)


def _keep_both(tree: Confined, path: str, parsed: ConflictName, copy_st: os.stat_result) -> Resolved:
    folder = parent(path)
    stem, ext = split_ext(parsed.original)
    w = parsed.when
    label = f"conflict {w[0:4]}-{w[4:6]}-{w[6:8]} {w[9:13]}"
    for n in range(1, 1000):
        new = join(folder, _kept_name(stem, f" ({label}{'' if n == 1 else f', {n}'}){ext}"))
        if _lstat(tree, new) is not None:
            continue
        try:
            _rename_noclobber(tree, path, new, "")
        except ConflictRefused:
            continue  # taken meanwhile: the next name
        if not _same(_lstat(tree, new), copy_st):
            _put_back(tree, new, path)
            raise ConflictRefused("changed", f"the conflict copy {path} changed while being settled")
        return Resolved(KEEP_BOTH, new, None)
    raise ConflictRefused("failed", f"no free name for {path} (1000 taken)", "rename the conflict copy by hand")


def _kept_name(stem: str, tail: str) -> str:
    """``stem + tail``, the stem shortened until the name fits ``NAME_MAX`` bytes."""
    room = NAME_MAX - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > room and stem:
        stem = stem[:-1]
    return stem + tail


def _rename_noclobber(tree: Confined, src: str, dst: str, taken: str) -> None:
    """Rename ``src`` to ``dst`` in the tree unless something is at ``dst`` (``ConflictRefused`` saying
    ``taken``): ``RENAME_NOREPLACE``, else a hard link (which fails on an existing name) and an unlink."""
    try:
        if tree.rename_noreplace(src, dst):
            return
        try:
            tree.link(src, dst)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            # Neither (a file system without hard links on a kernel without renameat2): look, then rename.
            if _lstat(tree, dst) is not None:
                raise FileExistsError(errno.EEXIST, "exists", dst) from None
            tree.rename(src, dst)
            return
    except FileExistsError:
        raise ConflictRefused("changed", taken) from None
    tree.unlink(src)


def _put_back(tree: Confined, moved: str, path: str) -> None:
    """Undo a move of ``path`` to ``moved`` after it turned out to be another file than the one checked;
    if ``path`` is taken again meanwhile, the file stays at ``moved`` and the refusal says so."""
    try:
        _rename_noclobber(tree, moved, path, "")
    except (ConflictRefused, OSError):
        raise ConflictRefused("changed", f"{path} changed while being settled; that version is kept at "
                              f"{moved}", "move it back by hand if you want it") from None


def seen_from_json(value: Any) -> Seen:
    """A :class:`Seen` from its JSON form (``{"copy": {size, mtime_ns, digest}, "original": {...} or
    null}``, as ``dataclasses.asdict`` gives a :class:`Conflict`'s fields); ``ConflictRefused``
    (``bad_request``) for anything else."""
    def state(v: Any, what: str) -> FileState:
        ok = isinstance(v, dict) and set(v) == {"size", "mtime_ns", "digest"} \
            and all(isinstance(v[k], int) and not isinstance(v[k], bool) for k in ("size", "mtime_ns")) \
            and v["size"] >= 0 and isinstance(v["digest"], str) and len(v["digest"]) == 64 \
            and all(c in "0123456789abcdef" for c in v["digest"])
        if not ok:
            raise ConflictRefused("bad_request", f"seen.{what} is not {{size, mtime_ns, digest}}",
                                  "send the files as the conflict listing gave them")
        return FileState(v["size"], v["mtime_ns"], v["digest"])

    if not isinstance(value, dict) or set(value) != {"copy", "original"}:
        raise ConflictRefused("bad_request", "seen is not {copy, original}",
                              "send the files as the conflict listing gave them")
    return Seen(state(value["copy"], "copy"), None if value["original"] is None else
                state(value["original"], "original"))


def conflict_diff(folder_root: str | os.PathLike[str], conflict_path: str, limit: int = DIFF_LIMIT) -> list[str] | None:
    """The unified diff from the original to the conflict copy ``conflict_path`` (as
    :func:`~.textdiff.text_diff`, the files reached as :func:`resolve` reaches them); None when either is
    missing, not a regular file, larger than ``limit``, not text, or too different. ``ConflictRefused``
    (``bad_request``) for a path :func:`resolve` would refuse."""
    path, parsed = _checked_path(conflict_path)
    original = join(parent(path), parsed.original)
    tree = _open_tree(folder_root)
    try:
        texts = [_read_text(tree, p, limit) for p in (original, path)]
    except OSError:
        return None
    finally:
        tree.close()
    if texts[0] is None or texts[1] is None:
        return None
    return diff_texts(texts[0], texts[1], original, path)


def _read_text(tree: Confined, path: str, limit: int) -> str | None:
    fd, st = open_regular_in(tree, path)
    try:
        return None if st.st_size > limit else decode_text(os.read(fd, limit + 1), limit)
    finally:
        os.close(fd)
