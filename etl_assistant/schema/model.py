"""The inferred schema of a dataset: what infer_schema returns and what DDL, load and the catalog consume."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

LogicalType = Literal[
    "boolean", "integer", "float", "decimal", "date", "datetime", "time", "uuid", "string", "json"
]
SourceFormat = Literal["csv", "json", "ndjson", "parquet", "xlsx", "table"]


class Dialect(BaseModel):
    """How a delimited text file is written (None for formats that carry their own structure)."""

    delimiter: str = ","
    quote: str | None = '"'
    escape: str | None = None  # None: quotes are escaped by doubling
    header: bool = True
    encoding: str = "utf-8"
    skip_rows: int = 0  # lines before the header (or the first data row)
    line_terminator: Literal["\n", "\r\n", "\r"] = "\n"
    bom: bool = False


class TypeDetails(BaseModel):
    """Details of a logical type that DDL needs to pick the exact engine type."""

    int_bits: int | None = None  # 8, 16, 32, 64, 128, 256: the smallest width holding min..max
    signed: bool | None = None
    precision: int | None = None  # decimal
    scale: int | None = None  # decimal
    datetime_format: str | None = None  # strptime format of the source text, e.g. "%d.%m.%Y"
    fraction_digits: int | None = None  # sub-second digits seen (datetime/time); 0 = whole seconds
    timezone: bool | None = None  # values carried an offset / zone
    max_length: int | None = None  # strings: longest value in characters
    true_values: list[str] | None = None  # booleans: the spellings seen for true
    false_values: list[str] | None = None


class ColumnProfile(BaseModel):
    name: str  # as written in the source
    identifier: str  # safe snake_case identifier, unique within the dataset
    type: LogicalType
    details: TypeDetails = Field(default_factory=TypeDetails)
    nullable: bool
    null_fraction: float
    distinct_count: int
    distinct_estimated: bool = False
    min: str | None = None  # canonical text (ISO for dates), None when all null
    max: str | None = None
    samples: list[str] = Field(default_factory=list)
    unique: bool = False  # no duplicates and no nulls: a primary-key candidate


class Relationship(BaseModel):
    """A foreign-key candidate: `column` of this dataset references `ref_column` of `ref_dataset`."""

    column: str  # identifier in this dataset
    ref_dataset: str
    ref_column: str
    containment: float  # share of this column's distinct values found in the referenced column
    name_similarity: float
    confidence: float
    declared: bool = False  # a foreign key the source database itself declares (not a guess from values)


class DatasetSchema(BaseModel):
    name: str  # safe identifier derived from the file or table name
    source: str  # absolute path, "table:<name>" (warehouse table), "connection:<name>/<schema.table>"
    format: SourceFormat
    compression: Literal["gzip"] | None = None
    dialect: Dialect | None = None  # only for csv-like sources
    size_bytes: int | None = None
    row_count: int
    row_count_estimated: bool = False
    columns: list[ColumnProfile]
    relationships: list[Relationship] = Field(default_factory=list)
    primary_key: list[str] = Field(default_factory=list)  # identifiers, from a database's own constraint
    ragged_rows: int = 0  # rows whose field count differs from the header
    warnings: list[str] = Field(default_factory=list)
    fingerprint: str | None = None  # size+mtime+head hash: detects a changed source (stale plans)

    def column(self, identifier: str) -> ColumnProfile:
        for col in self.columns:
            if col.identifier == identifier or col.name == identifier:
                return col
        raise KeyError(identifier)
