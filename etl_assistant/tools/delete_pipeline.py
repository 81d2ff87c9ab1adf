"""The delete_pipeline tool (needs approval): forget a pipeline, optionally dropping its target table."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.pipelines.locks import run_lock
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools.base import Tool, ToolContext


class DeletePipelineInput(BaseModel):
    name: str = Field(description="The pipeline's name (see the pipelines tool).")
    drop_table: bool = Field(default=False, description="Also drop the target table and its rows.")


class DeletePipelineOutput(BaseModel):
    name: str
    deleted: bool
    dropped: list[str]


def run(ctx: ToolContext, args: DeletePipelineInput) -> DeletePipelineOutput:
    """Delete a pipeline after the person approves: its schedule, run history, cursor and file manifest are
    forgotten (waits for no run: refused while one is in progress). With drop_table=true the target table
    (and the versions table behind a keyed ClickHouse target) is dropped too; otherwise the table stays."""
    from etl_assistant.deploy.swap import drop_object
    from etl_assistant.pipelines.target import versions_table

    store = PipelineStore(ctx.catalog)
    spec = store.require(ctx.tenant, args.name)
    dropped: list[str] = []
    with run_lock(ctx.settings, ctx.catalog, ctx.tenant, spec.name):
        deleted = store.delete(ctx.tenant, spec.name)
        if args.drop_table:
            warehouse = ctx.warehouse
            for name in (spec.target_table, versions_table(spec.target_table)):
                if name in warehouse.tables():
                    drop_object(warehouse, name)
                    dropped.append(name)
            ctx.catalog.delete_table(ctx.tenant, spec.target_table)
    return DeletePipelineOutput(name=spec.name, deleted=deleted, dropped=dropped)


TOOL = Tool(name="delete_pipeline", fn=run, input_model=DeletePipelineInput,
            output_model=DeletePipelineOutput, read_only=False, needs_approval=True, destructive=True)
