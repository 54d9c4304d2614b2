"""The settings UI's edits of the daemon's config file, saved with the user's comments, order and spacing
kept, and only against the version of the file the page loaded.

:func:`read_for_edit` gives the file's text, ``base_sha`` (the SHA-256 of its bytes) and its document as
plain data; :func:`save_edits` applies a list of :data:`Edit` to that version and writes it, or writes
nothing and raises:

- :class:`~.configfile.ConfigChanged` when the file's bytes are no longer those of ``base_sha`` (the UI
  answers 409 "the file changed since you opened it": a hand edit is never overwritten);
- :class:`UsageError`, one line naming the table and key and what to write, for an edit of a key that is
  not editable or a value of the wrong kind, and for a result the daemon's loader refuses (its own error).

How the text changes: a value inside an existing table (``[server]``, ``[defaults]``, ``[shares]``, a
``[[folder]]``, or a top-level key) is set or removed through ``tomlkit``, which keeps every other line;
a new key goes right after the table's last key, before the comment and blank lines that close the table
(``tomlkit`` alone would put it after them, under the next table's comment). A missing table is inserted
before the first ``[[folder]]``; folders are added and removed as lines (``configfile.append_folder`` /
``cut_folder``): ``tomlkit``'s removal of an array-of-tables element keeps the removed table's leading
comment and drops the next one's. Whatever the route, the result must parse to exactly the document the
edits describe (computed on plain data, apart from the text) before the write of
:func:`~.configfile.write_checked` (compare-and-swap under a lock, atomic replace).

What is editable is :data:`EDITABLE`: a key the daemon gains is one entry there.
"""

from __future__ import annotations

import copy
import datetime
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import tomlkit
from tomlkit.container import Container
from tomlkit.items import Comment, Table, Whitespace

from ...core.errors import UsageError
from ..config import load_daemon_config
from .configfile import (
    ConfigChanged,
    append_folder,
    cut_folder,
    decode,
    insert_table,
    parse,
    read_bytes,
    sha256,
    write_checked,
)

Value = bool | int | float | str | list[str]
"""What an editable key holds (as TOML reads it back)."""


@dataclass(frozen=True, slots=True)
class Kind:
    """The shape a key's value must have before it is written (``what``, as the error says it); whether
    the value is good for the daemon is its loader's to say, on the result."""

    what: str
    accepts: Callable[[Any], bool]


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT and _utf8(value)


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")  # a lone surrogate (from a name that is not UTF-8) has no TOML form
    except UnicodeEncodeError:
        return False
    return True


def _number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63  # TOML's integers are 64-bit
    return isinstance(value, float) and math.isfinite(value)


MAX_TEXT = 4096  # characters in one string value
MAX_LIST = 1000  # strings in one list value
MAX_EDITS = 200  # edits in one save

FLAG = Kind("true or false", lambda v: isinstance(v, bool))
TEXT = Kind("a string", _text)
TEXTS = Kind("a list of strings", lambda v: isinstance(v, list) and len(v) <= MAX_LIST and all(map(_text, v)))
DURATION = Kind('a duration such as "1h", "30m", "90s" or a number of seconds', lambda v: _text(v) or _number(v))
COUNT = Kind('a file count or a percentage such as "50%"', lambda v: _text(v) or (_number(v) and isinstance(v, int)))
RATE = Kind('a rate such as "2MB/s" or a number of KiB/s', lambda v: _text(v) or _number(v))

_OPTIONS = {"compare": TEXT, "trash": FLAG, "max_delete": COUNT, "exclude": TEXTS, "include": TEXTS,
            "ignore_files": FLAG, "check_every": DURATION}

TOP = ""  # the table name of the keys before any table
FOLDER = "folder"
EDITABLE: dict[str, dict[str, Kind]] = {
    TOP: {"lock_makes_readonly": FLAG},
    "server": {"url": TEXT},
    "defaults": {**_OPTIONS, "max_upload_rate": RATE, "max_download_rate": RATE},
    "shares": {"accept": TEXT, "dir": TEXT},
    FOLDER: {**_OPTIONS, "paused": FLAG},
}
"""Each table's editable keys and their kinds. A folder's ``local`` and ``remote`` are set when it is
added (:class:`AddFolder`), never changed in place: a folder bound elsewhere is removed and added."""


@dataclass(frozen=True, slots=True)
class SetValue:
    """Set ``key`` of ``table`` (``""``: the top level; ``server``, ``defaults``, ``shares``) to ``value``;
    ``None`` removes the key (its default applies)."""

    table: str
    key: str
    value: Value | None


@dataclass(frozen=True, slots=True)
class SetFolderValue:
    """Set ``key`` of the ``[[folder]]`` whose ``local`` is ``local`` (``~`` expanded, compared normalised)
    to ``value``; ``None`` removes the key. Pause and resume are ``paused``; a folder's excludes are
    ``exclude``."""

    local: str
    key: str
    value: Value | None


@dataclass(frozen=True, slots=True)
class AddFolder:
    """Append a ``[[folder]]`` binding ``local`` (an absolute or ``~`` path, written as given) to
    ``remote``, with ``settings`` (editable folder keys such as ``paused`` or ``exclude``)."""

    local: str
    remote: str
    settings: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoveFolder:
    """Remove the ``[[folder]]`` whose ``local`` is ``local``; the folder's files are not touched."""

    local: str


Edit = SetValue | SetFolderValue | AddFolder | RemoveFolder


class Loaded(NamedTuple):
    """A version of the config file as the settings page gets it: its ``text``, ``base_sha`` (hex SHA-256
    of its bytes, to give back with the edits), its ``document`` as plain data (JSON-ready: dates as ISO
    strings), and ``problem``: the daemon's one-line error when the file parses but does not load, else
    ``None``."""

    text: str
    base_sha: str
    document: dict[str, Any]
    problem: str | None


def read_for_edit(path: str | os.PathLike[str]) -> Loaded:
    """The config at ``path`` (a missing file is empty) for the settings page. :class:`UsageError` when it
    cannot be read, is not UTF-8 or not TOML: it is fixed by hand first."""
    name = os.fspath(path)
    raw = read_bytes(name)
    text = decode(raw, name)
    document = parse(text, name)
    problem = None
    if raw:
        try:
            load_daemon_config(name)
        except UsageError as exc:
            problem = str(exc)
    return Loaded(text, sha256(raw), _plain(document), problem)


def save_edits(path: str | os.PathLike[str], base_sha: str, edits: Sequence[Edit]) -> str:
    """Apply ``edits`` in order to the version ``base_sha`` of the config at ``path`` and write the result
    (see the module's docstring); returns the new text. Raises :class:`~.configfile.ConfigChanged` when the
    file is not that version, :class:`UsageError` for a bad edit or a result the daemon refuses, and
    :class:`~syncline.core.errors.BusyError` when another save holds the file too long; in each case the
    file is left as it was."""
    name = os.fspath(path)
    if len(edits) > MAX_EDITS:
        raise UsageError(f"{len(edits)} edits in one save of {name}", f"send at most {MAX_EDITS}")
    raw = read_bytes(name)
    if sha256(raw) != base_sha:
        raise ConfigChanged(f"{name} changed since it was read", "load it again and redo the change")
    text = decode(raw, name)
    document = parse(text, name)
    for edit in edits:
        text, document = _apply(text, document, edit, name)
    write_checked(name, text, document, raw)
    return text


def _apply(text: str, document: dict[str, Any], edit: Edit, name: str) -> tuple[str, dict[str, Any]]:
    """The text and the document after ``edit``: each computed on its own, so the write can check one by
    the other."""
    expected = copy.deepcopy(document)
    if isinstance(edit, SetValue):
        if edit.table == FOLDER:
            raise UsageError(f"{name}: a folder's key is set on that folder", "name the folder by its local path")
        _check(edit.table, edit.key, edit.value, name, edit.table or "the top level")
        if edit.table == TOP:
            _set_plain(expected, edit.key, edit.value)
            return _set_in_text(text, (), edit.key, edit.value, name), expected
        table = expected.get(edit.table)
        if table is not None and not isinstance(table, dict):
            raise UsageError(f"{name}: {edit.table} is not a table", f"write it as [{edit.table}] by hand")
        if table is None:
            if edit.value is None:
                return text, expected
            expected[edit.table] = {edit.key: edit.value}
            return insert_table(text, edit.table, {edit.key: edit.value}), expected
        _set_plain(table, edit.key, edit.value)
        return _set_in_text(text, (edit.table,), edit.key, edit.value, name), expected
    if isinstance(edit, SetFolderValue):
        index = _folder_index(expected, edit.local, name)
        _check(FOLDER, edit.key, edit.value, name, f"folder {index + 1}")
        _set_plain(expected[FOLDER][index], edit.key, edit.value)
        return _set_in_text(text, (FOLDER, index), edit.key, edit.value, name), expected
    if isinstance(edit, AddFolder):
        table = _new_folder(edit, expected, name)
        expected[FOLDER] = [*expected.get(FOLDER, []), table]
        return append_folder(text, table), expected
    index = _folder_index(expected, edit.local, name)
    del expected[FOLDER][index]
    if not expected[FOLDER]:
        del expected[FOLDER]
    return cut_folder(text, index, name), expected


def _check(table: str, key: str, value: Any, name: str, where: str) -> None:
    keys = EDITABLE.get(table)
    if keys is None:
        raise UsageError(f"{name}: {table!r} is not a table the settings edit",
                         f"edit one of: {', '.join(t or '(top level)' for t in EDITABLE)}")
    kind = keys.get(key)
    if kind is None:
        raise UsageError(f"{name}: {key!r} is not a key of {where} the settings edit",
                         f"edit one of: {', '.join(sorted(keys))}")
    if value is not None and not kind.accepts(value):
        raise UsageError(f"{name}: {key} in {where} must be {kind.what}", "change the value")


def _set_plain(table: dict[str, Any], key: str, value: Value | None) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = copy.deepcopy(value)


def _normal(local: str) -> str:
    return os.path.normpath(os.path.expanduser(local))


def _folder_index(document: dict[str, Any], local: str, name: str) -> int:
    """The index of the ``[[folder]]`` whose ``local`` is ``local`` (normalised, ``~`` expanded)."""
    want = _normal(local) if isinstance(local, str) else None
    folders = document.get(FOLDER, [])
    for n, table in enumerate(folders if isinstance(folders, list) else []):
        if isinstance(table, dict) and isinstance(table.get("local"), str) and _normal(table["local"]) == want:
            return n
    raise UsageError(f"{name} has no folder {local}", "load the settings again")


def _new_folder(edit: AddFolder, document: dict[str, Any], name: str) -> dict[str, Any]:
    where = f"folder {len(document.get(FOLDER, [])) + 1}"
    if not _text(edit.local) or not os.path.isabs(os.path.expanduser(edit.local)):
        raise UsageError(f"{name}: local in {where} must be an absolute folder path",
                         'write e.g. "/home/me/Documents" or "~/Documents"')
    if not _text(edit.remote) or not edit.remote.strip():
        raise UsageError(f"{name}: remote in {where} must be a folder name", 'write e.g. "Documents"')
    table: dict[str, Any] = {"local": edit.local, "remote": edit.remote}
    for key, value in edit.settings.items():
        _check(FOLDER, key, value, name, where)
        if value is not None:
            table[key] = copy.deepcopy(value)
    return table


def _set_in_text(text: str, where: tuple[str | int, ...], key: str, value: Value | None, name: str) -> str:
    """``text`` with ``key`` of the table at ``where`` (a path of keys and array indexes; ``()``: the top
    level) set to ``value``, or removed when ``value`` is ``None``, through ``tomlkit``."""
    document = tomlkit.parse(text)
    table: Any = document
    for step in where:
        table = table[step]
    if value is None:
        if key in table:
            del table[key]
    elif key in table or not isinstance(table, Table):
        table[key] = value
    else:
        _insert_before_trailer(table.value, key, value)
    return document.as_string()


def _insert_before_trailer(body: Container, key: str, value: Value) -> None:
    """Put ``key = value`` in ``body`` right after its last key, before the comment and blank lines that
    end it (they sit above the next table's header and are read as that table's). ``Container._insert_at``
    is tomlkit's own, not public: were it gone, the key is appended (still correct, a line lower)."""
    items = body.body
    at = len(items)
    while at > 0 and items[at - 1][0] is None and isinstance(items[at - 1][1], Comment | Whitespace):
        at -= 1
    insert = getattr(body, "_insert_at", None)
    if at == len(items) or at == 0 or insert is None:
        body.append(key, value)
    else:
        insert(at, key, value)


def _plain(value: Any) -> Any:
    """``value`` (a TOML document) with dates and times as ISO strings: plain JSON data."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


def edits_from_json(raw: Any) -> list[Edit]:
    """The edits of a settings page's request body (untrusted JSON): a list of objects, each one of
    ``{"op": "set", "table": T, "key": K, "value": V}`` (``table`` ``""`` for the top level),
    ``{"op": "set", "folder": LOCAL, "key": K, "value": V}``, ``{"op": "add_folder", "local": L,
    "remote": R, "settings": {K: V, ...}}`` and ``{"op": "remove_folder", "local": L}``; a ``value`` of
    ``null`` removes the key. :class:`UsageError` on one line naming the edit, for any other shape (the
    keys and values themselves are checked by :func:`save_edits`)."""
    if not isinstance(raw, list) or len(raw) > MAX_EDITS:
        raise UsageError("the edits must be a list", f"send at most {MAX_EDITS} edits as a JSON list")
    return [_edit_from_json(item, n) for n, item in enumerate(raw, 1)]


_SHAPES: dict[str, frozenset[str]] = {
    "set": frozenset({"op", "key", "value"}),
    "add_folder": frozenset({"op", "local", "remote", "settings"}),
    "remove_folder": frozenset({"op", "local"}),
}


def _edit_from_json(item: Any, n: int) -> Edit:
    op = item.get("op") if isinstance(item, dict) else None
    shape = _SHAPES.get(op) if isinstance(op, str) else None
    if shape is None:
        raise UsageError(f"edit {n} is not an object with an op", f"op is one of: {', '.join(_SHAPES)}")
    place = {"table", "folder"} & set(item) if op == "set" else set()
    unknown = set(item) - shape - place
    if unknown or (op == "set" and len(place) != 1):
        raise UsageError(f"edit {n} ({op}) has the wrong fields", f"send {', '.join(sorted(shape))}"
                         + (" and table or folder" if op == "set" else ""))
    texts = [item.get(k) for k in ("key", "table", "folder", "local", "remote") if k in item]
    if not all(isinstance(t, str) for t in texts):
        raise UsageError(f"edit {n} ({op}): its names must be strings", "send the names as JSON strings")
    if op == "set":
        if "table" in item:
            return SetValue(item["table"], item["key"], item.get("value"))
        return SetFolderValue(item["folder"], item["key"], item.get("value"))
    if op == "remove_folder":
        return RemoveFolder(item["local"])
    settings = item.get("settings", {})
    if not isinstance(settings, dict):
        raise UsageError(f"edit {n} (add_folder): settings must be an object", 'send e.g. {"paused": true}')
    return AddFolder(item["local"], item["remote"], settings)

