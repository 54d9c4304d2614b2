"""File locks on the wire (protocol 1.1, ``file-locks``): the checked reading of a server's answer, for
every client (the remote replica's planning, ``syncline lock``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fields import boolean, integer, lst, obj, text
from .limits import MAX_FILE_LOCKS, MAX_INT, MAX_LOCK_NOTE
from .paths import check_wire_path

RESP = "bad_response"


@dataclass(frozen=True, slots=True)
class LockInfo:
    """One file lock as the server lists it."""

    lock: str
    path: str
    user: str
    device: str
    device_name: str
    expires_ns: int
    expires_in: int
    note: str | None
    mine: bool


def lock_of_json(raw: Any) -> LockInfo:
    """One lock of an answer, every field checked (``WireError`` ``bad_response`` otherwise)."""
    o = obj(raw, "lock", RESP)
    return LockInfo(text(o.get("lock"), "lock", RESP, 64), check_wire_path(o.get("path")),
                    text(o.get("user"), "user", RESP, 32), text(o.get("device"), "device", RESP, 128),
                    text(o.get("device_name"), "device_name", RESP, 256),
                    integer(o.get("expires_ns"), "expires_ns", RESP, 0, MAX_INT),
                    integer(o.get("expires_in"), "expires_in", RESP, 0, MAX_INT),
                    None if o.get("note") is None else text(o.get("note"), "note", RESP, MAX_LOCK_NOTE),
                    boolean(o.get("mine"), "mine", RESP))


def locks_of_json(value: Any) -> list[LockInfo]:
    """The ``locks`` of a ``GET .../file-locks`` answer (``WireError`` ``bad_response`` otherwise)."""
    raw = lst(obj(value, "file-locks", RESP).get("locks"), "locks", RESP, MAX_FILE_LOCKS)
    return [lock_of_json(one) for one in raw]
