"""Names the server makes: file ids, device ids, folder uids, chunk namespaces, lock ids."""

from __future__ import annotations

import secrets

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def base32_id(n: int = 20) -> str:
    """``n`` random base32 characters (20: 100 bits, the protocol's file id)."""
    return "".join(secrets.choice(_BASE32) for _ in range(n))


def namespace() -> str:
    """A chunk namespace: 32 random lowercase hex digits (a folder name in the chunk store)."""
    return secrets.token_hex(16)
