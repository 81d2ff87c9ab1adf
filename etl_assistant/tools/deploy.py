"""The deploy tool (chat): apply a plan in one call that needs the person's approval. The graph pauses
before it runs and the person approves, edits or rejects the arguments. Give the plan_id that plan_deploy
showed (the person approves exactly that plan), or names to plan and apply in one go."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.deploy.apply import ApplyResult, apply_plan
from etl_assistant.deploy.plan import DeployPlan, make_plan
from etl_assistant.deploy.store import DeployStore
from etl_assistant.errors import ToolError
from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.tools.plan_deploy import DeployRequest


class DeployInput(DeployRequest):
    plan_id: str | None = Field(default=None, description="A plan from plan_deploy (instead of names).")


class DeployOutput(BaseModel):
    plan_id: str
    summary: list[str]
    result: ApplyResult


def _stored_plan(ctx: ToolContext, plan_id: str) -> DeployPlan:
    stored = DeployStore(ctx.catalog).get_plan(ctx.tenant, plan_id)
    if stored is None:
        raise ToolError(f"Unknown plan {plan_id!r}; make one with plan_deploy first.")
    return DeployPlan.model_validate(stored.plan)


def run(ctx: ToolContext, args: DeployInput) -> DeployOutput:
    """Deploy datasets (as warehouse tables) and datamarts to the warehouse after the person approves. Give
    the plan_id from plan_deploy, or dataset/datamart names. Each object is built under a staging name,
    counted against its source and swapped in atomically, keeping the previous version for rollback.
    Deploying what is already deployed changes nothing."""
    if args.plan_id and (args.datasets or args.datamarts):
        raise ToolError("Give either a plan_id or names to deploy, not both.")
    plan = _stored_plan(ctx, args.plan_id) if args.plan_id else make_plan(ctx, args.datasets, args.datamarts)
    result = apply_plan(ctx, plan.plan_id)  # recorded as approved by the person who approved this call
    return DeployOutput(plan_id=plan.plan_id, summary=plan.summary(), result=result)


TOOL = Tool(
    name="deploy",
    fn=run,
    input_model=DeployInput,
    output_model=DeployOutput,
    read_only=False,
    needs_approval=True,
    destructive=True,
)
