"""Staging files for a server folder: a staged copy is a list of chunks the server holds (or will hold
after the next barrier), plus the entry to commit them under. Nothing is visible in the folder until an
``ops`` ``put`` names the chunks, so a staged copy can never be seen under a real name.

- A file under the server chunker's ``min_file_size`` is one chunk (its id is its digest), held in
  memory in the :class:`Spool`, which sends what the server lacks every few MiB while staging goes on;
  the barrier sends the rest.
- A bigger file is cut with the server's chunker as it is read (``Chunker.pieces_reader``), and every
  :data:`UPLOAD_BATCH` of new chunks is sent right away (``chunks/missing``, then packs of only what is
  missing): a file of any size is staged in bounded memory, and a chunk the server has (an unchanged part
  of an edited file, a renamed file) is never sent. A file of more than ``MAX_INLINE_CHUNKS`` chunks also
  gets a manifest (``formats/wire/manifest.py``), sent as chunks the same way, which its ``put`` names.

Chunks sent get an upload lease on the server (24 h), so the collector keeps them until the commit.
Sent small chunks stay in the spool, within its bound, so a ``missing_chunks`` answer at commit can be
mended by sending them again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import blake3

from ....core.chunking import Chunker
from ....formats.wire import WireError
from ....formats.wire.limits import MAX_INLINE_CHUNKS, MAX_MISSING_IDS, MAX_PACK_BYTES, MAX_PACK_FRAMES
from ....formats.wire.manifest import reference_pieces
from ....formats.wire.ops import ChunkRef, new_op_id
from ....formats.wire.opsjson import ids_of_json, ids_to_json
from ....formats.wire.packs import CONTENT_TYPE, blocks, pack_size, write_pack
from ..replica import SourceFile
from .client import Client, replica_error

SPOOL_BOUND = 64 << 20  # bytes of small files held in memory before they are sent
SEND_EARLY = 4 << 20  # bytes of small files held before a staging thread sends them (the upload overlaps)
UPLOAD_BATCH = 16 << 20  # new chunks of a big file read before they are sent
READ_BLOCK = 1 << 20


@dataclass
class RemoteStaged:
    """A staged copy: ``path``, the content's ``size``, ``digest`` and ``chunks``, the source's ``mode``
    and ``mtime_ns``, and ``op_id``, the name of its ``put`` (kept, so a commit resent after a cut
    connection is replayed by the server, never applied twice). ``manifest``: for a file of more chunks
    than a ``put`` lists, the chunks of its manifest (sent with the content), which the ``put`` names."""

    path: str
    size: int
    mtime_ns: int
    mode: int
    digest: bytes
    chunks: tuple[ChunkRef, ...]
    spool: Spool
    op_id: str = field(default_factory=new_op_id)
    discarded: bool = False
    manifest: tuple[ChunkRef, ...] = ()

    def discard(self) -> None:
        if not self.discarded:
            self.discarded = True
            self.spool.release(c.id for c in self.chunks)


class Spool:
    """Chunks staged but not sent yet (``held``, counted per staged copy that needs them), and small
    chunks already sent, kept within ``bound`` bytes to send again (``sent``). ``uploader(frames, ask)``
    sends chunks (``ask``: only those ``chunks/missing`` names) and returns how many pack bytes it sent.
    Thread-safe: the executor stages from several threads; sending happens outside the lock.

    Once ``early`` bytes are held, the thread that staged the last of them sends them while the others go
    on staging, so the upload overlaps the reading of files and the barrier has only the rest to send. An
    early send that fails leaves its chunks held: the barrier sends them, and raises if that fails too."""

    def __init__(self, uploader: Callable[[dict[bytes, bytes], bool], int], bound: int = SPOOL_BOUND,
                 early: int = SEND_EARLY) -> None:
        self.uploader = uploader
        self.bound = bound
        self.early = min(early, bound)
        self._mutex = threading.Lock()
        self._sends_done = threading.Condition(self._mutex)
        self.held: dict[bytes, bytes] = {}
        self._refs: dict[bytes, int] = {}
        self._held_bytes = 0
        self._sending: set[bytes] = set()  # held chunks a thread is sending now
        self._sending_bytes = 0
        self._senders = 0
        self.sent: dict[bytes, bytes] = {}
        self._sent_bytes = 0

    def hold(self, chunk_id: bytes, data: bytes) -> None:
        """Keep ``data`` until it is sent: early (see the class) or at the next :meth:`flush`."""
        with self._mutex:
            self._refs[chunk_id] = self._refs.get(chunk_id, 0) + 1
            if chunk_id not in self.held:
                self.held[chunk_id] = data
                self._held_bytes += len(data)
            waiting = self._held_bytes - self._sending_bytes
            over = self._held_bytes > self.bound
        if over:
            self.flush()
        elif waiting >= self.early:
            try:
                self._send_held()
            except OSError:
                pass  # the chunks stay held; the barrier sends them and reports what fails then

    def release(self, ids: Iterable[bytes]) -> None:
        """A staged copy no longer needs these chunks (discarded, committed)."""
        with self._mutex:
            for i in ids:
                n = self._refs.get(i, 0) - 1
                if n > 0:
                    self._refs[i] = n
                    continue
                self._refs.pop(i, None)
                data = self.held.pop(i, None)
                if data is not None:
                    self._held_bytes -= len(data)

    def flush(self) -> int:
        """Send every held chunk the server lacks, and wait for the early sends under way; they move to
        ``sent``. Returns the pack bytes this call sent. On a failure the chunks stay held (the next
        barrier tries again)."""
        sent = 0
        while True:  # again for chunks whose early send failed meanwhile: this call's own send raises
            sent += self._send_held()
            with self._mutex:
                while self._senders:
                    self._sends_done.wait()
                if not self.held:
                    return sent

    def _send_held(self) -> int:
        """Send the held chunks no other thread is sending."""
        with self._mutex:
            frames = {i: d for i, d in self.held.items() if i not in self._sending}
            if not frames:
                return 0
            self._sending.update(frames)
            self._sending_bytes += sum(map(len, frames.values()))
            self._senders += 1
        done = False
        try:
            sent = self.uploader(frames, True)
            done = True
        finally:
            with self._mutex:
                for i, data in frames.items():
                    self._sending.discard(i)
                    self._sending_bytes -= len(data)
                    if done and self.held.pop(i, None) is not None:
                        self._held_bytes -= len(data)
                        self._keep_sent(i, data)
                self._senders -= 1
                self._sends_done.notify_all()
        return sent

    def _keep_sent(self, chunk_id: bytes, data: bytes) -> None:
        self.sent[chunk_id] = data
        self._sent_bytes += len(data)
        while self._sent_bytes > self.bound and self.sent:
            oldest = next(iter(self.sent))
            self._sent_bytes -= len(self.sent.pop(oldest))

    def resend(self, ids: Sequence[bytes]) -> bool:
        """Send these chunks again from ``sent`` (the server said they are missing); False when some are
        no longer kept (the item then stays a failure)."""
        with self._mutex:
            frames = {i: self.sent[i] for i in ids if i in self.sent}
        if not frames or len(frames) != len(set(ids)):
            return False
        self.uploader(frames, False)  # the server just said they are missing: no need to ask
        return True

    def clear(self) -> None:
        with self._mutex:
            self.held.clear()
            self._refs.clear()
            self.sent.clear()
            self._held_bytes = self._sent_bytes = 0


def ask_missing(client: Client, folder: str, ids: Sequence[bytes], where: str = "") -> list[bytes]:
    """Of ``ids``, those the folder lacks: ``chunks/missing``, 10,000 ids a call. The server's answer must
    be a subset of what was asked (``bad_response`` otherwise: a server naming ids never asked for is not
    believed)."""
    missing: list[bytes] = []
    for start in range(0, len(ids), MAX_MISSING_IDS):
        asked = list(ids[start:start + MAX_MISSING_IDS])
        value = client.call("POST", f"folders/{folder}/chunks/missing", json=ids_to_json(asked), where=where)
        try:
            got = ids_of_json(value, len(asked), key="missing", code="bad_response")
        except WireError as err:
            raise replica_error(err, where) from None
        if not set(got) <= set(asked):
            raise client.bad("chunks/missing named chunks that were not asked for", where)
        missing.extend(dict.fromkeys(got))
    return missing


def upload(client: Client, folder: str, frames: dict[bytes, bytes], where: str = "", ask: bool = True) -> int:
    """Send the chunks of ``frames`` the folder lacks (``ask`` False: all of them): :func:`ask_missing`,
    then packs of at most 4,096 frames and 64 MiB. Returns the pack bytes sent."""
    missing = ask_missing(client, folder, list(frames), where) if ask else list(frames)
    sent = 0
    for pack in _packs([(i, frames[i]) for i in missing]):
        size = pack_size(len(d) for _, d in pack)
        client.request("POST", f"folders/{folder}/chunks", where=where, content=blocks(write_pack(pack)),
                       headers={"Content-Type": CONTENT_TYPE, "Content-Length": str(size)})
        sent += size
    return sent


def client_manifest(chunks: Sequence[ChunkRef]) -> Iterator[bytes]:
    """The manifest pieces this client cuts for ``chunks``: the reference cut
    (:func:`~syncline.formats.wire.manifest.reference_pieces`), the one ``file/manifest`` answers."""
    return reference_pieces(chunks, len(chunks))


def mend(staged: RemoteStaged, ask: Callable[[Sequence[bytes]], list[bytes]],
         read: Callable[[bytes, int], bytes | None], send: Callable[[dict[bytes, bytes]], int]) -> bool:
    """Send what the server lacks of a big staged file (its commit answered ``missing_chunks``: chunks
    the basis said were sent were collected since): every chunk and manifest piece is asked about
    (``ask``), the missing pieces made again from the chunk list, the missing chunks read from the local
    files (``read``: verified against their ids) and sent (``send``) in batches. False when one can no
    longer be read as it was (the file changed): the item then fails, and the next run stages it again."""
    pieces = {blake3.blake3(p).digest(): p for p in client_manifest(staged.chunks)} if staged.manifest else {}
    lengths = {c.id: c.length for c in (*staged.manifest, *staged.chunks)}
    batch = _Batch(send)
    for chunk_id in ask(list(lengths)):
        data = pieces.get(chunk_id)
        if data is None:
            data = read(chunk_id, lengths[chunk_id])
        if data is None:
            return False
        batch.add(chunk_id, data)
    batch.flush()
    return True


class _Batch:
    """Chunks to send, sent through ``send`` every :data:`UPLOAD_BATCH` bytes and at :meth:`flush`."""

    def __init__(self, send: Callable[[dict[bytes, bytes]], int]) -> None:
        self.send = send
        self.frames: dict[bytes, bytes] = {}
        self.size = 0

    def add(self, chunk_id: bytes, data: bytes) -> None:
        if chunk_id not in self.frames:
            self.frames[chunk_id] = data
            self.size += len(data)
        if self.size >= UPLOAD_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.frames:
            self.send(self.frames)
            self.frames, self.size = {}, 0


def _packs(frames: list[tuple[bytes, bytes]]) -> Iterable[list[tuple[bytes, bytes]]]:
    pack: list[tuple[bytes, bytes]] = []
    size = pack_size(())
    for frame in frames:
        grown = size + pack_size((len(frame[1]),)) - pack_size(())
        if pack and (len(pack) == MAX_PACK_FRAMES or grown > MAX_PACK_BYTES):
            yield pack
            pack, size = [], pack_size(())
            grown = size + pack_size((len(frame[1]),)) - pack_size(())
        pack.append(frame)
        size = grown
    if pack:
        yield pack


class _Prefixed:
    """``readinto`` over bytes already read, then the rest of the source; hashes everything it passes."""

    def __init__(self, head: bytes, source: SourceFile) -> None:
        self.head = memoryview(head)
        self.source = source
        self.hash = blake3.blake3()
        self.size = 0

    def readinto(self, buffer: memoryview) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
        else:
            n = self.source.readinto(buffer)
        self.hash.update(buffer[:n])
        self.size += n
        return n


def stage(source: SourceFile, path: str, chunker: Chunker, spool: Spool,
          send: Callable[[dict[bytes, bytes]], int], inline_most: int = MAX_INLINE_CHUNKS) -> RemoteStaged:
    """Read ``source`` to its end into a :class:`RemoteStaged` for ``path`` (see the module): small files
    into ``spool``, big ones chunked and sent through ``send`` as they are read; past ``inline_most``
    chunks, their manifest is made and sent too."""
    head = bytearray()
    block = bytearray(READ_BLOCK)
    view = memoryview(block)
    while len(head) < chunker.min_file_size:
        n = source.readinto(view[:min(READ_BLOCK, chunker.min_file_size - len(head))])
        if n == 0:
            break
        head += view[:n]
    e = source.entry
    if len(head) < chunker.min_file_size:
        data = bytes(head)
        digest = blake3.blake3(data).digest()
        chunks = (ChunkRef(digest, len(data)),) if data else ()
        staged = RemoteStaged(path, len(data), e.mtime_ns, e.mode & 0o7777, digest, chunks, spool)
        if data:
            spool.hold(digest, data)
        return staged
    reader = _Prefixed(bytes(head), source)
    refs: list[ChunkRef] = []
    batch = _Batch(send)
    for piece in chunker.pieces_reader(reader.readinto):
        chunk_id = blake3.blake3(piece).digest()
        refs.append(ChunkRef(chunk_id, len(piece)))
        batch.add(chunk_id, bytes(piece))
    manifest: list[ChunkRef] = []
    if len(refs) > inline_most:  # the chunk list goes as chunks too (protocol.md section 7, "Big files")
        for part in client_manifest(refs):
            chunk_id = blake3.blake3(part).digest()
            manifest.append(ChunkRef(chunk_id, len(part)))
            batch.add(chunk_id, part)
    batch.flush()
    return RemoteStaged(path, reader.size, e.mtime_ns, e.mode & 0o7777, reader.hash.digest(), tuple(refs), spool,
                        manifest=tuple(manifest))
