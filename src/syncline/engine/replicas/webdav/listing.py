"""Listing a WebDAV tree: ``PROPFIND Depth: 1`` per folder, sibling folders in parallel (at most
``max_connections`` at once), never ``Depth: infinity`` (Nextcloud and our server refuse it, and one
answer for a whole tree has no bound).

With recursive folder etags (the OC dialect: ownCloud, Nextcloud, our server), a folder whose etag is the
one cached from the last run is taken from the cache with everything below it, without a request: a run
after no change is one PROPFIND of the root. Without them (Apache, wsgidav, rclone: a folder's etag, if
any, says nothing about its children's children) every folder is listed every run.

A folder that cannot be listed because it is gone or refused (404, 403) is a problem and *unreadable*, so
nothing below it is taken as deleted; an answer that breaks the rules (an ``href`` outside the folder
asked for, a child twice, bad XML) refuses the whole listing (``ReplicaError``): a hostile or broken
server never makes anything look deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ....core.paths import META_DIR, parent
from ..errors import Denied, NotFound
from .address import DavAddress
from .client import DavClient, bad_answer
from .multistatus import PROPFIND_BODY, BadAnswer, Resource, parse_multistatus
from .statedb import Item

PROPFIND_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}


def propfind(client: DavClient, path: str, depth: int, folder: bool = True) -> list[Resource]:
    """The resources of a ``PROPFIND`` of the tree's ``path`` at ``depth`` (0 or 1)."""
    url = client.address.url(path, folder=folder and bool(path))
    _, _, body = client.request("PROPFIND", url, where=path, ok=(207,), content=PROPFIND_BODY,
                                headers={**PROPFIND_HEADERS, "Depth": str(depth)})
    try:
        return parse_multistatus(body)
    except BadAnswer as exc:
        raise bad_answer(client.address, str(exc), path) from None


def item_of(address: DavAddress, r: Resource, where: str) -> Item:
    """The :class:`Item` of a resource, its ``href`` checked (:meth:`DavAddress.relative`)."""
    path = address.relative(r.href)
    if path is None:
        raise bad_answer(address, f"an href outside the folder: {r.href[:200]!r}", where)
    return Item(path, r.folder, 0 if r.folder else (r.size or 0), r.mtime_s, r.etag, r.file_id, r.permissions)


def list_folder(client: DavClient, path: str) -> tuple[Item, list[Item]]:
    """The folder ``path`` and its children (``.syncline`` left out). ``NotFound`` when it is gone."""
    resources = propfind(client, path, 1)
    me: Item | None = None
    children: dict[str, Item] = {}
    for r in resources:
        item = item_of(client.address, r, path)
        if item.path == path:
            me = item
            continue
        if not item.path or parent(item.path) != path:
            raise bad_answer(client.address, f"an href that is not a child of the folder: {r.href[:200]!r}", path)
        if item.path in children:
            raise bad_answer(client.address, f"a child listed twice: {r.href[:200]!r}", path)
        if item.path.rpartition("/")[2] != META_DIR:
            children[item.path] = item
    if me is None or not me.folder:
        raise bad_answer(client.address, "the answer does not name the folder asked for", path)
    return me, list(children.values())


@dataclass
class Walk:
    """What a walk found: every item below the root by path, the root's own item, each folder's etag (for
    the cache), and the folders it could not list (``problems``: path -> why)."""

    root: Item
    items: dict[str, Item] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    requests: int = 0


def walk(client: DavClient, workers: int, cached: Callable[[Item], list[Item] | None] | None = None,
         enters: Callable[[str], bool] | None = None) -> Walk:
    """List the tree. ``cached(folder_item)`` gives a folder's subtree (every item below it) from the
    cache when its etag proves it unchanged, else None: then it is listed. With ``enters``, only the
    folders it says yes to are listed (a scoped scan: the folders asked for, their ancestors for the way
    down and their ignore files, everything below a deep one); the others are their own entries only."""
    root, kids = list_folder(client, "")
    found = Walk(root, requests=1)
    if root.etag:
        found.etags[""] = root.etag
    level = [f for f in _take(found, kids, cached) if enters is None or enters(f.path)]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="syncline-dav") as pool:
        while level:
            results = list(pool.map(lambda f: _try_list(client, f), level))
            found.requests += len(level)
            following: list[Item] = []
            for folder, result in zip(level, results, strict=True):
                if isinstance(result, str):
                    found.problems[folder.path] = result
                    continue
                me, children = result
                if me.etag:
                    found.etags[folder.path] = me.etag
                following += _take(found, children, cached)
            level = [f for f in following if enters is None or enters(f.path)]
    return found


def _take(found: Walk, children: list[Item], cached: Callable[[Item], list[Item] | None] | None) -> list[Item]:
    """Record ``children``; return the folders among them still to be listed."""
    todo = []
    for item in children:
        found.items[item.path] = item
        if not item.folder:
            continue
        below = cached(item) if cached is not None else None
        if below is None:
            todo.append(item)
            continue
        found.etags[item.path] = item.etag or ""
        for b in below:
            found.items[b.path] = b
            if b.folder and b.etag:
                found.etags[b.path] = b.etag
    return todo


def _try_list(client: DavClient, folder: Item) -> tuple[Item, list[Item]] | str:
    try:
        return list_folder(client, folder.path)
    except (NotFound, Denied) as exc:
        return f"cannot list the folder: {exc.strerror or exc}"
