"""The rollback tool: put the previous deployed version of a table or datamart back in place."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.deploy.rollback import rollback
from etl_assistant.deploy.store import Deployment
from etl_assistant.tools.base import Tool, ToolContext


class RollbackInput(BaseModel):
    target: str = Field(description="A deployed table or datamart name.")
    approved_by: str | None = None


def run(ctx: ToolContext, args: RollbackInput) -> Deployment:
    """Roll a deployed table or datamart back to its previous version (swapped back atomically; recorded
    as a new version in its history, so a second rollback returns to where it started)."""
    return rollback(ctx, args.target, args.approved_by)


TOOL = Tool(
    name="rollback",
    fn=run,
    input_model=RollbackInput,
    output_model=Deployment,
    read_only=False,
    needs_approval=True,
    destructive=True,
)
