"""SQLite (`sqlite:///path`): the smallest warehouse, for tests and tiny local data.

Read-only queries run under `PRAGMA query_only`, bounded by a progress handler (timeout) and `fetchmany`
(limit). Loads bind typed Arrow batches with `executemany` in one transaction, SQLite's native bulk path.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlglot import exp

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ProgressCallback
from etl_assistant.warehouse import statements
from etl_assistant.warehouse.arrow_values import python_columns
from etl_assistant.warehouse.base import (
    LOAD_FAILED_HINT,
    ColumnInfo,
    LoadResult,
    QueryResult,
    Warehouse,
    timeout_message,
)
from etl_assistant.warehouse.typed_batches import typed_batches


def _insert_sql(table: str, columns: list[str]) -> str:
    insert = exp.Insert(
        this=exp.Schema(this=statements.table(table),
                        expressions=[exp.to_identifier(c, quoted=True) for c in columns]),
        expression=exp.Values(expressions=[exp.Tuple(expressions=[exp.Placeholder() for _ in columns])]),
    )
    return statements.render(insert, "sqlite")


class SqliteWarehouse(Warehouse):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        # SQLAlchemy's convention: sqlite:///relative/path, sqlite:////absolute/path, sqlite:// in memory.
        path = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise WarehouseError(f"Cannot open the SQLite warehouse at {path}: {exc}; "
                                 "check ETLA_WAREHOUSE_URL and that the directory is writable.") from exc
        self._lock = threading.RLock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def execute(self, sql: str) -> None:
        try:
            with self._lock:
                self._conn.execute(sql)
        except sqlite3.Error as exc:
            raise WarehouseError(f"SQLite refused a generated statement: {exc}.") from exc

    def query(self, sql: str, *, limit: int | None = None, timeout_s: float | None = None,
              read_only: bool = True) -> QueryResult:
        started = time.perf_counter()
        deadline = started + timeout_s if timeout_s else None
        with self._lock:
            if deadline is not None:
                self._conn.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
            if read_only:
                self._conn.execute("PRAGMA query_only = ON")
            try:
                cursor = self._conn.execute(sql)
                rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit + 1)
                columns = [d[0] for d in cursor.description or []]
                cursor.close()
            except sqlite3.Error as exc:
                if deadline is not None and time.perf_counter() > deadline:
                    raise ToolError(timeout_message(timeout_s)) from exc
                raise ToolError(f"SQLite rejected the query: {exc}.") from exc
            finally:
                self._conn.execute("PRAGMA query_only = OFF")
                self._conn.set_progress_handler(None, 0)
        truncated = limit is not None and len(rows) > limit
        return QueryResult(columns=columns, rows=[tuple(r) for r in rows[:limit]], truncated=truncated,
                           elapsed_ms=(time.perf_counter() - started) * 1000)

    def load_file(self, table: str, schema: DatasetSchema, *,
                  progress: ProgressCallback | None = None) -> LoadResult:
        report = progress or (lambda done, total, message: None)
        started = time.perf_counter()
        sql = _insert_sql(table, [c.identifier for c in schema.columns])
        rows = 0
        try:
            with self._transaction() as cursor:
                for batch in typed_batches(schema, report):
                    cursor.executemany(sql, zip(*python_columns(batch, schema.columns), strict=True))
                    rows += batch.num_rows
        except sqlite3.Error as exc:
            message = f"Loading {Path(schema.source).name} into SQLite failed: {exc}; {LOAD_FAILED_HINT}."
            raise WarehouseError(message) from exc
        report(rows, rows, f"loaded {rows} rows into {table}")
        return LoadResult(table=table, rows=rows, elapsed_s=time.perf_counter() - started,
                          method="sqlite executemany")

    def tables(self) -> list[str]:
        query = (exp.select("name").from_("sqlite_master")
                 .where(exp.column("type").eq(exp.Literal.string("table")))
                 .where(exp.Not(this=exp.column("name").like(exp.Literal.string("sqlite_%"))))
                 .order_by("name"))
        return [row[0] for row in self.query(statements.render(query, "sqlite"), read_only=True).rows]

    def columns(self, table: str) -> list[ColumnInfo]:
        fields = [exp.column(exp.to_identifier(name, quoted=True)) for name in ("name", "type", "notnull")]
        query = exp.select(*fields).from_(
            exp.Table(this=exp.Anonymous(this="pragma_table_info", expressions=[exp.Literal.string(table)])))
        rows = self.query(statements.render(query, "sqlite")).rows
        return [ColumnInfo(name, type_, not notnull) for name, type_, notnull in rows]

    def count_rows(self, table: str) -> int:
        return int(self.query(statements.count_rows(table, self.dialect)).rows[0][0])

    def drop_table(self, table: str) -> None:
        self.execute(statements.drop_table(table, self.dialect))

    def swap_table(self, staging: str, table: str) -> None:
        """Drop the old table and rename the staging one in its place, in one transaction."""
        try:
            with self._transaction() as cursor:
                cursor.execute(statements.drop_table(table, self.dialect))
                cursor.execute(statements.rename_table(staging, table, self.dialect))
        except sqlite3.Error as exc:
            raise WarehouseError(f"SQLite could not swap {staging} into {table}: {exc}.") from exc

    def close(self) -> None:
        self._conn.close()
