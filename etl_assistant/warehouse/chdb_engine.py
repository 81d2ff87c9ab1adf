"""chDB: ClickHouse in-process, the embedded default warehouse (`chdb:///abs/path`).

chDB runs one embedded server per process, bound to one data directory. `_Sessions` keeps the sessions of
the directory in use (one writer, one opened with `readonly=2` for read-only queries; a pair per database
for tenants that have their own, `chdb:///path?database=etla_acme`) and guards them with a condition:
blocks on the open directory run concurrently; asking for another directory waits until they end,
then closes the current sessions and opens the new ones, so several adapters (tests, the ClickHouse HTTP fake)
can take turns in one process.
"""

from __future__ import annotations

import atexit
import io
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl

import chdb.session
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ProgressCallback
from etl_assistant.warehouse import statements
from etl_assistant.warehouse.base import (
    LOAD_FAILED_HINT,
    LoadResult,
    QueryResult,
    memory_message,
    timeout_message,
)
from etl_assistant.warehouse.clickhouse_family import ClickHouseFamily
from etl_assistant.warehouse.clickhouse_file import native_insert, typed_file_insert
from etl_assistant.warehouse.engine_share import release_claim
from etl_assistant.warehouse.typed_batches import raise_first_bad_value, typed_batches


class _Sessions:
    """The process-wide chDB sessions of one data directory at a time.

    Sessions are thread-safe, so users of the open directory run concurrently (a query on the read-only
    session need not wait for a load on the writer). Switching to another directory waits until no block
    uses the current one.
    """

    changed = threading.Condition()
    in_use = 0
    path: str | None = None
    writer: chdb.session.Session | None = None
    reader: chdb.session.Session | None = None
    # (database, read_only) -> session, for databases other than `default` in the open directory
    others: dict[tuple[str, bool], chdb.session.Session] = {}

    @classmethod
    @contextmanager
    def use(cls, path: str, *, read_only: bool = False,
            database: str | None = None) -> Iterator[chdb.session.Session]:
        with cls.changed:
            cls.changed.wait_for(lambda: cls.path == path or cls.in_use == 0)
            if cls.path != path:
                cls._open(path)
            session = cls._of_database(database, read_only) if database else (
                cls.reader if read_only else cls.writer)
            cls.in_use += 1
        try:
            assert session is not None
            yield session
        finally:
            with cls.changed:
                cls.in_use -= 1
                cls.changed.notify_all()

    @classmethod
    def _open(cls, path: str) -> None:
        cls.close()
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
            cls.writer = chdb.session.Session(path)
            cls.reader = chdb.session.Session(f"{path}?readonly=2")
        except Exception as exc:  # OSError, or chDB's RuntimeError / ChdbError
            cls.close()
            raise WarehouseError(
                f"Cannot open the chDB warehouse at {path}: {_engine_message(exc)}; "
                "check ETLA_WAREHOUSE_URL and that the directory is writable."
            ) from exc
        cls.path = path

    @classmethod
    def _of_database(cls, database: str, read_only: bool) -> chdb.session.Session:
        """The session whose current database is `database`, created (with the database) on first use."""
        key = (database, read_only)
        if key not in cls.others:
            assert cls.writer is not None and cls.path is not None
            try:
                cls.writer.query(statements.create_namespace(database, "clickhouse"))
                options = f"readonly=2&database={database}" if read_only else f"database={database}"
                cls.others[key] = chdb.session.Session(f"{cls.path}?{options}")
            except Exception as exc:
                raise WarehouseError(f"Cannot open the chDB database {database}: {_engine_message(exc)}; "
                                     "check that the warehouse directory is writable.") from exc
        return cls.others[key]

    @classmethod
    def close(cls) -> None:
        for session in (*cls.others.values(), cls.reader, cls.writer):
            if session is not None:
                session.cleanup()
        if cls.path is not None:
            release_claim(cls.path)  # another process may open the directory now
        cls.path, cls.writer, cls.reader, cls.others = None, None, None, {}


def shared_session(path: str, *, read_only: bool = False,
                   database: str | None = None) -> AbstractContextManager[chdb.session.Session]:
    """The process-wide chDB session of `path` (and `database`), held under the lock for the block."""
    return _Sessions.use(path, read_only=read_only, database=database)


def close_sessions() -> None:
    """Release chDB's data directory once no block uses it (process shutdown)."""
    with _Sessions.changed:
        _Sessions.changed.wait_for(lambda: _Sessions.in_use == 0, timeout=30)
        _Sessions.close()


atexit.register(close_sessions)  # an embedded server torn down by the interpreter logs shutdown errors


_QUERY_LOCKS: dict[int, threading.Lock] = {}
_QUERY_LOCKS_GUARD = threading.Lock()
_DRAIN_MARK = "etla-drained"


def _query_lock(session: chdb.session.Session) -> threading.Lock:
    """One query at a time per session (chDB runs them one by one anyway), so a failed query's leftovers are
    drained before anyone else reads from the session."""
    with _QUERY_LOCKS_GUARD:
        return _QUERY_LOCKS.setdefault(id(session), threading.Lock())


def _drain(session: chdb.session.Session) -> None:
    """A query that fails half-way through a binary format (a memory cap, a throwIf) leaves its partial
    output in the session, and the NEXT query returns those bytes ("Couldn't deserialize thrift"). Read
    markers until our own comes back, so the next caller gets its own result."""
    for _ in range(3):
        try:
            answer = session.query(f"SELECT '{_DRAIN_MARK}'", "CSV").bytes()
            if _DRAIN_MARK.encode() in answer:
                return
        except Exception:  # noqa: BLE001, S112 - a leftover can also surface as an error: read again
            continue


def _engine_message(exc: BaseException) -> str:
    """ClickHouse's 'Code: N. DB::Exception: <text>. (NAME)' reduced to its text."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "DB::Exception:" in text:
        text = text.split("DB::Exception:")[-1].strip()
    return text.removeprefix("default: ").rstrip(".")


def with_query_settings(sql: str, settings: dict[str, int | str]) -> str:
    """The query with a SETTINGS clause carrying our limits (replacing any same-named ones in it); kept per
    (query, settings), as the same question runs the same guarded SQL again."""
    return _with_settings(sql, tuple(settings.items()))


@lru_cache(maxsize=1024)
def _with_settings(sql: str, pairs: tuple[tuple[str, int | str], ...]) -> str:
    settings = dict(pairs)
    try:
        parsed = sqlglot.parse_one(sql, read="clickhouse")
    except ParseError as exc:
        raise ToolError(f"The query could not be parsed as ClickHouse SQL: {exc.errors[0]['description']}; "
                        "fix the syntax and try again.") from exc
    if not isinstance(parsed, exp.Query):
        return sql  # not a query: the read-only session refuses writes, and nothing else may run here
    if not isinstance(parsed, exp.Select):
        parsed = exp.select(exp.Star()).from_(exp.Subquery(this=parsed))
    kept = [s for s in parsed.args.get("settings") or []
            if not (isinstance(s, exp.EQ) and s.this.name in settings)]
    ours = [exp.EQ(this=exp.column(name), expression=exp.Literal.string(value) if isinstance(value, str)
                   else exp.Literal.number(value)) for name, value in settings.items()]
    parsed.set("settings", kept + ours)
    return statements.render(parsed, "clickhouse")


class ChdbWarehouse(ClickHouseFamily):
    """The embedded ClickHouse engine under a local directory."""

    def __init__(self, url: str) -> None:
        self.url = url
        location, _, query = url.removeprefix("chdb://").partition("?")
        self.path = str(Path(location).resolve())
        self.database = dict(parse_qsl(query)).get("database")  # None: the directory's `default`

    def _run(self, sql: str, *, read_only: bool = False, fmt: str = "CSV"):  # noqa: ANN202 - chDB result
        session_of = shared_session(self.path, read_only=read_only, database=self.database)
        with session_of as session, _query_lock(session):
            try:
                return session.query(sql, fmt)
            except Exception:
                _drain(session)
                raise

    def execute(self, sql: str) -> None:
        try:
            self._run(sql)
        except WarehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(f"chDB refused a generated statement: {_engine_message(exc)}.") from exc

    def query(self, sql: str, *, limit: int | None = None, timeout_s: float | None = None,
              read_only: bool = True) -> QueryResult:
        settings: dict[str, int | str] = {}
        if timeout_s is not None:
            settings["max_execution_time"] = max(1, round(timeout_s))
        if limit is not None:
            settings.update(max_result_rows=limit + 1, result_overflow_mode="break")
        if read_only and self.query_memory_mb:
            settings["max_memory_usage"] = self.query_memory_mb * 1024 * 1024
        limited = with_query_settings(sql, settings)
        started = time.perf_counter()
        try:
            # Parquet, not Arrow: ClickHouse's Arrow output spells DateTime as a bare uint32.
            result = pq.read_table(io.BytesIO(self._run(limited, read_only=read_only, fmt="Parquet").bytes()))
        except (WarehouseError, ToolError):
            raise
        except Exception as exc:
            if "TIMEOUT_EXCEEDED" in str(exc):
                raise ToolError(timeout_message(timeout_s)) from exc
            if "MEMORY_LIMIT_EXCEEDED" in str(exc):
                raise ToolError(memory_message(self.query_memory_mb)) from exc
            raise ToolError(f"ClickHouse rejected the query: {_engine_message(exc)}.") from exc
        return _result_rows(result, limit, started)

    def load_file(self, table: str, schema: DatasetSchema, *,
                  progress: ProgressCallback | None = None) -> LoadResult:
        report = progress or (lambda done, total, message: None)
        started = time.perf_counter()
        before = self.count_rows(table)
        sql = native_insert(table, schema)
        if sql is not None:
            report(0, None, f"loading {Path(schema.source).name} with chDB file()")
            self._insert(sql, schema, native=True)
            method = "chdb file()"
        else:
            with tempfile.TemporaryDirectory(prefix="etla-load-") as tmp:
                arrow_path = str(Path(tmp) / "typed.arrow")
                if write_arrow_file(schema, arrow_path, report):
                    self._insert(typed_file_insert(table, schema, arrow_path), schema)
            method = "chdb typed Arrow"
        rows = self.count_rows(table) - before
        report(rows, rows, f"loaded {rows} rows into {table}")
        return LoadResult(table=table, rows=rows, elapsed_s=time.perf_counter() - started, method=method)

    def _insert(self, sql: str, schema: DatasetSchema, native: bool = False) -> None:
        """Run a load; when chDB's own file() reader rejects the file, say which value does not fit its
        column (the sentence the other engines give), else name the file (never its server path)."""
        try:
            self._run(sql)
        except WarehouseError:
            raise
        except Exception as exc:
            if native:
                raise_first_bad_value(schema)
            raise WarehouseError(f"Loading {Path(schema.source).name} into chDB failed: "
                                 f"{_engine_message(exc)}; {LOAD_FAILED_HINT}.") from exc


def _result_rows(table: pa.Table, limit: int | None, started: float) -> QueryResult:
    """Rows of an Arrow result, cut at `limit` (the engine may return a block more)."""
    truncated = limit is not None and table.num_rows > limit
    if truncated:
        table = table.slice(0, limit)
    rows = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
    return QueryResult(columns=table.column_names, rows=rows, truncated=truncated,
                       elapsed_ms=(time.perf_counter() - started) * 1000)


def write_arrow_file(schema: DatasetSchema, path: str, report: ProgressCallback) -> bool:
    """Stream the typed batches of the source into an Arrow IPC file; False when the source has no rows."""
    writer: pa.ipc.RecordBatchFileWriter | None = None
    try:
        for batch in typed_batches(schema, report):
            if writer is None:
                writer = pa.ipc.new_file(path, batch.schema)
            writer.write_batch(batch)
    finally:
        if writer is not None:
            writer.close()
    return writer is not None
