"""The approve_action tool: run a call that was held for the person's approval (MCP's second call)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from etl_assistant.agent.held_actions import HeldActions
from etl_assistant.tools.base import Tool, ToolContext


class ApproveActionInput(BaseModel):
    approval_id: str = Field(description="The approval id the held call returned.")
    approved_by: str | None = Field(default=None, description="Who approved it, e.g. the IDE user's name.")


class ApproveActionOutput(BaseModel):
    action: str
    result: dict[str, Any]


def run(ctx: ToolContext, args: ApproveActionInput) -> ApproveActionOutput:
    """Run an action that was held for the person's approval (replacing a table, a rollback, a deploy,
    deleting something): call it only after showing the person the held action and hearing them approve.
    Each approval id runs once. Returns the action's own result."""
    from etl_assistant.tools import get_tool  # the registry imports this module

    name, arguments = HeldActions(ctx.catalog).take(ctx.tenant, args.approval_id)
    if args.approved_by:
        ctx.user = args.approved_by
    output = get_tool(name).run(ctx, arguments)
    return ApproveActionOutput(action=name, result=output.model_dump(mode="json"))


TOOL = Tool(
    name="approve_action",
    fn=run,
    input_model=ApproveActionInput,
    output_model=ApproveActionOutput,
    read_only=False,
    needs_approval=True,
    destructive=True,
    approval_by_plan=True,
)
