"""Where should a dataset live? ClickHouse for append-mostly analytics, PostgreSQL for keyed, updated rows.

The evidence is read off the profile and weighed; the reason cites it (row count, time column, cardinalities,
update pattern) so the person can disagree with a fact rather than with a verdict.
"""

from __future__ import annotations

import re

from etl_assistant.ddl import layout
from etl_assistant.ddl.result import Recommendation
from etl_assistant.schema.model import DatasetSchema

ANALYTICS_MIN_ROWS = 1_000_000
TRANSACTIONAL_MAX_ROWS = 100_000
UPDATE_HINTS = re.compile(r"(updated|modified|changed|last_modified|version)")
STATUS_HINTS = re.compile(r"(status|state|stage|is_active|active)")
# Text columns this distinct (share of rows) are names, emails, addresses: entity attributes, not dimensions.
ENTITY_TEXT_MIN_SHARE = 0.5


def recommend(schema: DatasetSchema) -> Recommendation:
    rows = schema.row_count
    time_col = layout.main_time_column(schema)
    dimensions = [c.identifier for c in schema.columns if layout.is_dimension(c, rows)]
    measures = [c.identifier for c in schema.columns
                if c.type in ("float", "decimal") or (c.type == "integer" and not c.unique
                                                      and not layout.ID_LIKE.search(c.identifier.lower()))]
    key = layout.primary_key(schema).columns
    updated = [c.identifier for c in schema.columns if c.type in ("date", "datetime")
               and UPDATE_HINTS.search(c.identifier.lower())]
    statuses = [c.identifier for c in schema.columns if STATUS_HINTS.search(c.identifier.lower())]
    entity_text = [c.identifier for c in schema.columns if c.type == "string" and rows
                   and c.distinct_count >= ENTITY_TEXT_MIN_SHARE * rows]

    analytics = (2 if rows >= ANALYTICS_MIN_ROWS else 0) + (1 if time_col and not updated else 0) \
        + (1 if len(dimensions) >= 2 else 0) + (1 if measures else 0)
    transactional = (1 if key else 0) + (1 if rows <= TRANSACTIONAL_MAX_ROWS else 0) + (2 if updated else 0) \
        + (1 if statuses else 0) + (1 if len(entity_text) >= 2 else 0)

    if transactional > analytics:
        facts = [f"{rows:,} rows"]
        if key:
            facts.append(f"a unique key {key[0]}")
        if updated:
            facts.append(f"an {updated[0]} column suggesting rows are updated in place")
        if statuses:
            facts.append(f"status-like columns ({', '.join(statuses)})")
        if entity_text:
            facts.append(f"{len(entity_text)} high-cardinality text columns ({', '.join(entity_text[:3])})")
        return Recommendation(dialect="postgres", reason=(
            f"PostgreSQL: {schema.name} looks like keyed, transactional data: {_join(facts)}. "
            f"A row store with a primary key, constraints and indexes serves lookups and updates of single "
            f"rows best; ClickHouse is built for scanning and aggregating large append-only tables."))

    facts = [f"{rows:,} rows"]
    if time_col:
        facts.append(f"a time column {time_col.identifier}")
    if dimensions:
        facts.append(f"{len(dimensions)} low-cardinality dimensions ({', '.join(dimensions[:4])})")
    if measures:
        facts.append(f"numeric measures ({', '.join(measures[:4])})")
    if not updated:
        facts.append("no updated_at-like column (append-mostly)")
    return Recommendation(dialect="clickhouse", reason=(
        f"ClickHouse: {schema.name} looks like append-mostly analytics data: {_join(facts)}. "
        f"Columnar MergeTree storage sorted by its filter and time columns scans and aggregates this "
        f"fastest, and it runs embedded (chDB) without a server."))


def _join(facts: list[str]) -> str:
    return facts[0] if len(facts) == 1 else f"{', '.join(facts[:-1])} and {facts[-1]}"
