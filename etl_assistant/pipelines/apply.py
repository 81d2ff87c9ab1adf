"""Apply an approved pipeline step: create the target table, save the pipeline, run it once.

The target is created only when it does not exist; an existing table is reused only if the catalog recorded
it with exactly the DDL this plan designed (the same pipeline created again), so a pipeline never writes into
a table someone else made. The first run's outcome is returned; a failed first run leaves the pipeline saved
(it says why in its history) and the target empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etl_assistant.errors import ToolError
from etl_assistant.pipelines.plan import PipelinePlanInfo
from etl_assistant.pipelines.runner import RunReport, run_pipeline
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.warehouse.statements import check_table_name

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ToolContext


def target_ddl(info: PipelinePlanInfo) -> str:
    return ";\n".join(info.target_statements) + ";"


def create_target(ctx: ToolContext, info: PipelinePlanInfo) -> bool:
    """Create the target unless the same design already exists; returns whether it was created."""
    warehouse, spec = ctx.warehouse, info.spec
    table = check_table_name(spec.target_table)
    ddl = target_ddl(info)
    record = ctx.catalog.get_table(ctx.tenant, table)
    if warehouse.table_exists(table):
        if record is not None and record.ddl == ddl:
            return False
        raise ToolError(f"The table {table} already exists and was not made by this pipeline's design; pick "
                        "another target_table, or drop the table first.")
    created: list[str] = []
    try:
        for statement in info.target_statements:
            warehouse.execute(statement)
            created.append(statement)
    except BaseException:
        from etl_assistant.deploy.swap import drop_object
        from etl_assistant.pipelines.target import versions_table

        for name in (table, versions_table(table)):
            if name in warehouse.tables():
                drop_object(warehouse, name)
        raise
    ctx.catalog.record_table(ctx.tenant, table, None, warehouse.dialect, ddl, 0)
    return True


def apply_pipeline(ctx: ToolContext, info: PipelinePlanInfo, approved_by: str) -> RunReport:
    """Create the target (if needed), save the pipeline as approved, and run it once."""
    spec = info.spec.model_copy(update={"tenant": ctx.tenant, "approved_by": approved_by, "paused": False})
    store = PipelineStore(ctx.catalog)
    if create_target(ctx, info):
        store.reset_state(ctx.tenant, spec.name)  # a new table starts from the beginning of the source
    store.save(spec)
    from etl_assistant.pipelines.scheduler import skip_missed_slots

    skip_missed_slots(store, spec)  # this first run stands for the slot due now
    report = run_pipeline(ctx, spec.name, trigger="create")
    assert report is not None  # only scheduled runs (with a slot) are ever skipped
    return report
