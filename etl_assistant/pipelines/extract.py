"""Reading a pipeline's source: its columns, the cursor's current maximum, and how each engine reaches it.

PostgreSQL sources are read in UTC: psycopg sessions get `TimeZone=UTC` in their startup options, and chDB's
`postgresql()` table function (whose bundled libpq reads `PGTZ`) gets `PGTZ=UTC`, because it maps
`timestamptz` to a DateTime64 without the offset: in a source whose TimeZone is not UTC every instant would
shift.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlglot
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlglot import exp

from etl_assistant.errors import EtlError, ToolError, WarehouseError
from etl_assistant.warehouse import statements
from etl_assistant.warehouse.base import Warehouse
from etl_assistant.warehouse.safety import guard

# libpq reads PGTZ when it opens a connection; chDB's postgresql() connections are opened in this process.
os.environ["PGTZ"] = "UTC"

_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s,]+)", re.IGNORECASE)
_NO_LIMIT = 2**62
_CHUNK = 1 << 20  # bytes per read of a ClickHouse result stream
# ClickHouse source reads: zone-less DateTime and cursor literals in UTC; writes refused, settings allowed.
_CLICKHOUSE_READ = {"session_timezone": "UTC", "readonly": 2}


def utc_conninfo(url: str) -> str:
    """The connection string with `-c TimeZone=UTC` added to its startup options (others kept)."""
    params = conninfo_to_dict(url)
    params["options"] = f"{params.get('options', '')} -c TimeZone=UTC".strip()
    params.setdefault("connect_timeout", "10")
    return make_conninfo(**params)


@contextmanager
def pg_connection(url: str, name: str) -> Iterator[psycopg.Connection]:
    """A read-only UTC session on the source; failing to connect names the connection, never its URL."""
    try:
        conn = psycopg.connect(utc_conninfo(url), autocommit=False)
    except psycopg.Error as exc:
        raise WarehouseError(f"Cannot reach the source {name}: {_first_line(exc)}.") from exc
    try:
        conn.read_only = True
        yield conn
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class PgTableRef:
    """Where a PostgreSQL table is, as the `postgresql()` table function wants it."""

    host: str
    port: str
    database: str
    user: str
    password: str
    schema: str
    table: str


def pg_table_ref(url: str, table: str) -> PgTableRef:
    """Split `schema.table` (or a table on the URL's search_path, else public) and the URL's parts."""
    params = conninfo_to_dict(url)
    schema, _, name = table.rpartition(".")
    if not schema:
        found = _SEARCH_PATH.search(params.get("options", ""))
        schema = found.group(1).split(",")[0] if found else "public"
    return PgTableRef(
        host=params.get("host", "localhost"),
        port=str(params.get("port", "5432")),
        database=params.get("dbname", params.get("user", "postgres")),
        user=params.get("user", "postgres"),
        password=params.get("password", ""),
        schema=schema,
        table=name,
    )


def postgresql_function(ref: PgTableRef) -> exp.Expression:
    """`postgresql('host:port', 'db', 'table', 'user', 'password', 'schema')` as a FROM item."""
    args = [f"{ref.host}:{ref.port}", ref.database, ref.table, ref.user, ref.password, ref.schema]
    return exp.Table(this=exp.Anonymous(this="postgresql", expressions=[exp.Literal.string(a) for a in args]))


def source_relation(table: str | None, query: str | None, dialect: str = "postgres") -> exp.Expression:
    """The source as a FROM item of its engine: the table (`schema.table` or `database.table`), or the
    guarded query as a subquery."""
    if table:
        schema, _, name = table.rpartition(".")
        return exp.Table(
            this=exp.to_identifier(name, quoted=True),
            db=exp.to_identifier(schema, quoted=True) if schema else None,
        )
    safe = guard(query or "", dialect=dialect, allowed_tables=None, limit=_NO_LIMIT)
    return sqlglot.parse_one(safe, read=dialect).subquery("_etla_query")


class Source(ABC):
    """What the runner asks of a source, whatever its engine."""

    name: str

    @abstractmethod
    def columns(self) -> list[str]:
        """The source's column names, in order."""

    @abstractmethod
    def max_value(self, expression: exp.Expression, filters: list[exp.Expression]) -> Any:
        """max(expression) over the rows the filters keep (the cursor's upper bound of a batch)."""


class PostgresSource(Source):
    """A table or a read-only query of a PostgreSQL connection."""

    def __init__(self, name: str, url: str, table: str | None, query: str | None) -> None:
        self.name, self.url, self.table, self.query = name, url, table, query
        self.relation = source_relation(table, query)

    def _run(self, select: exp.Select) -> tuple[list[str], list[tuple[Any, ...]]]:
        sql = statements.render(select, "postgres")
        with pg_connection(self.url, self.name) as conn:
            try:
                cursor = conn.execute(sql)
            except psycopg.Error as exc:
                raise _source_error(self.name, exc) from exc
            return [d.name for d in cursor.description or []], cursor.fetchall()

    def columns(self) -> list[str]:
        names, _ = self._run(exp.select(exp.Star()).from_(self.relation.copy()).limit(0))
        return names

    def max_value(self, expression: exp.Expression, filters: list[exp.Expression]) -> Any:
        select = exp.select(exp.Max(this=expression.copy())).from_(self.relation.copy())
        if filters:
            select = select.where(exp.and_(*(f.copy() for f in filters)))
        return self._run(select)[1][0][0]


class WarehouseTableSource(Source):
    """A table of the configured warehouse itself (the embedded chDB, ClickHouse or PostgreSQL)."""

    def __init__(self, warehouse: Warehouse, table: str) -> None:
        self.warehouse, self.table, self.name = warehouse, table, f"warehouse table {table}"
        self.relation = statements.table(table)

    def columns(self) -> list[str]:
        if not self.warehouse.table_exists(self.table):
            raise ToolError(f"The warehouse has no table {self.table!r}; check the source table's name.")
        return [c.name for c in self.warehouse.columns(self.table)]

    def max_value(self, expression: exp.Expression, filters: list[exp.Expression]) -> Any:
        select = exp.select(exp.Max(this=expression.copy()).as_("m")).from_(self.relation.copy())
        if filters:
            select = select.where(exp.and_(*(f.copy() for f in filters)))
        sql = statements.render(select, self.warehouse.dialect)
        return self.warehouse.query(sql, read_only=False).rows[0][0]


class ClickHouseSource(Source):
    """A table or a read-only query of a ClickHouse server connection, read through clickhouse-connect in UTC.

    A batch travels as the server's own bytes (Native into ClickHouse, CSV into PostgreSQL's COPY), streamed
    from one SELECT with the transforms and the cursor window that runs on the server; no row is decoded here.
    """

    def __init__(self, name: str, url: str, table: str | None, query: str | None) -> None:
        from etl_assistant.warehouse.clickhouse_server import ClickHouseWarehouse

        self.name, self.url, self.table, self.query = name, url, table, query
        self.server = ClickHouseWarehouse(url)
        self.relation = source_relation(table, query, "clickhouse")

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """The server's client; its failures name the connection (never its URL) as the source's."""
        from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

        from etl_assistant.warehouse.clickhouse_server import _engine_message

        try:
            yield self.server.client
        except OperationalError as exc:
            raise WarehouseError(f"Cannot reach the source {self.name}: {_engine_message(exc)}.") from exc
        except ClickHouseError as exc:
            raise WarehouseError(f"The source {self.name} refused the read: {_engine_message(exc)}.") from exc
        except EtlError as exc:  # the client could not connect at all
            cause = exc.__cause__ or exc
            raise WarehouseError(f"Cannot reach the source {self.name}: {_first_line(cause)}.") from exc

    def _rows(self, select: exp.Select) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._reading() as client:
            result = client.query(statements.render(select, "clickhouse"), settings=_CLICKHOUSE_READ)
            return list(result.column_names), [tuple(r) for r in result.result_rows]

    def columns(self) -> list[str]:
        names, _ = self._rows(exp.select(exp.Star()).from_(self.relation.copy()).limit(0))
        return names

    def max_value(self, expression: exp.Expression, filters: list[exp.Expression]) -> Any:
        select = exp.select(exp.Max(this=expression.copy())).from_(self.relation.copy())
        if filters:
            select = select.where(exp.and_(*(f.copy() for f in filters)))
        value = self._rows(select)[1][0][0]
        if isinstance(value, datetime) and value.tzinfo is None:  # read with session_timezone UTC
            value = value.replace(tzinfo=UTC)
        return value

    def stream(self, select: exp.Select, fmt: str) -> Iterator[bytes]:
        """The batch's rows in ClickHouse format `fmt` (Native, CSV), chunk by chunk as they arrive."""
        with self._reading() as client:
            response = client.raw_stream(statements.render(select, "clickhouse"), settings=_CLICKHOUSE_READ,
                                         fmt=fmt)
            try:
                while chunk := response.read(_CHUNK):
                    yield chunk
            finally:
                response.close()


def _source_error(name: str, exc: psycopg.Error) -> WarehouseError:
    return WarehouseError(f"The source {name} refused the read: {_first_line(exc)}.")
