"""The remove_connection tool: forget a stored connection (after the person approves)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.pipelines.connections import remove_connection
from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.tools.connections import ConnectionSummary, summary


class RemoveConnectionInput(BaseModel):
    name: str = Field(description="The connection's name (see `connections`).")


class RemoveConnectionOutput(BaseModel):
    removed: ConnectionSummary


def run(ctx: ToolContext, args: RemoveConnectionInput) -> RemoveConnectionOutput:
    """Remove a database connection this tenant added, after approval; pipelines that name it stop working
    until it is added again. Connections from ETLA_CONNECTIONS are the server's and cannot be removed here."""
    return RemoveConnectionOutput(removed=summary(remove_connection(ctx, args.name.strip())))


TOOL = Tool(name="remove_connection", fn=run, input_model=RemoveConnectionInput,
            output_model=RemoveConnectionOutput, read_only=False, needs_approval=True, destructive=True)
