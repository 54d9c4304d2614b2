"""A TCP proxy on 127.0.0.1 that counts the bytes it forwards and cuts connections on demand.

For system tests (a connection cut mid-upload, a server that refuses connections for a while) and for the
benchmarks (bytes on the wire between two programs)::

    with NetProxy("127.0.0.1", server_port) as proxy:
        client.connect(proxy.address)                   # instead of the server's
        proxy.cut_after(1 << 20, "up")                  # the connection carrying the 1 MiB-th byte upward dies
        proxy.refuse(5.0)                               # new connections are reset for 5 s
        proxy.cut_all()                                 # every open connection dies now
        print(proxy.bytes_up, proxy.bytes_down)

"up" is client -> target, "down" is target -> client. A byte is counted when the proxy has handed it to the
receiving side's socket, so after a cut the counts say exactly what went through.

One thread runs everything (``selectors``, non-blocking sockets); ``stop`` (or leaving the ``with``) closes
every socket and joins it, so nothing is left behind. A cut closes both sides of the connection with a reset
(``SO_LINGER`` 0, as when a link or a peer dies) unless ``reset=False`` asks for an orderly close (FIN).
Half-closes are passed on: a side that shuts down its writing does so on the other side too.
"""

from __future__ import annotations

import itertools
import math
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = ["Connection", "CutRule", "Direction", "NetProxy"]

Direction = Literal["up", "down"]
_CHUNK = 64 * 1024
_HIGH_WATER = 256 * 1024  # a side's unsent bytes above which the proxy stops reading from the other side
_DIRECTIONS: tuple[Direction, Direction] = ("up", "down")


@dataclass
class Connection:
    """What one proxied connection did (a copy: ``NetProxy.connections`` returns snapshots).

    ``cut`` is None for a connection that ended by itself or is still open, else why the proxy cut it:
    ``"rule"`` (a :meth:`NetProxy.cut_after` rule), ``"cut_all"``, ``"refused"``, ``"target"`` (the target
    refused the connection) or ``"stop"`` (the proxy stopped while it was open).
    """

    id: int
    up: int = 0
    down: int = 0
    opened: float = field(default_factory=time.monotonic)
    closed: float | None = None
    cut: str | None = None

    @property
    def open(self) -> bool:
        return self.closed is None


@dataclass
class CutRule:
    """Cut the connection that carries the ``nbytes``-th byte in ``direction`` counted from the rule's making,
    over all connections; ``times`` times (counting again from the cut each time), or forever when None.
    ``fired`` says how often it has cut; ``done`` is set once it will cut no more."""

    nbytes: int
    direction: Direction
    times: int | None = 1
    reset: bool = True
    fired: int = 0
    left: int = field(init=False)
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        self.left = self.nbytes


class _Pipe:
    """One proxied connection: the client's socket, the target's, and what waits to be sent each way."""

    def __init__(self, stats: Connection, client: socket.socket, target: socket.socket) -> None:
        self.stats = stats
        self.sock = {"up": target, "down": client}  # where bytes of a direction are sent
        self.src = {"up": client, "down": target}  # where they are read from
        self.buf = {"up": bytearray(), "down": bytearray()}
        self.eof = {"up": False, "down": False}  # the reading side of a direction has shut down
        self.shut = {"up": False, "down": False}  # ...and the shutdown was passed on
        self.connecting = True

    def finished(self) -> bool:
        return all(self.shut.values())


class NetProxy:
    """Forward connections made to ``address`` (127.0.0.1, ``port`` or a free one) to ``target_host``:``target_port``.

    Thread-safe: the counters, ``connections``, ``cut_after``, ``cut_all`` and ``refuse`` may be used from any
    thread while the proxy runs. Not restartable: one ``start``, one ``stop``.
    """

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port), backlog=128)
        self._listener.setblocking(False)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._pipes: dict[int, _Pipe] = {}
        self._stats: list[Connection] = []
        self._ids = itertools.count(1)
        self._rules: list[CutRule] = []
        self._cut_all: bool | None = None  # pending cut_all(reset)
        self._refuse_until = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return self.address[1]

    # -- life -----------------------------------------------------------------------------------------------
    def start(self) -> NetProxy:
        """Start forwarding (the listening socket exists from ``__init__``; connections wait in its backlog)."""
        if self._thread is not None or self._closed:
            raise RuntimeError("a NetProxy starts once")
        self._thread = threading.Thread(target=self._loop, name=f"netproxy:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection (a reset) and the listening socket, and join the thread. Idempotent."""
        if self._closed:
            return
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"netproxy thread did not stop within {timeout} s")
        else:
            self._close_everything()
        self._closed = True

    def __enter__(self) -> NetProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counters -------------------------------------------------------------------------------------------
    @property
    def bytes_up(self) -> int:
        """Bytes forwarded client -> target, all connections."""
        with self._lock:
            return sum(c.up for c in self._stats)

    @property
    def bytes_down(self) -> int:
        """Bytes forwarded target -> client, all connections."""
        with self._lock:
            return sum(c.down for c in self._stats)

    def connections(self) -> list[Connection]:
        """Every connection accepted so far, oldest first (copies)."""
        with self._lock:
            return [replace(c) for c in self._stats]

    @property
    def active(self) -> int:
        """Connections open right now."""
        with self._lock:
            return sum(1 for c in self._stats if c.open)

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until no connection is open; False when ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while self.active:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # -- faults ---------------------------------------------------------------------------------------------
    def cut_after(self, nbytes: int, direction: Direction = "up", *, times: int | None = 1,
                  reset: bool = True) -> CutRule:
        """Cut the connection carrying the ``nbytes``-th byte in ``direction`` from now on (see :class:`CutRule`).
        Exactly ``nbytes`` bytes go through before the cut. ``nbytes`` must be at least 1."""
        if nbytes < 1 or (times is not None and times < 1):
            raise ValueError("cut_after needs nbytes >= 1 and times >= 1 (or None)")
        rule = CutRule(nbytes, direction, times, reset)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        """Forget every :meth:`cut_after` rule not yet done."""
        with self._lock:
            for rule in self._rules:
                rule.done.set()
            self._rules.clear()

    def cut_all(self, *, reset: bool = True) -> None:
        """Cut every open connection now; returns once they are closed (new ones are still accepted)."""
        with self._lock:
            self._cut_all = reset
        self._wake()
        deadline = time.monotonic() + 10
        while True:
            with self._lock:
                if self._cut_all is None:
                    return
            if self._thread is None or not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("netproxy not running: cut_all cannot be done")
            time.sleep(0.001)

    def refuse(self, seconds: float = math.inf) -> None:
        """Reset each new connection at once for ``seconds`` (until :meth:`accept` when not given); open ones
        carry on. A client sees its connection reset right after it was made. "New" is as the proxy sees it: a
        connection the kernel completed but the proxy has not yet taken from the listen backlog is new."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds

    def accept(self) -> None:
        """Accept new connections again."""
        with self._lock:
            self._refuse_until = 0.0

    # -- the loop -------------------------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already woken, or closed

    def _loop(self) -> None:
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self._stopping:
                for key, mask in self._sel.select(timeout=0.5):
                    sock = key.fileobj
                    if sock is self._listener:
                        self._accept()
                    elif sock is self._wake_r:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except BlockingIOError:
                            pass
                    elif key.data is not None:
                        pipe = key.data
                        if pipe.stats.id in self._pipes:
                            self._service(pipe, mask, sock)
                with self._lock:
                    pending = self._cut_all
                if pending is not None:
                    for pipe in list(self._pipes.values()):
                        self._close(pipe, "cut_all", pending)
                    with self._lock:
                        self._cut_all = None
        finally:
            self._close_everything()

    def _close_everything(self) -> None:
        for pipe in list(self._pipes.values()):
            self._close(pipe, "stop", True)
        with self._lock:
            self._cut_all = None
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()
        self._sel.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. too many open files: the client waits in the backlog
            client.setblocking(False)
            with self._lock:
                stats = Connection(next(self._ids))
                self._stats.append(stats)
                refused = time.monotonic() < self._refuse_until
            if refused:
                self._mark_closed(stats, "refused")
                _abort(client, True)
                continue
            target = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target.setblocking(False)
            target.connect_ex(self.target)  # finishes (or fails) when the socket turns writable
            pipe = _Pipe(stats, client, target)
            self._pipes[stats.id] = pipe
            self._sel.register(target, selectors.EVENT_WRITE, pipe)

    def _mark_closed(self, stats: Connection, cut: str | None) -> None:
        with self._lock:
            stats.closed = time.monotonic()
            stats.cut = cut

    def _close(self, pipe: _Pipe, cut: str | None, reset: bool) -> None:
        if self._pipes.pop(pipe.stats.id, None) is None:
            return
        self._mark_closed(pipe.stats, cut)  # first: whoever sees the close may look at the stats at once
        for s in (pipe.sock["up"], pipe.sock["down"]):
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            _abort(s, reset)

    def _service(self, pipe: _Pipe, mask: int, sock: object) -> None:
        if pipe.connecting:
            err = pipe.sock["up"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._close(pipe, "target", True)
                return
            pipe.connecting = False
            self._sel.register(pipe.sock["down"], selectors.EVENT_READ, pipe)
            self._interest(pipe)
            return
        for d in _DIRECTIONS:
            if mask & selectors.EVENT_READ and sock is pipe.src[d] and not pipe.eof[d]:
                if not self._read(pipe, d):
                    return
            if mask & selectors.EVENT_WRITE and sock is pipe.sock[d] and pipe.buf[d]:
                if not self._write(pipe, d):
                    return
        if pipe.finished():
            self._close(pipe, None, False)
        else:
            self._interest(pipe)

    def _read(self, pipe: _Pipe, d: Direction) -> bool:
        try:
            data = pipe.src[d].recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._close(pipe, None, True)  # the client or the target reset: pass the reset on
            return False
        if not data:
            pipe.eof[d] = True
        else:
            pipe.buf[d] += data
        return self._write(pipe, d)

    def _write(self, pipe: _Pipe, d: Direction) -> bool:
        """Send what waits in direction ``d`` (as far as the rules allow), then cut or pass a shutdown on."""
        buf = pipe.buf[d]
        while buf:
            with self._lock:
                rules = [r for r in self._rules if r.direction == d]
            room = min([len(buf), _CHUNK, *(r.left for r in rules)])
            try:
                sent = pipe.sock[d].send(buf[:room])
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                self._close(pipe, None, True)
                return False
            del buf[:sent]
            fire: CutRule | None = None
            with self._lock:
                if d == "up":
                    pipe.stats.up += sent
                else:
                    pipe.stats.down += sent
                for r in rules:
                    r.left -= sent
                    if r.left == 0 and fire is None:
                        fire = r
                        r.fired += 1
                        r.left = r.nbytes
                        if r.times is not None and r.fired >= r.times:
                            self._rules.remove(r)
                            r.done.set()
                    elif r.left == 0:
                        r.left = r.nbytes  # two rules due at one byte: the connection dies once
                        r.fired += 1
            if fire is not None:
                self._close(pipe, "rule", fire.reset)
                return False
        if pipe.eof[d] and not pipe.shut[d]:
            try:
                pipe.sock[d].shutdown(socket.SHUT_WR)
            except OSError:
                pass
            pipe.shut[d] = True
        return True

    def _interest(self, pipe: _Pipe) -> None:
        for side in _DIRECTIONS:  # the socket bytes of ``side`` are sent to
            s = pipe.sock[side]
            other: Direction = "down" if side == "up" else "up"  # the direction read from this socket
            events = 0
            if pipe.buf[side]:
                events |= selectors.EVENT_WRITE
            if not pipe.eof[other] and len(pipe.buf[other]) < _HIGH_WATER:
                events |= selectors.EVENT_READ
            try:
                if events:
                    self._sel.modify(s, events, pipe)
                else:
                    self._sel.unregister(s)
            except KeyError:
                if events:
                    self._sel.register(s, events, pipe)


def _abort(s: socket.socket, reset: bool) -> None:
    """Close ``s``; with ``reset``, send a RST instead of a FIN (SO_LINGER on, timeout 0)."""
    if reset:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    s.close()
