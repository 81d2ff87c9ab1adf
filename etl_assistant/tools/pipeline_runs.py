"""The pipeline_runs tool: a pipeline's run history."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.pipelines.store import PipelineRun, PipelineStore
from etl_assistant.tools.base import Tool, ToolContext


class PipelineRunsInput(BaseModel):
    name: str = Field(description="The pipeline's name (see the pipelines tool).")
    limit: int = Field(default=20, ge=1, le=500, description="How many runs, newest first.")


class PipelineRunsOutput(BaseModel):
    pipeline: str
    runs: list[PipelineRun]


def run(ctx: ToolContext, args: PipelineRunsInput) -> PipelineRunsOutput:
    """A pipeline's runs, newest first: trigger, status, start and end, rows read and written, the cursor
    before and after, attempts, and the error of a failed run."""
    store = PipelineStore(ctx.catalog)
    spec = store.require(ctx.tenant, args.name)
    return PipelineRunsOutput(pipeline=spec.name, runs=store.runs(ctx.tenant, spec.name, args.limit))


TOOL = Tool(name="pipeline_runs", fn=run, input_model=PipelineRunsInput, output_model=PipelineRunsOutput)
