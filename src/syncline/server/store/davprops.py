"""WebDAV dead properties (RFC 4918 section 4, PROPPATCH; issue 15): what a client stores on a resource
beside its content, kept as the XML it sent (namespaces and markup inside a value kept as written).

Keyed by (folder, ``file_id``), so a property follows its resource across moves and edits, as ``oc:fileid``
does; a COPY copies them to the new resource's id. Bounded per resource (so no client fills the database
through them): a value at most 64 KiB, at most 1,000 properties and 1 MiB in all. The collector drops
the properties of ids that no entry row has any more (:func:`drop_orphans`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from ...formats.wire.errors import WireError
from .raw import Raw

MAX_VALUE = 64 << 10
MAX_PROPS = 1000
MAX_TOTAL = 1 << 20


@dataclass(frozen=True, slots=True)
class DeadProp:
    """One property: its namespace URI (``""``: none), local name, and the value's XML as stored."""

    ns: str
    name: str
    xml: str


def read(raw: Raw, folder_id: int, file_id: str) -> list[DeadProp]:
    return [DeadProp(str(ns), str(name), str(xml)) for ns, name, xml in raw.all(
        "SELECT ns, name, xml FROM dav_props WHERE folder_id = :f AND file_id = :i ORDER BY ns, name",
        {"f": folder_id, "i": file_id})]


def patch(raw: Raw, folder_id: int, file_id: str, changes: Sequence[DeadProp | tuple[str, str]]) -> None:
    """Set (a :class:`DeadProp`) and remove (``(ns, name)``) properties of one resource in the order given,
    in the caller's transaction (all or nothing: the caller rolls back on ``WireError``). ``too_large``
    past a bound."""
    for change in changes:
        if isinstance(change, DeadProp):
            if len(change.xml.encode("utf-8", "surrogatepass")) > MAX_VALUE:
                raise WireError("too_large", f"the property {change.name} is over {MAX_VALUE:,} bytes", "store less",
                                {"limit": MAX_VALUE})
            raw.run("INSERT INTO dav_props (folder_id, file_id, ns, name, xml) VALUES (:f, :i, :n, :m, :x)"
                    " ON CONFLICT (folder_id, file_id, ns, name) DO UPDATE SET xml = excluded.xml",
                    {"f": folder_id, "i": file_id, "n": change.ns, "m": change.name, "x": change.xml})
        else:
            raw.run("DELETE FROM dav_props WHERE folder_id = :f AND file_id = :i AND ns = :n AND name = :m",
                    {"f": folder_id, "i": file_id, "n": change[0], "m": change[1]})
    count, total = raw.one("SELECT count(*), coalesce(sum(length(xml)), 0) FROM dav_props WHERE folder_id = :f"
                           " AND file_id = :i", {"f": folder_id, "i": file_id}) or (0, 0)
    if int(count) > MAX_PROPS or int(total) > MAX_TOTAL:
        raise WireError("too_large", f"a resource holds at most {MAX_PROPS:,} properties and {MAX_TOTAL:,} "
                        "characters of them", "remove some first", {"limit": MAX_PROPS})


def copy(raw: Raw, folder_id: int, file_id: str, to_folder_id: int, to_file_id: str) -> None:
    """Give the resource ``to_file_id`` the properties of ``file_id`` (replacing its own)."""
    raw.run("DELETE FROM dav_props WHERE folder_id = :f AND file_id = :i", {"f": to_folder_id, "i": to_file_id})
    raw.run("INSERT INTO dav_props (folder_id, file_id, ns, name, xml) SELECT :tf, :ti, ns, name, xml FROM dav_props"
            " WHERE folder_id = :f AND file_id = :i", {"f": folder_id, "i": file_id, "tf": to_folder_id,
                                                        "ti": to_file_id})


def drop_orphans(conn: sa.Connection, folder_id: int) -> int:
    """Drop the properties of ids no entry row of the folder has (not even a tombstone): their resource
    is gone past the history window. The root's (``""``) stay. Returns how many went."""
    return int(Raw(conn).run(
        "DELETE FROM dav_props WHERE folder_id = :f AND file_id != '' AND NOT EXISTS (SELECT 1 FROM entries e"
        " WHERE e.folder_id = dav_props.folder_id AND e.file_id = dav_props.file_id)", {"f": folder_id}).rowcount)
