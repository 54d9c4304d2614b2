"""Two-way sync between two places named by address: two local folders (``sync_two_way``, with its
checks), or a local folder and a server folder (``https://host:port/NAME``), opened by
:func:`~syncline.engine.replicas.address.open_replica` and synced as replicas."""

from __future__ import annotations

import os
from contextlib import ExitStack, closing

from ..execute import Progress
from ..marker import case_insensitive
from ..replicas.address import local_path, open_basis, open_replica, parse_address
from ..replicas.replica import WritePolicy
from .run import TwoWayReport, TwoWaySyncOptions, sync_two_way, sync_two_way_replicas


def sync_two_way_places(a: str | os.PathLike[str], b: str | os.PathLike[str],
                        options: TwoWaySyncOptions | None = None, progress: Progress | None = None) -> TwoWayReport:
    """``sync --two-way A B`` for any two addresses. Two local folders go through :func:`sync_two_way`;
    otherwise each side is opened by address (a server folder with the credentials ``syncline connect``
    saved: a one-line ``UsageError`` without them) with the two-way write policy, a local side asked
    whether it ignores case as :func:`sync_two_way` asks, and synced by :func:`sync_two_way_replicas`
    (which makes a side that is not there yet on the pair's first run, and holds each side's lock). A
    server side reads big files through the local side's chunk basis (``open_basis``), open for the run."""
    opts = options or TwoWaySyncOptions()
    if all(parse_address(p).kind == "local" for p in (a, b)):
        return sync_two_way(local_path(a), local_path(b), opts, progress)
    policy = WritePolicy.two_way(trash=opts.trash)
    probe = not opts.dry_run  # a probe file only when the run may write
    places = [parse_address(p) for p in (a, b)]
    with ExitStack() as held:  # closed in reverse: the sides, then the basis they use
        # The local side's chunk basis: the server side's downloads of big files read the chunks the
        # local folder holds instead of fetching them.
        local = [p.path for p in places if p.kind == "local"]
        basis = held.enter_context(closing(open_basis(local[0]))) if local else None
        sides = []
        for place in places:
            side = open_replica(place, policy=policy, case_probe=lambda root: case_insensitive(root, probe=probe),
                                basis=basis)
            held.callback(side.close)
            sides.append(side)
        return sync_two_way_replicas(sides[0], sides[1], opts, progress)
