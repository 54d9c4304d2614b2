"""A folder on a syncline server as a replica (protocol v1): :class:`RemoteReplica`, the
:class:`Credentials` ``syncline connect`` saves, the :class:`ChunkBasis` delta downloads read from, and
the :class:`Client` (pinned TLS, the token, the one error map) that the daemon's feed and ``connect`` share."""

from .basis import ChunkBasis
from .client import RESP, Client, ServerInfo, code_of
from .credentials import Credentials, credentials_path, load_credentials, save_credentials, server_url, split_url
from .replica import RemoteReplica, Transfers

__all__ = [
    "RESP",
    "ChunkBasis",
    "Client",
    "Credentials",
    "RemoteReplica",
    "ServerInfo",
    "Transfers",
    "code_of",
    "credentials_path",
    "load_credentials",
    "save_credentials",
    "server_url",
    "split_url",
]
