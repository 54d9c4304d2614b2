"""Uploads against the collector's chunk removals: many uploads at once, or one sweep, never both.

An upload commits chunks into the chunk store and then records their rows; the collector removes chunks
without rows (orphans) and chunks whose rows it deleted. Were they to interleave, a chunk an upload had
just found recorded (and therefore not written again) could be removed under the row the upload then
adds: a row without its chunk, the one thing the store must never hold. So removals wait for the uploads in flight
to finish, and new uploads wait for a removal to end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Gate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._uploads = 0
        self._sweeping = False

    @contextmanager
    def upload(self) -> Iterator[None]:
        with self._cond:
            while self._sweeping:
                self._cond.wait()
            self._uploads += 1
        try:
            yield
        finally:
            with self._cond:
                self._uploads -= 1
                self._cond.notify_all()

    @contextmanager
    def sweep(self) -> Iterator[None]:
        with self._cond:
            while self._sweeping or self._uploads:
                self._cond.wait()
            self._sweeping = True
        try:
            yield
        finally:
            with self._cond:
                self._sweeping = False
                self._cond.notify_all()
