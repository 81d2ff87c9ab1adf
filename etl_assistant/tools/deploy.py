"""The deploy tool (chat): plan and apply in one call. It needs approval, so the graph pauses before it runs
and the person approves, edits or rejects the arguments; the plan summary comes back with the result."""

from __future__ import annotations

from pydantic import BaseModel

from etl_assistant.deploy.apply import ApplyResult, apply_plan
from etl_assistant.deploy.plan import make_plan
from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.tools.plan_deploy import DeployRequest


class DeployOutput(BaseModel):
    plan_id: str
    summary: list[str]
    result: ApplyResult


def run(ctx: ToolContext, args: DeployRequest) -> DeployOutput:
    """Deploy datasets (as warehouse tables) and datamarts: create or replace them from staging with a
    row-count check and an atomic swap, keeping the previous version for rollback. Needs the person's
    approval. Deploying what is already deployed changes nothing."""
    plan = make_plan(ctx, args.datasets, args.datamarts)
    result = apply_plan(ctx, plan.plan_id, approved_by=f"{ctx.tenant} (chat approval)")
    return DeployOutput(plan_id=plan.plan_id, summary=plan.summary(), result=result)


TOOL = Tool(
    name="deploy",
    fn=run,
    input_model=DeployRequest,
    output_model=DeployOutput,
    read_only=False,
    needs_approval=True,
    destructive=True,
)
