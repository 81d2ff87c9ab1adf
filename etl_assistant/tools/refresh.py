"""The refresh tool: pick up the warehouse's own tables as they are now (new, changed, dropped)."""

from __future__ import annotations

from pydantic import BaseModel

from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.warehouse.discovery import RefreshReport, refresh


class RefreshInput(BaseModel):
    pass


def run(ctx: ToolContext, args: RefreshInput) -> RefreshReport:
    """Re-read the warehouse's tables and views (its search path, or ETLA_DISCOVER_SCHEMAS) that the assistant
    did not create: register new ones with their keys, foreign keys and a bounded profile, re-profile those
    whose columns or keys changed, forget dropped ones. Questions (ask) see the result at once. Use after
    tables were created or altered outside the assistant."""
    return refresh(ctx)


TOOL = Tool(name="refresh", fn=run, input_model=RefreshInput, output_model=RefreshReport, read_only=False)
