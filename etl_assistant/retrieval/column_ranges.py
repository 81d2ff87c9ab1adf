"""Min and max of time and measure columns, shown in the LLM prompt beside category values.

A model that sees `order_date: 2023-01-01 .. 2024-12-27` writes "last month" against the data it has and
picks sensible thresholds for amounts. One aggregate query per table, cached per schema version and row count.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sqlglot import exp

from etl_assistant.errors import EtlError
from etl_assistant.nl2sql.schema_graph import SchemaGraph, Table
from etl_assistant.tools.run_query import jsonable
from etl_assistant.warehouse.statements import render

if TYPE_CHECKING:
    from etl_assistant.warehouse.base import Warehouse

RANGED_ROLES = ("time", "measure")

_lock = threading.Lock()
_cache: dict[tuple[str, str, int, int], dict[str, tuple[str, str]]] = {}


def column_ranges(graph: SchemaGraph, names: list[str], warehouse: Warehouse) -> dict[tuple[str, str], str]:
    """(table, column) -> "min .. max" for the time and measure columns of the tables `names`."""
    ranges: dict[tuple[str, str], str] = {}
    for name in names:
        table = graph.tables[name]
        key = (warehouse.url, name, table.version, table.row_count)
        with _lock:
            cached = _cache.get(key)
        if cached is None:
            cached = _read_ranges(warehouse, table)
            with _lock:
                _cache[key] = cached
        ranges.update({(name, column): f"{low} .. {high}" for column, (low, high) in cached.items()})
    return ranges


def _read_ranges(warehouse: Warehouse, table: Table) -> dict[str, tuple[str, str]]:
    columns = [c.name for c in table.by_role(*RANGED_ROLES)]
    if not columns:
        return {}
    picks = []
    for name in columns:
        picks += [exp.Min(this=exp.column(name, quoted=True)), exp.Max(this=exp.column(name, quoted=True))]
    query = exp.select(*picks).from_(exp.to_table(table.name, quoted=True))
    try:
        result = warehouse.query(render(query, warehouse.dialect), limit=1, timeout_s=10, read_only=True)
    except EtlError:
        return {}  # the prompt goes without ranges; the columns are still listed
    if not result.rows:
        return {}
    row = [jsonable(v) for v in result.rows[0]]
    return {
        name: (str(row[2 * i]), str(row[2 * i + 1]))
        for i, name in enumerate(columns)
        if row[2 * i] is not None
    }
