"""The infer_schema tool: profile a file, a warehouse table or a connection's table; register it as a
dataset."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel, Field

from etl_assistant.errors import EtlError, ToolError
from etl_assistant.pipelines.connections import resolve_connection
from etl_assistant.pipelines.introspect import CONNECTION_SOURCE, describe_table, distinct_values, find_table
from etl_assistant.schema.infer import infer_file, infer_table, table_values
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.schema.relationships import (
    ReferenceValues,
    file_values,
    find_references_to,
    find_relationships_of_table,
)
from etl_assistant.schema.source import resolve_source
from etl_assistant.tools.base import Tool, ToolContext


class InferSchemaInput(BaseModel):
    path: str | None = Field(
        default=None, description="Path of a CSV/TSV/JSON/NDJSON/Parquet/XLSX file (.gz too)."
    )
    table: str | None = Field(
        default=None,
        description="Name of an existing warehouse table, instead of a file; with `connection`, a table or "
        "view of that database (`orders` or `schema.orders`).",
    )
    name: str | None = Field(
        default=None, description="Dataset name to register (default: from the file name)."
    )
    connection: str | None = Field(
        default=None, description="A named database connection (see `connections`) whose `table` to profile."
    )


def reference_values(ctx: ToolContext) -> ReferenceValues:
    """Distinct values of a known dataset's column: from its file, else from its warehouse table."""

    def values(dataset: DatasetSchema, identifier: str) -> pa.Array | None:
        found = file_values(dataset, identifier)
        if found is not None:
            return found
        if dataset.source.startswith(CONNECTION_SOURCE):
            return connection_values(ctx, dataset, identifier)
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


def connection_values(ctx: ToolContext, dataset: DatasetSchema, identifier: str) -> pa.Array | None:
    """Distinct values of a connection table's column (bounded); None when they cannot be had."""
    connection_name, _, qualified = dataset.source.removeprefix(CONNECTION_SOURCE).partition("/")
    try:
        connection = resolve_connection(ctx, connection_name)
        column = dataset.column(identifier).name
        values = distinct_values(connection, find_table(connection, qualified), column)
    except EtlError:
        return None  # the connection is gone or unreachable: no evidence either way
    return None if values is None else pa.array(values, type=pa.string())


def infer_connection_table(ctx: ToolContext, connection_name: str, table: str,
                           name: str | None) -> DatasetSchema:
    """A connection's table as a dataset: declared types and keys, a bounded profile, declared foreign keys
    pointing at the datasets registered for the referenced tables (by the table's name when not yet)."""
    connection = resolve_connection(ctx, connection_name)
    ref = find_table(connection, table)
    prefix = f"{CONNECTION_SOURCE}{connection.name}/"
    registered = {d.source.removeprefix(prefix): d.name for d in ctx.catalog.list_datasets(ctx.tenant)
                  if d.source.startswith(prefix)}
    ctx.progress(0, None, f"sampling {connection.name}.{ref.qualified}")
    return describe_table(connection, ref, name=name, sample_limit=ctx.settings.sample_rows,
                          timeout_s=ctx.settings.query_timeout_s, dataset_names=registered)


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
    load_table. Give exactly one of `path` or `table`. With `connection` + `table` it profiles a table of that
    database instead: types, primary/unique keys and foreign keys as the database declares them, statistics
    from a bounded sample."""
    if bool(args.path) == bool(args.table):
        raise ToolError(
            "Give exactly one of `path` (a data file) or `table` (a warehouse table) to infer_schema."
        )
    if args.connection and not args.table:
        raise ToolError("With `connection`, give the `table` to profile (list_tables shows them).")
    if args.path and (known_schema := already_inferred(ctx, args.path, args.name)) is not None:
        return known_schema
    values = reference_values(ctx)
    known = ctx.catalog.list_datasets(ctx.tenant)
    if args.connection:
        schema = infer_connection_table(ctx, args.connection, args.table, args.name)
    elif args.table:
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
    dimensions) get those relationships; earlier guesses about it are replaced (a changed dataset is
    re-checked), while the foreign keys a database declares stay as they are."""
    found = find_references_to(schema, known, values)
    for other in known:
        if other.name == schema.name:
            continue
        kept = [r for r in other.relationships if r.ref_dataset != schema.name or r.declared]
        declared = {(r.column, r.ref_dataset) for r in kept}
        new = [r for r in found.get(other.name, []) if (r.column, r.ref_dataset) not in declared]
        if new or len(kept) != len(other.relationships):
            ctx.catalog.save_dataset(ctx.tenant, other.model_copy(update={"relationships": kept + new}))


TOOL = Tool(name="infer_schema", fn=run, input_model=InferSchemaInput, output_model=DatasetSchema)
