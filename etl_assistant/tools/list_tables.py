"""The list_tables tool: the tables and views of a connection (or of the warehouse), per schema."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.pipelines.connections import resolve_connection, warehouse_connection
from etl_assistant.pipelines.introspect import list_tables
from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.warehouse.discovery import warehouse_tables


class ListTablesInput(BaseModel):
    connection: str | None = Field(default=None, description="A connection's name; omit for the warehouse.")
    schema_name: str | None = Field(default=None, description="Only this schema (PostgreSQL schema or "
                                                              "ClickHouse database).")


class TableEntry(BaseModel):
    schema_name: str | None = Field(description="Schema or database; None for SQLite.")
    name: str
    kind: str = Field(description="table or view")


class ListTablesOutput(BaseModel):
    connection: str
    kind: str
    tables: list[TableEntry]


def run(ctx: ToolContext, args: ListTablesInput) -> ListTablesOutput:
    """List the tables and views of a named database connection (or of the warehouse when no connection is
    given: this tenant's and those nobody loaded), per schema. Answers "what tables are in shop?"; profile
    one with infer_schema (connection + table)."""
    if args.connection:
        connection = resolve_connection(ctx, args.connection)
        refs = list_tables(connection, args.schema_name)
    else:  # the warehouse is shared: another tenant's tables stay out of sight
        connection, refs = warehouse_connection(ctx), warehouse_tables(ctx, args.schema_name)
    tables = [TableEntry(schema_name=t.schema, name=t.name, kind=t.kind) for t in refs]
    return ListTablesOutput(connection=connection.name, kind=connection.kind, tables=tables)


TOOL = Tool(name="list_tables", fn=run, input_model=ListTablesInput, output_model=ListTablesOutput)
