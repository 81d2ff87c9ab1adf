"""`GET /v1/warehouse`: the tenant's warehouse tables and datamarts, for the page's sidebar.

Tables are the ones this server built (loads, deploys) with their row counts; datamarts are the designed
ones, marked deployed when their table is in the warehouse. Errors use the `/v1` shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from etl_assistant.channels.datasets import tool_context
from etl_assistant.channels.openai_compat import api_error
from etl_assistant.deploy.store import DeployStore
from etl_assistant.errors import EtlError
from etl_assistant.tools import ToolContext

router = APIRouter(prefix="/v1/warehouse", tags=["datasets"])
_ENGINES = {"clickhouse": "ClickHouse", "postgres": "PostgreSQL", "sqlite": "SQLite"}


def warehouse_view(ctx: ToolContext) -> dict[str, Any]:
    tables = ctx.catalog.list_tables(ctx.tenant)
    built = {t.table for t in tables}
    return {
        "tables": [{"table": t.table, "dataset": t.dataset, "engine": _ENGINES.get(t.dialect, t.dialect),
                    "rows": t.row_count, "version": t.version, "updated_at": t.updated_at.isoformat()}
                   for t in tables],
        "datamarts": [{"name": d.name, "dataset": d.dataset,
                       "deployed": d.name in built or ctx.warehouse.table_exists(d.name)}
                      for d in DeployStore(ctx.catalog).list_datamarts(ctx.tenant)],
    }


@router.get("")
async def get_warehouse(request: Request) -> Any:
    """The tenant's tables (engine, rows) and datamarts (deployed or only designed)."""
    try:
        return await run_in_threadpool(warehouse_view, tool_context(request))
    except EtlError as exc:
        return api_error(503, str(exc), "server_error")
