"""One run of a folder, and how its two sides are opened: the one place the daemon calls the two-way
engine.

The other side is any place :func:`~syncline.engine.replicas.address.open_replica` opens: a folder name
on the config's ``[server] url`` (``https://host:8765/NAME``, once ``RemoteReplica`` is registered there)
or an address of its own (a local folder now: the tests' "server side"). Nothing here knows which.

Scoped runs: :func:`run_two_way` passes the changed folders as ``dirs=`` when the engine takes them
(``sync_two_way_replicas(..., dirs=)``, the scoped two-way run), and runs in full until then. That is
asked of the engine's signature once, here, so the loop is written for scoped runs already.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import UsageError
from ...engine.marker import case_insensitive, case_probe
from ...engine.oneway import check_apart
from ...engine.replicas.address import open_basis, open_replica, parse_address
from ...engine.replicas.modemask import Masks, ModeMask
from ...engine.replicas.replica import Replica, WritePolicy
from ...engine.twoway.run import TwoWayReport, TwoWaySyncOptions, sync_two_way_replicas
from ..config import FolderConfig
from ..watch.changes import Folder

if TYPE_CHECKING:
    from ...engine.replicas.remote.basis import ChunkBasis

SCOPED = "dirs" in inspect.signature(sync_two_way_replicas).parameters


def on_server(folder: FolderConfig) -> bool:
    """Whether ``folder``'s ``remote`` is a folder name on the config's server (else it is an address)."""
    return not ("://" in folder.remote or folder.remote.startswith(("/", "~")))


def remote_address(folder: FolderConfig, server_url: str | None) -> str:
    """The address of ``folder``'s other side: ``remote`` itself when it is an address (a path, or has a
    scheme), else the folder of that name on ``server_url``. :class:`UsageError` for a name without a
    server."""
    remote = folder.remote
    if not on_server(folder):
        return os.path.expanduser(remote)
    if server_url is None:
        raise UsageError(f"the folder {folder.local} is bound to {remote!r}, but no server is set",
                         "run `syncline connect URL` first, or give remote as a path")
    return f"{server_url.rstrip('/')}/{remote}"


def folder_basis(folder: FolderConfig, address: str, state: Path | None = None) -> ChunkBasis | None:
    """The chunk basis of ``folder``'s local root, kept in ``state`` (None: the state directory of the
    environment), when its other side (``address``) is a server folder; None for a local other side.
    The caller owns it: it is meant to last as long as the folder's loop, across runs and reopened
    sides, and is closed by the loop. Raises :class:`UsageError` when it cannot be kept, or for an
    address nothing can open."""
    if parse_address(address).kind == "local":
        return None
    return open_basis(Path(folder.local), state)


def open_sides(folder: FolderConfig, address: str, state: Path | None = None,
               basis: ChunkBasis | None = None, masks: Masks | None = None) -> tuple[Replica, Replica]:
    """The folder's two replicas (local, other side), written with the two-way policy. A local other side
    is checked to be apart from the folder (neither inside the other); a server folder is opened with the
    credentials saved in ``state`` (None: the state directory of the environment) and ``basis``
    (:func:`folder_basis`), which closing the sides leaves open. With ``masks`` (``lock_makes_readonly``)
    the local side shows the files made read-only with the modes they had (a
    :class:`~syncline.engine.replicas.modemask.ModeMask`). Raises :class:`UsageError` for an address
    nothing can open."""
    where = parse_address(address)
    if where.kind == "local":
        check_apart(Path(folder.local), where.path)
    policy = WritePolicy.two_way(trash=folder.options.trash)

    def probe(root: Path) -> bool:
        return root.is_dir() and case_insensitive(root, probe=True)

    local = (open_replica(folder.local, policy=policy, case_probe=probe) if masks is None
             else ModeMask(folder.local, masks, policy=policy, case_probe=probe))
    try:
        other = open_replica(where, policy=policy, case_probe=case_probe(may_write=True), state=state, basis=basis)
    except BaseException:
        local.close()
        raise
    return local, other


Progress = Callable[[int, int, int, int], None]


def run_two_way(local: Replica, other: Replica, options: TwoWaySyncOptions, dirs: Sequence[Folder] | None,
                progress: Progress | None = None, names: Mapping[str, Collection[str]] | None = None
                ) -> TwoWayReport:
    """One two-way run between the folder's sides: scoped to ``dirs`` (``(folder, deep)`` pairs, a shallow
    one narrowed to the children ``names`` gives for it) when given and the engine scopes runs, else
    full. Raises what ``sync_two_way_replicas`` raises:
    :class:`~syncline.core.errors.SafetyStop` and :class:`UsageError` (nothing changed; the folder must
    wait for a person), a retryable :class:`~syncline.core.errors.SynclineError` or ``OSError`` (try
    again later)."""
    if dirs is not None and SCOPED:
        return sync_two_way_replicas(local, other, options, progress, dirs=dirs,  # type: ignore[call-arg,unused-ignore]
                                     names=names)
    return sync_two_way_replicas(local, other, options, progress)


class Rate:
    """What a run's progress callback (files done, files total, bytes done, bytes total) tells a status:
    files and bytes left, and an ETA from the bytes per second so far."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def left(self, files_done: int, files_total: int, bytes_done: int, bytes_total: int
             ) -> tuple[int, int, float | None]:
        elapsed = time.monotonic() - self.started
        files, size = max(0, files_total - files_done), max(0, bytes_total - bytes_done)
        eta = round(size * elapsed / bytes_done, 1) if bytes_done > 0 and elapsed > 0 else None
        return files, size, eta


CHANGES_TOLD = 20  # a run's changes named in its event (the counts say the rest)
_TOLD_OPS = {"copy": "copied", "delete": "deleted", "symlink": "linked", "mkdir": "made"}


def changes_of(report: TwoWayReport) -> tuple[tuple[str, str, str], ...]:
    """Up to :data:`CHANGES_TOLD` of the changes ``report``'s run made, as ``(where, what, path)``:
    ``where`` is ``here`` (this device's folder, side A, was written) or ``there`` (the other side);
    ``what`` is ``moved`` (``path`` is ``OLD -> NEW``), ``copied``, ``deleted``, ``linked`` or ``made``
    (a folder). Items that failed are left out (they are told as failures); mode and time changes too."""
    plan = report.plan
    if plan is None:
        return ()
    failed = {p.path for p in report.problems if p.error}
    out: list[tuple[str, str, str]] = []
    for move in plan.moves:
        out.append(("here" if move.side == "a" else "there", "moved", f"{move.src} -> {move.dst}"))
    for where, side in (("here", plan.to_a), ("there", plan.to_b)):
        for action in side.actions:
            what = _TOLD_OPS.get(action.op)
            if what is not None and action.path not in failed:
                out.append((where, what, action.path))
            if len(out) >= CHANGES_TOLD:
                return tuple(out[:CHANGES_TOLD])
    return tuple(out[:CHANGES_TOLD])
