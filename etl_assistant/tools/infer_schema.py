"""The infer_schema tool: profile a file (or a warehouse table) and register it as a dataset."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel, Field

from etl_assistant.errors import EtlError, ToolError
from etl_assistant.schema.infer import infer_file, infer_table, table_values
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.schema.relationships import (
    ReferenceValues,
    file_values,
    find_references_to,
    find_relationships_of_table,
)
from etl_assistant.tools.base import Tool, ToolContext


class InferSchemaInput(BaseModel):
    path: str | None = Field(
        default=None, description="Path of a CSV/TSV/JSON/NDJSON/Parquet/XLSX file (.gz too)."
    )
    table: str | None = Field(
        default=None, description="Name of an existing warehouse table, instead of a file."
    )
    name: str | None = Field(
        default=None, description="Dataset name to register (default: from the file name)."
    )


def reference_values(ctx: ToolContext) -> ReferenceValues:
    """Distinct values of a known dataset's column: from its file, else from its warehouse table."""

    def values(dataset: DatasetSchema, identifier: str) -> pa.Array | None:
        found = file_values(dataset, identifier)
        if found is not None:
            return found
        if dataset.format == "table":
            table, column = dataset.source.removeprefix("table:"), dataset.column(identifier).name
        else:
            loaded = [t.table for t in ctx.catalog.list_tables(ctx.tenant) if t.dataset == dataset.name]
            if not loaded:
                return None
            table, column = loaded[0], identifier
        try:
            return table_values(ctx.warehouse, table, column)
        except EtlError:
            return None  # the table is gone or unreachable: no evidence either way

    return values


def run(ctx: ToolContext, args: InferSchemaInput) -> DatasetSchema:
    """Infer the schema of a data file or warehouse table: format, CSV dialect and encoding, exact row count,
    and per column the type (boolean, integer, float, decimal, date, datetime, time, uuid, string, json) with
    details, nullability, distinct count, min/max, samples and primary-key candidates; plus foreign-key
    candidates to datasets already registered. Registers the result as a dataset for generate_ddl and
    load_table. Give exactly one of `path` or `table`."""
    if bool(args.path) == bool(args.table):
        raise ToolError(
            "Give exactly one of `path` (a data file) or `table` (a warehouse table) to infer_schema."
        )
    values = reference_values(ctx)
    known = ctx.catalog.list_datasets(ctx.tenant)
    if args.table:
        schema = infer_table(ctx.warehouse, args.table, name=args.name)
        schema.relationships = find_relationships_of_table(schema, known, values)
    else:
        schema = infer_file(
            args.path,
            ctx.settings,
            name=args.name,
            progress=ctx.progress,
            known=known,
            reference_values=values,
        )
    ctx.catalog.save_dataset(ctx.tenant, schema)
    relink_known(ctx, schema, known, values)
    return schema


def relink_known(
    ctx: ToolContext, schema: DatasetSchema, known: list[DatasetSchema], values: ReferenceValues
) -> None:
    """The other direction: known datasets whose columns reference the new one (facts loaded before their
    dimensions) get those relationships; earlier ones to it are replaced (a changed dataset is re-checked)."""
    found = find_references_to(schema, known, values)
    for other in known:
        if other.name == schema.name:
            continue
        kept = [r for r in other.relationships if r.ref_dataset != schema.name]
        new = found.get(other.name, [])
        if new or len(kept) != len(other.relationships):
            ctx.catalog.save_dataset(ctx.tenant, other.model_copy(update={"relationships": kept + new}))


TOOL = Tool(name="infer_schema", fn=run, input_model=InferSchemaInput, output_model=DatasetSchema)
