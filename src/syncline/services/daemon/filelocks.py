"""File locks as a device sees them (protocol 1.1, ``file-locks``): which folder and path a local path is,
and the calls that list, take, renew and end locks, for ``syncline lock``, ``unlock`` and ``locks``.

Every answer is checked field by field, and every refusal comes out as one :class:`UsageError` line.
"""

from __future__ import annotations

from typing import Any

from ...core.errors import UsageError
from ...engine.replicas.remote import Client
from ...formats.wire.filelocks import LockInfo, lock_of_json, locks_of_json
from .serverfolders import checked, folder_call, needs


def _needs_locks(client: Client) -> None:
    needs(client, "file-locks", "does not lock files", "upgrade the server to a syncline with file locks")


def list_locks(client: Client, folder: str) -> list[LockInfo]:
    _needs_locks(client)
    _, value = folder_call(client, "GET", folder, "file-locks")
    return checked(lambda: locks_of_json(value))


def take(client: Client, folder: str, path: str, ttl: int, note: str | None) -> LockInfo:
    """Lock ``path`` for this device for ``ttl`` seconds."""
    _needs_locks(client)
    body: dict[str, Any] = {"path": path, "ttl": ttl}
    if note is not None:
        body["note"] = note
    _, value = folder_call(client, "POST", folder, "file-locks", json=body, ok=(200, 201))
    return checked(lambda: lock_of_json(value))


def release(client: Client, folder: str, path: str, force: bool) -> LockInfo:
    """End the lock of ``path`` (``force``: another user's, as the folder's owner)."""
    found = [lk for lk in list_locks(client, folder) if lk.path == path]
    if not found:
        raise UsageError(f"{path} is not locked", "see `syncline locks`")
    lock = found[0]
    folder_call(client, "DELETE", folder, f"file-locks/{lock.lock}", params={"force": "1"} if force else None,
                ok=(204,))
    return lock
