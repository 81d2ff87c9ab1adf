"""The pipelines tool: the tenant's pipelines with their schedule in words, next run and last status."""

from __future__ import annotations

from pydantic import BaseModel

from etl_assistant.pipelines.status import PipelineSummary, summarize
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools.base import Tool, ToolContext


class PipelinesInput(BaseModel):
    pass


class PipelinesOutput(BaseModel):
    pipelines: list[PipelineSummary]


def run(ctx: ToolContext, args: PipelinesInput) -> PipelinesOutput:
    """List the pipelines: source, target table, mode, schedule in words with its timezone, the next run,
    whether it is paused, and the last run's status (and error)."""
    store = PipelineStore(ctx.catalog)
    return PipelinesOutput(pipelines=[summarize(store, spec) for spec in store.list(ctx.tenant)])


TOOL = Tool(name="pipelines", fn=run, input_model=PipelinesInput, output_model=PipelinesOutput)
