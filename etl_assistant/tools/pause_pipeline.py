"""The pause_pipeline tool: stop a pipeline's scheduled runs (it can still be run by hand)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.pipelines.status import PipelineSummary, summarize
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools.base import Tool, ToolContext


class PipelineName(BaseModel):
    name: str = Field(description="The pipeline's name (see the pipelines tool).")


def run(ctx: ToolContext, args: PipelineName) -> PipelineSummary:
    """Pause a pipeline: the scheduler stops starting it until resume_pipeline; a run in progress finishes."""
    store = PipelineStore(ctx.catalog)
    return summarize(store, store.set_paused(ctx.tenant, args.name, True))


TOOL = Tool(name="pause_pipeline", fn=run, input_model=PipelineName, output_model=PipelineSummary,
            read_only=False)
