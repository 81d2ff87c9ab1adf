"""Plan a pipeline (read-only) and apply it after approval, as one step kind of the deploy plan.

Planning reads the source's schema (the database's declared types and keys plus a bounded sample, or the first
file), proposes the mode when none was asked for, checks cursor, key and transforms against the columns, says
the schedule back in words with its next runs, and designs the target table. Nothing is created: the plan is
stored like a deploy plan and `apply_deploy` (after the person approved) creates the target, saves the
pipeline and runs it once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from etl_assistant.errors import InputError, ToolError
from etl_assistant.pipelines import modes
from etl_assistant.pipelines.spec import Mode, PipelineSchedule, PipelineSpec, Transform, validate_spec
from etl_assistant.pipelines.target import design, output_schema, source_columns
from etl_assistant.pipelines.transforms import check_columns, project
from etl_assistant.schema.model import DatasetSchema

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ToolContext


class PipelineRequest(BaseModel):
    """What create_pipeline is asked for; empty fields are proposed from the source."""

    name: str | None = Field(default=None, description="Pipeline name (default: <source table>_to_<target>).")
    source_connection: str | None = Field(
        default=None,
        description="A named connection (ETLA_CONNECTIONS or `connections add`); "
        "empty with source_table: a table of the warehouse itself.",
    )
    source_table: str | None = Field(default=None, description="Source table, `table` or `schema.table`.")
    source_query: str | None = Field(default=None, description="A read-only SELECT on the connection.")
    source_path: str | None = Field(default=None, description="A file, glob or folder (each new file once).")
    target_table: str | None = Field(default=None, description="Warehouse table (default: the source name).")
    mode: Mode | None = Field(
        default=None,
        description="full_refresh, append, incremental or upsert "
        "(empty: proposed from the source's profile).",
    )
    cursor: str | None = Field(
        default=None, description="Incremental cursor: updated_at-like or increasing id (empty: proposed)."
    )
    primary_key: list[str] = Field(default_factory=list, description="Key columns (empty: the source's own).")
    lag_seconds: float = Field(
        default=0.0,
        description="Re-read this far behind the last cursor for rows committed late (needs a primary key).",
    )
    schedule: str | None = Field(
        default=None,
        description='Words ("daily at 2 AM", "every 15 minutes") or '
        "a cron line; empty: runs only when asked.",
    )
    timezone: str | None = Field(
        default=None, description="IANA zone of the schedule (default ETLA_TIMEZONE)."
    )
    transforms: list[Transform] = Field(
        default_factory=list, description="rename, cast, filter, dedupe, derive, applied in order."
    )


class PipelinePlanInfo(BaseModel):
    """What the person approves, besides the DDL."""

    spec: PipelineSpec
    source: str
    mode_reason: str  # why this mode (when proposed) and what it does, one line each
    schedule: str | None  # in words with the timezone
    next_runs: list[str] = []
    transforms: list[str] = []
    target_statements: list[str]
    target_notes: list[str]
    target_exists: bool


def source_schema(ctx: ToolContext, spec_source: dict, name: str) -> DatasetSchema:
    """The source's schema: declared by the database plus a bounded sample, or inferred from the first
    file."""
    if spec_source.get("path"):
        from etl_assistant.pipelines.files import matching_files

        files = matching_files(ctx, spec_source["path"])
        if not files:
            raise InputError(f"No file matches {spec_source['path']}; check the path, glob or folder.")
        from etl_assistant.schema.infer import infer_file

        return infer_file(files[0], ctx.settings, name=name)
    if spec_source.get("connection") is None:
        from etl_assistant.schema.infer import infer_table

        return infer_table(ctx.warehouse, spec_source["table"], name=name)
    from etl_assistant.pipelines.connections import resolve_connection
    from etl_assistant.pipelines.introspect import describe_table, find_table

    connection = resolve_connection(ctx, spec_source["connection"])
    if spec_source.get("query"):
        return _query_schema(connection, spec_source["query"], name)
    return describe_table(connection, find_table(connection, spec_source["table"]), name=name)


def _query_schema(connection, query: str, name: str) -> DatasetSchema:  # noqa: ANN001 - a Connection
    """A read-only query profiled from a bounded sample of its rows."""
    from etl_assistant.pipelines.introspect import SAMPLE_ROWS, sql_dialect
    from etl_assistant.schema.infer import profile_rows
    from etl_assistant.warehouse import connect
    from etl_assistant.warehouse.safety import guard

    safe = guard(query, dialect=sql_dialect(connection), allowed_tables=None, limit=SAMPLE_ROWS)
    result = connect(connection.url).query(safe, limit=SAMPLE_ROWS, timeout_s=30, read_only=True)
    columns = profile_rows(result.columns, result.columns, result.rows)
    return DatasetSchema(
        name=name,
        source=f"connection:{connection.name}/query",
        format="table",
        row_count=len(result.rows),
        row_count_estimated=result.truncated,
        columns=columns,
    )


def _implicit_renames(schema: DatasetSchema) -> list[Transform]:
    """Columns whose safe identifier differs from the source's spelling are renamed first."""
    return [
        Transform(kind="rename", column=c.name, to=c.identifier)
        for c in schema.columns
        if c.name != c.identifier and schema.format == "table"
    ]


def plan_pipeline(ctx: ToolContext, request: PipelineRequest) -> tuple[PipelinePlanInfo, DatasetSchema]:
    """Everything create_pipeline shows (and the source schema), checked; raises one sentence on the first
    problem."""
    given = [v for v in (request.source_table, request.source_query, request.source_path) if v]
    if len(given) != 1:
        raise ToolError(
            "Name the source: one of source_table (with source_connection for a database), "
            "source_query (with source_connection) or source_path."
        )
    source = {
        "connection": request.source_connection,
        "table": request.source_table,
        "query": request.source_query,
        "path": request.source_path,
    }
    base = (request.source_table or Path(request.source_path or "files").stem or "query").split(".")[-1]
    target = request.target_table or _safe(base)
    schema = source_schema(ctx, source, target)
    choice = modes.propose(schema, is_files=bool(request.source_path))
    mode = request.mode or choice.mode
    primary_key = request.primary_key or (choice.primary_key if mode in ("incremental", "upsert") else [])
    if mode == "upsert" and not primary_key:
        primary_key = modes.declared_key(schema)
    cursor = request.cursor or (choice.cursor if mode in ("incremental", "upsert") else None)
    if mode == "incremental" and not cursor:
        modes.require_cursor_candidate(schema)
    schedule_text, next_runs, schedule = None, [], None
    if request.schedule:
        from etl_assistant.pipelines.schedule import parse_schedule

        parsed = parse_schedule(request.schedule, request.timezone or ctx.settings.timezone)
        schedule = PipelineSchedule(cron=parsed.cron, timezone=parsed.timezone)
        schedule_text = parsed.description
        next_runs = [t.isoformat(timespec="minutes") for t in parsed.next_runs(3)]
    transforms = [*_implicit_renames(schema), *request.transforms]
    spec = validate_spec(
        {
            "name": request.name or _safe(f"{base}_to_{target}" if base != target else f"{target}_sync"),
            "tenant": ctx.tenant,
            "source": source,
            "target_table": target,
            "mode": mode,
            "cursor": cursor,
            "primary_key": primary_key,
            "lag": request.lag_seconds,
            "transforms": [t.model_dump() for t in transforms],
            "schedule": schedule.model_dump() if schedule else None,
        }
    )
    projection = project(source_columns(schema), spec.transforms)
    check_columns(projection, [spec.cursor] if spec.cursor else [], "cursor column")
    check_columns(projection, spec.primary_key, "primary key column")
    output = output_schema(schema, projection, spec)
    if spec.cursor:
        modes.check_cursor(output, spec.cursor)
    target_design = design(spec, output, ctx.warehouse.dialect)
    reason = modes.explain(spec)
    if request.mode is None:
        reason = f"{reason} Chosen because {choice.reason[0].lower()}{choice.reason[1:]}"
    info = PipelinePlanInfo(
        spec=spec,
        source=spec.source.describe(),
        mode_reason=reason,
        schedule=schedule_text,
        next_runs=next_runs,
        transforms=projection.steps,
        target_statements=target_design.statements,
        target_notes=target_design.explanation,
        target_exists=ctx.warehouse.table_exists(target_design.table),
    )
    return info, schema


def _safe(name: str) -> str:
    from etl_assistant.ddl.builder import table_name

    return table_name(name, 63)


def plan_digest(info: PipelinePlanInfo) -> str:
    return hashlib.sha256(
        json.dumps([info.spec.model_dump(mode="json"), info.target_statements], sort_keys=True).encode()
    ).hexdigest()


def new_plan_id() -> str:
    return f"plan_{uuid.uuid4().hex[:12]}"
