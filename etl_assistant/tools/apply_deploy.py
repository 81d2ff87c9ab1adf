"""The apply_deploy tool: apply a plan made by plan_deploy (MCP's second call, after the person approved)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.deploy.apply import ApplyResult, apply_plan
from etl_assistant.tools.base import Tool, ToolContext


class ApplyDeployInput(BaseModel):
    plan_id: str = Field(description="The plan_id returned by plan_deploy.")
    approved_by: str | None = Field(
        default=None,
        description="Who approved the plan, e.g. the IDE user's name (recorded in the deployment history).",
    )


def run(ctx: ToolContext, args: ApplyDeployInput) -> ApplyResult:
    """Build a planned deploy in the warehouse after the person approves it: each object under a staging
    name, bulk-loaded, row counts checked, swapped in atomically (the old version is kept for rollback) and
    recorded in the deployment history. Give the plan_id from plan_deploy or create_pipeline. Refused if a
    source changed since planning. Applying the same plan again changes nothing."""
    return apply_plan(ctx, args.plan_id, args.approved_by)


TOOL = Tool(
    name="apply_deploy",
    fn=run,
    input_model=ApplyDeployInput,
    output_model=ApplyResult,
    read_only=False,
    needs_approval=True,
    destructive=True,
    approval_by_plan=True,
)
