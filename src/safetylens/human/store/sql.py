"""Hand-written SQL run straight on the DBAPI cursor, for the rating hot path.

Profiling the rating endpoints showed most of their CPU time in SQLAlchemy's per-statement
machinery (compiled-cache lookup, result metadata, events), not in the databases. The statements
of a rating round trip therefore go through this thin layer instead: one SQL text with ``:name``
parameters, rewritten once to psycopg's ``%(name)s`` style, executed on the connection SQLAlchemy
already holds inside its transaction (so BEGIN/COMMIT, pooling and the SQLite write lock stay
SQLAlchemy's business).

Values crossing the boundary are normalised here: datetimes are stored on SQLite in the same
text format as SQLAlchemy's ``DateTime`` type (so ORM and raw reads agree), and read back as
``datetime``; JSON columns come back parsed on both databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

try:
    from psycopg.rows import dict_row
except ImportError:  # without the postgres extra only SQLite is used
    dict_row = None  # type: ignore[assignment]

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_SQLITE_DT = "%Y-%m-%d %H:%M:%S.%f"


class Sql:
    """One statement in both parameter styles.

    Args:
        sql: SQL with ``:name`` parameters (no ``::`` casts; use ``CAST(x AS t)``).
    """

    __slots__ = ("pg", "sqlite")

    def __init__(self, sql: str) -> None:
        self.sqlite = sql
        self.pg = _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def _params(params: Mapping[str, Any], sqlite: bool) -> dict[str, Any]:
    if not sqlite:
        return dict(params)
    return {k: (v.strftime(_SQLITE_DT) if isinstance(v, datetime) else v) for k, v in params.items()}


def run(conn: Connection, stmt: Sql, params: Mapping[str, Any] | None = None) -> Any:
    """Execute ``stmt`` on the connection's DBAPI cursor and return the cursor.

    Raises:
        sqlalchemy.exc.IntegrityError: A constraint refused the statement. The driver's own
            exception is wrapped as SQLAlchemy does for its statements, so callers' retry
            handlers (a concurrent reservation by the same rater) see one exception type.
    """
    return _execute(conn, stmt, params, dict_rows=False)


def _execute(conn: Connection, stmt: Sql, params: Mapping[str, Any] | None, *, dict_rows: bool) -> Any:
    sqlite = conn.dialect.name == "sqlite"
    sql = stmt.sqlite if sqlite else stmt.pg
    bound = _params(params or {}, sqlite)
    dbapi_conn: Any = conn.connection.dbapi_connection
    # psycopg builds dict rows itself, without the Column objects of ``description`` (measured:
    # ~25 us less CPU per statement, about a tenth of a statement's client-side cost here).
    cur = dbapi_conn.cursor(row_factory=dict_row) if dict_rows and not sqlite else dbapi_conn.cursor()
    try:
        cur.execute(sql, bound)
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        cur.close()
        raise IntegrityError(sql, bound, exc) from exc
    return cur


def one(conn: Connection, stmt: Sql, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The first row as a dict (column name -> value), or None."""
    cur = _execute(conn, stmt, params, dict_rows=True)
    row = cur.fetchone()
    if row is None or isinstance(row, dict):
        cur.close()
        return row
    names = [d[0] for d in cur.description]
    cur.close()
    return dict(zip(names, row, strict=True))


def scalar(conn: Connection, stmt: Sql, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row, or None."""
    cur = run(conn, stmt, params)
    row = cur.fetchone()
    cur.close()
    return None if row is None else row[0]


def rowcount(conn: Connection, stmt: Sql, params: Mapping[str, Any] | None = None) -> int:
    """Rows changed by an UPDATE or DELETE."""
    cur = run(conn, stmt, params)
    n = int(cur.rowcount)
    cur.close()
    return n


def as_datetime(value: Any) -> datetime:
    """A timestamp column's value as ``datetime`` (SQLite stores text)."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def as_json(value: Any) -> Any:
    """A JSON column's value, parsed (SQLite returns text, psycopg parsed objects)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value
