"""Chunk-list manifests (protocol.md section 7, "Big files"): the chunk list of a file of more than
:data:`~.limits.MAX_INLINE_CHUNKS` chunks, as bytes uploaded like content.

A manifest is the file's chunks in order, each as its 32-byte id and its length (4 bytes, big-endian), 36
bytes an entry. It is cut into pieces of whole entries, each uploaded as an ordinary chunk, and a ``put``
names the pieces (``manifest: [[id, length], ...]``) instead of the chunks. So a big chunk list is sent in
packs (bounded, resumable: a piece the server holds is not sent again) rather than in one JSON body.

The cut is content-defined over the entries (after an entry whose id's first four bytes are a multiple of
:data:`CUT_EVERY`, once a piece holds :data:`MIN_ENTRIES`; always at :data:`MAX_ENTRIES`): the ids are
hashes, so an edit of the file changes the pieces around the changed chunks only, and the others are
already on the server. Readers check every piece (whole entries, lengths 1..``MAX_CHUNK``), never trusting
the cut: any cut of whole entries is a valid manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .errors import WireError
from .limits import MAX_CHUNK
from .ops import ChunkRef

ENTRY_BYTES = 36
MIN_ENTRIES = 2_048
CUT_EVERY = 2_048  # a piece holds about MIN_ENTRIES + CUT_EVERY entries (4,096: 144 KiB)
MAX_ENTRIES = 16_384  # 576 KiB, under MAX_CHUNK
FINE_ENTRIES = 256  # the reference cut (reference_pieces): pieces of about 512 entries, 18 KiB
FINE_UP_TO = 16_000_000  # chunks; a bigger file's reference cut is the default one


def manifest_pieces(chunks: Iterable[ChunkRef], min_entries: int = MIN_ENTRIES, cut_every: int = CUT_EVERY,
                    max_entries: int = MAX_ENTRIES) -> Iterator[bytes]:
    """The manifest of ``chunks``, cut into pieces (see the module); none for no chunks."""
    piece = bytearray()
    count = 0
    for c in chunks:
        piece += c.id
        piece += c.length.to_bytes(4, "big")
        count += 1
        if count >= max_entries or (count >= min_entries and int.from_bytes(c.id[:4], "big") % cut_every == 0):
            yield bytes(piece)
            piece, count = bytearray(), 0
    if piece:
        yield bytes(piece)


def reference_pieces(chunks: Iterable[ChunkRef], count: int) -> Iterator[bytes]:
    """The reference cut of a file's ``count`` chunks (``chunks``, in order), the one the reference client
    uploads and the server's ``file/manifest`` answers: finer than the default (about 512 entries, 18 KiB,
    a piece), so an edit changes a few dozen KiB of chunk list; past :data:`FINE_UP_TO` chunks the default
    cut, so a put names at most 65,536 pieces. It depends only on the ids and ``count``'s size class, so
    two versions of a file share their unchanged pieces, and a cut started at a piece boundary goes on as
    the whole list's does."""
    if count > FINE_UP_TO:
        return manifest_pieces(chunks)
    return manifest_pieces(chunks, min_entries=FINE_ENTRIES, cut_every=FINE_ENTRIES)


def serialize(chunks: Iterable[ChunkRef]) -> bytes:
    """The manifest bytes of ``chunks`` (36 bytes an entry), uncut: a piece's bytes from its entries."""
    return b"".join(c.id + c.length.to_bytes(4, "big") for c in chunks)


def manifest_entries(piece: bytes, code: str = "bad_content") -> Iterator[ChunkRef]:
    """The chunks one manifest piece lists, checked: whole 36-byte entries, each length 1..``MAX_CHUNK``
    (``code``, ``bad_content`` by default, for a piece that is not)."""
    if len(piece) % ENTRY_BYTES:
        raise WireError(code, f"a manifest piece of {len(piece)} bytes is not whole 36-byte entries",
                        "a client bug: update syncline")
    view = memoryview(piece)
    for at in range(0, len(piece), ENTRY_BYTES):
        length = int.from_bytes(view[at + 32:at + 36], "big")
        if not 1 <= length <= MAX_CHUNK:
            raise WireError(code, f"a manifest entry of a chunk of {length} bytes", "a client bug: update syncline",
                            {"limit": MAX_CHUNK})
        yield ChunkRef(bytes(view[at:at + 32]), length)
