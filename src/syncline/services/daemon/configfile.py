"""Editing the daemon's config file as text, keeping what an edit does not touch: the user's comments,
order, spacing and any key this version does not know. ``syncline folder add`` / ``remove`` and
``syncline connect`` edit it here; the settings UI's edits (values inside tables, through ``tomlkit``) are
``configedit.py``, which uses the same pieces.

An added folder is a ``[[folder]]`` table appended at the end; a removed one is cut out with the comments
that are its own (:func:`cut_folder`), never another table's.
Every edit is checked before it is written: the new text must parse (:mod:`tomllib`) to exactly the
document expected, and load as a daemon config; otherwise nothing is written.

Writing (:func:`write_checked`): under an exclusive ``flock`` on the file's directory, the file must still
hold the bytes the edit was made from (else :class:`ConfigChanged`: a hand edit or another saver came
first, and is never overwritten); the new text goes to a temp file in the same directory, is fsynced,
gets the old file's mode, is loaded by the daemon's own loader, then renamed into place and the directory
fsynced. The daemon, which re-reads the file, never sees half of it. A symlinked config is written where
the link points, so a dotfiles link stays a link.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomlkit

from ...core.errors import BusyError, UsageError
from ..config import FolderConfig, load_daemon_config

_HEADER = re.compile(r"^\s*\[")  # any table header ([x] or [[x]])
_FOLDER = re.compile(r"^\s*\[\[\s*folder\s*\]\]\s*(#.*)?$")
LOCK_WAIT = 10.0  # seconds a saver waits for another one's write to end


class ConfigChanged(UsageError):
    """The config file no longer holds the bytes an edit was made from: someone (a person with an editor,
    another saver) changed it meanwhile. Nothing was written; load the file again and redo the edit."""


def sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data``: the name of a version of the config file (``base_sha``)."""
    return hashlib.sha256(data).hexdigest()


def add_folder(path: str | os.PathLike[str], local: str, remote: str) -> FolderConfig:
    """Bind ``local`` (made absolute) to ``remote`` in the config at ``path`` (created, with its folder,
    when missing). :class:`UsageError` when the folder is there already or the result would not load."""
    name = os.fspath(path)
    raw = read_bytes(name)
    text = decode(raw, name)
    if text:
        load_daemon_config(name)  # a file the daemon refuses is fixed first, not edited further
    local_abs = os.path.normpath(os.path.abspath(os.path.expanduser(local)))
    table = {"local": local_abs, "remote": remote}
    old_doc = parse(text, name)
    expected = dict(old_doc)
    expected["folder"] = [*old_doc.get("folder", []), table]
    write_checked(name, append_folder(text, table), expected, raw)
    config = load_daemon_config(name)
    return config.folders[-1]


def remove_folder(path: str | os.PathLike[str], local: str) -> FolderConfig:
    """Remove the ``[[folder]]`` whose ``local`` is ``local`` (as given or made absolute) from the config at
    ``path``; the folder's files are not touched. :class:`UsageError` when there is no such folder."""
    name = os.fspath(path)
    raw = read_bytes(name)
    config = load_daemon_config(name)
    want = os.path.normpath(os.path.abspath(os.path.expanduser(local)))
    matches = [n for n, f in enumerate(config.folders) if f.local == want]
    if not matches:
        raise UsageError(f"{name} has no folder {want}", "see `syncline folder list`")
    index = matches[0]
    text = decode(raw, name)
    expected = parse(text, name)
    expected["folder"] = [t for n, t in enumerate(expected["folder"]) if n != index]
    if not expected["folder"]:
        del expected["folder"]
    write_checked(name, cut_folder(text, index, name), expected, raw)
    return config.folders[index]


def append_folder(text: str, table: dict[str, Any]) -> str:
    """``text`` with a ``[[folder]]`` table holding ``table`` (keys in its order, values as TOML) appended
    at the end, set off by one blank line."""
    block = "[[folder]]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in table.items())
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + block


def cut_folder(text: str, index: int, name: str) -> str:
    """``text`` without its ``index``-th ``[[folder]]`` table and the comments that are its own: the lines
    from its header to its last key, with the comment lines just above the header when a blank line sets
    them apart from what comes before, the comment lines right after its last key, and one blank line.
    Other comments stay, wherever they are (a note above the next table, a note at the end of the file):
    a comment is never taken from another table. :class:`UsageError` when the folders are not one per
    ``[[folder]]`` header line (an inline or dotted form: edited by hand)."""
    lines = text.splitlines(keepends=True)
    headers = folder_headers(lines)
    if len(headers) != len(parse(text, name).get("folder", [])):
        raise UsageError(f"cannot edit {name} safely: its [[folder]] tables are not one per header line",
                         "remove the folder by hand")
    header = start = headers[index]
    while start > 0 and _comment(lines[start - 1]):
        start -= 1
    if start == 0 or lines[start - 1].strip():  # no blank line above: they may end the table above
        start = header
    end = next((n for n in range(header + 1, len(lines)) if _HEADER.match(lines[n])), len(lines))
    while end > header + 1 and (_comment(lines[end - 1]) or not lines[end - 1].strip()):
        end -= 1
    while end < len(lines) and _comment(lines[end]):
        end += 1
    if end < len(lines) and not lines[end].strip():
        end += 1
    if end == len(lines):  # the last table: the blank lines that set it apart go with it
        while start > 0 and not lines[start - 1].strip():
            start -= 1
    return "".join(lines[:start] + lines[end:])


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def folder_headers(lines: list[str]) -> list[int]:
    """The indexes of the ``[[folder]]`` header lines among ``lines``."""
    return [n for n, line in enumerate(lines) if _FOLDER.match(line)]


def insert_table(text: str, table: str, values: dict[str, Any]) -> str:
    """``text`` with a new ``[table]`` holding ``values`` put before the first ``[[folder]]`` (and the
    comment lines just above it, which are that folder's), else at the end: settings first, folders after
    (a table after the folders would split them in two for a later appended folder)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    block = [f"[{table}]\n", *(f"{key} = {toml_value(value)}\n" for key, value in values.items())]
    headers = folder_headers(lines)
    at = headers[0] if headers else len(lines)
    while at > 0 and lines[at - 1].lstrip().startswith("#"):
        at -= 1
    if at > 0 and lines[at - 1].strip():
        block.insert(0, "\n")
    if at < len(lines):
        block.append("\n")
    return "".join(lines[:at] + block + lines[at:])


def toml_value(value: Any) -> str:
    """``value`` (a bool, int, float, str or list of them) written as TOML: strings as basic strings with
    every character TOML forbids raw escaped, so no value can end its line or its table."""
    text: str = tomlkit.item(value).as_string()
    return text


def read_bytes(name: str) -> bytes:
    """The bytes of the file ``name``; empty when it does not exist. :class:`UsageError` when unreadable."""
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}", "check the file") from None


def decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {name}: it is not UTF-8 text", "fix the file (TOML is UTF-8)") from None


def parse(text: str, name: str) -> dict[str, Any]:
    """``text`` as TOML; :class:`UsageError` on one line when it is not."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"cannot read {name}: {' '.join(str(exc).split())}", "fix the file (TOML)") from None


def write_checked(name: str, new: str, expected: dict[str, Any], base: bytes) -> None:
    """Replace the file ``name`` by ``new`` when ``new`` parses to ``expected`` and loads as a daemon config,
    and the file still holds ``base`` (empty: missing or empty); a ``base`` with CRLF line ends gets
    ``new`` with CRLF line ends. Else nothing is written:
    :class:`UsageError` saying why (the daemon's own one-line error for a value it refuses),
    :class:`ConfigChanged` when the file changed, :class:`BusyError` when another saver holds the lock
    for more than :data:`LOCK_WAIT` seconds."""
    if base and base.count(b"\r\n") == base.count(b"\n"):  # a file written with CRLF stays so
        new = new.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        got = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        got = None
    if got != expected:
        where = "the file" if got is None else _first_difference(got, expected)
        raise UsageError(f"cannot edit {name} safely: {where} would not read back as asked",
                         "make the change by hand")
    target = Path(os.path.realpath(name))  # through a symlink: the link stays a link
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _directory_lock(target.parent, name) as dir_fd:
            if read_bytes(str(target)) != base:
                raise ConfigChanged(f"{name} changed since it was read", "read it again and redo the change")
            _replace(target, new, name)
            os.fsync(dir_fd)  # the rename itself survives a crash
    except OSError as exc:
        raise UsageError(f"cannot write {name}: {exc.strerror or exc}",
                         "check the free space and the folder's permissions") from None


def _replace(target: Path, new: str, name: str) -> None:
    """Put ``new`` at ``target`` through a temp file beside it (fsynced, given ``target``'s mode or 0600),
    once the daemon's loader takes it; the temp file is removed on any failure."""
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        try:
            load_daemon_config(tmp)  # a value the daemon would refuse is refused here, before the rename
        except UsageError as exc:
            raise UsageError(exc.message.replace(tmp, name), exc.hint) from None
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _first_difference(got: Any, want: Any, at: str = "") -> str:
    """Where ``got`` first differs from ``want`` (a dotted key path, folders as ``folder[N]``)."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            if got.get(key) != want.get(key):
                return _first_difference(got.get(key), want.get(key), f"{at}.{key}" if at else key)
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for n, (a, b) in enumerate(zip(got, want, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{at}[{n + 1}]")
    return at or "the file"


@contextlib.contextmanager
def _directory_lock(folder: Path, name: str) -> Iterator[int]:
    """Hold an exclusive ``flock`` on ``folder`` (the config's directory: the file itself is replaced by
    each save, so a lock on it would not be seen by the next saver); yields the directory's descriptor."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BusyError(f"another save of {name} is still under way", "try again") from None
                time.sleep(0.02)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor lets the lock go


_SERVER = re.compile(r"^\s*\[\s*server\s*\]\s*(#.*)?$")
_URL = re.compile(r"^\s*url\s*=")


def set_server_url(path: str | os.PathLike[str], url: str) -> str | None:
    """Set ``[server] url`` in the config at ``path`` (created when missing) to ``url``; returns the URL
    it replaced (None when there was none). The line ``url = ...`` of the ``[server]`` table is replaced,
    or added under its header, or a ``[server]`` table is put before the file's first table; the rest stays as it
    was. :class:`UsageError` when the file does not load, or the edit cannot be made safely."""
    name = os.fspath(path)
    raw = read_bytes(name)
    text = decode(raw, name)
    old_doc = parse(text, name)
    if text:
        load_daemon_config(name)
    server = old_doc.get("server", {})
    was = server.get("url") if isinstance(server, dict) else None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    line = f"url = {toml_value(url)}\n"
    headers = [n for n, raw in enumerate(lines) if _SERVER.match(raw)]
    if len(headers) > 1:
        raise UsageError(f"cannot edit {name} safely: it has {len(headers)} [server] tables", "fix the file by hand")
    if headers:
        start = headers[0]
        end = next((n for n in range(start + 1, len(lines)) if _HEADER.match(lines[n])), len(lines))
        urls = [n for n in range(start + 1, end) if _URL.match(lines[n])]
        if len(urls) > 1:
            raise UsageError(f"cannot edit {name} safely: url is set twice in [server]", "fix the file by hand")
        if urls:
            lines[urls[0]] = line
        else:
            lines.insert(start + 1, line)
    else:
        # Before the first table, after any top-level key (``lock_makes_readonly``), which a table put
        # above it would take in.
        first = next((n for n, raw in enumerate(lines) if _HEADER.match(raw)), len(lines))
        lines[first:first] = ["[server]\n", line, *(["\n"] if first < len(lines) else [])]
    expected = dict(old_doc)
    expected["server"] = {**(server if isinstance(server, dict) else {}), "url": url}
    write_checked(name, "".join(lines), expected, raw)
    return was if isinstance(was, str) else None
