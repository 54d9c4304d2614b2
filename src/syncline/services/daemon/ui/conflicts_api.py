"""The conflicts view's calls of the daemon's page, apart from HTTP (``server.py`` routes and guards them):

- ``GET /api/conflicts``: each folder of the daemon's config with its conflict copies
  (:func:`~..conflicts.list_conflicts` with the folder's excludes), at most :data:`MAX_LISTED` in all;
- ``POST /api/conflicts/resolve {"folder", "path", "choice", "seen"}``: one settled
  (:func:`~..conflicts.resolve`, which reads both files again and refuses what changed since ``seen``);
- ``GET /api/conflicts/diff?folder=&path=``: the text diff of a copy and its original, or null;
- ``GET /api/file?folder=&path=[&inline=1]``: a file of a folder, for "open both versions"
  (:class:`Download`, streamed by the server).

A folder is named by its ``local`` path, as the status names it; only the config's folders are reached,
and a path inside one only through descriptors of the folder's own directories (nothing on the way or at
the end followed if a symlink; never ``..``, never under ``.syncline``). Each function returns a
:data:`~.api.Reply` (``(status, body)``) or a :class:`Download`; a refusal is one line, 4xx.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, quote

from ....core.errors import IndexFormatError, UsageError
from ....core.paths import META_DIR, check_relpath
from ....engine.replicas.confined import Confined
from ....engine.replicas.local import open_regular_in
from ...config import FolderConfig, load_daemon_config
from ..conflicts import ConflictRefused, conflict_diff, list_conflicts, resolve, seen_from_json
from .api import DaemonView, Reply, error

__all__ = ["CHUNK", "MAX_LISTED", "PICTURES", "ROUTES", "Download", "answer"]

ROUTES = frozenset({"conflicts", "file"})
"""The first segments after ``/api/`` answered here."""
MAX_LISTED = 200  # conflict copies in one listing, all folders together: each costs two digests
CHUNK = 64 * 1024  # a file is sent in reads of this size, never held whole
# Shown in the page (inline=1) only as these types; never SVG or HTML, which can carry script.
PICTURES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
# A file of a folder is never a page of this site: no script of its own runs, even opened in a tab.
FILE_CSP = "sandbox; default-src 'none'; img-src 'self'"
_STATUS = {"bad_request": 400}  # every other refusal of conflicts.py is the folder's state: 409


@dataclass
class Download:
    """An open regular file to send: ``fd`` (owned: :meth:`close`), its ``size`` when opened, and the
    headers of the answer (they override the page's own CSP)."""

    fd: int
    size: int
    headers: dict[str, str]

    def send(self, write: Callable[[bytes], object]) -> bool:
        """Writes the file's bytes in :data:`CHUNK` reads; False when it ended short of ``size`` (it shrank
        meanwhile: the connection must then close, the answer cut)."""
        left = self.size
        while left > 0:
            data = os.read(self.fd, min(CHUNK, left))
            if not data:
                return False
            write(data)
            left -= len(data)
        return True

    def close(self) -> None:
        os.close(self.fd)


def answer(view: DaemonView, method: str, rest: list[str], query: str, body: bytes) -> Reply | Download:
    """The answer to ``METHOD /api/REST...`` (``rest``: the path's segments after ``api``)."""
    route = (method, *rest)
    if route == ("GET", "conflicts"):
        return listing(view)
    if route == ("POST", "conflicts", "resolve"):
        try:
            sent = json.loads(body)
        except ValueError:
            return error(400, "bad_request", "the body is not JSON")
        return settle(view, sent)
    if route in (("GET", "conflicts", "diff"), ("GET", "file")):
        try:
            asked = {k: v[0] for k, v in parse_qs(query, max_num_fields=8).items()}
        except ValueError:
            return error(400, "bad_request", "too many query fields", "send folder and path")
        return diff(view, asked) if route[1] == "conflicts" else file(view, asked)
    return error(404, "not_found", "no such call")


def _folders(view: DaemonView) -> list[FolderConfig] | Reply:
    """The config's folders (a list), or the error to answer when the file does not load."""
    try:
        return list(load_daemon_config(view.config_path).folders) if view.config_path.exists() else []
    except UsageError as exc:
        return error(409, "config", exc.message, exc.hint)


def _folder(view: DaemonView, local: object) -> FolderConfig | Reply:
    """The config's folder whose ``local`` is ``local``, or the error to answer."""
    folders = _folders(view)
    if not isinstance(folders, list):
        return folders
    found = next((f for f in folders if f.local == local), None)
    if found is None:
        return error(404, "no_folder", f"the config has no folder {local}", "reload the page")
    return found


def listing(view: DaemonView) -> Reply:
    """``{"folders": [{"local", "conflicts", "more", "error"}], "more"}``: each folder's conflict copies
    (:class:`~..conflicts.Conflict` as JSON: ``path``, ``original_path``, ``copy`` and ``original``
    (``{size, mtime_ns, digest}``: what a resolve sends back as ``seen``), ``original_kind``, ``device``,
    ``when``), sorted by path; ``more`` when the listing stopped at :data:`MAX_LISTED`; a folder that
    cannot be read has ``error`` (one line) and no conflicts."""
    folders = _folders(view)
    if not isinstance(folders, list):
        return folders
    room, out, more = MAX_LISTED, [], False
    for folder in folders:
        entry: dict[str, Any] = {"local": folder.local, "conflicts": [], "more": False, "error": None}
        out.append(entry)
        if room <= 0:
            entry["more"] = more = True
            continue
        try:
            found = list_conflicts(folder.local, folder.options.rules, room + 1)
        except UsageError as exc:
            entry["error"] = exc.message
            continue
        except OSError as exc:
            entry["error"] = f"{folder.local} cannot be read: {exc.strerror or exc}"
            continue
        if len(found) > room:
            found, entry["more"], more = found[:room], True, True
        room -= len(found)
        entry["conflicts"] = [asdict(c) for c in found]
    return 200, {"folders": out, "more": more}


def settle(view: DaemonView, sent: Any) -> Reply:
    """``{"folder", "path", "choice", "seen"}`` -> ``{"choice", "path", "trashed"}`` (``resolve``'s
    :class:`~..conflicts.Resolved`). ``400`` for a malformed request or a path outside the folder, ``404``
    for a folder the config does not have, ``409`` (``changed``, ``unsupported``, ``failed``) when the
    folder is not as the page showed it: nothing changed then."""
    if not isinstance(sent, dict) or set(sent) != {"folder", "path", "choice", "seen"}:
        return error(400, "bad_request", 'send {"folder", "path", "choice", "seen"}')
    folder = _folder(view, sent["folder"])
    if not isinstance(folder, FolderConfig):
        return folder
    try:
        done = resolve(folder.local, sent["path"], sent["choice"], seen_from_json(sent["seen"]))
    except ConflictRefused as exc:
        return error(_STATUS.get(exc.reason, 409), exc.reason, exc.message, exc.hint)
    return 200, {"choice": done.choice, "path": done.path, "trashed": done.trashed}


def diff(view: DaemonView, asked: dict[str, str]) -> Reply:
    """``{"diff": [lines] or null}``: the unified diff from the original to the copy ``path`` of
    ``folder`` (null when either is not text, too big or too different)."""
    folder = _folder(view, asked.get("folder"))
    if not isinstance(folder, FolderConfig):
        return folder
    try:
        return 200, {"diff": conflict_diff(folder.local, asked.get("path", ""))}
    except ConflictRefused as exc:
        return error(_STATUS.get(exc.reason, 409), exc.reason, exc.message, exc.hint)


def file(view: DaemonView, asked: dict[str, str]) -> Reply | Download:
    """The regular file ``path`` of ``folder``, to save (``Content-Disposition: attachment``); with
    ``inline=1`` a JPEG, PNG, GIF or WebP picture is shown (its own type, ``inline``). Either way
    ``nosniff`` and a sandbox CSP. ``400`` for a path that is not relative, has ``..`` or goes under
    ``.syncline``; ``404`` for a missing file, a folder, or a symlink at the end or on the way."""
    folder = _folder(view, asked.get("folder"))
    if not isinstance(folder, FolderConfig):
        return folder
    path = asked.get("path", "")
    try:
        check_relpath(path)
    except IndexFormatError:
        return error(400, "bad_path", f"not a path inside the folder: {path!r}", "give a path relative to the folder")
    if META_DIR in path.split("/"):
        return error(400, "bad_path", f"{path} is in syncline's own {META_DIR} folder", "give a file of the folder")
    tree = Confined(folder.local)
    try:
        fd, st = open_regular_in(tree, path)
    except OSError:  # missing, a folder, a symlink (at the end: ELOOP; on the way: ENOTDIR), unreadable
        return error(404, "not_found", f"no such file in the folder: {path}", "reload the page")
    finally:
        tree.close()
    assert stat.S_ISREG(st.st_mode)
    name = path.rpartition("/")[2]
    picture = PICTURES.get(name.rpartition(".")[2].lower()) if "." in name else None
    inline = picture is not None and asked.get("inline") == "1"
    disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(os.fsencode(name), safe='')}"
    return Download(fd, st.st_size, {
        "Content-Type": picture if inline and picture else "application/octet-stream",
        "Content-Disposition": disposition,
        "Content-Security-Policy": FILE_CSP, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache"})
