"""Users on the wire (protocol 1.3, ``users``): the row an administrator sees of each user, and the checked
reading of a change to one (``PATCH /v1/users/{name}``).

Adding a user is not on the wire: users are made on the server machine (``syncline user add``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import WireError, clip
from .fields import obj
from .limits import MAX_QUOTA

_CHANGE_KEYS = ("quota", "disabled")
_HINT = 'send {"quota": BYTES or null, "disabled": true or false}, one of them or both'


@dataclass(frozen=True, slots=True)
class UserInfo:
    """One user as an administrator sees them. ``quota`` is None for none; ``used`` is what a quota counts
    (the live bytes of the folders the user owns); ``devices`` counts the devices not revoked;
    ``last_seen_ns`` is the latest request (or login) of any of their devices, None when they never had one."""

    name: str
    admin: bool
    disabled: bool
    quota: int | None
    used: int
    devices: int
    last_seen_ns: int | None
    created_ns: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "admin": self.admin, "disabled": self.disabled, "quota": self.quota,
                "used": self.used, "devices": self.devices, "last_seen_ns": self.last_seen_ns,
                "created_ns": self.created_ns}


@dataclass(frozen=True, slots=True)
class UserChange:
    """What a ``PATCH`` asks: a new quota when ``sets_quota`` (``quota`` None: no quota), and to disable
    (True) or enable (False) the user when ``disabled`` is not None."""

    sets_quota: bool = False
    quota: int | None = None
    disabled: bool | None = None


def user_change_of_json(value: Any) -> UserChange:
    """The change a ``PATCH`` body asks for: an object with ``quota`` (0 to 2^62 bytes, or null) and/or
    ``disabled`` (true or false), nothing else. ``WireError("bad_request")`` naming the field otherwise
    (a JSON ``true`` is not a quota, ``1.5`` is not a number of bytes)."""
    o = obj(value, "body", "bad_request")
    unknown = sorted(k for k in o if k not in _CHANGE_KEYS)
    if unknown:
        raise WireError("bad_request", f"unknown field {clip(unknown[0], 40)!r} in a user change", _HINT,
                        {"where": clip(unknown[0], 40)})
    if not o:
        raise WireError("bad_request", "nothing to change", _HINT)
    quota = o.get("quota")
    if quota is not None and (type(quota) is not int or not 0 <= quota <= MAX_QUOTA):
        raise WireError("bad_request", f"quota: {clip(str(quota), 40)} is not a number of bytes from 0 to 2^62",
                        "give the most the user's folders may hold in bytes, or null for no quota",
                        {"where": "quota"})
    disabled = o.get("disabled")
    if "disabled" in o and type(disabled) is not bool:
        raise WireError("bad_request", "disabled: not true or false", _HINT, {"where": "disabled"})
    return UserChange("quota" in o, quota, disabled)
