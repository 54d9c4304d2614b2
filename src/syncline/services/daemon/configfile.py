"""Editing the daemon's config file for ``syncline folder add`` and ``folder remove``, keeping what the
edit does not touch: the user's comments, order, spacing and any key this version does not know.

The file is edited as text, not re-serialised: an added folder is a ``[[folder]]`` table appended at the
end, a removed one is the lines from its header to the next table header cut out. Every edit is checked
before it is written: the new text must parse (:mod:`tomllib`) to exactly the old document with that one
folder added or removed, and load as a daemon config; otherwise nothing is written and the user is told to
edit the file by hand. The file is replaced atomically (temp file in the same folder, fsync, rename), so
the daemon, which reloads it, never reads half of it.

Why no TOML writer library: ``tomlkit`` keeps comments and order too, but is not a dependency yet; the
two edits needed so far are line-level and verified. When issue 16's settings UI needs to change values
inside a table, this module is the one place to switch to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from ...core.errors import UsageError
from ..config import FolderConfig, load_daemon_config

_HEADER = re.compile(r"^\s*\[")  # any table header ([x] or [[x]])
_FOLDER = re.compile(r"^\s*\[\[\s*folder\s*\]\]\s*(#.*)?$")


def add_folder(path: str | os.PathLike[str], local: str, remote: str) -> FolderConfig:
    """Bind ``local`` (made absolute) to ``remote`` in the config at ``path`` (created, with its folder,
    when missing). :class:`UsageError` when the folder is there already or the result would not load."""
    name = os.fspath(path)
    text = _read(name)
    if text:
        load_daemon_config(name)  # a file the daemon refuses is fixed first, not edited further
    local_abs = os.path.normpath(os.path.abspath(os.path.expanduser(local)))
    block = f"[[folder]]\nlocal = {_string(local_abs)}\nremote = {_string(remote)}\n"
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    new = text + sep + block
    old_doc = _parse(text, name)
    expected = dict(old_doc)
    expected["folder"] = [*old_doc.get("folder", []), {"local": local_abs, "remote": remote}]
    _write_checked(name, new, expected)
    config = load_daemon_config(name)
    return config.folders[-1]


def remove_folder(path: str | os.PathLike[str], local: str) -> FolderConfig:
    """Remove the ``[[folder]]`` whose ``local`` is ``local`` (as given or made absolute) from the config at
    ``path``; the folder's files are not touched. :class:`UsageError` when there is no such folder."""
    name = os.fspath(path)
    config = load_daemon_config(name)
    want = os.path.normpath(os.path.abspath(os.path.expanduser(local)))
    matches = [n for n, f in enumerate(config.folders) if f.local == want]
    if not matches:
        raise UsageError(f"{name} has no folder {want}", "see `syncline folder list`")
    index = matches[0]
    text = _read(name)
    lines = text.splitlines(keepends=True)
    headers = [n for n, line in enumerate(lines) if _FOLDER.match(line)]
    if len(headers) != len(config.folders):
        raise UsageError(f"cannot edit {name} safely: its [[folder]] tables are not one per header line",
                         "remove the folder by hand")
    start = headers[index]
    end = next((n for n in range(start + 1, len(lines)) if _HEADER.match(lines[n])), len(lines))
    # The comment lines just above the next header belong to it, not to the folder being cut out.
    while end > start + 1 and lines[end - 1].lstrip().startswith("#"):
        end -= 1
    new = "".join(lines[:start] + lines[end:])
    expected = _parse(text, name)
    expected["folder"] = [t for n, t in enumerate(expected["folder"]) if n != index]
    if not expected["folder"]:
        del expected["folder"]
    _write_checked(name, new, expected)
    return config.folders[index]


def _read(name: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {exc}", "check the file") from None


def _parse(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"cannot read {name}: {' '.join(str(exc).split())}", "fix the file (TOML)") from None


def _string(value: str) -> str:
    """``value`` as a TOML basic string (JSON's escapes are TOML's for these characters)."""
    return json.dumps(value, ensure_ascii=False)


def _write_checked(name: str, new: str, expected: dict[str, Any]) -> None:
    """Write ``new`` to ``name`` atomically, when it parses to ``expected``; else refuse."""
    if _parse(new, name) != expected:
        raise UsageError(f"cannot edit {name} safely", "make the change by hand")
    target = Path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=".daemon.toml.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        try:
            load_daemon_config(tmp)  # a value the daemon would refuse is refused here, before the rename
        except UsageError as exc:
            raise UsageError(exc.message.replace(tmp, name), exc.hint) from None
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_SERVER = re.compile(r"^\s*\[\s*server\s*\]\s*(#.*)?$")
_URL = re.compile(r"^\s*url\s*=")


def set_server_url(path: str | os.PathLike[str], url: str) -> str | None:
    """Set ``[server] url`` in the config at ``path`` (created when missing) to ``url``; returns the URL
    it replaced (None when there was none). The line ``url = ...`` of the ``[server]`` table is replaced,
    or added under its header, or a ``[server]`` table is put before the file's first table; the rest stays as it
    was. :class:`UsageError` when the file does not load, or the edit cannot be made safely."""
    name = os.fspath(path)
    text = _read(name)
    old_doc = _parse(text, name)
    if text:
        load_daemon_config(name)
    server = old_doc.get("server", {})
    was = server.get("url") if isinstance(server, dict) else None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    line = f"url = {_string(url)}\n"
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
    _write_checked(name, "".join(lines), expected)
    return was if isinstance(was, str) else None
