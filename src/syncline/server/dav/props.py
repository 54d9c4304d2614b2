"""Live WebDAV properties of the server's resources (docs/webdav-plan.md section 3, "Reads").

A :class:`Resource` is what one ``<d:response>`` describes: the namespace root (the caller's folders), a
folder's root, or an entry of a folder (a file or a directory; symlinks are not WebDAV resources and are
never listed). It is built from the store's rows with :func:`namespace_root`, :func:`folder_root` and
:func:`entry`, then :func:`answer` picks the properties a PROPFIND asks.

Values, and why:

- ``getetag``: a file ``"v<version>"`` (as protocol v1's ``ETag``), a directory or a folder's root
  ``"t<tree_version>"`` (the highest version written at or below it, so it changes exactly when something
  below does: the desktop clients skip a folder whose etag they know), the namespace root a BLAKE3 of the
  caller's folders (name, uid, seq, rights).
- ``oc:id``: ``%08d`` of ``oc:fileid`` then the server's instance id (ownCloud's form; Nextcloud reads
  the leading digits); ``oc:fileid`` is stable across renames and edits.
- ``oc:permissions`` from the caller's right alone: rw file ``WDNV``, rw directory ``WDNVCK``, a folder's
  root ``CK``, the namespace root ``K`` (folders may be made there, never files), read-only ``""``; ``S``
  on everything of a share the caller accepted. File locks take nothing away (a locked write is a ``423``
  the client retries).
- ``oc:checksums`` ``SHA1:<hex> MD5:<hex>`` when the server knows the file's sums, else left out (404).
- ``quota-used-bytes``/``quota-available-bytes`` (collections): the folder owner's, ``-3`` when unlimited
  (as ownCloud); computed once per request, and only when asked by name (never in ``allprop``).

Dead properties (what PROPPATCH stored, each a whole element) are answered beside the live ones; a live
property of the same name wins. They are read only when a PROPFIND may want them (:func:`wants_dead`):
``allprop``, ``propname``, or a name that is not live; the desktop clients' lists never are.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate

import blake3

from ..store.davprops import DeadProp
from ..store.davstate import DavRow
from ..store.meta import Folder
from .lockxml import SUPPORTED
from .xmlio import DAV, NC, OC, Answer, Name, Propfind, Raw, Value, Whole

DIR_TYPE = "httpd/unix-directory"
_COLLECTION = Raw("<d:collection/>")
_QUOTA = ((DAV, "quota-used-bytes"), (DAV, "quota-available-bytes"))
LIVE: frozenset[Name] = frozenset({
    *_QUOTA, (DAV, "resourcetype"), (DAV, "getetag"), (DAV, "getlastmodified"), (DAV, "displayname"),
    (DAV, "getcontenttype"), (DAV, "getcontentlength"), (OC, "id"), (OC, "fileid"), (OC, "permissions"),
    (OC, "size"), (OC, "data-fingerprint"), (OC, "share-types"), (OC, "downloadURL"), (OC, "dDC"),
    (OC, "checksums"), (NC, "is-encrypted"), (NC, "is-mount-root"), (DAV, "lockdiscovery"), (DAV, "supportedlock")})
LOCK_PROPS: frozenset[Name] = frozenset({(DAV, "lockdiscovery"), (DAV, "supportedlock")})


def wants_dead(asked: Propfind) -> bool:
    """Whether answering ``asked`` may need the resources' dead properties."""
    return asked.kind != "prop" or any(n not in LIVE for n in asked.names)


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource as a response describes it; ``href`` is percent-encoded already."""

    href: str
    name: str
    collection: bool
    etag: str
    mtime_ns: int
    size: int
    fileid: int
    permissions: str
    sha1: bytes | None = None
    mount_root: bool = False
    md5: bytes | None = None

    def oc_id(self, instance: str) -> str:
        return f"{self.fileid:08d}{instance}"


def permissions(rights: str, shared: bool, kind: str) -> str:
    """``oc:permissions`` for ``kind`` ``file``, ``dir``, ``root`` (a folder's) or ``namespace``."""
    write = rights == "rw"
    letters = {"file": "WDNV", "dir": "WDNVCK", "root": "CK", "namespace": "K"}[kind] if write else ""
    if kind == "namespace":
        return "K"
    return ("S" if shared else "") + letters


def namespace_root(href: str, user: str, folders: list[tuple[Folder, str]]) -> Resource:
    digest = blake3.blake3(repr([(f.name, f.uid, f.seq, r) for f, r in folders]).encode("utf-8")).hexdigest()
    newest = max((f.root_mtime_ns for f, _ in folders), default=0)
    return Resource(href, user, True, f'"r{digest[:20]}"', newest, 0, 0, permissions("rw", False, "namespace"))


def folder_root(href: str, folder: Folder, rights: str, shared: bool, item: DavRow) -> Resource:
    return Resource(href, folder.name, True, f'"{item.etag}"', item.row.mtime_ns, 0, item.fileid,
                    permissions(rights, shared, "root"), mount_root=shared)


def entry(href: str, rights: str, shared: bool, item: DavRow) -> Resource:
    row = item.row
    if row.kind == "dir":
        return Resource(href, row.path.rpartition("/")[2], True, f'"{item.etag}"', row.mtime_ns, 0,
                        item.fileid, permissions(rights, shared, "dir"))
    return Resource(href, row.path.rpartition("/")[2], False, f'"{item.etag}"', row.mtime_ns, row.size,
                    item.fileid, permissions(rights, shared, "file"), item.sha1, md5=item.md5)


def content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def http_date(mtime_ns: int) -> str:
    """RFC 1123 (what ``getlastmodified`` and ``Last-Modified`` hold); times before 1970 are 1970."""
    return formatdate(max(mtime_ns, 0) // 1_000_000_000, usegmt=True)


def live(res: Resource, instance: str) -> dict[Name, Value]:
    """Every live property of ``res`` but the quota ones, by name."""
    props: dict[Name, Value] = {
        (DAV, "resourcetype"): _COLLECTION if res.collection else None,
        (DAV, "getetag"): res.etag,
        (DAV, "getlastmodified"): http_date(res.mtime_ns),
        (DAV, "displayname"): res.name,
        (DAV, "getcontenttype"): DIR_TYPE if res.collection else content_type(res.name),
        (OC, "id"): res.oc_id(instance),
        (OC, "fileid"): str(res.fileid),
        (OC, "permissions"): res.permissions,
        (OC, "size"): str(res.size),
        (OC, "data-fingerprint"): None,
        (OC, "share-types"): None,
        (OC, "downloadURL"): None,
        (OC, "dDC"): None,
        (NC, "is-encrypted"): "0",
        (NC, "is-mount-root"): "true" if res.mount_root else "false",
    }
    if res.collection:
        del props[OC, "size"]  # a subtree's sum is not kept yet: the clients read no size for folders
    else:
        props[DAV, "getcontentlength"] = str(res.size)
        if res.sha1 is not None:
            md5 = f" MD5:{res.md5.hex()}" if res.md5 is not None else ""
            props[OC, "checksums"] = Raw(f"<oc:checksum>SHA1:{res.sha1.hex()}{md5}</oc:checksum>")
    return props


def wants_locks(asked: Propfind) -> bool:
    """Whether answering ``asked`` may need the resources' locks."""
    return asked.kind != "prop" or any(n in LOCK_PROPS for n in asked.names)


def answer(res: Resource, asked: Propfind, instance: str, quota: Callable[[], tuple[int, int]] | None = None,
           dead: Sequence[DeadProp] = (), locks: str | None = None) -> Answer:
    """The response for ``res`` to ``asked``: ``prop`` gives what was asked, the unknown in a 404 propstat;
    ``allprop`` every live property but the quota ones (and those ``include`` names); ``propname`` the
    names only. ``quota`` gives (used, available) bytes, called only when a quota property is wanted;
    ``dead``: the resource's dead properties; ``locks``: its ``activelock`` elements (None: the resource
    takes no locks, or they were not read)."""
    props: dict[Name, Value] = {(p.ns, p.name): Whole(p.xml) for p in dead}
    props.update(live(res, instance))
    if locks is not None:
        props[DAV, "supportedlock"] = Raw(SUPPORTED)
        props[DAV, "lockdiscovery"] = Raw(locks)
    if res.collection and quota is not None:
        for name in _QUOTA:
            props[name] = None  # a placeholder: filled below only when wanted
    if asked.kind == "propname":
        return Answer(res.href, dict.fromkeys(props))
    wanted = asked.names if asked.kind == "prop" else (*[n for n in props if n not in _QUOTA], *asked.include)
    found: dict[Name, Value] = {}
    missing: list[Name] = []
    for name in wanted:
        if name not in props:
            if asked.kind == "prop":
                missing.append(name)
            continue
        if name in _QUOTA and quota is not None:
            used, available = quota()
            found[name] = str(used if name[1] == "quota-used-bytes" else available)
        else:
            found[name] = props[name]
    return Answer(res.href, found, tuple(missing))
