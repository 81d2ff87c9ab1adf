"""Table-level design decisions read off a profiled schema: time column, sort key, partitions, primary key.

Each decision returns what was chosen plus one sentence saying why, citing the evidence (row counts,
cardinalities, time span), so the explanation never drifts from the rule that made the choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from etl_assistant.ddl.targets import LOW_CARDINALITY_MAX_DISTINCT, is_low_cardinality
from etl_assistant.schema.model import ColumnProfile, DatasetSchema

# Partitioning is for data management, not speed: only big tables spanning a few months earn it.
PARTITION_MIN_ROWS = 10_000_000
PARTITION_MIN_MONTHS = 4
# ClickHouse sort keys: 4-5 columns at most, so at most 3 filter columns before the time column.
MAX_SORT_DIMENSIONS = 3
MAX_SORT_COLUMNS = 4
DIMENSION_MIN_REPEATS = 10

TIME_HINTS = re.compile(r"(event|created|occurred|order|sent|logged|time|^ts$|_ts$|_at$|date|day)")
MUTATION_HINTS = re.compile(r"(updated|modified|changed|deleted|last_|birth|dob|expire)")
ID_LIKE = re.compile(r"(^id$|_id$|_key$|_uuid$|^uuid$|^key$|_code$|^code$)")


@dataclass(frozen=True)
class Choice:
    columns: list[str]
    reason: str


@dataclass(frozen=True)
class PartitionPlan:
    column: str
    grain: Literal["month", "year"]
    ranges: list[tuple[date, date]]  # [start, end) per partition, covering min..max of the column
    reason: str


def span(col: ColumnProfile) -> tuple[date, date] | None:
    """First and last day seen in a date/datetime column, or None when unknown."""
    if not (col.min and col.max):
        return None
    try:
        return date.fromisoformat(col.min[:10]), date.fromisoformat(col.max[:10])
    except ValueError:
        return None


def main_time_column(schema: DatasetSchema) -> ColumnProfile | None:
    """The column rows arrive along: a non-null date/datetime, event-like names before updated_at-like."""
    candidates = [c for c in schema.columns if c.type in ("date", "datetime") and not c.nullable and span(c)]
    if not candidates:
        return None

    def rank(col: ColumnProfile) -> tuple[int, int, int, int]:
        name = col.identifier.lower()
        return (0 if MUTATION_HINTS.search(name) else 1, 1 if TIME_HINTS.search(name) else 0,
                1 if col.type == "datetime" else 0, col.distinct_count)

    return max(candidates, key=rank)


def is_dimension(col: ColumnProfile, row_count: int) -> bool:
    """A non-null column people filter on: text or an id-like integer (store_id) whose values each repeat
    ~10+ times, so filtering on one value skips most rows (an email column is an attribute, not a filter)."""
    if col.nullable or col.distinct_count < 2 or col.distinct_count * DIMENSION_MIN_REPEATS > row_count:
        return False
    if is_low_cardinality(col, row_count):
        return True
    return (col.type == "integer" and bool(ID_LIKE.search(col.identifier.lower()))
            and col.distinct_count < LOW_CARDINALITY_MAX_DISTINCT)


def sort_key(schema: DatasetSchema, time_col: ColumnProfile | None) -> Choice:
    """ClickHouse ORDER BY: filter columns by ascending cardinality, then the time column; an id only as a
    last resort."""
    dimensions = sorted((c for c in schema.columns if is_dimension(c, schema.row_count)),
                        key=lambda c: c.distinct_count)
    room = MAX_SORT_DIMENSIONS if time_col else MAX_SORT_COLUMNS
    dimensions = dimensions[:room]
    names = [c.identifier for c in dimensions] + ([time_col.identifier] if time_col else [])
    if dimensions:
        cards = ", ".join(f"{c.identifier} {c.distinct_count}" for c in dimensions)
        tail = f", then the main time column {time_col.identifier}" if time_col else ""
        return Choice(names, f"ORDER BY ({', '.join(names)}): low-cardinality filter columns first in "
                             f"ascending cardinality ({cards}){tail}, so filtered scans skip most granules.")
    if time_col:
        return Choice(names, f"ORDER BY {time_col.identifier}: no repeating filter column was found, and "
                             f"{time_col.identifier} is the time column rows arrive along.")
    key = primary_key(schema)
    if key.columns:
        return Choice(key.columns, f"ORDER BY {key.columns[0]}: there is no time column or repeating filter "
                                   f"column, so the unique id makes point lookups fast.")
    return Choice([], "ORDER BY tuple(): no time column, filter column or unique id was found, so rows stay "
                      "in insertion order.")


def partition_plan(schema: DatasetSchema, time_col: ColumnProfile | None,
                   max_partitions: int) -> Choice | PartitionPlan:
    """Monthly (or yearly) partitions only when volume and time span justify them, else a Choice: why not."""
    bounds = span(time_col) if time_col else None
    if time_col is None or bounds is None:
        return Choice([], "No partitioning: there is no non-null time column to partition by.")
    first, last = bounds
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if schema.row_count < PARTITION_MIN_ROWS:
        return Choice([], f"No partitioning: {schema.row_count:,} rows is below the ~{PARTITION_MIN_ROWS:,} "
                          f"where partitions pay off; they are for data management, not speed.")
    if months < PARTITION_MIN_MONTHS:
        return Choice([], f"No partitioning: {time_col.identifier} spans only {months} month(s), fewer than "
                          f"the {PARTITION_MIN_MONTHS} that make dropping old months worthwhile.")
    if months <= max_partitions:
        ranges = [(_month(first, i), _month(first, i + 1)) for i in range(months)]
        grain: Literal["month", "year"] = "month"
    elif last.year - first.year + 1 <= max_partitions:
        ranges = [(date(y, 1, 1), date(y + 1, 1, 1)) for y in range(first.year, last.year + 1)]
        grain = "year"
    else:
        return Choice([], f"No partitioning: {time_col.identifier} spans {months} months, more than "
                          f"{max_partitions} yearly partitions.")
    return PartitionPlan(time_col.identifier, grain, ranges,
                         f"PARTITION BY {grain} of {time_col.identifier}: {schema.row_count:,} rows over "
                         f"{months} months gives {len(ranges)} partitions, coarse enough to stay under "
                         f"{max_partitions} and fine enough to drop or rebuild old data by {grain}.")


def _month(start: date, offset: int) -> date:
    index = start.year * 12 + start.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def primary_key(schema: DatasetSchema) -> Choice:
    """A unique, non-null, id-like column (the table's own id first, integers and UUIDs before text)."""
    singular = schema.name.removesuffix("s")
    own_ids = {"id", f"{schema.name}_id", f"{singular}_id", f"{singular}_uuid", f"{singular}_key"}
    candidates = [c for c in schema.columns if c.unique and not c.nullable
                  and c.type in ("integer", "uuid", "string") and ID_LIKE.search(c.identifier.lower())]
    if not candidates:
        return Choice([], "No primary key: no column is unique, non-null and id-like.")

    def rank(col: ColumnProfile) -> tuple[int, int]:
        return (1 if col.identifier.lower() in own_ids else 0, 1 if col.type in ("integer", "uuid") else 0)

    best = max(candidates, key=rank)  # max keeps the first of equals: column order breaks ties
    return Choice([best.identifier], f"PRIMARY KEY ({best.identifier}): unique and non-null in all "
                                     f"{schema.row_count:,} rows, with an id-like name.")


def foreign_key_columns(schema: DatasetSchema) -> list[str]:
    """Columns referencing another dataset (relationship candidates), each once, in schema order."""
    referencing = {rel.column for rel in schema.relationships}
    return [c.identifier for c in schema.columns if c.identifier in referencing]
