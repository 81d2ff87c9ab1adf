"""The resume_pipeline tool: let the scheduler start a paused pipeline again."""

from __future__ import annotations

from etl_assistant.pipelines.status import PipelineSummary, summarize
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.tools.pause_pipeline import PipelineName


def run(ctx: ToolContext, args: PipelineName) -> PipelineSummary:
    """Resume a paused pipeline: it runs again at its next scheduled time (times missed while paused are
    skipped, not caught up)."""
    store = PipelineStore(ctx.catalog)
    spec = store.set_paused(ctx.tenant, args.name, False)
    from etl_assistant.pipelines.scheduler import skip_missed_slots

    skip_missed_slots(store, spec)
    return summarize(store, spec)


TOOL = Tool(name="resume_pipeline", fn=run, input_model=PipelineName, output_model=PipelineSummary,
            read_only=False)
