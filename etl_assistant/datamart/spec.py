"""What a datamart is, independent of any engine: a source dataset, a time grain, dimensions and measures.

`design_datamart` produces one from words or takes it as structured input; `build.build_definition` renders
it for ClickHouse or PostgreSQL. Column names are the source dataset's identifiers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Grain = Literal["day", "week", "month"]
Aggregation = Literal["sum", "count", "avg", "min", "max", "count_distinct"]
Operator = Literal["=", "!=", ">", ">=", "<", "<="]


class Measure(BaseModel):
    name: str = Field(description="Output column name, e.g. revenue or order_count.")
    agg: Aggregation
    column: str | None = Field(default=None, description="Source column; omit only for count.")


class Filter(BaseModel):
    column: str
    op: Operator = "="
    value: str | int | float | bool


class DatamartSpec(BaseModel):
    """An aggregate over one source dataset: GROUP BY time bucket + dimensions, one column per measure."""

    name: str = Field(description="Datamart (target object) name.")
    dataset: str = Field(description="Source dataset registered by infer_schema.")
    grain: Grain | None = Field(
        default=None, description="Time bucket: day, week or month (none: no bucket)."
    )
    time_column: str | None = Field(
        default=None, description="Date/datetime column the bucket is taken from."
    )
    dimensions: list[str] = Field(default_factory=list)
    measures: list[Measure] = Field(min_length=1)
    filters: list[Filter] = Field(default_factory=list)
    with_view: bool = Field(default=False, description="Also create a plain view <name>_view for reading.")

    def key_columns(self) -> list[str]:
        """The GROUP BY output columns: the bucket (named after the grain) then the dimensions."""
        return ([self.grain] if self.grain else []) + self.dimensions

    def sums_only(self) -> bool:
        """Plain sums and counts can live in a SummingMergeTree; anything else needs aggregate states."""
        return all(m.agg in ("sum", "count") for m in self.measures)
