"""Content-defined chunking (FastCDC 2020, through ``pyfastcdc``) for files above a size threshold.

An index made with a :class:`Chunker` records, for every file of at least ``min_file_size`` bytes, the list
of its chunks (length and BLAKE3 digest). An archive made against that index sends only the chunks the far
side lacks: an edit moves chunk boundaries only near the edit, so an insertion near the start of a big file
does not turn every later block into new data (as fixed-size blocks would).

The parameters are recorded in the index header (``chunker`` map) so that the archive side chunks its own
files the same way; :meth:`Chunker.from_params` refuses parameters it does not know how to reproduce.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .entry import Chunk

ALGORITHM = "fastcdc2020"
DEFAULT_AVG = 64 << 10
DEFAULT_MIN_FILE = 1 << 20
# The server's chunker (``/v1/info``), smaller than the default: an edit re-sends the chunks it touches, and
# with 64 KiB chunks (up to 256 KiB) a 1 MiB overwrite plus a 4 KiB insert in a 64 MiB file re-sent 1.35x
# the changed bytes (median of 6 random files; at most 1.43x), with 16 KiB ones 1.05x (at most 1.06x).
# 8 KiB would give 1.02x for twice the chunk rows and ids on the wire; 16 KiB is the bound (1.2x)
# with room to spare.
SERVER_AVG = 16 << 10
_MIN_AVG, _MAX_AVG = 256, 4 << 20  # what pyfastcdc accepts (min_size and max_size follow from avg)


@dataclass(frozen=True, slots=True)
class Chunker:
    """FastCDC with an average chunk of ``avg_size`` bytes (minimum a quarter, maximum four times that),
    applied to files of at least ``min_file_size`` bytes."""

    avg_size: int = DEFAULT_AVG
    min_file_size: int = DEFAULT_MIN_FILE

    def __post_init__(self) -> None:
        if not _MIN_AVG <= self.avg_size <= _MAX_AVG or self.avg_size & (self.avg_size - 1):
            raise ValueError(f"chunk size must be a power of two from {_MIN_AVG} to {_MAX_AVG} bytes")
        if self.min_file_size < 0:
            raise ValueError("the file size threshold for chunk lists cannot be negative")

    @property
    def min_size(self) -> int:
        return self.avg_size // 4

    @property
    def max_size(self) -> int:
        return self.avg_size * 4

    def params(self) -> dict[str, int]:
        """The header map of an index made with this chunker."""
        return {ALGORITHM: 1, "avg_size": self.avg_size, "min_size": self.min_size, "max_size": self.max_size,
                "normalization": 1, "seed": 0, "min_file_size": self.min_file_size}

    @classmethod
    def from_params(cls, params: Mapping[str, int]) -> Chunker:
        """The chunker an index header describes. Raises ``ValueError`` for parameters this version cannot
        reproduce (another algorithm, seed or normalisation)."""
        try:
            chunker = cls(params["avg_size"], params["min_file_size"])
        except (KeyError, TypeError):
            raise ValueError("the index's chunker parameters are incomplete") from None
        if chunker.params() != dict(params):
            raise ValueError(f"unknown chunker parameters {dict(params)}")
        return chunker

    def wants(self, size: int) -> bool:
        return size >= self.min_file_size

    def chunk_fd(self, fd: int) -> tuple[bytes, tuple[Chunk, ...]]:
        """(whole-file BLAKE3 digest, chunks) of everything readable from ``fd`` from its current offset."""
        import blake3

        whole = blake3.blake3()
        chunks = []
        for data in self.pieces_fd(fd):
            whole.update(data)
            chunks.append(Chunk(len(data), blake3.blake3(data).digest()))
        return whole.digest(), tuple(chunks)

    def pieces_fd(self, fd: int) -> Iterator[memoryview]:
        """The chunks of ``fd``'s content as memory views, each valid only until the next is produced."""
        from pyfastcdc import FastCDC

        cdc = FastCDC(self.avg_size, min_size=self.min_size, max_size=self.max_size, normalized_chunking=1)
        with os.fdopen(os.dup(fd), "rb", buffering=0) as stream:
            for c in cdc.cut_stream(stream):
                yield c.data

    def pieces_reader(self, readinto: Callable[[memoryview], int]) -> Iterator[memoryview]:
        """The chunks of a stream that is not a file descriptor (an upload being staged, a download), cut
        exactly as :meth:`pieces_fd` cuts the same bytes. ``readinto`` fills the view it is given and
        returns how many bytes it put there: short reads are fine, 0 means the end. Each view is valid only
        until the next is produced; the reader's exceptions pass through unchanged."""
        from pyfastcdc import FastCDC

        cdc = FastCDC(self.avg_size, min_size=self.min_size, max_size=self.max_size, normalized_chunking=1)
        for c in cdc.cut_stream(_ReadInto(readinto)):
            yield c.data


SERVER_CHUNKER = Chunker(SERVER_AVG)
"""What a server announces and a :class:`~syncline.server.replica.ServerFolderReplica` chunks with: 16 KiB
on average, 4 KiB to 64 KiB, for files of at least 1 MiB."""


class _ReadInto:
    """A ``readinto`` function as the stream object ``pyfastcdc`` reads."""

    def __init__(self, readinto: Callable[[memoryview], int]) -> None:
        self.readinto = readinto
