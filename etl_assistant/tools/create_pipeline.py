"""The create_pipeline tool: plan a pipeline (source -> warehouse table, mode, transforms, schedule) for
approval; apply_deploy (or deploy) with the returned plan_id creates it after the person approved."""

from __future__ import annotations

from pydantic import BaseModel

from etl_assistant.deploy.plan import describe_pipeline_step, make_pipeline_plan
from etl_assistant.pipelines.plan import PipelineRequest, plan_pipeline
from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.tools.base import Tool, ToolContext


class CreatePipelineOutput(BaseModel):
    plan_id: str
    summary: list[str]
    pipeline: PipelineSpec
    source: str
    mode: str
    mode_reason: str  # what the mode does, and why it was chosen when it was proposed
    schedule: str | None  # in words with its timezone
    next_runs: list[str]
    transforms: list[str]
    ddl: str
    notes: list[str]  # one sentence per design choice of the target table
    target_exists: bool


def run(ctx: ToolContext, args: PipelineRequest) -> CreatePipelineOutput:
    """Plan a pipeline that keeps a warehouse table in sync with a source: a table or read-only query of a
    named connection (PostgreSQL), a warehouse table, or files (a path, glob or folder, each new file loaded
    once). Proposes the mode from the source's profile when none is given (incremental by an updated_at-like
    cursor merged by key, upsert by key, full refresh, append) and says why in one line; reads a schedule in
    words or cron ("daily at 2 AM") and says it back with the next runs; shows the transforms and the target
    DDL. Changes nothing: show the summary, then call apply_deploy(plan_id) once the person approves; that
    creates the table, saves the pipeline and runs it once."""
    info, source = plan_pipeline(ctx, args)
    plan = make_pipeline_plan(ctx, info, source)
    return CreatePipelineOutput(
        plan_id=plan.plan_id, summary=[describe_pipeline_step(info)], pipeline=info.spec, source=info.source,
        mode=info.spec.mode, mode_reason=info.mode_reason, schedule=info.schedule, next_runs=info.next_runs,
        transforms=info.transforms, ddl=";\n".join(info.target_statements) + ";", notes=info.target_notes,
        target_exists=info.target_exists)


TOOL = Tool(name="create_pipeline", fn=run, input_model=PipelineRequest, output_model=CreatePipelineOutput,
            read_only=True)
