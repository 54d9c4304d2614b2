"""syncline.testing: what a test of syncline, or of a new replica, needs.

- :class:`MemoryReplica`: a whole tree in memory, with knobs for what other places cannot keep;
- :class:`FlakyReplica`: wraps any replica and makes chosen calls fail, stall or meet a change first;
- :func:`check_replica` and :data:`CHECKS`: the replica conformance suite, with the factories
  :func:`local_factory` and :func:`memory_factory` (see ``docs/replicas.md``);
- :class:`FakeFeed`: a server's change feed in the process, for tests of the daemon;
- :class:`NetProxy`: a TCP proxy on 127.0.0.1 that counts bytes each way and cuts connections on demand.

Shipped with syncline, imported by nothing in it: the library never depends on its own test kit.
"""

from .conformance import CHECKS, Check, check_replica
from .feed import FakeFeed
from .flaky import Fault, FlakyReplica, changed_under_us, denied, no_space, unreachable
from .memory import FIXED_MODES, MemoryReplica, Trashed
from .netproxy import NetProxy
from .trees import Factory, LocalTree, MemoryTree, Tree, local_factory, memory_factory

__all__ = [
    "CHECKS",
    "FIXED_MODES",
    "Check",
    "Factory",
    "FakeFeed",
    "Fault",
    "FlakyReplica",
    "LocalTree",
    "MemoryReplica",
    "MemoryTree",
    "NetProxy",
    "Trashed",
    "Tree",
    "changed_under_us",
    "check_replica",
    "denied",
    "local_factory",
    "memory_factory",
    "no_space",
    "unreachable",
]
