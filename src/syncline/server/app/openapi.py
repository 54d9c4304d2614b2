"""``GET /v1/openapi.json``: the OpenAPI 3.1 document of protocol v1, built from the wire limits.

Hand-built (design.md says why not FastAPI): every bound of protocol.md section 11 appears as a
``maxItems``/``maxLength``/``maximum``, so the fuzzer reads the real limits. A test compares the app's
routes with :data:`OPERATIONS` and validates the document against the OpenAPI 3.1 schema.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...formats.wire.activity import JOURNAL_OPS
from ...formats.wire.limits import (
    FILE_LOCK_TTL_MAX_S,
    FILE_LOCK_TTL_MIN_S,
    FOLDER_NAME_RE,
    LOCK_ID_RE,
    LOCK_TTL_MAX_S,
    LOCK_TTL_MIN_S,
    MAX_ACTIVITY_DAYS,
    MAX_CHUNK,
    MAX_CHUNKS_PAGE,
    MAX_CHUNKS_PER_FILE,
    MAX_DEVICE_NAME,
    MAX_FILE_LOCKS,
    MAX_FILE_SIZE,
    MAX_INLINE_CHUNKS,
    MAX_INT,
    MAX_LOCK_NOTE,
    MAX_MANIFEST_CHUNKS,
    MAX_MANIFEST_PAGE,
    MAX_META_BYTES,
    MAX_MISSING_IDS,
    MAX_OP_ID,
    MAX_OPS,
    MAX_PACK_BYTES,
    MAX_PAGE,
    MAX_PASSWORD_BYTES,
    MAX_PATH_BYTES,
    MAX_QUOTA,
    MAX_READ_IDS,
    MAX_STAT_PATHS,
    MAX_STREAM_FOLDERS,
    MAX_TARGET_BYTES,
    MAX_TRASH_PAGE,
    META_KEY_RE,
    OP_ID_RE,
    USER_NAME_RE,
)
from ...formats.wire.manifest import FINE_ENTRIES, MAX_ENTRIES
from ...formats.wire.packs import CONTENT_TYPE
from ...formats.wire.paths import META_ETAG_RE
from ...version import __version__
from .errors import JSON

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _int(lo: int = 0, hi: int = MAX_INT) -> Schema:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _obj(props: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": props, "required": list(required or props)}


_PATH = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_BYTES}
_ID = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_LOCK_ID = {"type": "string", "pattern": f"^{LOCK_ID_RE.pattern}$", "maxLength": 64}
_ROWS = {"type": "array", "maxItems": MAX_PAGE, "items": {"type": "array"}}
_COLUMNS = {"type": "array", "items": {"type": "string"}}
_ENTRY = _obj({"mtime_ns": _int(-(1 << 63)), "mode": _int(0, 0o7777), "size": _int(0, MAX_FILE_SIZE),
               "digest": _ID, "target": {"type": "string", "minLength": 1, "maxLength": MAX_TARGET_BYTES}},
              ("mtime_ns", "mode"))
_EXPECT = {"oneOf": [{"type": "null"}, _obj({
    "kind": {"enum": ["file", "dir", "symlink"]}, "size": _int(0, MAX_FILE_SIZE), "mtime_ns": _int(-(1 << 63)),
    "target": {"type": ["string", "null"], "maxLength": MAX_TARGET_BYTES},
    "file_id": {"type": ["string", "null"], "maxLength": 64}, "version": {"type": ["integer", "null"], "minimum": 0}},
    ("kind", "size", "mtime_ns"))]}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj({"error": _obj({"code": {"type": "string"}, "message": {"type": "string"},
                                  "hint": {"type": "string"}, "retryable": {"type": "boolean"},
                                  "details": {"type": "object"}})}),
    "Info": {"type": "object", "required": ["server", "server_id", "protocol", "features", "chunker", "limits"]},
    "Login": _obj({"user": {"type": "string", "maxLength": 64},
                   "password": {"type": "string", "maxLength": MAX_PASSWORD_BYTES},
                   "device": {"type": "string", "minLength": 1, "maxLength": MAX_DEVICE_NAME},
                   "replaces": {"type": "string", "maxLength": 64}}, ("user", "password", "device")),
    "Token": _obj({"token": {"type": "string"}, "device_id": {"type": "string"}, "user": {"type": "string"},
                   "admin": {"type": "boolean"}}),
    "Whoami": _obj({"user": {"type": "string"}, "admin": {"type": "boolean"}, "device_id": {"type": "string"},
                    "device": {"type": "string"}}),
    "Devices": {"type": "array", "items": _obj({"id": {"type": "string"}, "name": {"type": "string"},
                                                "created": {"type": "integer"},
                                                "last_seen": {"type": ["integer", "null"]},
                                                "revoked": {"type": ["integer", "null"]},
                                                "current": {"type": "boolean"},
                                                "kind": {"enum": ["device", "app", "web"]},
                                                "expires": {"type": ["integer", "null"]}})},
    "Folder": {"type": "object", "required": ["name", "uid", "rights", "seq", "files", "bytes"]},
    "Share": _obj({"uid": {"type": "string"}, "folder": {"type": "string"}, "owner": {"type": "string"},
                   "user": {"type": "string"}, "rights": {"enum": ["rw", "ro"]},
                   "state": {"enum": ["owner", "offered", "accepted", "revoked"]},
                   "name": {"type": ["string", "null"]}, "since_ns": _int()}),
    "Shares": _obj({"incoming": {"type": "array", "items": _ref("Share")},
                    "outgoing": {"type": "array", "items": _ref("Share")}}),
    "Members": _obj({"members": {"type": "array", "items": _ref("Share")}}),
    "Accept": _obj({"name": {"type": "string", "pattern": f"^{FOLDER_NAME_RE.pattern}$"}}, ()),
    "Rights": _obj({"rights": {"enum": ["rw", "ro"]}}),
    "Deleted": _obj({"columns": _COLUMNS, "rows": {"type": "array", "maxItems": MAX_TRASH_PAGE,
                                                   "items": {"type": "array"}},
                     "next": _int(), "more": {"type": "boolean"}}),
    "Damaged": _obj({"columns": _COLUMNS, "rows": {"type": "array", "maxItems": 10_000,
                                                   "items": {"type": "array"}}}),
    "Purge": _obj({"path": {"type": "string", "maxLength": MAX_PATH_BYTES}}),
    "Purged": _obj({"purged": _int()}),
    "Versions": _obj({"columns": _COLUMNS, "current": {"type": ["array", "null"]},
                      "rows": {"type": "array", "maxItems": MAX_TRASH_PAGE, "items": {"type": "array"}}}),
    "FileLock": _obj({"lock": _LOCK_ID, "path": _PATH, "user": {"type": "string"}, "device": {"type": "string"},
                      "device_name": {"type": "string"}, "created_ns": _int(), "expires_ns": _int(),
                      "expires_in": _int(), "note": {"type": ["string", "null"], "maxLength": MAX_LOCK_NOTE},
                      "mine": {"type": "boolean"}}),
    "FileLocks": _obj({"lock_seq": _int(), "locks": {"type": "array", "maxItems": MAX_FILE_LOCKS,
                                                      "items": _ref("FileLock")}}),
    "FileLockRequest": _obj({"path": _PATH, "ttl": _int(FILE_LOCK_TTL_MIN_S, FILE_LOCK_TTL_MAX_S),
                             "note": {"type": "string", "maxLength": MAX_LOCK_NOTE}}, ("path",)),
    "FileLockTtl": _obj({"ttl": _int(FILE_LOCK_TTL_MIN_S, FILE_LOCK_TTL_MAX_S)}),
    "Folders": {"type": "array", "items": _ref("Folder")},
    "Entries": _obj({"seq": _int(), "columns": _COLUMNS, "rows": _ROWS, "next": _int(), "more": {"type": "boolean"},
                     "next_path": {"type": ["string", "null"], "maxLength": MAX_PATH_BYTES}}),
    "Paths": _obj({"paths": {"type": "array", "maxItems": MAX_STAT_PATHS,
                             "items": {"type": "string", "maxLength": MAX_PATH_BYTES}}}),
    "Stat": _obj({"seq": _int(), "columns": _COLUMNS, "items": {"type": "array", "maxItems": MAX_STAT_PATHS}}),
    "MissingIds": _obj({"ids": {"type": "array", "maxItems": MAX_MISSING_IDS, "items": _ID}}),
    "ReadIds": _obj({"ids": {"type": "array", "maxItems": MAX_READ_IDS, "items": _ID}}),
    "Missing": _obj({"missing": {"type": "array", "maxItems": MAX_MISSING_IDS, "items": _ID}}),
    "Stored": _obj({"stored": _int(), "present": _int()}),
    "ChunkList": _obj({"version": _int(), "size": _int(0, MAX_FILE_SIZE), "digest": _ID,
                       "count": _int(0, MAX_CHUNKS_PER_FILE),
                       "chunks": {"type": "array", "maxItems": MAX_CHUNKS_PAGE,
                                  "items": {"type": "array", "prefixItems": [_ID, _int(1, MAX_CHUNK)]}},
                       "next": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CHUNKS_PER_FILE}}),
    "Manifest": _obj({"version": _int(), "size": _int(0, MAX_FILE_SIZE), "digest": _ID,
                      "count": _int(0, MAX_CHUNKS_PER_FILE),
                      "pieces": {"type": "array", "maxItems": MAX_MANIFEST_PAGE // FINE_ENTRIES,
                                 "items": {"type": "array", "prefixItems": [_ID, _int(1, MAX_ENTRIES)]}},
                      "next": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CHUNKS_PER_FILE}}),
    "Ops": _obj({"policy": _obj({"trash": {"type": "boolean"}, "keep_changed": {"type": "boolean"}}),
                 "items": {"type": "array", "maxItems": MAX_OPS, "items": _obj({
                     "id": {"type": "string", "pattern": f"^{OP_ID_RE.pattern}$", "maxLength": MAX_OP_ID},
                     "op": {"enum": ["put", "mkdir", "symlink", "delete", "move", "meta"]},
                     "path": _PATH, "expect": _EXPECT, "entry": _ENTRY, "to": _PATH,
                     "chunks": {"type": "array", "maxItems": MAX_INLINE_CHUNKS,
                                "items": {"type": "array", "prefixItems": [_ID, _int(1, MAX_CHUNK)]}},
                     "manifest": {"type": "array", "minItems": 1, "maxItems": MAX_MANIFEST_CHUNKS,
                                  "items": {"type": "array", "prefixItems": [_ID, _int(36, MAX_CHUNK)]}}},
                     ("id", "op", "path", "expect"))}}),
    "Results": _obj({"seq": _int(), "results": {"type": "array", "maxItems": MAX_OPS, "items": {"type": "object"}}}),
    "Changes": _obj({"seq": _int(), "changes": {"type": "array", "maxItems": MAX_PAGE, "items": {"type": "array"}},
                     "next": _int(), "more": {"type": "boolean"}}),
    "Ttl": _obj({"ttl": _int(LOCK_TTL_MIN_S, LOCK_TTL_MAX_S)}),
    "LockRequest": _obj({"ttl": _int(LOCK_TTL_MIN_S, LOCK_TTL_MAX_S), "replaces": _LOCK_ID, "lock": _LOCK_ID},
                        ("ttl",)),
    "Lock": _obj({"lock": {"type": "string"}, "expires_in": _int()}),
    "Trash": _obj({"columns": _COLUMNS, "rows": {"type": "array", "maxItems": MAX_TRASH_PAGE},
                   "next": _int(), "more": {"type": "boolean"}}),
    "User": _obj({"name": {"type": "string"}, "admin": {"type": "boolean"}, "disabled": {"type": "boolean"},
                  "quota": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_QUOTA}, "used": _int(),
                  "devices": _int(), "last_seen_ns": {"type": ["integer", "null"]}, "created_ns": _int()}),
    "Users": _obj({"users": {"type": "array", "items": _ref("User")}}),
    "UserChange": {**_obj({"quota": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_QUOTA},
                           "disabled": {"type": "boolean"}}, ()), "minProperties": 1, "additionalProperties": False},
    "Activity": _obj({"folder": {"type": "string"}, "ops": {"type": "array", "items": {"type": "string"}},
                      "kept_from": {"type": ["string", "null"], "format": "date"},
                      "days": {"type": "array", "maxItems": MAX_ACTIVITY_DAYS, "items": _obj(
                          {"day": {"type": "string", "format": "date"}, "total": _int(),
                           **{op: _int() for op in JOURNAL_OPS}})}}),
}


def _param(name: str, where: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


_NAME = _param("name", "path", {"type": "string", "pattern": f"^{FOLDER_NAME_RE.pattern}$"})
_SINCE = _param("since", "query", _int())
_PATH_Q = _param("path", "query", _PATH, True)
_UID = _param("uid", "path", {"type": "string", "maxLength": 64})
_FILE_LOCK = _param("lock", "path", {"type": "string", "pattern": f"^{LOCK_ID_RE.pattern}$"})
_USER = _param("user", "path", {"type": "string", "pattern": f"^{USER_NAME_RE.pattern}$"})
_USER_NAME = _param("name", "path", {"type": "string", "pattern": f"^{USER_NAME_RE.pattern}$"})
_DAYS = _param("days", "query", _int(1, MAX_ACTIVITY_DAYS))


def _json(name: str) -> Schema:
    return {"content": {"application/json": {"schema": _ref(name)}}}


def _op(summary: str, ok: str, answer: Schema | None = None, *, params: tuple[Schema, ...] = (),
        body: Schema | None = None, auth: bool = True) -> Schema:
    out: Schema = {"summary": summary, "responses": {ok: {"description": "done", **(answer or {})},
                                                     "default": {"description": "an error", **_json("Error")}}}
    if params:
        out["parameters"] = list(params)
    if body is not None:
        out["requestBody"] = {"required": True, **body}
    if not auth:
        out["security"] = []
    return out


_BYTES = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
_PACK = {"content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary", "maxLength": MAX_PACK_BYTES}}}}
_TEXT = {"content": {"text/plain": {"schema": {"type": "string", "maxLength": MAX_META_BYTES}}}}
F = "/v1/folders/{name}"

OPERATIONS: dict[str, dict[str, Schema]] = {
    "/v1/info": {"get": _op("the server, its protocol, chunker and limits", "200", _json("Info"), auth=False)},
    "/v1/openapi.json": {"get": _op("this document", "200", {"content": {"application/json": {}}}, auth=False)},
    "/v1/login": {"post": _op("a device token for a user's password", "200", _json("Token"),
                              body=_json("Login"), auth=False)},
    "/v1/logout": {"post": _op("revoke the token this is called with", "204")},
    "/v1/whoami": {"get": _op("the caller", "200", _json("Whoami"))},
    "/v1/devices": {"get": _op("this user's devices", "200", _json("Devices"))},
    "/v1/devices/{id}": {"delete": _op("revoke a device", "204", params=(
        _param("id", "path", {"type": "string", "maxLength": 64}),))},
    "/v1/folders": {"get": _op("the caller's folders", "200", _json("Folders"))},
    F: {"get": _op("one folder", "200", _json("Folder"), params=(_NAME,)),
        "put": _op("make the folder (200: it was there)", "201", _json("Folder"), params=(_NAME,))},
    F + "/entries": {"get": _op("entries past (since, after), in (version, path) order", "200", _json("Entries"),
                                params=(
        _NAME, _SINCE, _param("limit", "query", _int(1, MAX_PAGE)),
        _param("after", "query", {"type": "string", "maxLength": MAX_PATH_BYTES}),
        _param("dir", "query", {"type": "string", "maxLength": MAX_PATH_BYTES}),
        _param("deep", "query", {"enum": ["0", "1"]})))},
    F + "/stat": {"post": _op("rows of paths", "200", _json("Stat"), params=(_NAME,), body=_json("Paths"))},
    F + "/chunks/missing": {"post": _op("the ids the folder lacks", "200", _json("Missing"), params=(_NAME,),
                                        body=_json("MissingIds"))},
    F + "/chunks": {"post": _op("store a pack of chunks", "200", _json("Stored"), params=(_NAME,), body=_PACK)},
    F + "/chunks/read": {"post": _op("a pack of chunks", "200", _PACK, params=(_NAME,), body=_json("ReadIds"))},
    F + "/file": {"get": _op("a file's bytes (206 for one Range)", "200", _BYTES, params=(
        _NAME, _PATH_Q, _param("version", "query", _int(1)), _param("trash_id", "query", _int(1)),
        _param("Range", "header", {"type": "string", "maxLength": 100}),
        _param("If-Match", "header", {"type": "string", "maxLength": 100})))},
    F + "/file/chunks": {"get": _op("a page of a file's chunk list", "200", _json("ChunkList"), params=(
        _NAME, _PATH_Q, _param("version", "query", _int(1)), _param("from", "query", _int(0, MAX_CHUNKS_PER_FILE)),
        _param("limit", "query", _int(1, MAX_CHUNKS_PAGE))))},
    F + "/file/manifest": {"get": _op("a page of a file's manifest pieces (the reference cut)", "200",
                                      _json("Manifest"), params=(
        _NAME, _PATH_Q, _param("version", "query", _int(1)), _param("from", "query", _int(0, MAX_CHUNKS_PER_FILE))))},
    F + "/ops": {"post": _op("apply a batch of conditional items", "200", _json("Results"), params=(_NAME,),
                             body=_json("Ops"))},
    F + "/meta/{key}": {
        "get": _op("a meta text", "200", _TEXT, params=(_NAME, _param("key", "path", {
            "type": "string", "pattern": f"^{META_KEY_RE.pattern}$"}))),
        "put": _op("write a meta text (If-None-Match: * / If-Match: only over that, else 412)", "204", params=(
            _NAME, _param("key", "path", {"type": "string", "pattern": f"^{META_KEY_RE.pattern}$"}),
            _param("If-None-Match", "header", {"enum": ["*"]}),
            _param("If-Match", "header", {"type": "string", "pattern": f"^{META_ETAG_RE.pattern}$"})), body=_TEXT)},
    F + "/changes": {"get": _op("the journal past since", "200", _json("Changes"), params=(
        _NAME, _SINCE, _param("limit", "query", _int(1, MAX_PAGE))))},
    F + "/locks": {"post": _op("take this device's lease (or take over one it left behind: replaces)", "201",
                               _json("Lock"), params=(_NAME,), body=_json("LockRequest"))},
    F + "/locks/{lock}": {
        "put": _op("renew a lease", "200", _json("Lock"), params=(
            _NAME, _param("lock", "path", {"type": "string", "maxLength": 64})), body=_json("Ttl")),
        "delete": _op("release a lease", "204", params=(
            _NAME, _param("lock", "path", {"type": "string", "maxLength": 64})))},
    F + "/trash": {"get": _op("versions kept as trash, newest first", "200", _json("Trash"), params=(
        _NAME, _param("after", "query", _int()), _param("limit", "query", _int(1, MAX_TRASH_PAGE))))},
    "/v1/events": {"get": _op("Server-Sent Events: seq per folder; shares and revoked (protocol 1.1)", "200",
                              {"content": {"text/event-stream": {"schema": {"type": "string"}}}}, params=(
        {**_param("folder", "query", {"type": "array", "maxItems": MAX_STREAM_FOLDERS, "items": {
            "type": "string", "pattern": f"^{FOLDER_NAME_RE.pattern}:[0-9]{{1,19}}$"}}),
         "style": "form", "explode": True},
        _param("shares", "query", {"enum": ["0", "1"]})))},
    "/v1/shares": {"get": _op("shares offered to or held by the caller, and of the caller's folders", "200",
                              _json("Shares"))},
    "/v1/shares/{uid}/accept": {"post": _op("accept an offer, under a name of one's own", "200", _json("Share"),
                                            params=(_UID,), body=_json("Accept"))},
    "/v1/shares/{uid}/decline": {"post": _op("decline an offer, or leave a share", "204", params=(_UID,))},
    F + "/file-locks": {
        "get": _op("the folder's file locks", "200", _json("FileLocks"), params=(_NAME,)),
        "post": _op("lock a file for this device (200: renewed; 423 while another holds it)", "201",
                    _json("FileLock"), params=(_NAME,), body=_json("FileLockRequest"))},
    F + "/file-locks/{lock}": {
        "put": _op("renew this device's lock", "200", _json("FileLock"), params=(_NAME, _FILE_LOCK),
                   body=_json("FileLockTtl")),
        "delete": _op("unlock (force=1: the folder's owner breaks another's lock)", "204", params=(
            _NAME, _FILE_LOCK, _param("force", "query", {"enum": ["0", "1"]})))},
    F + "/versions": {"get": _op("the versions kept of a path, newest first, and its live entry", "200",
                                 _json("Versions"), params=(_NAME, _PATH_Q, _param("limit", "query",
                                                                                   _int(1, MAX_TRASH_PAGE))))},
    F + "/deleted": {"get": _op("the files deleted and not replaced since, newest first", "200", _json("Deleted"),
                                params=(_NAME, _param("before", "query", _int()),
                                        _param("limit", "query", _int(1, MAX_TRASH_PAGE)),
                                        _param("path", "query", _PATH)))},
    F + "/damaged": {"get": _op("the live files whose version lost a chunk (server check --repair)", "200",
                                _json("Damaged"), params=(_NAME,))},
    F + "/purge": {"post": _op("the owner empties the trash at path or below it (all of it: \"\")", "200",
                               _json("Purged"), params=(_NAME,), body=_json("Purge"))},
    F + "/members": {"get": _op("everyone with a right to the folder", "200", _json("Members"), params=(_NAME,))},
    F + "/members/{user}": {
        "put": _op("the owner offers the folder, or changes a member's rights (200)", "201", _json("Share"),
                   params=(_NAME, _USER), body=_json("Rights")),
        "delete": _op("the owner revokes a share, or a member leaves", "204", params=(_NAME, _USER))},
    F + "/activity": {"get": _op("changes per UTC day and op, the last days (protocol 1.3)", "200",
                                 _json("Activity"), params=(_NAME, _DAYS))},
    "/v1/users": {"get": _op("every user with usage and devices: administrators only (protocol 1.3)", "200",
                             _json("Users"))},
    "/v1/users/{name}": {"patch": _op("an administrator changes a user's quota, or disables or enables them", "200",
                                      _json("User"), params=(_USER_NAME,), body=_json("UserChange"))},
}


def document() -> Schema:
    """The whole OpenAPI 3.1 document."""
    return {"openapi": "3.1.0",
            "info": {"title": "syncline server", "version": __version__,
                     "description": "protocol v1: docs/protocol.md"},
            "paths": OPERATIONS,
            "components": {"schemas": SCHEMAS,
                           "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
            "security": [{"token": []}]}


async def openapi(request: Request) -> Response:
    return JSON(request.app.state.openapi)


def openapi_route() -> Route:
    return Route("/v1/openapi.json", openapi, methods=["GET"])
