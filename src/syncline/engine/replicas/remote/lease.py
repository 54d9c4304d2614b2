"""The record of the lease a run holds on a server folder, so that a run killed while holding it (or cut off
by a server that died) does not keep the device's next run waiting for it to lapse (protocol section 10,
"taking over a lease left behind").

One small JSON file per folder address under the state directory: the lease id, and the pid and start time
of the process holding it (``/proc/PID/stat``'s ``starttime``: a pid used again by another process is not
the holder), or no holder when the run ended without releasing it. Written atomically once the server
granted the lease (and, with the id the run proposes, before it asks: an answer lost on the way is no
lease left unknown), removed once it is released. Every
other run of the device reads it: while its process runs, the run asks for a lease as any run does (the
server refuses it while that run holds its own: two runs of one device never write together; a pid that
cannot be told from another process's keeps nobody out longer than the lease's TTL); when the process is
gone, the run asks the server to take the lease over, which it grants only to the same device, once per
lease id. A record that cannot be read is no record (the server's rules then apply as without it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ....formats.framing import atomic_file
from ....formats.wire.limits import LOCK_ID_RE

LEASE_DIR = "remote-leases"  # below the state directory
MAX_RECORD = 4096

_held: set[str] = set()  # the leases runs of this process hold now
_held_mutex = threading.Lock()


@dataclass(frozen=True)
class Holder:
    """A process: its pid and its start time (clock ticks after boot; None where it cannot be read)."""

    pid: int
    start: int | None


@dataclass(frozen=True)
class Left:
    """A lease record: the lease and the process holding it (None: no run holds it any more)."""

    lease: str
    holder: Holder | None


def _stat(pid: int) -> tuple[str, int] | None:
    """The state letter and start time of process ``pid`` from ``/proc/PID/stat``; None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            line = fh.read(4096)
        fields = line[line.rindex(")") + 2 :].split()  # the name (field 2) may hold spaces and parentheses
        return fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    except (OSError, ValueError, IndexError):
        return None


def this_process() -> Holder:
    stat = _stat(os.getpid())
    return Holder(os.getpid(), stat[1] if stat is not None else None)


def is_running(holder: Holder) -> bool:
    """Whether ``holder`` still runs. When it cannot be told (no ``/proc``), a live pid counts as running:
    a run refused wrongly waits for the lease to lapse, one let in wrongly could write beside another."""
    if holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # another user's process (EPERM): alive
    stat = _stat(holder.pid)
    if stat is None:
        return _stat(os.getpid()) is None  # /proc works but has no such process: it just ended
    state, start = stat
    if state in ("Z", "X"):  # killed, not yet reaped: it writes nothing any more
        return False
    return holder.start is None or start == holder.start


class LeaseRecord:
    """The record of this device's lease on the folder at ``address`` (see the module)."""

    def __init__(self, state_dir: Path, address: str) -> None:
        self.address = address
        self.path = Path(state_dir) / LEASE_DIR / f"{hashlib.sha256(address.encode()).hexdigest()[:32]}.json"

    def read(self) -> Left | None:
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.read(MAX_RECORD))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("address") != self.address:
            return None
        lease, pid, start = data.get("lease"), data.get("pid"), data.get("start")
        if not isinstance(lease, str) or LOCK_ID_RE.fullmatch(lease) is None:
            return None
        if pid is None:
            return Left(lease, None)
        if type(pid) is not int or not (start is None or type(start) is int):
            return None
        return Left(lease, Holder(pid, start))

    def find(self) -> Left | None:
        """The record (None: there is none), with no holder when no run holds its lease now (its process
        is gone, or is this one and does not hold it): a lease to take over. Else the run that holds it,
        still running."""
        left = self.read()
        if left is None or left.holder is None:
            return left
        if left.holder == this_process():
            with _held_mutex:
                return left if left.lease in _held else Left(left.lease, None)
        return left if is_running(left.holder) else Left(left.lease, None)

    def proposing(self, lease: str) -> None:
        """This run is about to ask for the lease ``lease`` (an id it chose): recorded before the request,
        as this process's but not held, so that if the answer is lost (the server killed after granting
        it), the next run of this process or another one takes it over instead of waiting for it to lapse."""
        self._write(lease, this_process())

    def holding(self, lease: str) -> None:
        """This run holds ``lease`` now: record it (best effort: without the record, a run killed now only
        makes the next one wait for the lease to lapse)."""
        with _held_mutex:
            _held.add(lease)
        self._write(lease, this_process())

    def released(self, lease: str, gone: bool) -> None:
        """This run's ``lease`` ended: ``gone`` (the server released it) removes the record, else it is
        marked as held by no run, for the next run to take over."""
        with _held_mutex:
            _held.discard(lease)
        left = self.read()
        if left is None or left.lease != lease:
            return  # not this run's record (it could not be written): nothing to undo
        if gone:
            with contextlib.suppress(OSError):
                self.path.unlink()
        else:
            self._write(lease, None)

    def _write(self, lease: str, holder: Holder | None) -> None:
        data = {"address": self.address, "lease": lease, "pid": holder.pid if holder else None,
                "start": holder.start if holder else None}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(self.path) as fh:
                fh.write(json.dumps(data).encode())
