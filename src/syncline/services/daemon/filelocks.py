"""File locks as a device sees them (protocol 1.1, ``file-locks``): which folder and path a local path is,
and the calls that list, take, renew and end locks, for ``syncline lock``, ``unlock`` and ``locks``.

Every answer is checked field by field, and every refusal comes out as one :class:`UsageError` line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...core.errors import UsageError
from ...engine.replicas.remote import Client, code_of
from ...formats.wire import WireError
from ...formats.wire.filelocks import LockInfo, lock_of_json, locks_of_json
from ...formats.wire.paths import check_folder_name, check_wire_path
from ..config import DaemonConfig


def _checked(client: Client, read: Any) -> Any:
    try:
        return read()
    except WireError as err:
        raise UsageError(f"the server's answer was refused: {err.message}", "check the server's version") from None


def _needs_locks(client: Client) -> None:
    if "file-locks" not in client.info().features:
        raise UsageError(f"the server at {client.base} does not lock files",
                         "upgrade the server to a syncline with file locks")


def server_path(config: DaemonConfig | None, path: str, folder: str | None) -> tuple[str, str]:
    """``(server folder, path in it)`` of ``path``: a path inside a folder this device syncs with a server
    (or, with ``folder``, a path in that server folder). :class:`UsageError` otherwise."""
    if folder is not None:
        try:
            return check_folder_name(folder), check_wire_path(path.strip("/"))
        except WireError as err:
            raise UsageError(err.message, err.hint) from None
    want = Path(os.path.normpath(os.path.abspath(os.path.expanduser(path))))
    for f in config.folders if config is not None else ():
        root = Path(f.local)
        if want != root and want.is_relative_to(root):
            try:
                return check_folder_name(f.remote), want.relative_to(root).as_posix()
            except WireError:
                break
    raise UsageError(f"{want} is not in a folder this device syncs with a server",
                     "give a path inside one (see `syncline folder list`), or --folder NAME and the path in it")


def list_locks(client: Client, folder: str) -> list[LockInfo]:
    _needs_locks(client)
    value = folder_call(client, "GET", folder, "file-locks")
    found: list[LockInfo] = _checked(client, lambda: locks_of_json(value))
    return found


def take(client: Client, folder: str, path: str, ttl: int, note: str | None) -> LockInfo:
    """Lock ``path`` for this device for ``ttl`` seconds."""
    _needs_locks(client)
    body: dict[str, Any] = {"path": path, "ttl": ttl}
    if note is not None:
        body["note"] = note
    value = folder_call(client, "POST", folder, "file-locks", json=body, ok=(200, 201))
    lock: LockInfo = _checked(client, lambda: lock_of_json(value))
    return lock


def release(client: Client, folder: str, path: str, force: bool) -> LockInfo:
    """End the lock of ``path`` (``force``: another user's, as the folder's owner)."""
    found = [lk for lk in list_locks(client, folder) if lk.path == path]
    if not found:
        raise UsageError(f"{path} is not locked", "see `syncline locks`")
    lock = found[0]
    folder_call(client, "DELETE", folder, f"file-locks/{lock.lock}", params={"force": "1"} if force else None,
                ok=(204,))
    return lock


def folder_call(client: Client, method: str, folder: str, tail: str, *, json: Any = None,
                params: dict[str, str] | None = None, ok: tuple[int, ...] = (200,)) -> Any:
    """The parsed answer (None for an empty one) of a request on one of this user's server folders; a
    refusal a person can act on (locked, forbidden, read-only, not found, a bad request) as the server's
    one line."""
    try:
        _, raw = client.request(method, f"folders/{folder}/{tail}", json=json, params=params, ok=ok)
    except OSError as exc:
        code = code_of(exc)
        if code not in ("locked", "forbidden", "read_only", "not_found", "bad_request", "share_revoked",
                        "too_large"):
            raise
        hint = str(getattr(exc, "hint", "") or "")
        why = str(exc.strerror or exc).removesuffix(f" ({hint})" if hint else "")
        raise UsageError(why, hint or "check the path and the folder's name") from None
    return client.parsed(raw) if raw else None
