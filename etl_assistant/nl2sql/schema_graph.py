"""What the parser may link to: the tenant's queryable tables, their columns with a role, and the join edges.

Learnt from the catalog (dataset profiles: logical types, distinct counts, relationships) and the warehouse
(which tables really exist, engine column types for tables without a profile) — never from per-dataset rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from etl_assistant.nl2sql.cache import BoundedCache
from etl_assistant.nl2sql.text import lemma, words_of
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ToolContext

Role = Literal["key", "measure", "time", "boolean", "category", "text"]
# Strings with at most this many distinct values are indexed as filter values ("Europe", "cancelled").
CATEGORY_MAX_DISTINCT = 1000
_NUMERIC = {"integer", "float", "decimal"}
_ENGINE_TYPES: tuple[tuple[str, str], ...] = (  # engine type text -> logical type, first match wins
    (r"bool", "boolean"),
    (r"decimal|numeric", "decimal"),
    (r"float|double|real", "float"),
    (r"int", "integer"),
    (r"datetime|timestamp", "datetime"),
    (r"date", "date"),
)


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str  # logical type (schema.model.LogicalType)
    role: Role
    distinct: int | None = None
    words: tuple[str, ...] = ()  # lemmas of the name: "order_date" -> ("order", "date")


@dataclass(frozen=True)
class Edge:
    """`table.column` references `ref_table.ref_column` (many-to-one)."""

    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass
class Table:
    name: str
    columns: list[Column]
    row_count: int = 0
    version: int = 0
    noun: str = ""  # lemma of the table name: "orders" -> "order"
    derived: bool = False  # a deployed datamart: aggregates of another table, not rows of its own

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def by_role(self, *roles: Role) -> list[Column]:
        return [c for c in self.columns if c.role in roles]

    @property
    def key(self) -> Column | None:
        """The row identifier: `<noun>_id` / `id`, else the first key column."""
        keys = self.by_role("key")
        preferred = [c for c in keys if c.name in (f"{self.noun}_id", "id", f"{self.noun}id")]
        return (preferred or keys or [None])[0]

    @property
    def label(self) -> Column | None:
        """The column that names a row for people ("name", "title"), else the key."""
        texts = [c for c in self.by_role("text", "category") if c.words and c.words[-1] in ("name", "title")]
        return texts[0] if texts else self.key

    @property
    def year_column(self) -> Column | None:
        """A year kept as a number ("published_year"): year ranges filter it when no date column exists."""
        years = [c for c in self.columns if c.type == "integer" and "year" in c.words]
        return years[0] if len(years) == 1 else None

    def part_column(self, unit: str) -> Column | None:
        """An integer column holding one part of a date ("month", "year_id"): grouping "by month" uses it."""
        parts = [c for c in self.columns if c.type == "integer" and c.words and c.words[0] == unit]
        return parts[0] if len(parts) == 1 else None

    @property
    def time_column(self) -> Column | None:
        """The column time filters and buckets use: dates first, then names with the table's noun."""
        times = self.by_role("time")
        return min(times, key=lambda c: (c.type != "date", self.noun not in c.words), default=None)


@dataclass
class SchemaGraph:
    tables: dict[str, Table] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def columns(self) -> Iterable[Column]:
        for table in self.tables.values():
            yield from table.columns

    def edge_between(self, table: str, other: str) -> Edge | None:
        """The many-to-one edge from `table` to `other` (a join that keeps one row per `table` row)."""
        return next((e for e in self.edges if e.table == table and e.ref_table == other), None)

    def reachable(self, base: str) -> dict[str, Edge]:
        """Tables joinable from `base` by following references (one hop or more), with the last edge."""
        found: dict[str, Edge] = {}
        frontier = [base]
        while frontier:
            current = frontier.pop()
            for edge in self.edges:
                if edge.table == current and edge.ref_table not in found and edge.ref_table != base:
                    found[edge.ref_table] = edge
                    frontier.append(edge.ref_table)
        return found

    def edges_to(self, base: str, target: str) -> list[Edge]:
        """Every direct edge from `base` to `target` (two for trips' pickup and dropoff zone)."""
        return [e for e in self.edges if e.table == base and e.ref_table == target]

    def join_path(self, base: str, target: str, via: str | None = None) -> list[Edge]:
        """Edges from `base` to `target`, in join order ([] when target is base); `via` names the first
        edge's column when several lead from `base`."""
        if via is not None:
            first = next((e for e in self.edges if e.table == base and e.column == via), None)
            if first is None:
                return []
            rest = [] if first.ref_table == target else self.join_path(first.ref_table, target)
            return [first, *rest] if first.ref_table == target or rest else []
        path: list[Edge] = []
        reach = self.reachable(base)
        while target != base and target in reach:
            edge = reach[target]
            path.insert(0, edge)
            target = edge.table
        return path

    def describe(self) -> str:
        return "; ".join(f"{t.name} ({', '.join(c.name for c in t.columns)})" for t in self.tables.values())


# Words that make a number an identifier or a code: counted or grouped, never summed or averaged.
CODE_WORDS = {
    *("id", "key", "code", "number", "no", "num", "nr", "zip", "zipcode", "postcode", "postal", "phone"),
    *("isbn", "sku", "ean", "upc", "fips", "iata", "icao"),
}
# Parts of a date stored as small integers ("hour" 0-23, "year" 2015): grouped and filtered, not summed.
TIME_PART_WORDS = {"hour", "minute", "second", "weekday", "dow", "day", "month", "quarter", "week", "year"}


def _role(name: str, logical: str, distinct: int | None, unique: bool, noun: str = "") -> Role:
    """The column's role from its profile and its name (see CODE_WORDS, TIME_PART_WORDS)."""
    words = words_of(name)
    if logical in ("date", "datetime"):
        return "time"
    if logical == "boolean":
        return "boolean"
    if logical in _NUMERIC:
        # A unique number is not a key by itself (a price list has unique prices); its name says so: a code
        # word, or the table's own row noun ("flight" in flights is the flight's number, not an amount).
        lemmas = [lemma(w) for w in words]
        if (words and words[-1] in CODE_WORDS) or name.endswith("id") or (logical == "integer" and (
            (noun and lemmas == [noun]) or any(w in CODE_WORDS for w in words)
        )):
            return "key"
        if logical == "integer" and words and words[-1] in TIME_PART_WORDS:  # "hour"; not "delay_minutes"
            return "category"
        return "measure"
    if logical == "string" and (distinct is None or distinct <= CATEGORY_MAX_DISTINCT) and not unique:
        return "category"
    return "text"


def _engine_logical(type_text: str) -> str:
    lowered = type_text.lower()
    return next((logical for pattern, logical in _ENGINE_TYPES if re.search(pattern, lowered)), "string")


def _table_from_profile(name: str, schema: DatasetSchema) -> Table:
    noun = _noun(name)
    columns = [
        Column(
            name,
            c.identifier,
            c.type,
            _role(c.identifier, c.type, c.distinct_count, c.unique, noun),
            c.distinct_count,
            tuple(lemma(w) for w in words_of(c.identifier)),
        )
        for c in schema.columns
    ]
    return Table(name, columns, schema.row_count, noun=noun)


def _table_from_engine(ctx: ToolContext, name: str) -> Table:
    columns = []
    for info in ctx.warehouse.columns(name):
        logical = _engine_logical(info.type)
        columns.append(
            Column(
                name,
                info.name,
                logical,
                _role(info.name, logical, None, False, lemma(name)),
                None,
                tuple(lemma(w) for w in words_of(info.name)),
            )
        )
    return Table(name, columns, noun=_noun(name))


_cache: BoundedCache[tuple, SchemaGraph] = BoundedCache(64)


def load_graph(ctx: ToolContext, allowed: set[str], only: Iterable[str] | None = None) -> SchemaGraph:
    """The `allowed` tables (optionally only `only`), cached until a table's schema version moves."""
    records = {r.table: r for r in ctx.catalog.list_tables(ctx.tenant)}
    names = sorted(allowed)
    if only:
        wanted = set(only)
        names = [n for n in names if n in wanted or (records.get(n) and records[n].dataset in wanted)]
    relationships = ctx.catalog.list_relationships(ctx.tenant)
    key = (
        ctx.warehouse.url,
        ctx.tenant,
        tuple((r.dataset, r.relationship.column, r.relationship.ref_dataset) for r in relationships),
        tuple(
            (
                n,
                records[n].version if n in records else 0,
                ctx.catalog.dataset_version(ctx.tenant, _dataset_of(n, records)),
            )
            for n in names
        ),
    )
    cached = _cache.get(key)
    if cached is not None:
        return cached
    graph = SchemaGraph()
    dataset_to_table: dict[str, str] = {}
    for name in names:
        dataset = _dataset_of(name, records)
        schema = ctx.catalog.get_dataset(ctx.tenant, dataset)
        table = _table_from_profile(name, schema) if schema else _table_from_engine(ctx, name)
        table.version = records[name].version if name in records else 0
        if name in records:
            table.row_count = records[name].row_count
            table.derived = records[name].dataset is None  # deploy records a datamart without a dataset
        graph.tables[name] = table
        dataset_to_table.setdefault(dataset, name)
    for record in relationships:
        rel = record.relationship
        source, target = dataset_to_table.get(record.dataset), dataset_to_table.get(rel.ref_dataset)
        if source and target and source != target:
            graph.edges.append(Edge(source, rel.column, target, rel.ref_column))
    _cache.put(key, graph)
    return graph


def _noun(table: str) -> str:
    """The row noun of a table, from its own name (`archive.orders` -> "order")."""
    return lemma(table.rsplit(".", 1)[-1])


def _dataset_of(table: str, records: dict) -> str:
    record = records.get(table)
    return record.dataset if record and record.dataset else table
