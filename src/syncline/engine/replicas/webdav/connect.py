"""``syncline connect webdav(s)://...``: check a user name and password against the WebDAV server, then
keep them (``credentials.py``: mode 0600). Plain ``webdav://`` (http) is refused to a host that is not
this machine: Basic auth would send the password in clear on every request."""

from __future__ import annotations

from pathlib import Path

from ....core.errors import UsageError
from ....formats.wire.trust import is_loopback
from .address import parse_dav
from .credentials import DavCredentials, save_credentials
from .replica import WebdavReplica


def connect(state_dir: Path, url: str, user: str, password: str) -> tuple[DavCredentials, bool]:
    """Check ``user`` and ``password`` at the WebDAV address ``url`` (one ``PROPFIND`` of the folder: a
    wrong password raises ``Denied`` and nothing is kept) and save them for its server. Returns the
    credentials and whether the folder is there already (a first sync makes it otherwise)."""
    dav = parse_dav(url)
    if dav.scheme == "http" and not is_loopback(dav.host):
        raise UsageError(f"refusing webdav:// (plain http) to {dav.host}: the password would cross the network "
                         "in clear on every request", f"use webdavs://{dav.host}{dav.base_path.rstrip('/')}")
    credentials = DavCredentials(dav.server, user, password)
    replica = WebdavReplica(dav, credentials)
    try:
        there = replica.exists()
    finally:
        replica.close()
    save_credentials(state_dir, credentials)
    return credentials, there
