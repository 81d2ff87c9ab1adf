"""The connections tool: the named databases the tenant may read from, with passwords hidden."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.pipelines.connections import Connection, list_connections
from etl_assistant.tools.base import Tool, ToolContext


class ConnectionsInput(BaseModel):
    pass


class ConnectionSummary(BaseModel):
    name: str
    kind: str = Field(description="postgresql, clickhouse, chdb or sqlite")
    url: str = Field(description="The URL with its password replaced by ***.")
    origin: str = Field(description="settings (ETLA_CONNECTIONS, shared) or catalog (added by this tenant)")


class ConnectionsOutput(BaseModel):
    connections: list[ConnectionSummary]


def summary(connection: Connection) -> ConnectionSummary:
    """A connection as people may see it: the URL without its password."""
    return ConnectionSummary(name=connection.name, kind=connection.kind, url=connection.redacted,
                             origin=connection.origin)


def run(ctx: ToolContext, args: ConnectionsInput) -> ConnectionsOutput:
    """List the named database connections (from ETLA_CONNECTIONS and those added with add_connection): name,
    kind, URL with the password hidden, and where it is defined. Pipelines, list_tables and infer_schema
    name a connection instead of a URL."""
    return ConnectionsOutput(connections=[summary(c) for c in list_connections(ctx)])


TOOL = Tool(name="connections", fn=run, input_model=ConnectionsInput, output_model=ConnectionsOutput)
