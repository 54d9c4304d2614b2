"""The wire format of protocol v1 (``docs/protocol.md``): what the server and its clients exchange.

Plain values and pure functions, no I/O and no HTTP: error codes and the error body, limits, path checks,
``ops`` items and results with their JSON, entry rows, and chunk packs. Everything read from the other
side is bounded and validated here, each refusal one :class:`WireError` with one code.
"""

from __future__ import annotations

from .errors import CODES, Code, WireError, clip, error_body, error_of_body, family_of
from .limits import LIMITS
from .ops import OP_NAMES, ChunkRef, Expect, ItemResult, Op, OpEntry, OpName, WirePolicy, new_op_id
from .paths import check_folder_name, check_meta_key, check_target, check_wire_path

__all__ = [
    "CODES",
    "LIMITS",
    "OP_NAMES",
    "ChunkRef",
    "Code",
    "Expect",
    "ItemResult",
    "Op",
    "OpEntry",
    "OpName",
    "WireError",
    "WirePolicy",
    "check_folder_name",
    "check_meta_key",
    "check_target",
    "check_wire_path",
    "clip",
    "error_body",
    "error_of_body",
    "family_of",
    "new_op_id",
]
