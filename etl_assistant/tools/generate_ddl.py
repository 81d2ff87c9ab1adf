"""The generate_ddl tool: DDL for a dataset registered in the catalog (see etl_assistant.ddl)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.ddl import DDLResult, generate_ddl
from etl_assistant.errors import ToolError
from etl_assistant.tools.base import Tool, ToolContext


class GenerateDDLInput(BaseModel):
    dataset: str = Field(description="Name of a dataset registered by infer_schema.")
    dialect: str | None = Field(default=None, description="clickhouse, postgres or sqlite; omit to get a "
                                                          "recommendation of where the data should live.")
    table: str | None = Field(default=None, description="Table name (default: the dataset name).")


def run(ctx: ToolContext, args: GenerateDDLInput) -> DDLResult:
    """Design a warehouse table for a dataset: idiomatic CREATE TABLE (and index/partition) statements for
    ClickHouse, PostgreSQL or SQLite, with one sentence explaining each choice (types, sort key, partitions,
    keys). Without a dialect it first recommends where the data should live and why. Nothing is executed."""
    schema = ctx.catalog.get_dataset(ctx.tenant, args.dataset)
    if schema is None:
        known = sorted(d.name for d in ctx.catalog.list_datasets(ctx.tenant))
        hint = f"known datasets: {', '.join(known)}" if known else "none yet: upload or inspect a file first"
        raise ToolError(f"Unknown dataset {args.dataset!r}; {hint}.")
    return generate_ddl(schema, args.dialect, args.table)


TOOL = Tool(name="generate_ddl", fn=run, input_model=GenerateDDLInput, output_model=DDLResult)
