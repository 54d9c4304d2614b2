"""What a WebDAV server is, asked once per run: ``OPTIONS`` (its ``DAV:`` classes), and, for an address
in the ownCloud/Nextcloud layout (``.../remote.php/webdav/...``, ``.../remote.php/dav/files/USER/...``),
``status.php`` and ``/ocs/v1.php/cloud/capabilities?format=json`` next to ``remote.php``.

A server that answers ``status.php`` with ``"installed": true`` speaks the **OC dialect**: its folder
etags change whenever anything below changes (so unchanged subtrees are skipped), files carry
``oc:fileid`` and ``oc:checksums``, ``X-OC-Mtime`` on a PUT sets the mtime, and chunked uploads are there
when the capabilities announce ``dav.chunking``. Apache mod_dav, wsgidav and ``rclone serve webdav`` are
assumed to have none of it. ``webdav(s)://`` addresses are not asked about ``status.php``: a plain server
has none, and a request per run to a URL it never had would only fill its logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import NotFound, ReplicaError
from .client import DavClient

MAX_JSON = 1 << 20


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the probe found: ``classes`` from the ``DAV`` header (``{"1", "2"}``), ``oc`` (the OC
    dialect), ``chunking`` (``dav.chunking`` announced), ``version`` and ``product`` (the OC server's,
    else "")."""

    classes: frozenset[str] = frozenset()
    oc: bool = False
    chunking: bool = False
    version: str = ""
    product: str = ""  # status.php's productname ("Nextcloud", "ownCloud", "syncline")


def probe(client: DavClient) -> Dialect:
    """Ask the server (the root's ``OPTIONS`` raises what a wrong password or a gone server raise)."""
    address = client.address
    _, headers, _ = client.request("OPTIONS", address.base_url, ok=(200, 204), limit=MAX_JSON)
    classes = frozenset(c.strip() for c in headers.get("dav", "").split(",") if c.strip())
    if not address.oc_layout():
        return Dialect(classes)
    segments = list(address.path)
    prefix = "/".join(segments[:segments.index("remote.php")])
    root = address.server + ("/" + prefix if prefix else "")
    status = _json(client, f"{root}/status.php", {})
    if not isinstance(status, dict) or status.get("installed") is not True:
        return Dialect(classes)
    caps = _json(client, f"{root}/ocs/v1.php/cloud/capabilities?format=json", {"OCS-APIREQUEST": "true"})
    chunking = False
    try:
        dav = caps["ocs"]["data"]["capabilities"]["dav"]  # type: ignore[index]
        chunking = isinstance(dav, dict) and str(dav.get("chunking", "")) >= "1.0"
    except (KeyError, TypeError):
        pass
    version, product = status.get("version"), status.get("productname")
    return Dialect(classes, True, chunking, version if isinstance(version, str) else "",
                   product if isinstance(product, str) else "")


def _json(client: DavClient, url: str, headers: dict[str, str]) -> object:
    """The JSON at ``url``; None when there is none (not found, not JSON, refused)."""
    try:
        _, _, body = client.request("GET", url, ok=(200,), headers=headers, limit=MAX_JSON)
        return json.loads(body)
    except (NotFound, ValueError):
        return None
    except ReplicaError as exc:
        if exc.retryable:
            raise
        return None
