"""What ``syncline connect webdav(s)://...`` keeps for a WebDAV server: the user name and the password
(or app password), one JSON file per server (``scheme://host:port``) under ``<state>/webdav-servers/``,
mode 0600 in a folder of mode 0700, as server tokens are kept (``remote/credentials.py``).

A WebDAV server takes the password itself on every request (HTTP Basic), so, unlike a syncline server's
device token, what is kept *is* the password: hence an app password where the server offers them
(Nextcloud, ownCloud), which can be revoked alone. ``SYNCLINE_WEBDAV_USER`` and
``SYNCLINE_WEBDAV_PASSWORD`` in the environment take the place of a saved record (scripts, CI), never
written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ....core.errors import UsageError
from ..secretfile import read_secret, write_secret

SERVERS_DIR = "webdav-servers"  # below the state directory
ENV_USER, ENV_PASSWORD = "SYNCLINE_WEBDAV_USER", "SYNCLINE_WEBDAV_PASSWORD"


@dataclass(frozen=True, slots=True)
class DavCredentials:
    """A user's right to one WebDAV server: its ``server`` (``scheme://host:port``), ``user`` and
    ``password`` (an app password where the server has them)."""

    server: str
    user: str
    password: str

    def __repr__(self) -> str:  # never print a password into a log
        return f"DavCredentials(server={self.server!r}, user={self.user!r})"


def credentials_path(state_dir: Path, server: str) -> Path:
    name = hashlib.sha256(server.encode()).hexdigest()[:32]
    return Path(state_dir) / SERVERS_DIR / f"{name}.json"


def save_credentials(state_dir: Path, credentials: DavCredentials) -> Path:
    """Keep ``credentials`` for their server (replacing an older record); returns the file's path."""
    path = credentials_path(state_dir, credentials.server)
    write_secret(path, json.dumps({"server": credentials.server, "user": credentials.user,
                                   "password": credentials.password}).encode("utf-8"))
    return path


def load_credentials(state_dir: Path, server: str, env: Mapping[str, str] | None = None) -> DavCredentials | None:
    """The credentials for ``server``: from the environment when both variables are set, else the saved
    record; None when there are neither. :class:`UsageError` for a record that is damaged."""
    env = os.environ if env is None else env
    if env.get(ENV_USER) and env.get(ENV_PASSWORD):
        return DavCredentials(server, env[ENV_USER], env[ENV_PASSWORD])
    path = credentials_path(state_dir, server)
    again = f"run `syncline connect {server} --user NAME` again"
    raw = read_secret(path, f"the WebDAV credentials for {server}", again)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        creds = DavCredentials(record["server"], record["user"], record["password"])
        if not all(isinstance(v, str) and v for v in (creds.server, creds.user, creds.password)) \
                or creds.server != server:
            raise ValueError("mistyped")
    except (ValueError, TypeError, KeyError):
        raise UsageError(f"the credentials file {path} is damaged", again) from None
    return creds
