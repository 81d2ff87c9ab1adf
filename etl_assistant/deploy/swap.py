"""Warehouse moves of a deploy: find objects, clean staging leftovers, swap a staged object in while keeping
the replaced one for rollback, and swap a kept version back.

ClickHouse swaps with `EXCHANGE TABLES` (atomic). PostgreSQL renames inside one transaction: the statements
are sent as one string, which psycopg runs inside the adapter's open transaction and commits together.
A datamart is a table on ClickHouse and a materialized view on PostgreSQL; both rename with ALTER TABLE.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlglot import exp

from etl_assistant.errors import ToolError
from etl_assistant.warehouse.statements import (
    clickhouse_exchange,
    clickhouse_rename,
    drop_table,
    rename_table,
    render,
    table,
)

if TYPE_CHECKING:  # warehouse.base imports tools.base, which loads the tool registry
    from etl_assistant.warehouse.base import Warehouse

SUPPORTED = ("clickhouse", "postgres")


def check_dialect(warehouse: Warehouse) -> None:
    if warehouse.dialect not in SUPPORTED:
        raise ToolError(
            f"Deploys target ClickHouse or PostgreSQL, and the warehouse is {warehouse.dialect}; set "
            "ETLA_WAREHOUSE_URL to chdb://, clickhouse:// or postgresql://."
        )


def staging_prefix(target: str) -> str:
    """Names of staging objects of `target` start with this (see warehouse.statements.staging_name)."""
    return f"{target[:40]}__staging_"


def previous_name(target: str, version: int) -> str:
    """Where version `version` of `target` is kept after a newer one replaced it."""
    return f"{target[:40]}__prev_{version}"


def materialized_views(warehouse: Warehouse) -> set[str]:
    """PostgreSQL materialized views of the current schema (ClickHouse lists every object in tables())."""
    if warehouse.dialect != "postgres":
        return set()
    query = (
        exp.select("matviewname")
        .from_("pg_matviews")
        .where(exp.column("schemaname").eq(exp.func("current_schema")))
    )
    return {row[0] for row in warehouse.query(render(query, "postgres")).rows}


def object_names(warehouse: Warehouse) -> set[str]:
    return set(warehouse.tables()) | materialized_views(warehouse)


def drop_object(warehouse: Warehouse, name: str) -> None:
    """Drop a table, or on PostgreSQL a materialized view, named `name` if it exists."""
    if name in materialized_views(warehouse):
        statement = exp.Drop(tables=[table(name)], kind="VIEW", exists=True, materialized=True)
        warehouse.execute(render(statement, warehouse.dialect))
    else:
        warehouse.execute(drop_table(name, warehouse.dialect))


def clean_staging(warehouse: Warehouse, target: str) -> list[str]:
    """Drop what an interrupted deploy of `target` left behind; returns the names dropped."""
    leftovers = sorted(n for n in object_names(warehouse) if n.startswith(staging_prefix(target)))
    for name in leftovers:
        drop_object(warehouse, name)
    return leftovers


def _renames_in_one_transaction(warehouse: Warehouse, pairs: list[tuple[str, str]]) -> None:
    warehouse.execute("; ".join(rename_table(old, new, "postgres") for old, new in pairs))


def swap_in(warehouse: Warehouse, staging: str, target: str, keep_as: str) -> bool:
    """Put `staging` in place of `target`; the replaced object (if any) is renamed to `keep_as`.
    Returns whether there was one to keep."""
    names = object_names(warehouse)
    exists = target in names
    if exists and keep_as in names:
        drop_object(warehouse, keep_as)
    if warehouse.dialect == "clickhouse":
        if not exists:
            warehouse.execute(clickhouse_rename(staging, target))
            return False
        warehouse.execute(clickhouse_exchange(staging, target))
        warehouse.execute(clickhouse_rename(staging, keep_as))
        return True
    _renames_in_one_transaction(
        warehouse, [(target, keep_as), (staging, target)] if exists else [(staging, target)]
    )
    return exists


def swap_back(warehouse: Warehouse, kept: str, target: str) -> None:
    """Exchange `target` with the kept version: afterwards `kept` holds what `target` held."""
    names = object_names(warehouse)
    for name in (kept, target):
        if name not in names:
            raise ToolError(
                f"{name} no longer exists in the warehouse, so {target} cannot be rolled back; "
                "deploy it again instead."
            )
    if warehouse.dialect == "clickhouse":
        warehouse.execute(clickhouse_exchange(kept, target))
        return
    spare = f"{target[:40]}__swap_{secrets.token_hex(4)}"
    _renames_in_one_transaction(warehouse, [(target, spare), (kept, target), (spare, kept)])
