"""Shares on the wire (protocol 1.1, ``shares``): one value for the server that lists them and the client
that reads them, and the checked reading of one from JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import WireError
from .fields import integer, obj, text
from .limits import MAX_INT
from .paths import check_folder_name

OWNER, OFFERED, ACCEPTED, REVOKED = "owner", "offered", "accepted", "revoked"
STATES = (OWNER, OFFERED, ACCEPTED, REVOKED)


@dataclass(frozen=True, slots=True)
class Share:
    """One user's right to a folder, seen by either side: ``folder`` is its owner's name for it, ``name``
    the member's (None while offered); ``since_ns`` is when it reached ``state``."""

    uid: str
    folder: str
    owner: str
    user: str
    rights: str
    state: str
    name: str | None
    since_ns: int

    @property
    def label(self) -> str:
        """How a person names it: ``OWNER/FOLDER``."""
        return f"{self.owner}/{self.folder}"

    def to_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "folder": self.folder, "owner": self.owner, "user": self.user,
                "rights": self.rights, "state": self.state, "name": self.name, "since_ns": self.since_ns}


def share_of_json(value: Any, code: str = "bad_response") -> Share:
    """A share read from JSON, every field checked (``WireError(code)`` otherwise)."""
    o = obj(value, "share", code)
    state = text(o.get("state"), "state", code, 16)
    rights = text(o.get("rights"), "rights", code, 2)
    if state not in STATES or rights not in ("rw", "ro"):
        raise WireError(code, f"a share in state {state!r} with rights {rights!r}")
    name = o.get("name")
    try:
        folder = check_folder_name(o.get("folder"))
        member_name = None if name is None else check_folder_name(name)
    except WireError as err:
        raise WireError(code, err.message) from None
    return Share(text(o.get("uid"), "uid", code, 64), folder, text(o.get("owner"), "owner", code, 32),
                 text(o.get("user"), "user", code, 32), rights, state, member_name,
                 integer(o.get("since_ns"), "since_ns", code, 0, MAX_INT))
