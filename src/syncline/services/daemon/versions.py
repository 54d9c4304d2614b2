"""Versions as a device sees them (protocol 1.1, ``versions``): the versions a server keeps of a path, and
bringing one back with a ``restore`` item, for ``syncline versions`` and ``syncline restore``.

A restore is an ordinary conditional item: it names what this device saw at the target (``expect``), and
is sent with ``keep_changed``, so a target that changed since it was looked at is left alone and the person
is told to look again. Every device then gets the restored file as any change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from ...core.errors import UsageError
from ...engine.replicas.remote import RESP, Client
from ...formats.wire import Expect, Op, OpEntry, WireError, WirePolicy, new_op_id
from ...formats.wire.entries import COLUMNS
from ...formats.wire.fields import integer, lst, obj, text
from ...formats.wire.limits import MAX_INT, MAX_OPS, MAX_TRASH_PAGE
from ...formats.wire.opsjson import ops_to_json, results_of_json
from .serverfolders import checked, folder_call, needs


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a path: its entry's fields, and for a kept one its id, when it was kept, why and by
    which device (None for the live one)."""

    kind: str
    size: int
    mtime_ns: int
    file_id: str | None
    version: int
    version_id: int | None = None
    kept_ns: int | None = None
    reason: str = ""
    device: str = ""

    def expect(self) -> Expect:
        """What a write over this (live) entry expects to find."""
        return Expect(self.kind, self.size, self.mtime_ns, None, self.file_id, self.version)  # type: ignore[arg-type]


def _version(raw: Any, extra: bool) -> Version:
    row = lst(raw, "version", RESP, len(COLUMNS) + 4)
    if len(row) != len(COLUMNS) + (4 if extra else 0):
        raise WireError(RESP, "a version row of the wrong length")
    kind = text(row[1], "kind", RESP, 16)
    size, mtime_ns = integer(row[2], "size", RESP, 0, MAX_INT), integer(row[3], "mtime_ns", RESP)
    file_id = row[7] if isinstance(row[7], str) else None
    version = integer(row[8], "version", RESP, 0, MAX_INT)
    if not extra:
        return Version(kind, size, mtime_ns, file_id, version)
    return Version(kind, size, mtime_ns, file_id, version, integer(row[10], "version_id", RESP, 1, MAX_INT),
                   integer(row[9], "kept_ns", RESP, 0, MAX_INT), text(row[11], "reason", RESP, 16),
                   text(row[12], "device", RESP, 256))


def versions(client: Client, folder: str, path: str) -> tuple[Version | None, list[Version]]:
    """The live entry at ``path`` (None: none) and the versions kept of it, newest first."""
    needs(client, "versions", "keeps no versions", "upgrade the server")
    _, value = folder_call(client, "GET", folder, "versions", params={"path": path, "limit": str(MAX_TRASH_PAGE)})

    def read() -> tuple[Version | None, list[Version]]:
        o = obj(value, "versions", RESP)
        current = o.get("current")
        return (None if current is None else _version(current, False),
                [_version(r, True) for r in lst(o.get("rows"), "rows", RESP, MAX_TRASH_PAGE)])

    return checked(read)


MAX_DELETED_PAGES = 100  # 100,000 deleted files listed at most


def deleted(client: Client, folder: str, under: str = "") -> list[tuple[str, Version]]:
    """The files deleted from ``folder`` and not replaced since, newest first, each with its last version:
    at ``under`` or below it ("": anywhere)."""
    needs(client, "versions", "keeps no versions", "upgrade the server")
    out: list[tuple[str, Version]] = []
    before = 0
    for _ in range(MAX_DELETED_PAGES):
        _, value = folder_call(client, "GET", folder, "deleted",
                               params={"before": str(before), "limit": str(MAX_TRASH_PAGE), "path": under})

        def read(value: Any = value) -> tuple[list[tuple[str, Version]], int, bool]:
            o = obj(value, "deleted", RESP)
            rows = lst(o.get("rows"), "rows", RESP, MAX_TRASH_PAGE)
            return ([(text(lst(r, "row", RESP, len(COLUMNS) + 4)[0], "path", RESP, 4096), _version(r, True))
                     for r in rows], integer(o.get("next"), "next", RESP, 0, MAX_INT), o.get("more") is True)

        page, before, more = checked(read)
        out += page
        if not more or not page:
            break
    return out


def restore(client: Client, folder: str, path: str, version_id: int, expect: Version | None) -> int:
    """Bring the kept version ``version_id`` back at ``path`` (over ``expect``, the live entry the caller
    saw there); the folder's sequence after it. :class:`UsageError` when the server refuses it."""
    op = Op(new_op_id(), "restore", path, expect.expect() if expect is not None else None, version_id=version_id)
    _, value = folder_call(client, "POST", folder, "ops", json=ops_to_json(WirePolicy(keep_changed=True), [op]))
    seq, [result] = checked(lambda: results_of_json(value, 1))
    if result.error is not None:
        raise UsageError(result.error.message, result.error.hint or "see `syncline versions PATH`")
    if not result.done:
        raise UsageError(f"{path} changed on the server since it was looked at ({result.note})",
                         "run the command again")
    return seq


def purge(client: Client, folder: str, under: str) -> int:
    """Empty ``folder``'s trash at ``under`` or below it ("": all of it), for good (its owner only); how many
    kept versions went."""
    needs(client, "versions", "keeps no versions", "upgrade the server")
    _, value = folder_call(client, "POST", folder, "purge", json={"path": under}, hint="see `syncline trash list`")
    return checked(lambda: integer(obj(value, "purge", RESP).get("purged"), "purged", RESP, 0, MAX_INT))


def restore_tree(client: Client, folder: str, found: list[tuple[str, Version]], under: str,
                 target: str) -> tuple[int, list[str]]:
    """Bring back the deleted files ``found`` (``deleted(client, folder, under)``), each at its path with
    ``under`` changed to ``target``, with the folders they need (a folder's own mode and time are not kept:
    made 0755, now); how many came back, and a line for each left out (something is at its path now, a
    lock, a quota...). Conditional items (``keep_changed``) in batches of :data:`MAX_OPS`: each batch whole
    or not at all, and the same command again brings back only what is still deleted."""
    moved = [(target + path[len(under):], v) for path, v in found]
    folders = sorted({"/".join(path.split("/")[:n]) for path, _ in moved for n in range(1, path.count("/") + 1)},
                     key=lambda p: (p.count("/"), p))
    now = time.time_ns()
    ops = [Op(new_op_id(), "mkdir", p, None, OpEntry(now, 0o755)) for p in folders]
    ops += [Op(new_op_id(), "restore", p, None, version_id=v.version_id) for p, v in moved]
    restored, left = 0, []
    for start in range(0, len(ops), MAX_OPS):
        batch = ops[start : start + MAX_OPS]
        _, value = folder_call(client, "POST", folder, "ops", json=ops_to_json(WirePolicy(keep_changed=True), batch))
        _, results = checked(partial(results_of_json, value, len(batch)))
        for op, result in zip(batch, results, strict=True):
            if result.error is not None:
                left.append(f"{op.path}: {result.error.message}")
            elif not result.done:
                left.append(f"{op.path}: {result.note}")
            elif op.op == "restore":
                restored += 1
    return restored, left
