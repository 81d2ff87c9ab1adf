"""The parse of a question: what to compute, grouped by what, filtered how. JSON-able, so a chat layer
can pass it back as `previous` for the next question ("and last year?")."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

Aggregate = Literal["count", "count_distinct", "sum", "avg", "min", "max", "median", "share", "ratio"]
Bucket = Literal["day", "week", "month", "quarter", "year"]
Operator = Literal[
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "ge",
    "lt",
    "le",
    "between",
    "is_true",
    "is_false",
    "is_null",
    "not_null",
]


class ColumnRef(BaseModel):
    table: str
    column: str
    # The base table's key column through which `table` is joined, when several lead there
    # ("pickup_zone_id" for the pickup zone's name); None: the only way there.
    via: str | None = None

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


class Measure(BaseModel):
    """What is computed. `column` None means rows (COUNT(*)); share = percent of the total."""

    agg: Aggregate
    ref: ColumnRef | None = None
    share_of: Literal["count", "sum"] | None = None  # for agg="share": the share of row count or of ref's sum
    per: ColumnRef | None = None  # for agg="ratio": SUM(ref) / SUM(per) ("fare per mile")


class Dimension(BaseModel):
    ref: ColumnRef
    bucket: Bucket | None = None  # time bucket of a date/datetime column

    @property
    def alias(self) -> str:
        return self.bucket or self.ref.column


class Filter(BaseModel):
    ref: ColumnRef
    op: Operator
    values: list[str | float | int] = Field(default_factory=list)


class TimeRange(BaseModel):
    """[start, end) on the table's time column; `latest` = relative to the data's most recent date."""

    ref: ColumnRef | None = None
    start: date | None = None
    end: date | None = None  # exclusive
    latest: Literal["day", "week", "month", "quarter", "year"] | None = None
    label: str = ""


class Having(BaseModel):
    op: Literal["gt", "ge", "lt", "le", "eq"]
    value: float


class QueryParse(BaseModel):
    """One question, understood. Either a query (base + measure/columns) or a clarification."""

    question: str
    base: str | None = None  # the FROM table
    measure: Measure | None = None
    columns: list[ColumnRef] = Field(default_factory=list)  # listing mode (no aggregate): columns shown
    dimensions: list[Dimension] = Field(default_factory=list)
    filters: list[Filter] = Field(default_factory=list)
    share_condition: list[Filter] = Field(default_factory=list)  # "share of orders that were cancelled"
    time: TimeRange | None = None
    having: Having | None = None
    order: Literal["asc", "desc"] | None = None
    order_by: ColumnRef | None = None  # listing mode: the column ranked; aggregate mode: the measure
    limit: int | None = None
    clarify: str | None = None  # a question back to the person instead of running a guess
    confidence: float = 1.0
    notes: list[str] = Field(default_factory=list)  # why confidence dropped (for people and evals)

    def refs(self) -> list[ColumnRef]:
        """Every column the query reads."""
        refs = [f.ref for f in (*self.filters, *self.share_condition)] + [d.ref for d in self.dimensions]
        refs += list(self.columns)
        if self.measure and self.measure.ref:
            refs.append(self.measure.ref)
        if self.measure and self.measure.per:
            refs.append(self.measure.per)
        if self.time and self.time.ref:
            refs.append(self.time.ref)
        if self.order_by is not None:
            refs.append(self.order_by)
        return refs

    def tables(self) -> set[str]:
        return {r.table for r in self.refs()} | ({self.base} if self.base else set())
