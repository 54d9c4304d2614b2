"""Addresses: what a user types for a place (``SRC``, ``DST``, a config file's ``targets``) and the replica
it opens.

Three kinds exist: a local directory path (absolute, or relative to the working directory), a folder on
a syncline server, ``https://host:port/NAME`` (``http://`` for a server on a loopback address), opened
with the credentials ``syncline connect`` saved for that server, and a WebDAV collection
(``webdav://host:port/path``, ``webdavs://...``, or an ownCloud/Nextcloud ``https://.../remote.php/webdav/...``
or ``.../remote.php/dav/files/USER/...``: ``webdav/address.py``), opened with the user and password
``syncline connect`` saved for that WebDAV server. An SSH peer comes in a later issue; until then an
address with another scheme is refused as a :class:`UsageError` that names the kinds there are, instead
of being taken for a folder named ``sftp:``.
A name holding a colon with no ``//`` after it (``notes:2024``, rsync's ``host:path``) stays a local path,
as it always was.

The checks of a mode (``check_roots``: a readable source, roots apart) stay with the mode: an address
says what the place is, not whether this run may use it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.entry import Keep
from ...core.errors import UsageError
from ..state import state_dir
from .local import LocalReplica
from .replica import Replica, WritePolicy

if TYPE_CHECKING:
    from .remote.basis import ChunkBasis

KINDS = ("a local folder (DIR or /path/to/DIR), a server folder (https://host:port/NAME) or a WebDAV folder "
         "(webdavs://host/path)")
REMOTE_SCHEMES = ("https", "http")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address: its ``kind`` (``"local"``, ``"remote"`` or ``"webdav"``); for a local one its
    absolute ``path``, for a remote one the server's ``url`` (``https://host:port``) and the ``folder``
    name, for a WebDAV one its canonical address as ``url``."""

    kind: str
    path: Path
    text: str
    url: str = ""
    folder: str = ""


def parse_address(address: str | os.PathLike[str]) -> Address:
    """The :class:`Address` ``address`` names; :class:`UsageError` for a kind syncline does not know. A
    path object is always local; a relative path is made absolute from the working directory."""
    text = os.fspath(address)
    scheme = _SCHEME.match(text) if isinstance(address, str) else None
    if scheme is not None:
        from .webdav.address import is_dav, parse_dav

        if is_dav(text):
            return Address("webdav", Path(), text, parse_dav(text).text())
    if scheme is not None and scheme.group(1).lower() in REMOTE_SCHEMES:
        from .remote.credentials import server_url, split_url  # httpx only when a server is named

        _, _, _, folder = split_url(text)
        url = server_url(text)
        if not folder or "/" in folder.rstrip("/"):
            raise UsageError(f"not a server folder: {text}", f"name one folder: {url}/NAME")
        return Address("remote", Path(), text, url, folder.rstrip("/"))
    if scheme is not None:
        raise UsageError(f"syncline cannot open {text}: it knows no {scheme.group(1)}:// addresses",
                         f"give {KINDS}; SSH addresses are not supported yet")
    return Address("local", Path(os.path.abspath(text)), text)


def local_path(address: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """``address`` itself when it is a local path (for the modes that work on local folders only), or
    the :class:`UsageError` of :func:`parse_address` (a server folder too: this mode cannot use one)."""
    kind = parse_address(address).kind
    if kind != "local":
        what = "a WebDAV folder" if kind == "webdav" else "a server folder"
        raise UsageError(f"{os.fspath(address)} is {what}; this command works on local folders only",
                         "give a local folder: this command does not take server folders (yet)")
    return address


def open_replica(address: str | os.PathLike[str] | Address, *, policy: WritePolicy | None = None,
                 keep: Keep | None = None, case_probe: Callable[[Path], bool] | None = None,
                 state: Path | None = None, basis: ChunkBasis | None = None) -> Replica:
    """The replica at ``address``, written as ``policy`` says (the default :class:`WritePolicy` when
    None) and keeping what ``keep`` names. Nothing is checked or created: the caller's mode does that.

    ``case_probe`` is how a place that cannot tell by itself whether it ignores case (a local folder: a
    USB stick, a Mac disk) learns it, once, on its first ``features()``: called with the folder's path, it
    says whether the folder ignores case (two-way sync passes ``marker.case_insensitive``, which writes a
    probe file only when the run may write; one-way sync and the watch pass ``marker.case_probe``). Without
    one, a local folder says case-sensitive without
    asking. A place that knows (a server) ignores it.

    A server folder is opened with the credentials saved for its server in ``state`` (the state
    directory when None), its listing cache kept there too; a server this device never connected to is a
    one-line :class:`UsageError` saying how to connect. ``keep`` is not asked of a server (it keeps no
    owners or extended attributes: its ``features()`` say so, and the planner projects onto them).
    ``basis`` (:func:`open_basis` of the local folder on the other side) lets a server folder's
    downloads of big files reuse the chunks that folder holds; it stays the caller's to close, and a
    local folder ignores it."""
    where = address if isinstance(address, Address) else parse_address(address)
    if where.kind == "remote":
        return _open_remote(where, policy, state, basis)
    if where.kind == "webdav":
        return _open_webdav(where, policy, state)
    return LocalReplica(where.path, policy=policy or WritePolicy(), keep=keep, case_probe=case_probe)


def open_basis(root: Path, state: Path | None = None) -> ChunkBasis:
    """The chunk basis of the local folder ``root``, kept in ``state`` (the state directory when None),
    one per folder: what a server folder synced with ``root`` is opened with (``open_replica(basis=)``).
    The caller owns it and closes it once no replica uses it (replicas leave it open when closed). A
    damaged basis starts empty (it holds hints only); :class:`UsageError` when the state directory
    cannot hold it."""
    import sqlite3

    from .remote.basis import open_basis as open_at  # httpx is imported only when a server is used

    state = state if state is not None else state_dir()
    try:
        return open_at(state, root)
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot keep the chunk basis of {root} in {state}: {why}",
                         "check that the state directory is writable (SYNCLINE_STATE_DIR)") from None


def _open_remote(where: Address, policy: WritePolicy | None, state: Path | None,
                 basis: ChunkBasis | None) -> Replica:
    from .remote import RemoteReplica, load_credentials  # httpx is imported only when a server is used

    state = state if state is not None else state_dir()
    credentials = load_credentials(state, where.url)
    if credentials is None:
        raise UsageError(f"not connected to {where.url}: run `syncline connect {where.url}`",
                         "connect once per device; it asks for your user name and password on that server")
    return RemoteReplica(where.url, where.folder, credentials, policy=policy or WritePolicy(), state_dir=state,
                         basis=basis)


def _open_webdav(where: Address, policy: WritePolicy | None, state: Path | None) -> Replica:
    from .webdav import WebdavReplica, load_credentials, parse_dav  # httpx only when a server is used

    state = state if state is not None else state_dir()
    dav = parse_dav(where.url)
    credentials = load_credentials(state, dav.server)
    if credentials is None:
        raise UsageError(f"no user name and password for {dav.server}: run `syncline connect {where.url} --user NAME`",
                         "connect once per device (an app password where the server has them); or set "
                         "SYNCLINE_WEBDAV_USER and SYNCLINE_WEBDAV_PASSWORD")
    return WebdavReplica(dav, credentials, policy=policy or WritePolicy(), state_dir=state)
