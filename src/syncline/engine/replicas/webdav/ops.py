"""The WebDAV requests a replica is made of, each on a tree path (validated: never outside the collection,
never into ``.syncline`` unless the replica itself asks for its own folder), each answering what the
contract needs to know: was it done, or did its condition fail (``412``, taken, gone).

Conditions: ``If-Match`` on the request's own resource (RFC 9110: it applies to the request URI, for a
``MOVE`` the source), ``Overwrite: F`` so a ``MOVE`` never replaces what appeared at its destination.
Servers that ignore ``If-Match`` (rclone's) leave the window between the caller's Depth-0 re-check and
the request: the caller re-checks as late as it can (docs/replicas.md, rule 2).
"""

from __future__ import annotations

import errno as E
import secrets
import threading
import time
from collections.abc import Iterable

from ....core.paths import META_DIR, parent
from ..errors import Changed, NotFound, ReplicaError, error_class
from .address import split_path
from .client import DavClient, bad_answer
from .listing import item_of, list_folder, propfind
from .multistatus import BadAnswer, strong, was_set
from .statedb import Item

TMP = f"{META_DIR}/tmp"
TRASH = f"{META_DIR}/trash"
META = f"{META_DIR}/meta"
ASIDE = ".aside-"  # <owner>.aside-<random>: a folder on its way out (remove_empty_folder)
DONE = (200, 201, 204)


def tree_path(path: str, own: bool = False) -> str:
    """``path`` checked as a path inside the tree (``ReplicaError`` otherwise); a ``.syncline`` segment
    only for the replica's ``own`` files."""
    try:
        parts = split_path(path)
    except ValueError as exc:
        raise error_class(ReplicaError)(E.EINVAL, str(exc), path) from None
    if not own and META_DIR in parts:
        raise error_class(ReplicaError)(E.EINVAL, f"{META_DIR} is syncline's own folder", path)
    return path


def item_path(path: str) -> str:
    """``path`` checked as :func:`tree_path` and below the root: what a write names (never the root
    collection itself)."""
    if not path:
        raise error_class(ReplicaError)(E.EINVAL, "the folder's root is not written as an entry", path)
    return tree_path(path)


class DavOps:
    """Requests on one collection through ``client``; remembers which of its own folders (``.syncline``,
    the temp and trash folders) it has made this run."""

    def __init__(self, client: DavClient) -> None:
        self.client = client
        self.address = client.address
        self._made: set[str] = set()
        self._mutex = threading.Lock()
        self._making = threading.RLock()  # trash_place makes folders while holding it too
        self._trash = ""

    def forget(self) -> None:
        """A new run: the folders made may be gone (a user emptied the trash)."""
        with self._mutex:
            self._made.clear()
            self._trash = ""

    # -- reading --------------------------------------------------------------------------------------------
    def stat(self, path: str) -> Item | None:
        """The item at ``path`` (Depth 0), None when absent. ``Changed`` (a ``NotADirectoryError``) when a
        folder on the way is a file: nothing can be said of ``path``."""
        tree_path(path, own=True)
        try:
            item = self.lookup(path)
        except ReplicaError as exc:
            if getattr(exc, "status", 0) != 400 or not path:
                raise
            if self._below_a_file(path):  # Apache answers 400 for a path below a file
                raise error_class(Changed, NotADirectoryError)(E.ENOTDIR, "a folder on the way is a file",
                                                                path) from None
            raise
        if item is None and self._below_a_file(path):
            raise error_class(Changed, NotADirectoryError)(E.ENOTDIR, "a folder on the way is a file", path)
        return item

    def _below_a_file(self, path: str) -> bool:
        """Whether the nearest ancestor of ``path`` that is there is a file (asked when ``path`` is not)."""
        p = parent(path) if path else ""
        while p:
            above = self.lookup(p)
            if above is not None:
                return not above.folder
            p = parent(p)
        return False

    def lookup(self, path: str) -> Item | None:
        """The item at ``path`` (one Depth-0 PROPFIND), None when absent; nothing asked of its parents."""
        try:
            found = propfind(self.client, path, 0, folder=False)
        except NotFound:
            return None
        if len(found) != 1:
            raise bad_answer(self.address, f"{len(found)} answers to a Depth 0 PROPFIND", path)
        item = item_of(self.address, found[0], path)
        if item.path != path:
            raise bad_answer(self.address, f"asked for {path!r}, told about {item.path!r}", path)
        return item

    def subtree(self, path: str) -> dict[str, Item]:
        """Every item below the folder ``path``, by its path relative to ``path`` (one Depth-1 PROPFIND
        per folder; what cannot be listed is left out)."""
        out: dict[str, Item] = {}
        todo = [path]
        while todo:
            folder = todo.pop()
            for item in self.children(folder) or ():
                out[item.path[len(path) + 1:]] = item
                if item.folder:
                    todo.append(item.path)
        return out

    def children(self, path: str) -> list[Item] | None:
        """The children of the folder ``path`` (its ``.syncline`` left out), None when it is gone."""
        try:
            return list_folder(self.client, path)[1]
        except NotFound:
            return None

    # -- writing --------------------------------------------------------------------------------------------
    def mkcol(self, path: str) -> bool:
        """Make the folder ``path``: True when made, False when something is there already (``405``;
        Apache answers ``400`` over a file). ``NotFound`` when its parent is missing."""
        status, _, _ = self.client.request("MKCOL", self.address.url(path, folder=True), where=path,
                                           ok=(201, 405, 400))
        return status == 201

    def ensure_dir(self, path: str) -> None:
        """Make the replica's own folder ``path`` and its parents, once per run. One thread at a time:
        staging threads all need ``.syncline/tmp`` at once, and a server may fail the second of two
        ``MKCOL`` s of one folder racing each other (wsgidav answers 500)."""
        with self._making:
            todo = []
            p = path
            while p and p not in self._made:
                todo.append(p)
                p = parent(p)
            for folder in reversed(todo):
                self.mkcol(folder)
                with self._mutex:
                    self._made.add(folder)

    def move(self, src: str, dst: str, folder: bool, if_match: str | None = None) -> bool:
        """``MOVE src dst`` with ``Overwrite: F`` (and ``If-Match`` on ``src``): True when moved, False when
        ``src`` changed or is gone, or something is at ``dst`` (``412``, ``404``)."""
        headers = {"Destination": self.address.url(dst, folder=folder), "Overwrite": "F"}
        return self._conditional("MOVE", src, folder, if_match, headers, gone=False)

    def delete(self, path: str, folder: bool = False, if_match: str | None = None) -> bool:
        """``DELETE path`` (with ``If-Match``): True when deleted or gone, False when it changed (``412``)."""
        return self._conditional("DELETE", path, folder, if_match, {}, gone=True)

    def _conditional(self, method: str, path: str, folder: bool, if_match: str | None, headers: dict[str, str],
                     gone: bool) -> bool:
        """``method`` on ``path``: True when done, False on ``412``; ``gone`` is the answer for ``404``."""
        condition = strong(if_match)
        if condition:
            headers["If-Match"] = condition
        try:
            status, _, _ = self.client.request(method, self.address.url(path, folder=folder), where=path,
                                               ok=(*DONE, 412), headers=headers, limit=1 << 16)
        except NotFound:
            return gone
        return status != 412

    def put(self, path: str, content: Iterable[bytes] | bytes, size: int,
            headers: dict[str, str] | None = None) -> bool:
        """``PUT path``: True when written, False when a condition in ``headers`` failed (``412``)."""
        status, _, _ = self.client.request("PUT", self.address.url(path), where=path, ok=(*DONE, 412),
                                           content=content, limit=1 << 16,
                                           headers={"Content-Length": str(size), **(headers or {})})
        return status != 412

    def set_mtime(self, path: str, cur: Item, seconds: int) -> bool:
        """``PROPPATCH`` of ``{DAV:}lastmodified`` (what ownCloud and Nextcloud take, in seconds), with
        ``If-Match`` on ``cur``'s etag: True when the server says it set it; False when it refused, or
        the item changed (the shadow then keeps the mtime alone)."""
        body = ('<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop>'
                f"<d:lastmodified>{int(seconds)}</d:lastmodified></d:prop></d:set></d:propertyupdate>").encode()
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        condition = strong(cur.etag)
        if condition:
            headers["If-Match"] = condition
        try:
            status, _, answer = self.client.request("PROPPATCH", self.address.url(path, folder=cur.folder),
                                                    where=path, ok=(207, 412), headers=headers, content=body,
                                                    limit=1 << 16)
        except ReplicaError as exc:
            if exc.retryable:
                raise
            return False
        if status != 207:
            return False
        try:
            return was_set(answer, "{DAV:}lastmodified")
        except BadAnswer:
            return False

    # -- the trash ------------------------------------------------------------------------------------------
    def trash_place(self, path: str) -> str:
        """Where ``path`` goes in this run's trash (``.syncline/trash/<YYYYmmdd-HHMMSS>[-N]/<path>``, as
        a local folder's), its parent folders made. Each run gets a trash folder of its own (made with
        ``MKCOL``, which fails on one that is there), so two runs never share one."""
        with self._making:
            return self._trash_place(path)

    def _trash_place(self, path: str) -> str:
        with self._mutex:
            base = self._trash
        if not base:
            self.ensure_dir(TRASH)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for n in range(1, 1000):
                base = f"{TRASH}/{stamp}" if n == 1 else f"{TRASH}/{stamp}-{n}"
                if self.mkcol(base):
                    break
            else:
                raise error_class(ReplicaError)(E.EEXIST, "no free trash folder name", base)
            with self._mutex:
                self._trash = base
                self._made.add(base)
        dest = f"{base}/{path}"
        self.ensure_dir(parent(dest))
        return dest

    def clean(self, owner: str) -> None:
        """Finish what a killed run of ``owner`` left in ``.syncline/tmp``: its staged uploads (its own
        bytes only) deleted; a folder it had moved aside deleted when empty, else kept in the trash (a
        file may have arrived in it in the window: never deleted unseen)."""
        for item in self.children(TMP) or ():
            name = item.path.rpartition("/")[2]
            if name.startswith(owner + "-"):
                self.delete(item.path)
            elif name.startswith(owner + ASIDE) and item.folder:
                if self.children(item.path):
                    self.move(item.path, self.trash_place(f"rescued-{name}"), folder=True)
                else:
                    self.delete(item.path, folder=True)

    def remove_empty_folder(self, path: str, owner: str) -> bool:
        """Remove the folder ``path`` if it is empty, never losing what arrives meanwhile: a ``DELETE`` of
        a collection is recursive, so the folder is first moved aside (one rename, to an ``ASIDE`` name of
        ``owner`` in ``.syncline/tmp``), checked there, and deleted only when empty; when something
        arrived in the window it is moved back, or, when that fails (the name was taken again), into the
        trash. A run killed in between leaves it aside: :meth:`clean` finishes the job. True when removed
        or gone."""
        kids = self.children(path)
        if kids is None:
            return True
        if kids:
            return False
        self.ensure_dir(TMP)
        aside = f"{TMP}/{owner}{ASIDE}{secrets.token_hex(8)}"
        if not self.move(path, aside, folder=True):
            return self.lookup(path) is None
        if not self.children(aside):
            self.delete(aside, folder=True)
            return True
        if not self.move(aside, path, folder=True):
            # Never left under a temp name (the next run of this owner removes those): into the trash.
            place = self.trash_place(path)
            for _ in range(8):
                if self.move(aside, place, folder=True) or self.lookup(aside) is None:
                    break
                place = f"{self.trash_place(path)}.{secrets.token_hex(4)}"
        return False
