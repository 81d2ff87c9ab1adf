"""The add_connection tool: remember a database under a name, after checking that it answers."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.connections import (
    Connection,
    add_connection,
    check_name,
    name_from_url,
    url_kind,
)
from etl_assistant.pipelines.introspect import list_tables
from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.tools.connections import ConnectionSummary, summary


class AddConnectionInput(BaseModel):
    url: str = Field(description="postgresql://user:password@host:5432/db, clickhouse://user:password@host:8123"
                                 "/db, chdb:///abs/path or sqlite:///path.db")
    name: str | None = Field(default=None, description="Name to use (default: the database's name).")


class AddConnectionOutput(BaseModel):
    connection: ConnectionSummary
    created: bool = Field(description="False when a connection of that name was replaced.")
    tables: int = Field(description="Tables and views the connection shows.")
    schemas: list[str] = Field(description="Schemas (databases) holding them.")


def run(ctx: ToolContext, args: AddConnectionInput) -> AddConnectionOutput:
    """Add a named database connection for this tenant (stored in the catalog; the password is never shown
    again, only the name): PostgreSQL, ClickHouse, chDB or SQLite. The database is contacted first and its
    tables counted; an unreachable one is not saved. Use the name with list_tables, infer_schema and
    pipelines."""
    url = args.url.strip()
    name = check_name(args.name or name_from_url(url))
    probe = Connection(name, url_kind(url), secret=SecretStr(url))
    try:
        tables = list_tables(probe)
    except WarehouseError as exc:
        raise ToolError(f"{exc} Nothing was saved.") from None
    connection, created = add_connection(ctx, name, url)
    schemas = sorted({t.schema for t in tables if t.schema})
    return AddConnectionOutput(connection=summary(connection), created=created, tables=len(tables),
                               schemas=schemas)


TOOL = Tool(name="add_connection", fn=run, input_model=AddConnectionInput, output_model=AddConnectionOutput,
            read_only=False)
