"""The infer_schema tool: profile a file (or a warehouse table) and register it as a dataset."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel, Field

from etl_assistant.errors import EtlError, ToolError
from etl_assistant.schema.infer import infer_file, infer_table, table_values
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.schema.relationships import ReferenceValues, file_values
from etl_assistant.schema.source import resolve_source
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


def already_inferred(ctx: ToolContext, path: str, name: str | None) -> DatasetSchema | None:
    """The upload's registered schema when nothing changed since the upload inferred it: an uploaded file
    (`POST /v1/datasets` infers it on arrival), the same bytes (size, mtime, head), the same name, and no
    dataset registered after it (a newer one could be a relationship target). The chat turn that follows an
    upload then does not profile the file a second time; files named by path are always profiled."""
    source = resolve_source(path, ctx.settings)
    if not source.path.is_relative_to(ctx.settings.uploads_dir.resolve()):
        return None
    last = ctx.catalog.last_saved_dataset(ctx.tenant)
    schema = ctx.catalog.get_dataset(ctx.tenant, last) if last is not None else None
    if schema is None or schema.source != str(source.path) or (name and name != schema.name):
        return None
    return schema if schema.fingerprint == source.fingerprint() else None


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
    if args.table:
        schema = infer_table(ctx.warehouse, args.table, name=args.name)
    elif (known_schema := already_inferred(ctx, args.path, args.name)) is not None:
        return known_schema
    else:
        known = ctx.catalog.list_datasets(ctx.tenant)
        schema = infer_file(
            args.path,
            ctx.settings,
            name=args.name,
            progress=ctx.progress,
            known=known,
            reference_values=reference_values(ctx),
        )
    ctx.catalog.save_dataset(ctx.tenant, schema)
    return schema


TOOL = Tool(name="infer_schema", fn=run, input_model=InferSchemaInput, output_model=DatasetSchema)
