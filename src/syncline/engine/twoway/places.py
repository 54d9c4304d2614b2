"""Two-way sync between two places named by address: two local folders (``sync_two_way``, with its
checks), or a local folder and a server folder (``https://host:port/NAME``), opened by
:func:`~syncline.engine.replicas.address.open_replica` and synced as replicas."""

from __future__ import annotations

import os

from ..execute import Progress
from ..marker import case_insensitive
from ..replicas.address import local_path, open_replica, parse_address
from ..replicas.replica import WritePolicy
from .run import TwoWayReport, TwoWaySyncOptions, sync_two_way, sync_two_way_replicas


def sync_two_way_places(a: str | os.PathLike[str], b: str | os.PathLike[str],
                        options: TwoWaySyncOptions | None = None, progress: Progress | None = None) -> TwoWayReport:
    """``sync --two-way A B`` for any two addresses. Two local folders go through :func:`sync_two_way`;
    otherwise each side is opened by address (a server folder with the credentials ``syncline connect``
    saved: a one-line ``UsageError`` without them) with the two-way write policy, a local side asked
    whether it ignores case as :func:`sync_two_way` asks, and synced by :func:`sync_two_way_replicas`
    (which makes a side that is not there yet on the pair's first run, and holds each side's lock)."""
    opts = options or TwoWaySyncOptions()
    if all(parse_address(p).kind == "local" for p in (a, b)):
        return sync_two_way(local_path(a), local_path(b), opts, progress)
    policy = WritePolicy.two_way(trash=opts.trash)
    probe = not opts.dry_run  # a probe file only when the run may write
    sides = [open_replica(p, policy=policy, case_probe=lambda root: case_insensitive(root, probe=probe))
             for p in (a, b)]
    try:
        return sync_two_way_replicas(sides[0], sides[1], opts, progress)
    finally:
        for side in sides:
            side.close()
