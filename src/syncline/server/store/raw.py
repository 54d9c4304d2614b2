"""Plain SQL on the transaction's own driver connection, for the statements run once per item.

SQLAlchemy Core builds, caches and wraps every statement it runs, which costs about as much as SQLite
takes to run it; a batch of 1,000 items runs about 10,000 statements, so its hot path talks to the driver
directly (still inside the transaction the store began, on the same connection). The SQL is written with
``:name`` parameters, which sqlite3 takes as they are; for a PostgreSQL driver they are rewritten to its
``%(name)s`` style once per statement text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


class Raw:
    """A cursor on ``conn``'s driver connection (inside ``conn``'s transaction)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._sqlite = conn.dialect.name == "sqlite"

    def _sql(self, sql: str) -> str:
        return sql if self._sqlite else _pyformat(sql)

    def run(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> Any:
        return self.cursor.execute(self._sql(sql), params)

    def one(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self.run(sql, params).fetchone()
        return tuple(row) if row is not None else None

    def all(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.run(sql, params).fetchall()]

    def many(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        self.cursor.executemany(self._sql(sql), list(rows))

    def in_list(self, name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
        """``:name0, :name1, ...`` and their parameters, for an ``IN (...)``."""
        keys = [f"{name}{i}" for i in range(len(values))]
        return ", ".join(f":{k}" for k in keys), dict(zip(keys, values, strict=True))
