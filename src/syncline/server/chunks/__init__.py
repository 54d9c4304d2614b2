"""Where the server keeps file content: chunks named by their BLAKE3, in per-folder namespaces."""

from .disk import DiskChunkStore
from .store import BadChunk, ChunkStore, check_namespace, chunk_hex

__all__ = ["BadChunk", "ChunkStore", "DiskChunkStore", "check_namespace", "chunk_hex"]
