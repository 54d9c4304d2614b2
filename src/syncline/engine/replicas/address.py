"""Addresses: what a user types for a place (``SRC``, ``DST``, a config file's ``targets``) and the replica
it opens.

Only one kind exists now: a local directory path (absolute, or relative to the working directory). A
syncline server, an SSH peer and a WebDAV share come in later issues, each as a scheme (``syncline://``,
``ssh://``, ``https://``) with its own replica; until then an address with a scheme is refused as a
:class:`UsageError` that names the kinds there are, instead of being taken for a folder named ``sftp:``.
A name holding a colon with no ``//`` after it (``notes:2024``, rsync's ``host:path``) stays a local path,
as it always was.

The checks of a mode (``check_roots``: a readable source, roots apart) stay with the mode: an address
says what the place is, not whether this run may use it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...core.entry import Keep
from ...core.errors import UsageError
from .local import LocalReplica
from .replica import Replica, WritePolicy

KINDS = "a local folder (DIR or /path/to/DIR)"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address: its ``kind`` (``"local"``) and, for a local one, its absolute ``path``."""

    kind: str
    path: Path
    text: str


def parse_address(address: str | os.PathLike[str]) -> Address:
    """The :class:`Address` ``address`` names; :class:`UsageError` for a kind syncline does not know. A
    path object is always local; a relative path is made absolute from the working directory."""
    text = os.fspath(address)
    scheme = _SCHEME.match(text) if isinstance(address, str) else None
    if scheme is not None:
        raise UsageError(f"syncline cannot open {text}: it knows no {scheme.group(1)}:// addresses",
                         f"give {KINDS}; server, SSH and WebDAV addresses are not supported yet")
    return Address("local", Path(os.path.abspath(text)), text)


def local_path(address: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """``address`` itself when it is a local path (for the modes that work on local folders only), or
    the :class:`UsageError` of :func:`parse_address`."""
    parse_address(address)
    return address


def open_replica(address: str | os.PathLike[str] | Address, *, policy: WritePolicy | None = None,
                 keep: Keep | None = None, case_probe: Callable[[Path], bool] | None = None) -> Replica:
    """The replica at ``address``, written as ``policy`` says (the default :class:`WritePolicy` when
    None) and keeping what ``keep`` names. Nothing is checked or created: the caller's mode does that.

    ``case_probe`` is how a place that cannot tell by itself whether it ignores case (a local folder: a
    USB stick, a Mac disk) learns it, once, on its first ``features()``: called with the folder's path, it
    says whether the folder ignores case (two-way sync passes ``marker.case_insensitive``, which writes a
    probe file only when the run may write; one-way sync and the watch pass ``marker.case_probe``). Without
    one, a local folder says case-sensitive without
    asking. A place that knows (a server, later) ignores it."""
    where = address if isinstance(address, Address) else parse_address(address)
    return LocalReplica(where.path, policy=policy or WritePolicy(), keep=keep, case_probe=case_probe)
