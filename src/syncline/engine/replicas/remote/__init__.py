"""A folder on a syncline server as a replica (protocol v1): :class:`RemoteReplica`, the
:class:`Credentials` ``syncline connect`` saves, and the :class:`ChunkBasis` delta downloads read from."""

from .basis import ChunkBasis
from .credentials import Credentials, credentials_path, load_credentials, save_credentials, server_url, split_url
from .replica import RemoteReplica, Transfers

__all__ = [
    "ChunkBasis",
    "Credentials",
    "RemoteReplica",
    "Transfers",
    "credentials_path",
    "load_credentials",
    "save_credentials",
    "server_url",
    "split_url",
]
