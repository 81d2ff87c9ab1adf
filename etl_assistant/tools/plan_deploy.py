"""The plan_deploy tool: what a deploy would change, stored under a plan id for apply_deploy."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.deploy.plan import DeployPlan, make_plan
from etl_assistant.tools.base import Tool, ToolContext


class DeployRequest(BaseModel):
    datasets: list[str] = Field(default_factory=list, description="Datasets to deploy as warehouse tables.")
    datamarts: list[str] = Field(
        default_factory=list, description="Datamarts (from design_datamart) to deploy."
    )


class PlannedStep(BaseModel):
    target: str
    kind: str
    action: str  # create, replace, unchanged
    reason: str
    ddl: str
    after_swap: list[str]
    rows_to_load: int | None
    existing_rows: int | None


class PlanOutput(BaseModel):
    plan_id: str
    dialect: str
    warehouse: str
    summary: list[str]
    steps: list[PlannedStep]
    changes: bool  # False: everything is already deployed as planned


def plan_output(plan: DeployPlan) -> PlanOutput:
    return PlanOutput(
        plan_id=plan.plan_id,
        dialect=plan.dialect,
        warehouse=plan.warehouse,
        summary=plan.summary(),
        steps=[PlannedStep(**step.model_dump(include=set(PlannedStep.model_fields))) for step in plan.steps],
        changes=any(step.action != "unchanged" for step in plan.steps),
    )


def run(ctx: ToolContext, args: DeployRequest) -> PlanOutput:
    """Plan a deploy of datasets (as tables) and datamarts to the warehouse without changing anything:
    what will be created or replaced, the DDL, rows to load, which existing objects change. Returns a
    plan_id; show the summary to the person and call apply_deploy(plan_id) only after they approve."""
    return plan_output(make_plan(ctx, args.datasets, args.datamarts))


TOOL = Tool(name="plan_deploy", fn=run, input_model=DeployRequest, output_model=PlanOutput, read_only=True)
