"""Names the server makes: file ids, device ids, folder uids, chunk namespaces, lock ids."""

from __future__ import annotations

import base64
import os
import secrets


def base32_id(n: int = 20) -> str:
    """``n`` random base32 characters (20: 100 bits, the protocol's file id; at most 32)."""
    return base64.b32encode(os.urandom(20)).decode("ascii")[:n]


def namespace() -> str:
    """A chunk namespace: 32 random lowercase hex digits (a folder name in the chunk store)."""
    return secrets.token_hex(16)
