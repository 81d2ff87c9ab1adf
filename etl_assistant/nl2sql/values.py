"""The value index: distinct values of low-cardinality text columns, read from the warehouse once per table
schema version, so "europe", "Compelted" or "germany" can ground a filter on the value as stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from etl_assistant.errors import EtlError
from etl_assistant.nl2sql.cache import BoundedCache
from etl_assistant.nl2sql.schema_graph import CATEGORY_MAX_DISTINCT, SchemaGraph
from etl_assistant.nl2sql.text import lemma, words_of
from etl_assistant.warehouse.statements import render

if TYPE_CHECKING:  # warehouse.base imports tools.base, which loads the tool registry (and this module)
    from etl_assistant.warehouse.base import Warehouse


@dataclass(frozen=True)
class IndexedValue:
    table: str
    column: str
    value: str  # as stored
    words: tuple[str, ...]  # lowercase words of the value
    lemmas: tuple[str, ...]


_cache: BoundedCache[tuple[str, str, int, str], list[IndexedValue]] = BoundedCache(4096)  # one per column


def distinct_values_sql(table: str, column: str, dialect: str) -> str:
    col = exp.column(column, quoted=True)
    query = (
        exp.select(col)
        .distinct()
        .from_(exp.to_table(table, quoted=True))
        .where(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())))
        .limit(CATEGORY_MAX_DISTINCT + 1)
    )
    return render(query, dialect)


def value_index(graph: SchemaGraph, warehouse: Warehouse) -> list[IndexedValue]:
    """Every indexed value of every category column in `graph` (cached per warehouse, table, version)."""
    values: list[IndexedValue] = []
    for table in graph.tables.values():
        for column in [
            c
            for c in table.columns
            if c.type == "string"
            and c.role == "category"
            or (c.role == "text" and c.distinct is not None and c.distinct <= CATEGORY_MAX_DISTINCT)
        ]:
            key = (warehouse.url, table.name, table.version, column.name)
            cached = _cache.get(key)
            if cached is None:
                cached = _read_values(warehouse, table.name, column.name)
                _cache.put(key, cached)
            values.extend(cached)
    return values


def _read_values(warehouse: Warehouse, table: str, column: str) -> list[IndexedValue]:
    try:
        result = warehouse.query(
            distinct_values_sql(table, column, warehouse.dialect),
            limit=CATEGORY_MAX_DISTINCT + 1,
            timeout_s=10,
            read_only=True,
        )
    except EtlError:
        return []  # the column stays linkable by name; only its values are not grounded
    if result.truncated or len(result.rows) > CATEGORY_MAX_DISTINCT:
        return []  # too many values to be a category after all
    indexed = []
    for (raw,) in result.rows:
        text = str(raw).strip()
        words = tuple(w for w in words_of(text.replace("-", " ")) if w) if text else ()
        if words:
            indexed.append(IndexedValue(table, column, str(raw), words, tuple(lemma(w) for w in words)))
    return indexed
