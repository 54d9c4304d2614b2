"""The folder picker's listing (``GET /api/dirs?path=``): a browser cannot hand a page a local path, so the
page asks the daemon for the folders under the user's home and lets the person pick one.

Confined to ``$HOME``: the path asked is resolved (``..`` and every symlink followed) and must still be
the home or under it, else :class:`OutsideHome`; the listing gives folders only, and leaves out a symlink
whose target resolves outside the home. Names that are not UTF-8 are counted, not listed (they cannot
travel in JSON; the CLI takes them). At most :data:`MAX_ENTRIES` are listed (``more`` says some are left).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_ENTRIES = 2000


class OutsideHome(ValueError):
    """The path asked for is not under the home folder."""


@dataclass(frozen=True)
class Listing:
    path: str  # absolute, resolved
    parent: str | None  # None at the home folder
    dirs: list[dict[str, str]]  # [{"name", "path"}], sorted by name
    more: bool  # more than MAX_ENTRIES folders
    unnamed: int  # folders whose names are not UTF-8, left out


def home() -> Path:
    """The home folder, resolved (``$HOME``, as the person's shell has it)."""
    return Path(os.path.realpath(os.path.expanduser("~")))


def _inside(path: str, top: Path) -> bool:
    return path == str(top) or path.startswith(str(top).rstrip("/") + "/")


def list_dirs(asked: str | None) -> Listing:
    """The folders in ``asked`` (absolute, or relative to the home; empty or None: the home).
    :class:`OutsideHome` when it resolves outside the home; :class:`FileNotFoundError` /
    :class:`NotADirectoryError` / :class:`PermissionError` as the file system says."""
    top = home()
    if asked is None or not asked.strip():
        asked = str(top)
    if "\x00" in asked:
        raise OutsideHome(asked)
    where = os.path.realpath(os.path.join(top, os.path.expanduser(asked)))
    if not _inside(where, top):
        raise OutsideHome(asked)
    dirs: list[dict[str, str]] = []
    unnamed = 0
    more = False
    with os.scandir(os.fsencode(where)) as entries:
        for entry in entries:
            try:
                if not entry.is_dir():  # follows a symlink: a link to a folder counts, checked below
                    continue
            except OSError:
                continue
            try:
                name = entry.name.decode("utf-8")
            except UnicodeDecodeError:
                unnamed += 1
                continue
            full = os.path.join(where, name)
            if entry.is_symlink() and not _inside(os.path.realpath(full), top):
                continue
            if len(dirs) >= MAX_ENTRIES:
                more = True
                break
            dirs.append({"name": name, "path": full})
    dirs.sort(key=lambda d: (d["name"].startswith("."), d["name"].casefold()))
    parent = None if where == str(top) else os.path.dirname(where)
    return Listing(where, parent, dirs, more, unnamed)
