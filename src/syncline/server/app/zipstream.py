"""The zip of a folder, streamed with bounded memory (docs/protocol.md, "Zip download (web UI)").

A worker thread writes ``zipfile.ZipFile(pipe, "w", ZIP_STORED, allowZip64=True)`` into a :class:`Pipe`:
an unseekable file (so each entry ends with a data descriptor) whose bytes go out in pieces of 1 MiB
through a queue of at most 4. The event loop sends the pieces as the client takes them; a writer faster
than its reader blocks on the full queue, so a slow phone holds a few MiB of the server, never the folder.
A reader that goes away stops the pipe: the worker's next write raises :class:`Stopped` within
:data:`WAIT_S` and the thread ends (its slot is free only then); one that takes nothing for
:data:`STALL_S` (a phone asleep with its connection open) is given up the same way.

Stored, not deflated: photos and videos do not shrink, and the CPU stays free. A version lost between the
listing and its turn (dropped by retention, marked damaged) is left out and named in a last entry
``SYNCLINE-MISSING.txt``. A version that fails once its entry has begun (a chunk gone or not matching its
id), or the caller's right or device taken away meanwhile (checked every :data:`RECHECK_S`), cuts the
download: the answer ends without its last chunk and the zip without its central directory, so the browser
reports a failed download, never a zip that looks complete.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import stat
import struct
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ...formats.wire.errors import WireError
from ..config import DEFAULT_ZIP_MAX
from ..store.subtree import Item, Subtree, VersionGone

PIECE = 1 << 20  # bytes a piece of the answer
PIECES = 4  # pieces waiting at most: the pipe's bound
WAIT_S = 0.25  # how soon a stopped pipe is noticed by a writer blocked on it
STALL_S = 600.0  # a reader that takes nothing this long is given up: its slot keeps other zips out
RECHECK_S = 10.0  # how often a zip under way checks that its caller may still read the folder
MAX_ENTRIES = 100_000
MISSING = "SYNCLINE-MISSING"
log = logging.getLogger("syncline.server")


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Files and folders in one zip, the bytes of its files (``[web] zip_max``), zips at once per user
    and server-wide."""

    max_entries: int = MAX_ENTRIES
    max_bytes: int = DEFAULT_ZIP_MAX
    per_user: int = 1
    at_once: int = 2


class Stopped(Exception):
    """The pipe's reader went away (or the server stops, or the zip was cut): the worker ends."""


class Pipe:
    """Bytes written by one worker thread, read on the event loop ``loop`` as an async iterator of pieces;
    :meth:`finish` ends it (``ok`` False: the reader raises :class:`Stopped` after the pieces written)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, piece: int = PIECE, pieces: int = PIECES) -> None:
        self._loop = loop
        self._piece = piece
        self._queue: queue.Queue[bytes] = queue.Queue(pieces)
        self._buffer = bytearray()
        self._stopped = threading.Event()
        self._ready = asyncio.Event()
        self._outcome: bool | None = None

    # -- the worker's side: what zipfile writes to (no tell, no seek: an unseekable stream) ---------------
    def write(self, data: bytes, /) -> int:
        if self._stopped.is_set():
            raise Stopped()
        self._buffer += data
        while len(self._buffer) >= self._piece:
            self._put(bytes(self._buffer[: self._piece]))
            del self._buffer[: self._piece]
        return len(data)

    def flush(self) -> None:
        """Nothing: pieces go out whole (zipfile flushes after its last record; :meth:`finish` sends it)."""

    def close(self) -> None:
        """Nothing: zipfile never closes a file it was given; :meth:`finish` ends the pipe."""

    def finish(self, ok: bool) -> None:
        """After the last write: the rest of the bytes (when ``ok``), then the end for the reader."""
        try:
            if ok and self._buffer:
                self._put(bytes(self._buffer))
        finally:
            self._buffer.clear()
            self._outcome = ok
            self._wake()

    def _put(self, piece: bytes) -> None:
        given_up = time.monotonic() + STALL_S
        while True:
            if self._stopped.is_set():
                raise Stopped()
            try:
                self._queue.put(piece, timeout=WAIT_S)
                break
            except queue.Full:
                if time.monotonic() > given_up:
                    log.info("a zip download cut: its client took nothing for %g s", STALL_S)
                    self.cut()
        self._wake()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._ready.set)  # an asyncio.Event is set on its own loop
        except RuntimeError:  # the loop is closed: nobody reads any more
            self._stopped.set()

    def stop(self) -> None:
        """The reader is gone: the worker's next write raises :class:`Stopped` (from any thread)."""
        self._stopped.set()

    def cut(self) -> None:
        """The zip must not end well: every later write raises :class:`Stopped`, the reader gets no end."""
        self._stopped.set()

    # -- the event loop's side --------------------------------------------------------------------------
    def __aiter__(self) -> Pipe:
        return self

    async def __anext__(self) -> bytes:
        while True:
            outcome = self._outcome  # read before the queue: every piece is put before the outcome is set
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                pass
            if outcome is True:
                raise StopAsyncIteration
            if outcome is False:
                raise Stopped()
            self._ready.clear()
            if self._queue.qsize() == 0 and self._outcome is None:  # else a wake came before the clear
                await self._ready.wait()


class ZipJob:
    """One zip under way: holds its slot from :meth:`ZipSlots.take` until its worker thread has ended (or,
    never started, until :meth:`release`)."""

    def __init__(self, slots: ZipSlots, user_id: int) -> None:
        self.slots = slots
        self.user_id = user_id
        self.pipe: Pipe | None = None
        self.thread: threading.Thread | None = None
        self._released = False

    def start(self, work: Callable[[Pipe], None]) -> Pipe:
        """Run ``work(pipe)`` in a worker thread; the pipe is read on the running event loop."""
        self.pipe = pipe = Pipe(asyncio.get_running_loop())
        thread = threading.Thread(target=self._run, args=(work, pipe), name="syncline-zip", daemon=True)
        thread.start()  # when it cannot start, no thread holds the slot: stop() frees it
        self.thread = thread
        return pipe

    def _run(self, work: Callable[[Pipe], None], pipe: Pipe) -> None:
        ok = False
        try:
            work(pipe)
            ok = True
        except Stopped:
            pass
        except Exception:  # a server bug or a store failure: the download is cut, never a zip that looks whole
            log.exception("a zip download failed")
        finally:
            try:
                pipe.finish(ok)
            except Stopped:
                pass
            finally:
                self.release()

    def stop(self) -> None:
        """The answer ended (sent, or its client gone): the worker stops; without one, the slot is free."""
        if self.pipe is not None:
            self.pipe.stop()
        if self.thread is None:
            self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.slots.release(self)


class ZipSlots:
    """The zips under way, bounded by ``limits`` (``per_user``, ``at_once``); thread-safe."""

    def __init__(self, limits: ZipLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._jobs: set[ZipJob] = set()

    def take(self, user_id: int) -> ZipJob:
        """A slot for a zip of ``user_id``'s; ``429 rate_limited`` when they or the server have all theirs."""
        with self._lock:
            mine = sum(1 for j in self._jobs if j.user_id == user_id)
            if mine >= self.limits.per_user:
                raise WireError("rate_limited", "a zip download of yours is still under way",
                                "wait for it to finish (or cancel it), then ask again",
                                {"limit": self.limits.per_user, "retry_after": 5})
            if len(self._jobs) >= self.limits.at_once:
                raise WireError("rate_limited", f"{len(self._jobs)} zip downloads are under way on the server",
                                "try again in a minute", {"limit": self.limits.at_once, "retry_after": 30})
            job = ZipJob(self, user_id)
            self._jobs.add(job)
            return job

    def release(self, job: ZipJob) -> None:
        with self._lock:
            self._jobs.discard(job)

    def running(self) -> int:
        with self._lock:
            return len(self._jobs)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every zip and wait for its worker (the server stops; the store is closed next)."""
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.stop()
        end = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, end - time.monotonic()))


def check_bounds(tree: Subtree, limits: ZipLimits, label: str) -> None:
    """``413 too_large`` when the subtree ``label`` names is past ``limits``, before a byte is sent."""
    hint = "download a smaller folder (one of its subfolders), or sync the folder to a device"
    if tree.entries > limits.max_entries:
        raise WireError("too_large", f"{label} holds {tree.entries} files and folders, more than the "
                        f"{limits.max_entries} one zip may hold", hint, {"limit": limits.max_entries})
    if tree.bytes > limits.max_bytes:
        raise WireError("too_large", f"{label} holds {_size(tree.bytes)}, more than the {_size(limits.max_bytes)} "
                        "one zip may hold on this server", hint, {"limit": limits.max_bytes})


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def zip_name(path: str, base: str) -> str:
    """``path`` relative to folder ``base``, as a name in the zip. A backslash becomes U+FF3C (a name of a
    Linux file may hold one; some unzip programs take it for a separator, a way out of the target folder)."""
    return (path[len(base) + 1 :] if base else path).replace("\\", "\uff3c")


def _info(name: str, item: Item | None, mtime_ns: int) -> zipfile.ZipInfo:
    """The header of ``item``'s entry (None: a text of the server's): DOS time in UTC, clamped to the years
    zip can say, the exact second in an extended-timestamp field (0x5455, which unzip, 7-Zip and libarchive
    prefer), Unix permissions, and a file's size (ZIP64 headers for a big file are chosen from it)."""
    seconds = mtime_ns // 10**9
    try:
        t = time.gmtime(seconds)
        date_time = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    except (OverflowError, OSError, ValueError):
        date_time = (1980, 1, 1, 0, 0, 0)
    date_time = min(max(date_time, (1980, 1, 1, 0, 0, 0)), (2107, 12, 31, 23, 59, 58))
    info = zipfile.ZipInfo(name, date_time)
    if 0 <= seconds < 1 << 31:
        info.extra = struct.pack("<HHBl", 0x5455, 5, 1, seconds)
    perm = (item.mode if item is not None else 0) & 0o777
    if item is not None and item.is_dir:
        info.external_attr = ((stat.S_IFDIR | (perm or 0o755)) << 16) | 0x10  # 0x10: the MS-DOS folder flag
        info.CRC = info.compress_size = info.file_size = 0  # ZipFile.mkdir writes the header as it is
    else:
        info.external_attr = (stat.S_IFREG | (perm or 0o644)) << 16
        info.file_size = item.size if item is not None else 0
    return info


def write_zip(out: Pipe, tree: Subtree, base: str, read: Callable[[int], Iterator[bytes]],
              allowed: Callable[[], None]) -> None:
    """The zip of ``tree`` (below folder ``base``) into ``out``: each folder, then each file's version by
    ``read(content_id)``; ``allowed()`` raises when the caller may no longer read (checked every
    :data:`RECHECK_S`). Versions gone before their entry begins are named in the last entry."""
    missing: list[tuple[str, str]] = []
    names: set[str] = set()
    recheck = time.monotonic() + RECHECK_S

    def check() -> None:
        nonlocal recheck
        if time.monotonic() >= recheck:
            try:
                allowed()
            except WireError as err:
                log.info("a zip download cut: %s", err.message)
                out.cut()
                raise Stopped() from None
            recheck = time.monotonic() + RECHECK_S

    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        try:
            for item in _drain(tree.items):
                check()
                name = zip_name(item.path, base) + ("/" if item.is_dir else "")
                if name in names:  # two paths of the store that differ only by a backslash and U+FF3C
                    missing.append((item.path, "its name in the zip is another entry's"))
                    continue
                names.add(name)
                if item.is_dir:
                    zf.mkdir(_info(name, item, item.mtime_ns))
                    continue
                assert item.content_id is not None
                try:
                    pieces = read(item.content_id)
                    first = next(pieces, b"")
                except VersionGone as why:
                    missing.append((item.path, str(why)))
                    continue
                with zf.open(_info(name, item, item.mtime_ns), "w") as entry:
                    try:
                        entry.write(first)
                        for piece in pieces:
                            check()
                            entry.write(piece)
                    except VersionGone as why:  # its bytes began: the whole download must fail, not look whole
                        log.warning("a zip download cut: %s changed while it was read: %s", item.path, why)
                        out.cut()
                        raise Stopped() from None
                    except BaseException:
                        out.cut()  # before the entry's descriptor, which would close it as if whole
                        raise
            if missing:
                zf.writestr(_info(_free(MISSING, names), None, time.time_ns()), _missing_text(missing, base))
        except BaseException:
            out.cut()  # before zipfile's central directory, which would make the bytes sent look whole
            raise


def _drain(items: list[Item]) -> Iterator[Item]:
    """``items`` in order, each let go once taken: the zip's own directory grows as the listing shrinks."""
    items.reverse()
    while items:
        yield items.pop()


def _free(stem: str, names: set[str]) -> str:
    name, n = f"{stem}.txt", 1
    while name in names:
        n += 1
        name = f"{stem}-{n}.txt"
    return name


def _missing_text(missing: list[tuple[str, str]], base: str) -> str:
    lines = ["These files were in the folder when the download began, but the server could not give them",
             "whole (they are not in this zip). Download them one by one, or from a device that has them.", ""]
    lines += [f"{zip_name(path, base)}: {why}" for path, why in missing]
    return "\n".join(lines) + "\n"


def disposition(name: str) -> str:
    """``Content-Disposition: attachment`` for ``name`` (RFC 6266: an ASCII ``filename``, and the exact
    name as ``filename*`` in UTF-8)."""
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\%;' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class ZipResponse(StreamingResponse):
    """The answer streaming ``work``'s zip: the worker starts when the answer does, and is stopped when it
    ends, whether sent whole, cut, or left by its client."""

    def __init__(self, job: ZipJob, work: Callable[[Pipe], None], headers: dict[str, str]) -> None:
        super().__init__(iter(()), headers=headers, media_type="application/zip")
        self.job = job
        self.work = work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self.body_iterator = self.job.start(self.work)
            await super().__call__(scope, receive, send)
        except Stopped:
            return  # cut: the server ends the connection with the answer incomplete
        finally:
            self.job.stop()
