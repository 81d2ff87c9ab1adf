"""One run of a pipeline: lock, clean up after a dead run, read the cursor window, write the batch, commit.

The order is what makes a run safe to kill at any point: the batch is written first (under its number), the
cursor and the batch number move in the catalog only after the warehouse committed it, and the next run first
removes rows of any batch above the committed one. Transient failures are retried with exponential backoff;
every run, failed or not, is in the history with its rows, cursors, attempts and the reason it failed.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlglot import exp

from etl_assistant.errors import EtlError, ToolError
from etl_assistant.pipelines.extract import ClickHouseSource, PostgresSource, Source, WarehouseTableSource
from etl_assistant.pipelines.load import BatchResult, Loader, Window, lower_bound
from etl_assistant.pipelines.locks import run_lock
from etl_assistant.pipelines.retry import backoff_s, is_transient
from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.pipelines.store import PipelineStore, encode_cursor, show_cursor
from etl_assistant.pipelines.target import BATCH_COLUMN, keyed, versions_table
from etl_assistant.pipelines.transforms import Projection, check_columns, project
from etl_assistant.warehouse import statements

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ToolContext

RETRIES = 3  # attempts per run, the first included
RETRY_BASE_S = 1.0


class RunReport(BaseModel):
    """What a run did, as the tools and the CLI report it."""

    pipeline: str
    run_id: int
    status: str  # succeeded or failed
    rows_read: int
    rows_written: int
    cursor_before: str | None
    cursor_after: str | None
    attempts: int
    error: str | None = None
    elapsed_s: float


def build_source(ctx: ToolContext, spec: PipelineSpec) -> Source:
    """The source object of a table/query spec (files are read by `files.py`)."""
    src = spec.source
    if src.connection is None:
        return WarehouseTableSource(ctx.warehouse, src.table or "")
    from etl_assistant.pipelines.connections import resolve_connection

    connection = resolve_connection(ctx, src.connection)
    if connection.kind == "postgresql":
        return PostgresSource(connection.name, connection.url, src.table, src.query)
    warehouse_itself = connection.url == ctx.settings.resolved_warehouse_url
    if connection.kind in ("chdb", "clickhouse") and warehouse_itself and src.table:
        return WarehouseTableSource(ctx.warehouse, src.table or "")
    if connection.kind == "clickhouse":
        return ClickHouseSource(connection.name, connection.url, src.table, src.query)
    raise ToolError(
        f"The connection {connection.name} is {connection.kind}; pipelines read tables and queries of "
        "PostgreSQL and ClickHouse servers, tables of the warehouse itself, or files."
    )


def spec_projection(spec: PipelineSpec, columns: list[str]) -> Projection:
    """The spec's transforms over the source columns, its cursor and key checked against the output."""
    projection = project(columns, spec.transforms)
    check_columns(projection, [spec.cursor] if spec.cursor else [], "cursor column")
    check_columns(projection, spec.primary_key, "primary key column")
    return projection


def target_create_sql(ctx: ToolContext, spec: PipelineSpec) -> str:
    """The first CREATE of the target as the catalog recorded it when the pipeline was applied."""
    record = ctx.catalog.get_table(ctx.tenant, spec.target_table)
    if record is None:
        raise ToolError(
            f"The target table {spec.target_table} of pipeline {spec.name} is not in the catalog; "
            "create the pipeline again (create_pipeline) to rebuild it."
        )
    return record.ddl.split(";\n", 1)[0].strip().rstrip(";")


def fit_to_target(ctx: ToolContext, spec: PipelineSpec, loader: Loader) -> None:
    """Write exactly the target's columns: a column the source gained is left out, one it lost is an error."""
    expected = [c.name for c in ctx.warehouse.columns(loader.storage) if c.name != BATCH_COLUMN]
    if not expected:  # the target was dropped: a full refresh rebuilds it, other modes fail naming it
        return
    missing = [c for c in expected if c not in loader.projection.columns]
    if missing:
        raise ToolError(
            f"The source of pipeline {spec.name} no longer gives column(s) {', '.join(missing)} "
            f"(it gives {', '.join(loader.projection.columns)}); restore them in the source, or "
            "delete the pipeline and create it again for the new columns."
        )
    loader.projection.columns = {name: loader.projection.columns[name] for name in expected}
    loader.columns = expected


def _window(spec: PipelineSpec, source: Source, projection: Projection, last: Any) -> Window | None:
    """The batch's cursor range; None when the source has no rows at all (nothing to read)."""
    if spec.mode not in ("incremental", "upsert") or not spec.cursor:
        return Window()
    high = source.max_value(projection.expression(spec.cursor), projection.filters)
    if high is None:
        return None
    return Window(lo=lower_bound(last, spec.lag), hi=high, boundary=None if keyed(spec) else last)


def _attempt(
    ctx: ToolContext, store: PipelineStore, spec: PipelineSpec, clean: bool
) -> tuple[BatchResult, Any, Any]:
    """One try: (result, cursor before, cursor after). Raises on failure; committed batches stay committed.
    `clean`: an earlier try or run did not finish, so what it may have left is removed first."""
    state = store.state(ctx.tenant, spec.name)
    if spec.source.kind == "files":
        from etl_assistant.pipelines.files import load_new_files

        result = load_new_files(ctx, store, spec, state.batch)
        return result, state.cursor, state.cursor
    source = build_source(ctx, spec)
    projection = spec_projection(spec, source.columns())
    loader = Loader(ctx.warehouse, spec, projection, source, target_create_sql(ctx, spec), ctx.progress)
    fit_to_target(ctx, spec, loader)
    if clean:
        loader.cleanup(state.batch)
    window = _window(spec, source, projection, state.cursor)
    if window is None:
        return BatchResult(0, 0), state.cursor, state.cursor
    batch = state.batch + 1
    where = f" with {spec.cursor} from {window.lo}" if window.lo is not None else ""
    ctx.progress(0, None, f"reading {spec.source.describe()}{where}")
    result = loader.write(batch, window)
    after = window.hi if window.hi is not None else state.cursor
    if state.cursor is not None and after is not None and after < state.cursor:
        after = state.cursor  # rows deleted at the source: the cursor never moves back
    store.commit_batch(ctx.tenant, spec.name, batch, after)
    ctx.progress(
        result.rows_written,
        result.rows_written,
        f"{spec.name}: {result.rows_read} rows read, {result.rows_written} written",
    )
    return result, state.cursor, after


def _sentence(exc: BaseException) -> str:
    from etl_assistant.pipelines.connections import redact_text

    if isinstance(exc, EtlError):
        return redact_text(str(exc))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact_text(f"{type(exc).__name__}: {first}")


def run_pipeline(
    ctx: ToolContext,
    name: str,
    trigger: str = "manual",
    *,
    retries: int = RETRIES,
    retry_base_s: float = RETRY_BASE_S,
    slot: datetime | None = None,
) -> RunReport | None:
    """Run `name` now (under its lock) and record the run; a failure is in the report, not raised.

    `slot` is the scheduled time a scheduler runs it for: inside the lock the run is skipped (None) when
    that slot was already run, and the slot is marked run afterwards, whatever the outcome, so a slot runs
    once across every process and a process killed mid-run leaves its slot due for the next scheduler.
    """
    store = PipelineStore(ctx.catalog)
    spec = store.require(ctx.tenant, name)
    with run_lock(ctx.settings, ctx.catalog, ctx.tenant, name):
        previous = store.last_slot(ctx.tenant, name) if slot is not None else None
        if slot is not None and previous is not None and previous >= slot:
            return None
        report = _run_locked(ctx, store, spec, trigger, retries, retry_base_s)
        if slot is not None:
            store.claim_slot(ctx.tenant, name, slot, previous)
        return report


def _run_locked(
    ctx: ToolContext,
    store: PipelineStore,
    spec: PipelineSpec,
    trigger: str,
    retries: int,
    retry_base_s: float,
) -> RunReport:
    name = spec.name
    started = time.perf_counter()
    # Only a run that did not succeed leaves staging tables or rows of an uncommitted batch behind.
    interrupted = store.mark_interrupted(ctx.tenant, name)
    unfinished = bool(interrupted) or store.last_status(ctx.tenant, name) not in (None, "succeeded")
    before = store.state(ctx.tenant, name).cursor
    run_id = store.start_run(ctx.tenant, name, trigger, before)
    attempt = 0
    while True:
        attempt += 1
        try:
            result, before, after = _attempt(ctx, store, spec, clean=unfinished or attempt > 1)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
            if attempt < retries and is_transient(exc):
                store.update_run(run_id, attempts=attempt + 1)
                ctx.progress(0, None, f"{name}: attempt {attempt} failed ({_sentence(exc)}); retrying")
                time.sleep(backoff_s(attempt, retry_base_s))
                continue
            error = f"Run {run_id} of {name} failed after {attempt} attempt(s): {_sentence(exc)}"
            store.finish_run(run_id, "failed", error=error, attempts=attempt)
            return RunReport(
                pipeline=name,
                run_id=run_id,
                status="failed",
                rows_read=0,
                rows_written=0,
                cursor_before=show_cursor(encode_cursor(before)),
                cursor_after=None,
                attempts=attempt,
                error=error,
                elapsed_s=_since(started),
            )
        store.finish_run(
            run_id,
            "succeeded",
            rows_read=result.rows_read,
            rows_written=result.rows_written,
            cursor_after=after,
            attempts=attempt,
        )
        _record_target(ctx, spec, result.target_rows)
        return RunReport(
            pipeline=name,
            run_id=run_id,
            status="succeeded",
            rows_read=result.rows_read,
            rows_written=result.rows_written,
            cursor_before=show_cursor(encode_cursor(before)),
            cursor_after=show_cursor(encode_cursor(after)),
            attempts=attempt,
            elapsed_s=_since(started),
        )


def _record_target(ctx: ToolContext, spec: PipelineSpec, rows: int | None) -> None:
    """Keep the catalog's row count of the target current (its DDL, and so its version, is unchanged);
    `rows` when the batch's write already counted them."""
    record = ctx.catalog.get_table(ctx.tenant, spec.target_table)
    if record is not None:
        rows = target_rows(ctx, spec) if rows is None else rows
        ctx.catalog.record_table(
            ctx.tenant, spec.target_table, record.dataset, record.dialect, record.ddl, rows
        )


def target_rows(ctx: ToolContext, spec: PipelineSpec) -> int:
    """Rows readers see. A keyed ClickHouse target has one row per key: counting distinct keys of the
    versions table reads only the key columns, where a count through the FINAL view merges every version."""
    warehouse = ctx.warehouse
    if not (keyed(spec) and warehouse.dialect == "clickhouse"):
        return warehouse.count_rows(spec.target_table)
    keys = [exp.column(exp.to_identifier(k, quoted=True)) for k in spec.primary_key]
    query = exp.select(exp.Anonymous(this="uniqExact", expressions=keys).as_("n")).from_(
        statements.table(versions_table(spec.target_table))
    )
    return int(warehouse.query(statements.render(query, "clickhouse"), read_only=False).rows[0][0])


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
