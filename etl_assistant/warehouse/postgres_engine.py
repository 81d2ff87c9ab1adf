"""PostgreSQL (`postgresql://user@host:5432/db`) through SQLAlchemy's pool and the psycopg 3 driver.

Read-only queries run in a `READ ONLY` transaction with a local `statement_timeout`, fetched through a
server-side cursor so `limit` bounds what crosses the wire. Loads use `COPY ... FROM STDIN`: the file's own
bytes when PostgreSQL can parse them as-is, otherwise typed Arrow batches written as CSV by pyarrow.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO

import psycopg
import pyarrow.csv as pa_csv
import sqlglot
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlglot import exp
from sqlglot.errors import ParseError

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ProgressCallback
from etl_assistant.warehouse import statements
from etl_assistant.warehouse.base import (
    LOAD_FAILED_HINT,
    ColumnInfo,
    LoadResult,
    QueryResult,
    Warehouse,
    timeout_message,
)
from etl_assistant.warehouse.catalog import sqlalchemy_url
from etl_assistant.warehouse.typed_batches import typed_batches

_CHUNK = 1 << 20
# Spellings PostgreSQL's boolean input accepts (case-insensitive).
_PG_BOOLEANS = {"t", "true", "y", "yes", "on", "1", "f", "false", "n", "no", "off", "0"}
_PG_DATE_FORMATS = ("%Y-%m-%d",)
_TEXT_TYPES = ("string", "json", "uuid", "time")


def _copy_sql(table: str, schema: DatasetSchema, *, raw: bool) -> str:
    """COPY FROM STDIN in CSV: of the raw file (its dialect, header skipped) or of our own pyarrow CSV."""
    params: dict[str, exp.Expression] = {"FORMAT": exp.var("csv")}
    dialect = schema.dialect
    if raw and dialect is not None:
        params["HEADER"] = exp.Boolean(this=dialect.header)
        params["DELIMITER"] = exp.Literal.string(dialect.delimiter)
        params["QUOTE"] = exp.Literal.string(dialect.quote or '"')  # raw COPY requires a quote character
        if dialect.escape:
            params["ESCAPE"] = exp.Literal.string(dialect.escape)
    params["NULL"] = exp.Literal.string("")
    copy = exp.Copy(
        this=exp.Schema(this=statements.table(table),
                        expressions=[exp.to_identifier(c.identifier, quoted=True) for c in schema.columns]),
        kind=True, files=[exp.to_identifier("STDIN")],
        params=[exp.CopyParameter(this=exp.var(k), expression=v) for k, v in params.items()],
    )
    return statements.render(copy, "postgres")


def raw_copy_possible(schema: DatasetSchema) -> bool:
    """Can COPY read the file's bytes as they are (UTF-8 CSV, ISO dates, booleans PostgreSQL spells...)?"""
    dialect = schema.dialect
    if schema.format != "csv" or dialect is None or dialect.quote is None or schema.ragged_rows:
        return False
    if (dialect.encoding.lower() not in ("utf-8", "utf8", "ascii") or dialect.skip_rows
            or len(dialect.delimiter) != 1 or dialect.line_terminator == "\r"
            or (dialect.bom and not dialect.header)):
        return False
    for col in schema.columns:
        if col.nullable and col.type in _TEXT_TYPES:
            return False  # COPY reads only '' as NULL; the inference also reads 'NA', 'null'... as NULL
        if col.type in ("date", "datetime") and not (col.details.datetime_format or "%Y-%m-%d").startswith(
                _PG_DATE_FORMATS):
            return False
        spellings = (col.details.true_values or []) + (col.details.false_values or [])
        if col.type == "boolean" and any(s.lower() not in _PG_BOOLEANS for s in spellings):
            return False
    return True


def _open_source(schema: DatasetSchema) -> IO[bytes]:
    return gzip.open(schema.source, "rb") if schema.compression == "gzip" else open(schema.source, "rb")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(sqlalchemy_url(url))
        self._where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        self.engine = _engine(parsed.render_as_string(hide_password=False))

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled psycopg connection; returned to the pool rolled back."""
        try:
            pooled = self.engine.raw_connection()
        except (DBAPIError, psycopg.Error) as exc:  # raw_connection() may pass driver errors through
            raise WarehouseError(f"Cannot reach PostgreSQL at {self._where}: {_first_line(exc)}; "
                                 "check ETLA_WAREHOUSE_URL.") from exc
        try:
            yield pooled.driver_connection
        finally:
            pooled.close()

    def execute(self, sql: str) -> None:
        with self._connection() as conn:
            try:
                conn.execute(sql)
                conn.commit()
            except psycopg.Error as exc:
                conn.rollback()
                raise WarehouseError(
                    f"PostgreSQL refused a generated statement: {_first_line(exc)}.") from exc

    def query(self, sql: str, *, limit: int | None = None, timeout_s: float | None = None,
              read_only: bool = True) -> QueryResult:
        started = time.perf_counter()
        with self._connection() as conn:
            try:
                if read_only:
                    conn.execute("SET TRANSACTION READ ONLY")
                if timeout_s is not None:
                    conn.execute("SELECT set_config('statement_timeout', %s, true)",
                                 [str(max(1, round(timeout_s * 1000)))])
                if read_only and self.query_memory_mb:
                    # PostgreSQL has no per-query cap: work_mem bounds each sort or hash step (a query has
                    # several) before it spills to disk, so each gets an eighth of the query's budget.
                    conn.execute("SELECT set_config('work_mem', %s, true)",
                                 [f"{max(1, self.query_memory_mb // 8)}MB"])
                # Server-side cursor for queries: only `limit + 1` rows are fetched from the server.
                with (conn.cursor(name="etla_query") if _is_query(sql) else conn.cursor()) as cursor:
                    cursor.execute(sql)
                    rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit + 1)
                    columns = [d.name for d in cursor.description or []]
                if read_only:
                    conn.rollback()
                else:
                    conn.commit()
            except psycopg.errors.QueryCanceled as exc:
                conn.rollback()
                raise ToolError(timeout_message(timeout_s)) from exc
            except psycopg.OperationalError as exc:  # the server went away: infrastructure
                raise WarehouseError(f"Cannot reach PostgreSQL at {self._where}: {_first_line(exc)}; "
                                     "check ETLA_WAREHOUSE_URL.") from exc
            except psycopg.Error as exc:
                conn.rollback()
                raise ToolError(f"PostgreSQL rejected the query: {_first_line(exc)}.") from exc
        truncated = limit is not None and len(rows) > limit
        return QueryResult(columns=columns, rows=[tuple(r) for r in rows[:limit]], truncated=truncated,
                           elapsed_ms=(time.perf_counter() - started) * 1000)

    def load_file(self, table: str, schema: DatasetSchema, *,
                  progress: ProgressCallback | None = None) -> LoadResult:
        """COPY the file as-is when possible; when PostgreSQL rejects its text, COPY typed batches instead."""
        report = progress or (lambda done, total, message: None)
        started = time.perf_counter()
        notes: list[str] = []
        with self._connection() as conn:
            rows: int | None = None
            if raw_copy_possible(schema):
                try:
                    rows = self._copy_raw(conn, table, schema, report)
                    method = "COPY file"
                except psycopg.errors.DataError as exc:
                    conn.rollback()
                    notes.append(f"COPY of the raw file failed ({_first_line(exc)}); loaded typed batches.")
                except psycopg.Error as exc:
                    conn.rollback()
                    raise WarehouseError(f"Loading {Path(schema.source).name} into PostgreSQL failed: "
                                         f"{_first_line(exc)}.") from exc
            if rows is None:
                rows = self._copy_typed(conn, table, schema, report)
                method = "COPY typed Arrow"
        report(rows, rows, f"loaded {rows} rows into {table}")
        return LoadResult(table=table, rows=rows, elapsed_s=time.perf_counter() - started, method=method,
                          notes=notes)

    def _copy_raw(self, conn: psycopg.Connection, table: str, schema: DatasetSchema,
                  report: ProgressCallback) -> int:
        total = schema.size_bytes
        with conn.cursor() as cursor, _open_source(schema) as source:
            with cursor.copy(_copy_sql(table, schema, raw=True)) as copy:
                done = 0
                while chunk := source.read(_CHUNK):
                    copy.write(chunk)
                    done += len(chunk)
                    report(done, max(total, done) if total else None, f"copying {schema.name}")
            rows = cursor.rowcount
        conn.commit()
        return rows

    def _copy_typed(self, conn: psycopg.Connection, table: str, schema: DatasetSchema,
                    report: ProgressCallback) -> int:
        options = pa_csv.WriteOptions(include_header=False)
        try:
            with conn.cursor() as cursor:
                with cursor.copy(_copy_sql(table, schema, raw=False)) as copy:
                    for batch in typed_batches(schema, report):
                        buffer = io.BytesIO()
                        pa_csv.write_csv(batch, buffer, options)
                        copy.write(buffer.getbuffer())
                rows = cursor.rowcount
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise WarehouseError(f"Loading {Path(schema.source).name} into PostgreSQL failed: "
                                 f"{_first_line(exc)}; {LOAD_FAILED_HINT}.") from exc
        return rows

    def tables(self) -> list[str]:
        query = (exp.select("table_name").from_("information_schema.tables")
                 .where(exp.column("table_schema").eq(exp.func("current_schema")))
                 .where(exp.column("table_type").eq(exp.Literal.string("BASE TABLE")))
                 .order_by("table_name"))
        return [row[0] for row in self.query(statements.render(query, self.dialect)).rows]

    def columns(self, table: str) -> list[ColumnInfo]:
        query = (exp.select("column_name", "data_type", "is_nullable").from_("information_schema.columns")
                 .where(exp.column("table_schema").eq(exp.func("current_schema")))
                 .where(exp.column("table_name").eq(exp.Literal.string(table)))
                 .order_by("ordinal_position"))
        rows = self.query(statements.render(query, self.dialect)).rows
        return [ColumnInfo(name, type_, nullable == "YES") for name, type_, nullable in rows]

    def count_rows(self, table: str) -> int:
        return int(self.query(statements.count_rows(table, self.dialect)).rows[0][0])

    def drop_table(self, table: str) -> None:
        self.execute(statements.drop_table(table, self.dialect))

    def swap_table(self, staging: str, table: str) -> None:
        """Drop the old table and rename the staging one in its place, in one transaction."""
        with self._connection() as conn:
            try:
                conn.execute(statements.drop_table(table, self.dialect))
                conn.execute(statements.rename_table(staging, table, self.dialect))
                conn.commit()
            except psycopg.Error as exc:
                conn.rollback()
                raise WarehouseError(
                    f"PostgreSQL could not swap {staging} into {table}: {_first_line(exc)}.") from exc

    def close(self) -> None:
        """Close the pooled connections (the shared pool reopens them if another adapter needs one)."""
        self.engine.dispose()


@lru_cache(maxsize=16)
def _engine(url: str) -> Engine:
    """One connection pool per URL: adapters are built per request, pools must outlive them."""
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _is_query(sql: str) -> bool:
    """A SELECT/WITH/UNION (a server-side cursor can hold it); anything else runs on a plain cursor."""
    try:
        return isinstance(sqlglot.parse_one(sql, read="postgres"), exp.Query)
    except ParseError:
        return False
