"""A background thread of the server's (the collector, the SHA1 pass): started with the server, ended between
two steps of its work by :meth:`Worker.stop`."""

from __future__ import annotations

import threading


class Worker:
    """A daemon thread running :meth:`_run`, which must return soon after ``self._stop`` is set."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to end and wait for it up to ``timeout`` s."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError
