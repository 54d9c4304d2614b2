"""The preconditions of a WebDAV write (RFC 4918 10.4, RFC 9110 13.1): ``If``, ``If-Match``,
``If-None-Match``, evaluated against the resources as they are now, before anything is written.

A false condition is ``412``. What the ``If`` header submits as lock tokens (``submitted``) goes with the
write to the store, whose ``LockGuard`` lets a write through a lock only when its token came from the
lock's user: so a true header with a wrong token (litmus ``cond_put_corrupt_token``) is still ``423``.
The conditions are checked once, just before the write; the write itself re-checks, in its transaction,
that the resource is the one read here (its ``expect``), so nothing changes between the two unseen.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ...formats.wire.errors import WireError, clip
from ..app.access import Caller
from ..store import Store
from ..store.davstate import DavRow
from ..store.filelocks import FileLock
from .errors import DavError
from .ifheader import evaluate, parse_if, submitted
from .paths import DavPath, destination
from .read import Place, place


@dataclass(frozen=True, slots=True)
class Now:
    """A resource as a write found it: its row (None: nothing there) and the locks covering it."""

    item: DavRow | None
    locks: tuple[FileLock, ...]

    @property
    def etag(self) -> str | None:
        return f'"{self.item.etag}"' if self.item is not None else None

    @property
    def tokens(self) -> frozenset[str]:
        return frozenset(lk.token for lk in self.locks)


def look(where: Place, path: str) -> Now:
    """``path`` in ``where``'s folder now (blocking). A symlink or a path through a file is nothing."""
    try:
        found = where.store.dav_list(path, 0)[0]
    except WireError as err:
        if err.code not in ("not_found", "not_a_dir"):
            raise
        found = None
    if found is not None and found.row.kind not in ("file", "dir"):
        found = None
    locks = tuple(lk for lk in where.store.dav_locks() if lk.covers(path))
    return Now(found, locks)


def _changed(what: str) -> WireError:
    return WireError("changed", f"the precondition does not hold: {what}", "read the resource again")


def check(request: Request, store: Store, caller: Caller, target: DavPath, now: Now) -> frozenset[str]:
    """Evaluate the request's conditions on ``target`` (found as ``now``); ``changed`` (412) when one is
    false. Returns the lock tokens the ``If`` header submits (blocking: run it in the thread pool)."""
    etag = now.etag
    if_match = request.headers.get("if-match")
    if if_match is not None:
        tags = [t.strip() for t in if_match.split(",")]
        if etag is None or ("*" not in tags and etag not in tags):
            raise _changed(f"If-Match {clip(if_match, 60)}")
    if_none = request.headers.get("if-none-match")
    if if_none is not None:
        tags = [t.strip() for t in if_none.split(",")]
        if etag is not None and ("*" in tags or etag in tags):
            raise _changed(f"If-None-Match {clip(if_none, 60)}")
    header = request.headers.get("if")
    if header is None:
        return frozenset()
    lists = parse_if(header)

    def state(resource: str | None) -> tuple[str | None, frozenset[str]]:
        if resource is None:
            return etag, now.tokens
        other = _tagged(resource, request, store, caller)
        return (other.etag, other.tokens) if other is not None else (None, frozenset())

    if not evaluate(lists, state):
        raise _changed(f"If {clip(header, 120)}")
    return submitted(lists)


def _tagged(resource: str, request: Request, store: Store, caller: Caller) -> Now | None:
    """The resource a tagged ``If`` list names (a URL of this server, or a path); None when it names
    nothing of the caller's."""
    try:
        named = destination(resource, request.headers.get("host"), caller.user)
        if named.folder is None:
            return None
        return look(place(store, caller, named.folder), named.path)
    except (WireError, DavError):  # not a path of the caller's, or on another host: nothing here
        return None
