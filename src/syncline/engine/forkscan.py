"""Scanning a tree in a forked child while this process scans another: both cores, no GIL contention.

A sync scans two trees. Two threads only take turns on the GIL, so the second scan runs in a child made
with ``fork`` that sends its Index back packed in columns (:mod:`syncline.formats.columns`); unpacking costs
far less than the scan (measured in ``docs/performance.md``).

Correctness never depends on the child: if it cannot be started (no ``fork``, or other threads are running,
where forking is unsafe), fails, or sends back something that does not unpack, the scan simply runs here,
in this process, when its result is asked for. Errors that concern the user (a missing root) are therefore
raised by that in-process scan, exactly as without a child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..core.index import Index
from ..formats.columns import pack_index, unpack_index


class PendingScan:
    """A scan started in a child process; :meth:`result` waits for it (or scans here as a fallback)."""

    def __init__(self, run: Callable[[], Index]) -> None:
        self._run = run
        self._pid = 0
        self._fd = -1
        if hasattr(os, "fork") and threading.active_count() == 1:
            self._start()

    def _start(self) -> None:
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child: scan, send, leave without running any of the parent's clean-up
            status = 1
            try:
                os.close(r)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                data = pack_index(self._run())
                with open(w, "wb") as out:
                    out.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(w)
        self._pid, self._fd = pid, r

    def result(self) -> Index:
        """The child's index, or this process's own scan when the child could not deliver one."""
        if self._pid:
            pid, fd = self._pid, self._fd
            self._pid, self._fd = 0, -1
            with open(fd, "rb") as fh:
                data = fh.read()
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) == 0:
                with contextlib.suppress(ValueError):
                    return unpack_index(data)
        return self._run()

    def cancel(self) -> None:
        """Stop a child whose result is not wanted any more (and reap it)."""
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            os.close(self._fd)
            self._pid, self._fd = 0, -1


@contextmanager
def scan_in_child(run: Callable[[], Index]) -> Iterator[PendingScan]:
    """Start ``run`` (a scan) in a child; the child is killed and reaped if its result is never taken."""
    pending = PendingScan(run)
    try:
        yield pending
    finally:
        pending.cancel()
