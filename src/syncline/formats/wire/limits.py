"""Every bound of protocol.md section 11, as constants, and :data:`LIMITS`, the map ``/v1/info`` publishes.

Changing one is a minor protocol version. Both sides use these: the server to refuse (``too_large`` and
friends) before acting, a client to split its batches and to refuse a server answer past them.
"""

from __future__ import annotations

import re

KiB, MiB = 1 << 10, 1 << 20

MAX_JSON_BODY = 8 * MiB
MAX_OPS = 1_000
MAX_STAT_PATHS = 1_000
MAX_MISSING_IDS = 10_000
MAX_READ_IDS = 4_096
MAX_PACK_FRAMES = 4_096
MAX_PACK_BYTES = 64 * MiB  # a pack body, and a chunks/read answer
MAX_CHUNK = 1 * MiB
# A file of 1 TiB in the server chunker's 16 KiB chunks has about 2**26 of them: twice that leaves room
# for a chunker averaging 8 KiB. Past MAX_INLINE_CHUNKS a put names a manifest (formats/wire/manifest.py),
# whose pieces hold at least 2,048 entries (but the last): 65,536 pieces list 2**27 chunks.
MAX_CHUNKS_PER_FILE = 1 << 27
MAX_INLINE_CHUNKS = 4_096  # chunks listed in a put item; more: a manifest
MAX_MANIFEST_CHUNKS = 65_536  # pieces of one manifest
MAX_CHUNKS_PAGE = 65_536  # chunks in one file/chunks answer
MAX_MANIFEST_PAGE = 262_144  # chunks whose pieces one file/manifest answer lists (at most 1,024 pieces)
MAX_FILE_SIZE = 1 << 40
MAX_PAGE = 10_000  # entries and changes
DEFAULT_ENTRIES_PAGE = 5_000
DEFAULT_CHANGES_PAGE = 1_000
MAX_TRASH_PAGE = 1_000
MAX_PATH_BYTES = 4_096
MAX_NAME_BYTES = 255
MAX_COMPONENTS = 256
MAX_TARGET_BYTES = 4_096
MAX_META_BYTES = 4_096
MIN_PASSWORD_BYTES, MAX_PASSWORD_BYTES = 8, 1_024
MAX_DEVICE_NAME = 64
MAX_STREAM_FOLDERS = 64
MAX_STREAMS_PER_DEVICE = 4
MAX_REQUESTS_PER_DEVICE = 16
MAX_CONNECTIONS = 512
MAX_HEADER_BYTES = 16 * KiB
BODY_STALL_S = 30
LOGIN_FAILS_PER_USER = 5
LOGIN_WAIT_FIRST_S, LOGIN_WAIT_MAX_S = 1, 15 * 60
LOGINS_PER_ADDRESS, LOGIN_ADDRESS_WINDOW_S = 30, 10 * 60
ARGON2_AT_ONCE, ARGON2_WAITING = 2, 8
LOCK_TTL_MIN_S, LOCK_TTL_MAX_S = 10, 300
# File locks (protocol 1.1): 1 minute to 7 days, 30 minutes when not said; at most this many per folder.
FILE_LOCK_TTL_MIN_S, FILE_LOCK_TTL_MAX_S, FILE_LOCK_TTL_S = 60, 7 * 86_400, 1_800
MAX_FILE_LOCKS = 10_000
MAX_LOCK_NOTE = 200  # characters
UPLOAD_LEASE_S = 24 * 3600
HISTORY_S = 30 * 24 * 3600
HISTORY_MIN_CHANGES = 100_000
MAX_OP_ID = 64  # characters of an op id (16 random bytes in base64url are 22)
MAX_INT = (1 << 63) - 1  # JSON integers on the wire are within +-2**63
MIN_INT = -(1 << 63)
MAX_QUOTA = 1 << 62  # bytes a user's quota may be: past any disk, within 64-bit integers
# A folder's activity (protocol 1.3): days asked at once, and when not said (the journal keeps HISTORY_S).
MAX_ACTIVITY_DAYS, ACTIVITY_DAYS = 90, 30

USER_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
FOLDER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
META_KEY_RE = re.compile(r"[a-z0-9-]{1,64}")
OP_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
LOCK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a lease id (the server's are "L" and 20 base64url)

LIMITS: dict[str, int] = {
    "json_body": MAX_JSON_BODY,
    "ops": MAX_OPS,
    "stat_paths": MAX_STAT_PATHS,
    "missing_ids": MAX_MISSING_IDS,
    "read_ids": MAX_READ_IDS,
    "pack_frames": MAX_PACK_FRAMES,
    "pack_bytes": MAX_PACK_BYTES,
    "chunk": MAX_CHUNK,
    "chunks_per_file": MAX_CHUNKS_PER_FILE,
    "inline_chunks": MAX_INLINE_CHUNKS,
    "manifest_chunks": MAX_MANIFEST_CHUNKS,
    "chunks_page": MAX_CHUNKS_PAGE,
    "manifest_page": MAX_MANIFEST_PAGE,
    "file_size": MAX_FILE_SIZE,
    "page": MAX_PAGE,
    "trash_page": MAX_TRASH_PAGE,
    "path_bytes": MAX_PATH_BYTES,
    "name_bytes": MAX_NAME_BYTES,
    "components": MAX_COMPONENTS,
    "target_bytes": MAX_TARGET_BYTES,
    "meta_bytes": MAX_META_BYTES,
    "password_min_bytes": MIN_PASSWORD_BYTES,
    "password_max_bytes": MAX_PASSWORD_BYTES,
    "device_name": MAX_DEVICE_NAME,
    "stream_folders": MAX_STREAM_FOLDERS,
    "streams_per_device": MAX_STREAMS_PER_DEVICE,
    "requests_per_device": MAX_REQUESTS_PER_DEVICE,
    "connections": MAX_CONNECTIONS,
    "header_bytes": MAX_HEADER_BYTES,
    "body_stall_s": BODY_STALL_S,
    "login_fails_per_user": LOGIN_FAILS_PER_USER,
    "login_wait_max_s": LOGIN_WAIT_MAX_S,
    "logins_per_address": LOGINS_PER_ADDRESS,
    "login_address_window_s": LOGIN_ADDRESS_WINDOW_S,
    "argon2_at_once": ARGON2_AT_ONCE,
    "lock_ttl_min_s": LOCK_TTL_MIN_S,
    "lock_ttl_max_s": LOCK_TTL_MAX_S,
    "file_lock_ttl_min_s": FILE_LOCK_TTL_MIN_S,
    "file_lock_ttl_max_s": FILE_LOCK_TTL_MAX_S,
    "file_locks": MAX_FILE_LOCKS,
    "upload_lease_s": UPLOAD_LEASE_S,
    "history_s": HISTORY_S,
    "history_min_changes": HISTORY_MIN_CHANGES,
    "activity_days": MAX_ACTIVITY_DAYS,
}
