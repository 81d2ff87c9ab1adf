"""The run_query tool: one read-only SELECT through the guard, on the tenant's own tables, bounded."""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.warehouse.safety import guard


class RunQueryInput(BaseModel):
    sql: str = Field(description="One SELECT (WITH/UNION allowed) over the tables list_datasets shows.")
    limit: int = Field(default=100, description="Maximum rows to return (capped by the server).")


class RunQueryOutput(BaseModel):
    sql: str  # the SQL actually run (rendered by the guard, LIMIT enforced)
    columns: list[str]
    rows: list[list[Any]]  # JSON-able values
    truncated: bool  # more rows existed than `limit`


def allowed_tables(ctx: ToolContext) -> set[str]:
    """The tenant's recorded tables, plus its datasets that already exist as warehouse tables; the warehouse's
    own tables are registered on the tenant's first use (warehouse.discovery)."""
    from etl_assistant.warehouse.discovery import ensure_discovered  # the warehouse package loads the tools

    ensure_discovered(ctx)
    recorded = {record.table for record in ctx.catalog.list_tables(ctx.tenant)}
    unrecorded = {schema.name for schema in ctx.catalog.list_datasets(ctx.tenant)} - recorded
    # Listing the warehouse's tables costs a query; only datasets without a table record need it.
    return recorded | (unrecorded & set(ctx.warehouse.tables()) if unrecorded else set())


def jsonable(value: Any) -> Any:
    """Engine values as JSON values: decimals as numbers, times as ISO text, UUIDs and bytes as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def run(ctx: ToolContext, args: RunQueryInput) -> RunQueryOutput:
    """Run one read-only SQL query (SELECT, WITH ... SELECT, UNION) against the warehouse and return the rows.
    Only the tenant's own tables may be read; writes, system tables, table functions, SETTINGS/FORMAT clauses
    and stacked statements are refused with a reason. A LIMIT is always enforced."""
    limit = max(1, min(args.limit, ctx.settings.query_row_limit))
    warehouse = ctx.warehouse
    # One row more than asked shows whether the result was cut.
    safe_sql = guard(args.sql, dialect=warehouse.dialect, allowed_tables=allowed_tables(ctx), limit=limit + 1,
                     max_depth=ctx.settings.max_sql_depth)
    result = warehouse.query(safe_sql, limit=limit, timeout_s=ctx.settings.query_timeout_s, read_only=True)
    return RunQueryOutput(sql=safe_sql, columns=result.columns,
                          rows=[[jsonable(v) for v in row] for row in result.rows[:limit]],
                          truncated=result.truncated or len(result.rows) > limit)


TOOL = Tool(name="run_query", fn=run, input_model=RunQueryInput, output_model=RunQueryOutput)
