"""Writing one batch into the target, by mode, as statements of the target engine.

ClickHouse targets (embedded chDB or a server) read the source inside the engine: one `INSERT INTO ... SELECT
... FROM postgresql(...) WHERE <cursor window>`, the cursor window pushed down to PostgreSQL, so rows never
pass through Python. PostgreSQL targets stream `COPY (SELECT ...) TO STDOUT` from the source into a temporary
table of the target's session and merge it in the same transaction.

Modes (see `modes.py` for the words): full refresh builds a staging table and swaps it in atomically; append
and incremental insert rows tagged with the batch number (a batch that never committed is deleted by that
number before it is redone); incremental drops the boundary rows already loaded (cursor equal to the last one
and the same values); keyed modes merge by primary key (ReplacingMergeTree versions, or ON CONFLICT DO
UPDATE).
"""

from __future__ import annotations

import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import sqlglot
from sqlglot import exp

from etl_assistant.errors import EtlError, ToolError, WarehouseError
from etl_assistant.pipelines.extract import (
    ClickHouseSource,
    PostgresSource,
    Source,
    WarehouseTableSource,
    pg_table_ref,
    postgresql_function,
    utc_conninfo,
)
from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.pipelines.target import BATCH_COLUMN, keyed, versions_table
from etl_assistant.pipelines.transforms import Projection
from etl_assistant.warehouse import statements
from etl_assistant.warehouse.base import Warehouse

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ProgressCallback

_INCOMING = "_etla_incoming"
_PROGRESS_ROWS = 100_000  # COPY: report after this many more rows


@dataclass(frozen=True)
class Window:
    """The cursor range of one batch: `lo` <= cursor <= `hi` (either open when None); rows at `boundary`
    (the last committed cursor) that are already in the target are dropped."""

    lo: Any = None
    hi: Any = None
    boundary: Any = None


@dataclass
class BatchResult:
    rows_read: int
    rows_written: int
    target_rows: int | None = None  # rows readers see afterwards, when writing the batch told us


def literal(value: Any) -> exp.Expression:
    """A cursor value as a SQL literal both engines compare exactly (timestamps in UTC, microseconds)."""
    if isinstance(value, datetime):
        utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return exp.Literal.string(utc.isoformat(sep=" ", timespec="microseconds"))
    if isinstance(value, date):
        return exp.Literal.string(value.isoformat())
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(str(value))
    return exp.Literal.string(str(value))


def lower_bound(last: Any, lag: float) -> Any:
    """The last cursor moved back by the lag window (seconds for timestamps, units for numbers)."""
    if last is None or not lag:
        return last
    if isinstance(last, datetime):
        return last - timedelta(seconds=lag)
    if isinstance(last, date):
        return last - timedelta(days=int(lag // 86400))
    if isinstance(last, int):
        return last - int(lag)
    if isinstance(last, Decimal):
        return last - Decimal(str(lag))
    if isinstance(last, float):
        return last - lag
    raise ToolError("A lag window needs a timestamp or numeric cursor; remove the lag or pick such a cursor.")


def window_filters(projection: Projection, cursor: str | None, window: Window) -> list[exp.Expression]:
    if cursor is None:
        return []
    value = projection.expression(cursor)
    found: list[exp.Expression] = []
    if window.lo is not None:
        found.append(exp.GTE(this=value.copy(), expression=literal(window.lo)))
    if window.hi is not None:
        found.append(exp.LTE(this=value.copy(), expression=literal(window.hi)))
    return found


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(_ident(name), table=_ident(table) if table else None)


def _insert(table: str, columns: list[str], select: exp.Expression) -> exp.Insert:
    return exp.Insert(
        this=exp.Schema(this=statements.table(table), expressions=[_ident(c) for c in columns]),
        expression=select,
    )


def staging_create(create_sql: str, staging: str, dialect: str) -> str:
    """The target's CREATE TABLE (as recorded in the catalog) under the staging name."""
    create = sqlglot.parse_one(create_sql, read=dialect)
    create.this.set("this", statements.table(staging))
    return statements.render(create, dialect)


def clean_up(warehouse: Warehouse, spec: PipelineSpec, committed: int) -> None:
    """Remove what an interrupted run left: staging tables, and appended rows of uncommitted batches.

    Keyed targets need no deletion: redoing the batch writes the same rows under the same keys again.
    """
    from etl_assistant.deploy.swap import clean_staging

    clean_staging(warehouse, spec.target_table)
    appended = spec.mode in ("append", "incremental") and not keyed(spec)
    if appended and warehouse.table_exists(spec.target_table):
        condition = exp.GT(this=_col(BATCH_COLUMN), expression=exp.Literal.number(committed))
        delete = exp.Delete(this=statements.table(spec.target_table), where=exp.Where(this=condition))
        warehouse.execute(statements.render(delete, warehouse.dialect))


class Loader:
    """Writes batches of one pipeline into its target."""

    def __init__(
        self,
        warehouse: Warehouse,
        spec: PipelineSpec,
        projection: Projection,
        source: Source,
        create_sql: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.warehouse, self.spec, self.projection, self.source = warehouse, spec, projection, source
        self.progress = progress or (lambda done, total, message: None)
        self.create_sql = create_sql  # the target's (or versions table's) CREATE TABLE
        self.dialect = warehouse.dialect
        self.keyed = keyed(spec)
        self.storage = (
            versions_table(spec.target_table)
            if self.keyed and self.dialect == "clickhouse"
            else spec.target_table
        )
        self.columns = list(projection.columns)
        self.incoming: list[str] = []  # tables a ClickHouse server received a spooled batch in

    def cleanup(self, committed: int) -> None:
        clean_up(self.warehouse, self.spec, committed)

    def write(self, batch: int, window: Window) -> BatchResult:
        if self.spec.mode == "full_refresh":
            return self._full_refresh()
        return self._merge(batch, window)

    # --- full refresh ---------------------------------------------------------------------------------------

    def _full_refresh(self) -> BatchResult:
        staging = statements.staging_name(self.spec.target_table)
        self.warehouse.execute(staging_create(self.create_sql, staging, self.dialect))
        try:
            rows, _ = self._fill(staging, batch=None, window=Window())
            self.warehouse.swap_table(staging, self.spec.target_table)
        except BaseException:
            self.warehouse.drop_table(staging)
            raise
        return BatchResult(rows_read=rows, rows_written=rows, target_rows=rows)

    # --- append, incremental, upsert ------------------------------------------------------------------------

    def _merge(self, batch: int, window: Window) -> BatchResult:
        rows, total = self._fill(self.storage, batch=batch, window=window)
        return BatchResult(rows_read=rows, rows_written=rows, target_rows=total)

    def _fill(self, table: str, batch: int | None, window: Window) -> tuple[int, int | None]:
        """(rows of the batch, rows readers of `table` see afterwards when that came with it)."""
        if self.dialect == "clickhouse":
            return self._fill_clickhouse(table, batch, window)
        if self.dialect == "postgres":
            return self._fill_postgres(table, batch, window), None
        raise ToolError(
            f"Pipelines load into ClickHouse or PostgreSQL, and the warehouse is {self.dialect}; "
            "set ETLA_WAREHOUSE_URL to chdb://, clickhouse:// or postgresql://."
        )

    def _rows_for_clickhouse(self, table: str, window: Window, spool: Path) -> exp.Select:
        """The batch's rows as a SELECT ClickHouse runs: over postgresql() or a warehouse table directly;
        a PostgreSQL query or a ClickHouse server table is first spooled to a file (transforms and window
        applied where the source runs them)."""
        source = self.source
        where = window_filters(self.projection, self.spec.cursor, window)
        if isinstance(source, PostgresSource) and source.table:
            relation = postgresql_function(pg_table_ref(source.url, source.table))
            return self.projection.select(relation, where, self.spec.cursor)
        if isinstance(source, WarehouseTableSource):
            return self.projection.select(source.relation, where, self.spec.cursor)
        select = self.projection.select(source.relation, where, self.spec.cursor)
        if isinstance(source, PostgresSource):
            self._copy_out(source, select, spool)
            return self._spooled(table, spool, "CSV")
        if isinstance(source, ClickHouseSource):
            with open(spool, "wb") as out:
                for chunk in source.stream(select, "Native"):
                    out.write(chunk)
            return self._spooled(table, spool, "Native")
        raise ToolError(f"{source.name} cannot be read into ClickHouse; use a database table or query.")

    def _spooled(self, table: str, spool: Path, fmt: str) -> exp.Select:
        """The spooled batch as rows of the target's columns. chDB reads the file where it lies; a ClickHouse
        server cannot see this machine's files, so the file is sent into a Memory table next to the target
        (a staging name: dropped after the batch, or by the next run's clean-up if this one dies)."""
        columns = [_col(c) for c in self.columns]
        if self.warehouse.url.startswith("chdb://"):
            arguments = [exp.Literal.string(str(spool)), exp.Literal.string(fmt)]
            if fmt == "CSV":  # text has no types: read it as the target's (Native carries its own)
                types = {c.name: c.type for c in self.warehouse.columns(table)}
                structure = ", ".join(f"{statements.quote(c, 'clickhouse')} {types[c]}" for c in self.columns)
                arguments.append(exp.Literal.string(structure))
            relation = exp.Table(this=exp.Anonymous(this="file", expressions=arguments))
            return exp.select(*columns).from_(relation)
        incoming = statements.staging_name(self.spec.target_table)
        empty = exp.select(*[c.copy() for c in columns]).from_(statements.table(table)).limit(0)
        create = exp.Create(
            this=statements.table(incoming),
            kind="TABLE",
            expression=empty,
            properties=exp.Properties(expressions=[exp.EngineProperty(this=exp.var("Memory"))]),
        )
        self.warehouse.execute(statements.render(create, "clickhouse"))
        self.incoming.append(incoming)
        with open(spool, "rb") as data:
            self.warehouse.insert_raw(  # type: ignore[attr-defined] - only a ClickHouse server gets here
                incoming, self.columns, data, fmt, settings={"input_format_csv_empty_as_default": 0}
            )
        return exp.select(*columns).from_(statements.table(incoming))

    def _copy_out(self, source: PostgresSource, select: exp.Select, spool: Path) -> None:
        """COPY the source's batch (in UTC, NULL as \\N) into a CSV file."""
        options = [
            exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("csv")),
            exp.CopyParameter(this=exp.var("NULL"), expression=exp.Literal.string("\\N")),
        ]
        copy_out = statements.render(
            exp.Copy(this=select.subquery(), kind=False, params=options, files=[exp.to_identifier("STDOUT")]),
            "postgres",
        )
        try:
            with psycopg.connect(utc_conninfo(source.url)) as reader, open(spool, "wb") as out:
                reader.read_only = True
                with reader.cursor().copy(copy_out) as rows:
                    for chunk in rows:
                        out.write(chunk)
        except psycopg.Error as exc:
            raise WarehouseError(
                f"Copying from the source {source.name} failed: {str(exc).strip().splitlines()[0]}."
            ) from exc

    def _fill_clickhouse(self, table: str, batch: int | None, window: Window) -> tuple[int, int]:
        try:
            with tempfile.TemporaryDirectory(prefix="etla-pipeline-") as spool:
                return self._insert_clickhouse(table, batch, window, Path(spool) / "batch")
        finally:
            while self.incoming:
                self.warehouse.drop_table(self.incoming.pop())

    def _insert_clickhouse(self, table: str, batch: int | None, window: Window,
                           spool: Path) -> tuple[int, int]:
        select = self._rows_for_clickhouse(table, window, spool)
        if window.boundary is not None and not self.keyed:
            select = self._drop_boundary_clickhouse(select, table, window.boundary)
        columns = list(self.columns)
        if batch is not None:
            select = exp.select(
                *[_col(c) for c in columns], exp.Literal.number(batch).as_(BATCH_COLUMN)
            ).from_(select.subquery("_etla_rows"))
            columns.append(BATCH_COLUMN)
        settings = [
            exp.EQ(this=exp.column("session_timezone"), expression=exp.Literal.string("UTC")),
            # a CSV spool: an empty field is an empty string (NULL is spelled \N)
            exp.EQ(this=exp.column("input_format_csv_empty_as_default"), expression=exp.Literal.number(0)),
        ]
        if window.boundary is not None and not self.keyed:
            settings.append(exp.EQ(this=exp.column("transform_null_in"), expression=exp.Literal.number(1)))
        tag = f"etla-batch-{secrets.token_hex(6)}"  # finds this statement in system.processes
        settings.append(exp.EQ(this=exp.column("log_comment"), expression=exp.Literal.string(tag)))
        select.set("settings", settings)
        with self._watch_clickhouse(tag):
            self.warehouse.execute(statements.render(_insert(table, columns, select), "clickhouse"))
        return self._counts(table, batch)

    def _counts(self, table: str, batch: int | None) -> tuple[int, int]:
        """(rows of the batch, rows readers see) in one scan: a keyed target has one row per key for its
        readers, and counting distinct keys of the versions table reads only the key columns, where a count
        through the FINAL view would merge every version."""
        everything: exp.Expression = exp.Count(this=exp.Star())
        if self.keyed:
            keys = [_col(k) for k in self.spec.primary_key]
            everything = exp.Anonymous(this="uniqExact", expressions=keys)
        in_batch: exp.Expression = exp.Count(this=exp.Star())
        if batch is not None:
            is_batch = exp.EQ(this=_col(BATCH_COLUMN), expression=exp.Literal.number(batch))
            in_batch = exp.Anonymous(this="countIf", expressions=[is_batch])
        counted = exp.select(in_batch.as_("batch_rows"), everything.as_("rows"))
        sql = statements.render(counted.from_(statements.table(table)), "clickhouse")
        written, total = self.warehouse.query(sql, read_only=False).rows[0]
        return int(written), int(total)

    @contextmanager
    def _watch_clickhouse(self, tag: str) -> Iterator[None]:
        """While the INSERT tagged `tag` runs, report its rows read and written four times a second (the
        engine does the work in one statement; system.processes shows how far it got, and a short batch
        still shows its progress)."""
        stop = threading.Event()
        query = statements.render(
            exp.select("read_rows", "written_rows")
            .from_("system.processes")
            .where(exp.Like(this=exp.column("query"), expression=exp.Literal.string(f"%{tag}%")))
            .where(
                exp.Not(
                    this=exp.Like(
                        this=exp.column("query"), expression=exp.Literal.string("%system.processes%")
                    )
                )
            ),
            "clickhouse",
        )

        def watch() -> None:
            while not stop.wait(0.25):
                try:
                    rows = self.warehouse.query(query, read_only=True).rows
                except EtlError:
                    return
                if rows:
                    read, written = rows[0]
                    self.progress(written, None, f"{self.spec.name}: {read:,} rows read, {written:,} written")

        watcher = threading.Thread(target=watch, name=f"progress {tag}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()

    def _drop_boundary_clickhouse(self, select: exp.Select, table: str, boundary: Any) -> exp.Select:
        """Rows at the boundary cursor whose values (as stored) are already in `table` are not loaded
        again."""
        types = {c.name: c.type for c in self.warehouse.columns(table)}
        stored = exp.Tuple(
            expressions=[
                exp.Cast(this=_col(c), to=exp.DataType.build(types[c], dialect="clickhouse"))
                for c in self.columns
            ]
        )
        loaded = (
            exp.select(exp.Tuple(expressions=[_col(c) for c in self.columns]))
            .from_(statements.table(table))
            .where(exp.EQ(this=_col(self.spec.cursor or ""), expression=literal(boundary)))
        )
        at_boundary = exp.EQ(this=_col(self.spec.cursor or ""), expression=literal(boundary))
        already = exp.In(this=stored, query=loaded.subquery())
        return (
            exp.select(*[_col(c) for c in self.columns])
            .from_(select.subquery("_etla_window"))
            .where(exp.Not(this=exp.Paren(this=exp.and_(at_boundary, already))))
        )

    def _fill_postgres(self, table: str, batch: int | None, window: Window) -> int:
        """COPY the source's batch into a temporary table of the target session, then merge it, one commit."""
        target_url = self.warehouse.url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(utc_conninfo(target_url)) as target:
            incoming = exp.select(*[_col(c) for c in self.columns]).from_(statements.table(table)).limit(0)
            target.execute(
                statements.render(
                    exp.Create(
                        this=statements.table(_INCOMING),
                        kind="TABLE",
                        expression=incoming,
                        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                    ),
                    "postgres",
                )
            )
            rows_read = self._copy_in(target, window)
            if batch is None:
                merge = _insert(
                    table,
                    self.columns,
                    exp.select(*[_col(c) for c in self.columns]).from_(statements.table(_INCOMING)),
                )
            else:
                merge = self._merge_postgres(table, batch, window)
            written = target.execute(statements.render(merge, "postgres")).rowcount
            target.commit()
        return written if batch is not None else rows_read

    def _copy_in(self, target: psycopg.Connection, window: Window) -> int:
        source = self.source
        where = window_filters(self.projection, self.spec.cursor, window)
        if isinstance(source, WarehouseTableSource):
            select = self.projection.select(source.relation, where, self.spec.cursor)
            return target.execute(
                statements.render(_insert(_INCOMING, self.columns, select), "postgres")
            ).rowcount
        select = self.projection.select(source.relation, where, self.spec.cursor)
        if isinstance(source, ClickHouseSource):
            return self._copy_from_clickhouse(target, source, select)
        if not isinstance(source, PostgresSource):
            raise ToolError(f"{source.name} cannot be copied into PostgreSQL; use a database source.")
        copy_out = statements.render(
            exp.Copy(this=select.subquery(), kind=False, files=[exp.to_identifier("STDOUT")]), "postgres"
        )
        copy_in = self._incoming_copy()
        rows = 0
        try:
            with psycopg.connect(utc_conninfo(source.url)) as reader:
                reader.read_only = True
                with reader.cursor().copy(copy_out) as out, target.cursor().copy(copy_in) as into:
                    reported = 0
                    for chunk in out:
                        into.write(chunk)
                        rows += bytes(chunk).count(b"\n")
                        if rows - reported >= _PROGRESS_ROWS:
                            reported = rows
                            self.progress(rows, None, f"{self.spec.name}: {rows:,} rows read")
        except psycopg.Error as exc:
            raise WarehouseError(
                f"Copying from the source {source.name} failed: {str(exc).strip().splitlines()[0]}."
            ) from exc
        return rows

    def _incoming_copy(self, options: list[exp.CopyParameter] | None = None) -> str:
        return statements.render(
            exp.Copy(
                this=exp.Schema(
                    this=statements.table(_INCOMING), expressions=[_ident(c) for c in self.columns]
                ),
                kind=True,
                files=[exp.to_identifier("STDIN")],
                params=options or [],
            ),
            "postgres",
        )

    def _copy_from_clickhouse(self, target: psycopg.Connection, source: ClickHouseSource,
                              select: exp.Select) -> int:
        """The server's CSV of the batch (UTC, NULL as \\N, strings quoted) straight into COPY."""
        options = [
            exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("csv")),
            exp.CopyParameter(this=exp.var("NULL"), expression=exp.Literal.string("\\N")),
        ]
        with target.cursor() as cursor:
            with cursor.copy(self._incoming_copy(options)) as into:
                rows = reported = 0
                for chunk in source.stream(select, "CSV"):
                    into.write(chunk)
                    rows += chunk.count(b"\n")  # about: a quoted value may hold a newline
                    if rows - reported >= _PROGRESS_ROWS:
                        reported = rows
                        self.progress(rows, None, f"{self.spec.name}: {rows:,} rows read")
            return cursor.rowcount

    def _merge_postgres(self, table: str, batch: int, window: Window) -> exp.Insert:
        incoming = exp.select(
            *[_col(c, "i") for c in self.columns], exp.Literal.number(batch).as_(BATCH_COLUMN)
        )
        incoming = incoming.from_(exp.Table(this=_ident(_INCOMING), alias=exp.TableAlias(this=_ident("i"))))
        columns = [*self.columns, BATCH_COLUMN]
        if self.keyed:
            key = self.spec.primary_key
            incoming.set("distinct", exp.Distinct(on=exp.Tuple(expressions=[_col(k, "i") for k in key])))
            order = [exp.Ordered(this=_col(k, "i")) for k in key]
            if self.spec.cursor:
                order.append(exp.Ordered(this=_col(self.spec.cursor, "i"), desc=True))
            incoming = incoming.order_by(*order)
            insert = _insert(table, columns, incoming)
            excluded = exp.to_identifier(
                "excluded"
            )  # the row proposed for insertion, unquoted as PostgreSQL spells it
            updates = [
                exp.EQ(this=_col(c), expression=exp.column(_ident(c), table=excluded.copy()))
                for c in columns
                if c not in key
            ]
            insert.set(
                "conflict",
                exp.OnConflict(
                    conflict_keys=[_ident(k) for k in key], action=exp.var("DO UPDATE"), expressions=updates
                ),
            )
            return insert
        if window.boundary is not None:
            cursor = self.spec.cursor or ""
            same = [exp.NullSafeEQ(this=_col(c, "t"), expression=_col(c, "i")) for c in self.columns]
            loaded = (
                exp.select(exp.Literal.number(1))
                .from_(exp.Table(this=_ident(table), alias=exp.TableAlias(this=_ident("t"))))
                .where(exp.and_(exp.EQ(this=_col(cursor, "t"), expression=literal(window.boundary)), *same))
            )
            incoming = incoming.where(exp.Not(this=exp.Exists(this=loaded)))
        return _insert(table, columns, incoming)
