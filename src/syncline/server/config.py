"""The server's config file, ``DATA/server.toml`` (optional: every key has a default), read by
``syncline serve`` at start. What it holds today:

.. code-block:: toml

    [versions]            # what every overwrite and delete keeps (issue 14)
    keep_all = "1d"       # every version this young
    keep_daily = "30d"    # then the newest of each day, this far back
    keep_weekly = "52w"   # then the newest of each week, this far back
    cap_per_user = "none" # or a size ("20GiB"): the oldest versions go first past it (never one under a day)

    [trash]
    keep = "30d"          # a deleted file stays this long, with every version of it

    [gc]
    every = "1h"          # how often the collector runs

    [webdav]              # issue 15
    account_passwords = true  # false: WebDAV clients log in with app passwords only (`syncline app-password add`)

    [web]                 # issue 16
    zip_max = "16GiB"     # the most a folder's zip download may hold (its files' bytes)
    idle = "24h"          # a browser's session without a request this long ends
    max_age = "14d"       # and every session ends this long after its login

A mistake is one line naming the file, the table and the key, and what to write instead: the server does
not start on a config it cannot read, rather than on defaults its operator did not choose.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.units import parse_duration, parse_size
from .auth import WebPolicy
from .collector import EVERY_S
from .store.retention import Policy

FILE_NAME = "server.toml"
_KEYS = {"versions": ("keep_all", "keep_daily", "keep_weekly", "cap_per_user"), "trash": ("keep",),
         "gc": ("every",), "webdav": ("account_passwords",), "web": ("zip_max", "idle", "max_age")}
MIN_GC_EVERY_S = 60.0
DEFAULT_ZIP_MAX = 16 << 30
MIN_WEB_S = 60.0  # a session shorter than the minute its expiry is slid by could end mid-use
MAX_WEB_S = 3650 * 86400.0  # ten years: nanosecond deadlines stay far inside 64 bits


@dataclass(frozen=True, slots=True)
class ServerConfig:
    policy: Policy = field(default_factory=Policy)
    gc_every_s: float = EVERY_S
    dav_account_passwords: bool = True
    zip_max: int = DEFAULT_ZIP_MAX
    web: WebPolicy = field(default_factory=WebPolicy)


def load_server_config(data_dir: Path) -> ServerConfig:
    """``DATA/server.toml``, or the defaults when there is none. :class:`UsageError` for a file that is
    not TOML, an unknown table or key, or a value of the wrong kind."""
    path = data_dir / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ServerConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", "fix the file, or remove it for the defaults") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not TOML ({exc})", "see docs/cli.md, \"The server's config\"") from None
    for table, value in data.items():
        if table not in _KEYS or not isinstance(value, dict):
            raise UsageError(f"{path}: unknown table or key {table!r}",
                             "use [versions], [trash], [gc], [webdav] and [web] only")
        for key in value:
            if key not in _KEYS[table]:
                raise UsageError(f"{path}: unknown key {key!r} in [{table}]",
                                 f"[{table}] takes {', '.join(_KEYS[table])}")
    versions, trash, gc = data.get("versions", {}), data.get("trash", {}), data.get("gc", {})
    base = Policy()

    def duration(table: dict[str, Any], name: str, key: str, default: float, least: float = 0.0) -> float:
        if key not in table:
            return default
        value = table[key]
        if value in ("0", 0):
            seconds: float | None = 0.0
        else:
            seconds = parse_duration(value)
        if seconds is None or seconds < least:
            raise UsageError(f"{path}: {key} in [{name}] must be a duration such as \"1d\", \"30d\" or \"52w\"",
                             f"write e.g. {key} = \"30d\"" + (f" (at least {int(least)} s)" if least else ""))
        return seconds

    cap: int | None = None
    raw_cap = versions.get("cap_per_user", "none")
    if not (isinstance(raw_cap, str) and raw_cap.strip().lower() == "none"):
        cap = parse_size(raw_cap)
        if cap is None:
            raise UsageError(f"{path}: cap_per_user in [versions] must be a size such as \"20GiB\" or \"none\"",
                             'write e.g. cap_per_user = "20GiB"')
    policy = Policy(duration(versions, "versions", "keep_all", base.keep_all_s),
                    duration(versions, "versions", "keep_daily", base.keep_daily_s),
                    duration(versions, "versions", "keep_weekly", base.keep_weekly_s),
                    duration(trash, "trash", "keep", base.trash_s), cap)
    accounts = data.get("webdav", {}).get("account_passwords", True)
    if not isinstance(accounts, bool):
        raise UsageError(f"{path}: account_passwords in [webdav] must be true or false",
                         "write account_passwords = false to let WebDAV clients in with app passwords only")
    web, base_web = data.get("web", {}), WebPolicy()
    zip_max = parse_size(web.get("zip_max", DEFAULT_ZIP_MAX))
    if zip_max is None:
        raise UsageError(f"{path}: zip_max in [web] must be a size such as \"16GiB\"", 'write e.g. zip_max = "4GiB"')
    sessions = WebPolicy(duration(web, "web", "idle", base_web.idle_s, MIN_WEB_S),
                         duration(web, "web", "max_age", base_web.max_age_s, MIN_WEB_S))
    for key, seconds in (("idle", sessions.idle_s), ("max_age", sessions.max_age_s)):
        if seconds > MAX_WEB_S:
            raise UsageError(f"{path}: {key} in [web] is past ten years", f'write e.g. {key} = "14d"')
    return ServerConfig(policy, duration(gc, "gc", "every", EVERY_S, MIN_GC_EVERY_S), accounts, zip_max, sessions)
