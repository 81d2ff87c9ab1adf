"""Questions over files the person already gave: datasets not yet in the warehouse are loaded before asking.

A person who uploads orders.csv and asks "top 3 regions by revenue" means that file. On the embedded
warehouses (chDB, SQLite: local, private to this server) each registered file dataset without a table is
loaded on the way, with the same staging, count check and swap as `load_table`, and its progress reported.
A server warehouse (ClickHouse, PostgreSQL) is shared: nothing is created there unasked, and the answer says
which files are waiting to be loaded instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from etl_assistant.ddl import generate_ddl
from etl_assistant.errors import ToolError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ToolContext
from etl_assistant.tools.load_table import build_and_swap
from etl_assistant.warehouse.statements import check_table_name

EMBEDDED_SCHEMES = ("chdb", "sqlite")


@dataclass(frozen=True)
class LoadedOnTheWay:
    dataset: str
    table: str
    rows: int


def embedded(ctx: ToolContext) -> bool:
    """Whether the warehouse is the server's own (embedded chDB or a SQLite file), not a shared server."""
    return ctx.settings.resolved_warehouse_url.split("://", 1)[0].lower() in EMBEDDED_SCHEMES


def unloaded_datasets(ctx: ToolContext) -> list[DatasetSchema]:
    """The tenant's file datasets that no warehouse table was built from (and whose name is not a table)."""
    records = ctx.catalog.list_tables(ctx.tenant)
    built = {record.dataset for record in records} | {record.table for record in records}
    return [d for d in ctx.catalog.list_datasets(ctx.tenant)
            if d.format != "table" and d.name not in built and Path(d.source).is_file()]


def load_for_question(ctx: ToolContext) -> list[LoadedOnTheWay]:
    """Load every file dataset that has no table yet (embedded warehouses only) and say what was loaded.

    On a server warehouse with no tables at all, raise the one sentence that says what to do."""
    waiting = unloaded_datasets(ctx)
    if not waiting:
        return []
    if not embedded(ctx):
        if ctx.catalog.list_tables(ctx.tenant):
            return []  # answer from the tables that are there; the files wait for an explicit load
        names = ", ".join(d.name for d in waiting)
        verb = "is" if len(waiting) == 1 else "are"
        raise ToolError(f"{names} {verb} not in the warehouse yet; say 'load {waiting[0].name}' to load it "
                        "(a shared warehouse changes only when you say so), then ask again.")
    loaded = []
    for schema in waiting:
        final = generate_ddl(schema, ctx.warehouse.dialect, schema.name)
        table = check_table_name(final.table)
        if ctx.warehouse.table_exists(table):
            continue  # a table of that name is already there (made outside this server): never replaced here
        ctx.progress(0, None, f"loading {schema.name} into the warehouse first")
        rows, _ = build_and_swap(ctx, ctx.warehouse, schema, table)
        ctx.catalog.record_table(ctx.tenant, table, schema.name, ctx.warehouse.dialect, final.ddl, rows)
        loaded.append(LoadedOnTheWay(schema.name, table, rows))
    return loaded
