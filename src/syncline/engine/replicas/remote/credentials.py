"""What ``syncline connect`` keeps about a server: :class:`Credentials`, saved per server in the state
directory, readable only by the user (mode 0600: the token is as good as a password for its device).

A server is named by its base URL, ``https://host:port`` (:func:`server_url`: host lower-cased, the
default port written out), so ``https://Box/Photos`` and ``https://box:443/Docs`` use the same record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ....core.errors import UsageError
from ..secretfile import read_secret, write_secret

DEFAULT_PORTS = {"https": 443, "http": 80}
SERVERS_DIR = "servers"  # below the state directory


@dataclass(frozen=True, slots=True)
class Credentials:
    """A device's right to one server: ``url`` its base URL, ``token`` the device token (``slt_...``),
    ``cert_pem`` the server's certificate when it is pinned (a self-signed one; None: the system's CAs
    judge it), ``server_id`` the id ``/v1/info`` gave at connect time (another id at the same URL is
    another server, and the client stops)."""

    url: str
    token: str
    cert_pem: str | None
    server_id: str

    def __repr__(self) -> str:  # never print a token into a log
        return f"Credentials(url={self.url!r}, server_id={self.server_id!r}, pinned={self.cert_pem is not None})"


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an ``https://`` or ``http://`` address, host lower-cased, the default
    port filled in, path without its leading ``/``. :class:`UsageError` for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"not a server address: {url} ({exc})", "write it as https://host:port/FOLDER") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise UsageError(f"not a server address: {url}", "write it as https://host:port/FOLDER")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], parts.path.lstrip("/")


def server_url(url: str) -> str:
    """The base URL naming the server of ``url`` (``https://host:port``), whatever path ``url`` has."""
    scheme, host, port, _ = split_url(url)
    return f"{scheme}://{host}:{port}"


def credentials_path(state_dir: Path, url: str) -> Path:
    """Where the record of the server at ``url`` is kept."""
    name = hashlib.sha256(server_url(url).encode()).hexdigest()[:32]
    return Path(state_dir) / SERVERS_DIR / f"{name}.json"


def save_credentials(state_dir: Path, credentials: Credentials) -> Path:
    """Write ``credentials`` for its server (replacing an older record) atomically, in a folder of mode
    0700, the file of mode 0600 before the token is in it; returns the file's path."""
    path = credentials_path(state_dir, credentials.url)
    record = {**asdict(credentials), "url": server_url(credentials.url)}
    write_secret(path, json.dumps(record).encode("utf-8"))
    return path


def load_credentials(state_dir: Path, url: str) -> Credentials | None:
    """The saved credentials of the server at ``url`` (any folder address on it), None when this device
    never connected to it. :class:`UsageError` for a record that cannot be read or was tampered with."""
    path = credentials_path(state_dir, url)
    raw = read_secret(path, f"the credentials for {server_url(url)}", f"run `syncline connect {server_url(url)}` again")
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        creds = Credentials(record["url"], record["token"], record["cert_pem"], record["server_id"])
        if not all(isinstance(v, str) for v in (creds.url, creds.token, creds.server_id)) \
                or not isinstance(creds.cert_pem, (str, type(None))) or creds.url != server_url(url):
            raise ValueError("mistyped")
    except (ValueError, TypeError, KeyError):
        raise UsageError(f"the credentials file {path} is damaged",
                         f"run `syncline connect {server_url(url)}` again") from None
    return creds
