"""The writes of a WebDAV replica on a server of the OC dialect (our server, Nextcloud, ownCloud), which
write nothing under ``.syncline/`` on the server (it would reach every desktop and phone of the user there,
and our server refuses the name):

- **uploads** go straight to the real name: one ``PUT`` with ``If-Match: "<etag seen>"`` (replace) or
  ``If-None-Match: *`` (new), ``X-OC-Mtime`` and ``OC-Checksum: SHA1:<hex>``: such servers commit a PUT
  whole or not at all (a cut body is never the file, a wrong checksum is refused), ``412`` is "changed".
  Files above :data:`CHUNKED_ABOVE` (10 MiB) go as chunking NG when ``dav.chunking`` is announced: ``MKCOL
  /remote.php/dav/uploads/USER/ID``, chunk ``PUT`` s at staging (out of sight of every client), and at
  commit ``MOVE .../ID/.file`` with ``Destination``, ``OC-Total-Length``, ``OC-Checksum``, ``X-OC-Mtime``
  and ``If: <dest> (["etag"])`` (replace) or ``If-None-Match: *`` (new).
- **deletes**: ``DELETE`` with ``If-Match`` on the etag seen, a folder's too: a folder's etag changes
  whenever anything below it changes, so a file added meanwhile makes it ``412``.
- **versions**: the server keeps every replaced and deleted version itself (our server: each one, in its
  trash and versions; Nextcloud/ownCloud: their versions and trash bin apps): the replica declares
  ``Features.keeps_versions`` and reports ``trashed`` for each.
- **markers**: dead properties of the root collection in :data:`NS` (PROPFIND/PROPPATCH), each value base64
  of its UTF-8 text (what XML would not keep as it is: a ``\\r``, control characters).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

import httpx

from ....core.paths import is_name
from ..errors import NotFound, ReplicaError
from .client import DavClient, bad_answer
from .multistatus import BadAnswer, _parse, strong
from .statedb import Item

CHUNKED_ABOVE = 10 << 20  # files larger go as chunking NG (the desktop clients' first chunk size)
CHUNK = 10 << 20
BLOCK = 1 << 20
NS = "urn:syncline:markers"
MAX_MARKER = 48 << 10  # of text: base64 of it stays within a server's 64 KiB a value
_SIMPLE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True, slots=True)
class Landed:
    """What an upload left: the etag the server answered (None: it gave none) and the file id."""

    etag: str | None
    file_id: str | None


def prop_name(name: str) -> str:
    """The XML local name of the marker ``name``: itself when it is a plain name, else ``_`` and its hex
    (no plain name starts with ``_``: two names never share a property)."""
    return name if _SIMPLE.fullmatch(name) else "_" + name.encode("utf-8", "surrogateescape").hex()


class OcWrites:
    """The OC dialect's writes through ``client``; ``user`` is the dav user (for the uploads path)."""

    def __init__(self, client: DavClient, user: str) -> None:
        self.client = client
        self.address = client.address
        self.chunked_above, self.chunk = CHUNKED_ABOVE, CHUNK  # tests make them small
        segments = list(self.address.path)
        at = segments.index("remote.php")
        prefix = "".join("/" + quote(s, safe="") for s in segments[:at])
        after = segments[at + 1:]
        self._root = f"{self.address.server}{prefix}"
        self._user = ""
        if after[:2] == ["dav", "files"] and len(after) >= 3:
            self._user, self._folder = after[2], after[3:]
        else:  # remote.php/webdav/FOLDER: the dav user is asked of the server when an upload needs it
            self._folder = after[1:]
        self._login = user

    def user(self) -> str:
        """The dav user (``remote.php/dav/files/USER``): from the address, else ``ocs/v1.php/cloud/user``'s
        ``id`` (Nextcloud's may differ from the login name), else the login name."""
        if not self._user:
            found = ""
            try:
                _, _, body = self.client.request("GET", f"{self._root}/ocs/v1.php/cloud/user?format=json",
                                                 headers={"OCS-APIREQUEST": "true"}, limit=1 << 16)
                found = json.loads(body)["ocs"]["data"]["id"]
            except (ReplicaError, ValueError, KeyError, TypeError):
                pass
            self._user = found if isinstance(found, str) and is_name(found) else self._login
        return self._user

    @property
    def uploads(self) -> str:
        return f"{self._root}/remote.php/dav/uploads/{quote(self.user(), safe='')}"

    @property
    def files_path(self) -> str:
        return f"{urlsplit(self._root).path}/remote.php/dav/files/{quote(self.user(), safe='')}" + "".join(
            "/" + quote(s, safe="") for s in self._folder)

    # -- uploads ------------------------------------------------------------------------------------------
    def put(self, path: str, spool: IO[bytes], size: int, mtime_s: int, sha1: str,
            condition: dict[str, str]) -> Landed | None:
        """``PUT`` the spool's bytes at ``path`` under ``condition``; None when it failed (``412``)."""
        spool.seek(0)
        headers = {"Content-Length": str(size), "X-OC-Mtime": str(mtime_s), "OC-Checksum": f"SHA1:{sha1}",
                   **condition}
        status, answer, _ = self.client.request("PUT", self.address.url(path), where=path, ok=(200, 201, 204, 412),
                                                content=iter(lambda: spool.read(BLOCK), b""), headers=headers,
                                                limit=1 << 16)
        return None if status == 412 else _landed(answer)

    def start_chunks(self, spool: IO[bytes], size: int) -> str:
        """Upload the spool as chunks into a new upload collection (invisible to every client); its URL."""
        url = f"{self.uploads}/syncline-{secrets.token_hex(12)}"
        self.client.request("MKCOL", url, where="an upload", ok=(201,), headers={"OC-Total-Length": str(size)},
                            limit=1 << 16)
        try:
            spool.seek(0)
            offset = 0
            while offset < size:
                n = min(self.chunk, size - offset)
                end = offset + n
                pieces = _pieces(spool, n)
                self.client.request("PUT", f"{url}/{offset:016d}", where="a chunk", ok=(201, 204),
                                    content=pieces, limit=1 << 16,
                                    headers={"Content-Length": str(n), "OC-Chunk-Offset": str(offset)})
                offset = end
        except BaseException:
            self.drop(url)
            raise
        return url

    def finish_chunks(self, upload: str, path: str, size: int, mtime_s: int, sha1: str,
                      etag: str | None) -> Landed | None:
        """``MOVE`` the upload's ``.file`` to ``path``: replacing only the file at ``etag`` (the ``If``
        header on the destination: ``If-Match`` would apply to the source), or only onto nothing (None).
        None when that condition failed."""
        dest = self.files_path + "/" + "/".join(quote(s, safe="") for s in path.split("/"))
        headers = {"Destination": dest, "OC-Total-Length": str(size), "OC-Checksum": f"SHA1:{sha1}",
                   "X-OC-Mtime": str(mtime_s), "Overwrite": "T"}
        if etag is not None:
            headers["If"] = f"<{self.address.server}{dest}> ([{etag}])"
        else:
            headers["If-None-Match"] = "*"
            headers["Overwrite"] = "F"
        status, answer, _ = self.client.request("MOVE", f"{upload}/.file", where=path, ok=(201, 204, 412),
                                                headers=headers, limit=1 << 16)
        return None if status == 412 else _landed(answer)

    def drop(self, upload: str) -> None:
        try:
            self.client.request("DELETE", upload, where="an upload", ok=(200, 204, 404), limit=1 << 16)
        except ReplicaError:
            pass  # the server removes an upload untouched for a day

    # -- deletes ------------------------------------------------------------------------------------------
    def delete(self, item: Item) -> bool | None:
        """``DELETE`` ``item`` at the etag it has: True deleted (or gone), False changed (``412``), None
        when it has no strong etag to make the condition with (nothing sent)."""
        condition = strong(item.etag)
        if condition is None:
            return None
        status, _, _ = self.client.request("DELETE", self.address.url(item.path, folder=item.folder),
                                           where=item.path, ok=(200, 204, 404, 412),
                                           headers={"If-Match": condition}, limit=1 << 16)
        return status != 412

    # -- markers ------------------------------------------------------------------------------------------
    def read_marker(self, name: str) -> tuple[str | None, str | None]:
        """(the marker's text or None, the root's etag) from one Depth-0 PROPFIND; (None, None) when the
        root is not there yet."""
        local = prop_name(name)
        body = (f'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:s="{NS}"><d:prop>'
                f"<d:getetag/><s:{local}/></d:prop></d:propfind>").encode()
        try:
            _, _, answer = self.client.request("PROPFIND", self.address.base_url, where=name, ok=(207,),
                                               content=body, limit=1 << 20,
                                               headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"})
        except NotFound:
            return None, None
        try:
            root = _parse(answer)
        except BadAnswer as exc:
            raise bad_answer(self.address, str(exc), name) from None
        value: str | None = None
        etag: str | None = None
        for propstat in root.iter("{DAV:}propstat"):
            status = (propstat.findtext("{DAV:}status") or "").split()
            if len(status) < 2 or not status[1].startswith("2"):
                continue
            e = propstat.find("{DAV:}prop/{DAV:}getetag")
            if e is not None and e.text:
                etag = e.text.strip()
            m = propstat.find(f"{{DAV:}}prop/{{{NS}}}{local}")
            if m is not None:
                try:
                    value = base64.b64decode((m.text or "").strip(), validate=True).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    raise bad_answer(self.address, f"the marker {name} is not base64 of UTF-8", name) from None
        return value, etag

    def write_marker(self, name: str, text: str, etag: str | None = None) -> bool:
        """``PROPPATCH`` the marker (with ``If-Match`` on the root's ``etag``); False on ``412``."""
        data = text.encode("utf-8")
        if len(data) > MAX_MARKER:
            raise ReplicaError(f"the replica file {name} is over {MAX_MARKER} bytes: too large for a property")
        value = escape(base64.b64encode(data).decode("ascii"))
        body = (f'<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:" xmlns:s="{NS}">'
                f"<d:set><d:prop><s:{prop_name(name)}>{value}</s:{prop_name(name)}></d:prop></d:set>"
                "</d:propertyupdate>").encode()
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if etag:
            headers["If-Match"] = etag
        status, _, answer = self.client.request("PROPPATCH", self.address.base_url, where=name, ok=(207, 412),
                                                content=body, headers=headers, limit=1 << 16)
        if status == 412:
            return False
        try:
            ok = _all_set(answer)
        except BadAnswer as exc:
            raise bad_answer(self.address, str(exc), name) from None
        if not ok:
            raise ReplicaError(f"{self.address.server} did not keep the replica file {name} (PROPPATCH refused)")
        return True


def _all_set(body: bytes) -> bool:
    root = _parse(body)
    statuses = [(ps.findtext("{DAV:}status") or "").split() for ps in root.iter("{DAV:}propstat")]
    return bool(statuses) and all(len(s) >= 2 and s[1].startswith("2") for s in statuses)


def _pieces(spool: IO[bytes], n: int) -> Iterable[bytes]:
    left = n
    while left > 0:
        piece = spool.read(min(BLOCK, left))
        if not piece:
            raise ReplicaError("the spool file ended early")
        left -= len(piece)
        yield piece


def _landed(headers: httpx.Headers) -> Landed:
    return Landed(headers.get("oc-etag") or headers.get("etag"), headers.get("oc-fileid"))
