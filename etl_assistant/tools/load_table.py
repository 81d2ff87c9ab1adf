"""The load_table tool: create a warehouse table from the generated DDL and bulk-load a dataset into it.

The table is always built under a fresh staging name, loaded, counted against the source and only then
swapped in (ClickHouse `EXCHANGE TABLES`, PostgreSQL/SQLite rename in one transaction), so a failed load
leaves the warehouse exactly as it was.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from etl_assistant.ddl import generate_ddl
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.warehouse.statements import check_table_name, staging_name

if TYPE_CHECKING:  # warehouse.base imports tools.base, which loads this registry
    from etl_assistant.warehouse.base import Warehouse


class LoadTableInput(BaseModel):
    dataset: str | None = Field(default=None, description="Name of a dataset registered by infer_schema.")
    path: str | None = Field(default=None, description="A file to infer and load instead.")
    table: str | None = Field(default=None, description="Target table (default: the dataset name).")
    replace: bool = Field(default=False, description="Rebuild the table if it already exists.")


class LoadTableOutput(BaseModel):
    table: str
    rows: int
    dialect: str
    ddl: str
    elapsed_s: float
    method: str


def resolve_dataset(ctx: ToolContext, dataset: str | None, path: str | None) -> DatasetSchema:
    """The schema to load: inferred (and registered) from `path`, else the catalog's `dataset`."""
    if path:
        from etl_assistant.tools import get_tool  # the registry imports this module

        schema = get_tool("infer_schema").run(ctx, {"path": path, "name": dataset})
        assert isinstance(schema, DatasetSchema)
        return schema
    if not dataset:
        raise ToolError("Say what to load: a dataset name (an uploaded or inspected file), or a file path.")
    schema = ctx.catalog.get_dataset(ctx.tenant, dataset)
    if schema is None:
        known = sorted(d.name for d in ctx.catalog.list_datasets(ctx.tenant))
        hint = f"known datasets: {', '.join(known)}" if known else "none yet: upload or inspect a file first"
        raise ToolError(f"Unknown dataset {dataset!r}; {hint}.")
    if schema.format == "table":
        raise ToolError(f"Dataset {dataset!r} is already a warehouse table; load files, not tables.")
    return schema


def load_staging(ctx: ToolContext, warehouse: Warehouse, schema: DatasetSchema,
                 table: str) -> tuple[str, int, str]:
    """Create a fresh staging table for `table`, load the file into it and check its count against the source.
    Returns (staging table, rows, load method); on any failure the staging table is dropped."""
    staging = generate_ddl(schema, warehouse.dialect, staging_name(table))
    for statement in staging.statements:
        warehouse.execute(statement)
    try:
        result = warehouse.load_file(staging.table, schema, progress=ctx.progress)
        rows = warehouse.count_rows(staging.table)
        expected = result.rows if schema.row_count_estimated else schema.row_count
        if rows != expected or rows != result.rows:
            raise WarehouseError(
                f"Loaded {rows} rows but the source has {expected}; the file may have changed since it was "
                f"inferred: inspect it again and reload. {table} was left unchanged."
            )
    except BaseException:
        warehouse.drop_table(staging.table)
        raise
    return staging.table, rows, result.method


def build_and_swap(ctx: ToolContext, warehouse: Warehouse, schema: DatasetSchema,
                   table: str) -> tuple[int, str]:
    """Load a staging table (see load_staging), then swap it in; on any failure drop the staging table."""
    staging, rows, method = load_staging(ctx, warehouse, schema, table)
    try:
        warehouse.swap_table(staging, table)
    except BaseException:
        warehouse.drop_table(staging)
        raise
    return rows, method


def run(ctx: ToolContext, args: LoadTableInput) -> LoadTableOutput:
    """Create a warehouse table for a dataset (from its generated DDL) and bulk-load the file into it with
    the engine's native path. Give a dataset registered by infer_schema, or a file path to infer first.
    If the table exists, pass replace=true to rebuild it; the old table stays until the new one is fully
    loaded and its row count checked, then they are swapped atomically. Returns rows loaded and the DDL."""
    started = time.perf_counter()
    schema = resolve_dataset(ctx, args.dataset, args.path)
    warehouse = ctx.warehouse
    final = generate_ddl(schema, warehouse.dialect, args.table or schema.name)
    table = check_table_name(final.table)
    if warehouse.table_exists(table) and not args.replace:
        raise ToolError(f"Table {table} already exists; pass replace=true (CLI: --replace) to rebuild it "
                        "from the file, or choose another table name.")
    rows, method = build_and_swap(ctx, warehouse, schema, table)
    ctx.catalog.record_table(ctx.tenant, table, schema.name, warehouse.dialect, final.ddl, rows)
    return LoadTableOutput(table=table, rows=rows, dialect=warehouse.dialect, ddl=final.ddl,
                           elapsed_s=round(time.perf_counter() - started, 3), method=method)


def replaces(args: LoadTableInput) -> bool:
    """Rebuilding an existing table destroys its current rows: a person approves that first."""
    return args.replace


TOOL = Tool(name="load_table", fn=run, input_model=LoadTableInput, output_model=LoadTableOutput,
            read_only=False, approval_if=replaces)
