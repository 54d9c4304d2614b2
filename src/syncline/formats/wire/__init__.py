"""The wire format of protocol v1 (``docs/protocol.md``): what the server and its clients exchange.

Plain values and pure functions, no I/O and no HTTP: error codes and the error body, limits, path checks,
``ops`` items and results with their JSON, entry rows, and chunk packs. Everything read from the other
side is bounded and validated here, each refusal one :class:`WireError` with one code.
"""

from __future__ import annotations

from .entries import (
    COLUMNS,
    EntriesPage,
    Row,
    RowReader,
    entries_page_of_json,
    entry_of,
    row_of,
    stat_items_of_json,
    tombstone_row,
)
from .errors import CODES, Code, WireError, clip, error_body, error_of_body, family_of
from .fields import dump_json, parse_json
from .limits import LIMITS
from .ops import OP_NAMES, ChunkRef, Expect, ItemResult, Op, OpEntry, OpName, WirePolicy, new_op_id, put_content_error
from .opsjson import (
    chunks_of_json,
    ids_of_json,
    ids_to_json,
    op_of_json,
    op_to_json,
    ops_of_json,
    ops_to_json,
    paths_of_json,
    result_of_json,
    result_to_json,
    results_of_json,
    results_to_json,
)
from .packs import Frame, PackReader, pack_size, read_pack, write_pack
from .paths import check_folder_name, check_meta_key, check_target, check_wire_path

__all__ = [
    "CODES",
    "COLUMNS",
    "LIMITS",
    "OP_NAMES",
    "ChunkRef",
    "Code",
    "EntriesPage",
    "Expect",
    "Frame",
    "ItemResult",
    "Op",
    "OpEntry",
    "OpName",
    "PackReader",
    "Row",
    "RowReader",
    "WireError",
    "WirePolicy",
    "check_folder_name",
    "check_meta_key",
    "check_target",
    "check_wire_path",
    "chunks_of_json",
    "clip",
    "dump_json",
    "entries_page_of_json",
    "entry_of",
    "error_body",
    "error_of_body",
    "family_of",
    "ids_of_json",
    "ids_to_json",
    "new_op_id",
    "op_of_json",
    "op_to_json",
    "ops_of_json",
    "ops_to_json",
    "pack_size",
    "parse_json",
    "paths_of_json",
    "put_content_error",
    "read_pack",
    "result_of_json",
    "result_to_json",
    "results_of_json",
    "results_to_json",
    "row_of",
    "stat_items_of_json",
    "tombstone_row",
    "write_pack",
]
