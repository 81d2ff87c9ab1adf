"""The run_pipeline tool: run a pipeline now, with its progress streamed to whoever asked."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.errors import WarehouseError
from etl_assistant.pipelines.runner import RunReport, run_pipeline
from etl_assistant.tools.base import Tool, ToolContext


class RunPipelineInput(BaseModel):
    name: str = Field(description="The pipeline's name (see the pipelines tool).")


def run(ctx: ToolContext, args: RunPipelineInput) -> RunReport:
    """Run a pipeline now: read the source's new rows (or all of them, by its mode), write them into the
    target table and move its cursor once they are committed. Transient failures (connection refused,
    timeouts, serialization failures) are retried with backoff. Returns rows read and written and the cursor
    before and after; a failed run says why and leaves the target whole."""
    report = run_pipeline(ctx, args.name, trigger="manual")
    assert report is not None  # only scheduled runs (with a slot) are ever skipped
    if report.status != "succeeded":
        raise WarehouseError(report.error or f"Run {report.run_id} of {args.name} failed.")
    return report


TOOL = Tool(name="run_pipeline", fn=run, input_model=RunPipelineInput, output_model=RunReport,
            read_only=False)
