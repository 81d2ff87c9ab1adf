"""A ClickHouse server via clickhouse-connect: `clickhouse://user:pass@host:8123/db` (`clickhouses://`: TLS).

Read-only queries carry `readonly=2` (writes and DDL refused, our own limits still settable),
`max_execution_time` and `max_result_rows` + `result_overflow_mode=break` as per-query settings. Files live
on this machine, not the server's, so loads stream the typed Arrow batches with `insert_arrow`.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote, urlparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ProgressCallback
from etl_assistant.warehouse.base import (
    LOAD_FAILED_HINT,
    LoadResult,
    QueryResult,
    memory_message,
    timeout_message,
)
from etl_assistant.warehouse.clickhouse_family import ClickHouseFamily
from etl_assistant.warehouse.typed_batches import typed_batches

# One client per URL: connecting costs round trips (version, settings) and adapters are built per request.
_CLIENTS: dict[str, Client] = {}
_CLIENTS_LOCK = threading.Lock()


def _engine_message(exc: BaseException) -> str:
    """The server's sentence without the client's framing (code prefix, user name, URL suffix)."""
    text = str(exc).strip()
    if "DB::Exception:" in text:
        text = text.split("DB::Exception:", 1)[1].strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"\s*\(for url [^)]*\)", "", text).removeprefix("default: ").rstrip(".")


class ClickHouseWarehouse(ClickHouseFamily):
    """A ClickHouse server or cluster over HTTP (clickhouse-connect)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = urlparse(url)
        secure = parsed.scheme == "clickhouses"
        self._where = f"{parsed.hostname or 'localhost'}:{parsed.port or (8443 if secure else 8123)}"
        self._options = {
            "host": parsed.hostname or "localhost", "port": parsed.port or (8443 if secure else 8123),
            "username": unquote(parsed.username or "default"), "password": unquote(parsed.password or ""),
            "database": parsed.path.strip("/") or "default", "secure": secure,
            **dict(parse_qsl(parsed.query)),  # e.g. ?connect_timeout=5&compress=lz4
        }

    @property
    def client(self) -> Client:
        """The shared client of this URL, connected on first use (building the adapter touches no network)."""
        with _CLIENTS_LOCK:
            if self.url not in _CLIENTS:
                try:
                    # No HTTP session: one client serves concurrent requests (sessions serialize queries).
                    _CLIENTS[self.url] = clickhouse_connect.get_client(**self._options,
                                                                       autogenerate_session_id=False)
                except (OperationalError, DatabaseError) as exc:
                    raise self._unreachable(exc) from exc
            return _CLIENTS[self.url]

    def _unreachable(self, exc: ClickHouseError) -> WarehouseError:
        """The server went away mid-session: infrastructure, not the statement's fault."""
        return WarehouseError(f"Cannot reach ClickHouse at {self._where}: {_engine_message(exc)}; "
                              "check ETLA_WAREHOUSE_URL.")

    def execute(self, sql: str) -> None:
        try:
            self.client.command(sql)
        except OperationalError as exc:
            raise self._unreachable(exc) from exc
        except ClickHouseError as exc:
            message = f"ClickHouse refused a generated statement: {_engine_message(exc)}."
            raise WarehouseError(message) from exc

    def query(self, sql: str, *, limit: int | None = None, timeout_s: float | None = None,
              read_only: bool = True) -> QueryResult:
        settings: dict[str, int | str] = {}
        if read_only:
            settings["readonly"] = 2
        if timeout_s is not None:
            settings["max_execution_time"] = max(1, round(timeout_s))
        if limit is not None:
            settings.update(max_result_rows=limit + 1, result_overflow_mode="break")
        if read_only and self.query_memory_mb:
            settings["max_memory_usage"] = self.query_memory_mb * 1024 * 1024
        started = time.perf_counter()
        try:
            # Native rows, not query_arrow: ClickHouse's Arrow output spells DateTime as a bare uint32.
            result = self.client.query(sql, settings=settings)
        except OperationalError as exc:
            raise self._unreachable(exc) from exc
        except ClickHouseError as exc:
            if "TIMEOUT_EXCEEDED" in str(exc):
                raise ToolError(timeout_message(timeout_s)) from exc
            if "MEMORY_LIMIT_EXCEEDED" in str(exc):
                raise ToolError(memory_message(self.query_memory_mb)) from exc
            raise ToolError(f"ClickHouse rejected the query: {_engine_message(exc)}.") from exc
        rows = [tuple(row) for row in result.result_rows]
        truncated = limit is not None and len(rows) > limit
        return QueryResult(columns=list(result.column_names), rows=rows[:limit], truncated=truncated,
                           elapsed_ms=(time.perf_counter() - started) * 1000)

    def load_file(self, table: str, schema: DatasetSchema, *,
                  progress: ProgressCallback | None = None) -> LoadResult:
        report = progress or (lambda done, total, message: None)
        started = time.perf_counter()
        rows = 0
        try:
            for batch in typed_batches(schema, report):
                self.client.insert_arrow(table, pa.Table.from_batches([batch]),
                                         settings={"insert_null_as_default": 0})
                rows += batch.num_rows
        except OperationalError as exc:
            raise self._unreachable(exc) from exc
        except ClickHouseError as exc:
            raise WarehouseError(f"Loading {Path(schema.source).name} into ClickHouse failed: "
                                 f"{_engine_message(exc)}; {LOAD_FAILED_HINT}.") from exc
        report(rows, rows, f"loaded {rows} rows into {table}")
        return LoadResult(table=table, rows=rows, elapsed_s=time.perf_counter() - started,
                          method="insert_arrow")

    def insert_raw(self, table: str, columns: list[str], data: BinaryIO, fmt: str,
                   settings: dict[str, int | str] | None = None) -> None:
        """Send rows already in a ClickHouse input format (Native, CSV) into `table`, as they are."""
        try:
            self.client.raw_insert(table, columns, insert_block=data, fmt=fmt, settings=settings)
        except OperationalError as exc:
            raise self._unreachable(exc) from exc
        except ClickHouseError as exc:
            message = f"ClickHouse refused the rows sent into {table}: {_engine_message(exc)}."
            raise WarehouseError(message) from exc

    def close(self) -> None:
        """Close this URL's shared client; the next use connects again."""
        with _CLIENTS_LOCK:
            client = _CLIENTS.pop(self.url, None)
        if client is not None:
            client.close()
