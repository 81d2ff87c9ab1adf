"""Infer a dataset's schema from a file or a warehouse table: the entry points the tool calls."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlglot
from sqlglot import exp

from etl_assistant.config import Settings
from etl_assistant.errors import InputError
from etl_assistant.schema.layouts import sniff_layout
from etl_assistant.schema.model import ColumnProfile, DatasetSchema
from etl_assistant.schema.naming import dataset_name, to_identifier, unique_identifiers
from etl_assistant.schema.profile import ColumnStats
from etl_assistant.schema.profile import profile_source as run_profile
from etl_assistant.schema.readers import UNREADABLE, NotUtf8Error, unreadable, value_text
from etl_assistant.schema.relationships import ReferenceValues, file_values, find_relationships
from etl_assistant.schema.sniff import HEAD_BYTES, detect_encoding, first_non_utf8_chunk
from etl_assistant.schema.source import resolve_source

if TYPE_CHECKING:  # the warehouse package imports the tools, which import this module
    from etl_assistant.warehouse.base import Warehouse

Progress = Callable[[float, float | None, str], None]
TABLE_SAMPLE_ROWS = 100_000


def infer_file(
    path: str | os.PathLike[str],
    settings: Settings,
    *,
    name: str | None = None,
    progress: Progress | None = None,
    known: list[DatasetSchema] | None = None,
    reference_values: ReferenceValues = file_values,
) -> DatasetSchema:
    """Sniff, sample and profile a file in one streaming pass; find FK candidates among `known` datasets."""
    source = resolve_source(path, settings)
    try:
        sniffed = sniff_layout(source, settings.sample_rows)
    except UNREADABLE as exc:
        raise unreadable(source, "a data file", exc) from None
    layout = sniffed.layout
    source.limits.check_columns(source.path.name, len(layout.names))
    label = f"profiling {source.path.name}"

    def report(done: int, total: int) -> None:
        if progress:
            progress(done, total, label)

    warnings = []
    try:
        result = run_profile(layout, sniffed.sample, report, native_floats=sniffed.native_floats)
    except NotUtf8Error:
        # Invalid UTF-8 only past the sampled head/middle/tail: re-detect with the offending chunk.
        assert layout.dialect is not None
        bad_chunk = first_non_utf8_chunk(source)
        if bad_chunk is None:
            raise
        encoding, _ = detect_encoding(source, [source.head(HEAD_BYTES), bad_chunk])
        layout.dialect.encoding = encoding
        warnings.append(f"The file is not UTF-8 throughout; it was read as {encoding}.")
        result = run_profile(layout, sniffed.sample, report, native_floats=sniffed.native_floats)
    if result.row_count == 0:
        raise InputError(f"{source.path.name} has a header but no data rows; export it again with the data.")
    if result.ragged_rows:
        examples = "; ".join(repr(e) for e in result.ragged_examples[:2])
        warnings.append(
            f"{result.ragged_rows} rows have a different number of fields than the header and were "
            f"skipped (e.g. {examples})."
        )
    schema = DatasetSchema(
        name=to_identifier(name, fallback="dataset") if name else dataset_name(source.path.name),
        source=str(source.path),
        format=layout.format,
        compression=source.compression,
        dialect=layout.dialect,
        size_bytes=source.size_bytes,
        row_count=result.row_count,
        columns=result.columns,
        ragged_rows=result.ragged_rows,
        warnings=warnings,
        fingerprint=source.fingerprint(),
    )
    if known:
        schema.relationships = find_relationships(schema, layout, known, reference_values)
    return schema


def _rendered(query: exp.Select, dialect: str, table: str) -> str:
    """SQL text for `query`, round-tripped through sqlglot so only a plain SELECT reaches the engine."""
    sql = query.sql(dialect=dialect)
    if not isinstance(sqlglot.parse_one(sql, read=dialect), exp.Select):
        raise InputError(f"Table name {table!r} is not a plain table name; pass the table's name only.")
    return sql


def _select_sample(warehouse: Warehouse, table: str, limit: int) -> str:
    query = exp.select("*").from_(exp.to_table(table, dialect=warehouse.dialect)).limit(limit)
    return _rendered(query, warehouse.dialect, table)


def table_values(warehouse: Warehouse, table: str, column: str) -> pa.Array:
    """Distinct non-null values of a warehouse table's column, as text (for containment checks)."""
    query = (
        exp.select(exp.column(column, quoted=True))
        .distinct()
        .from_(exp.to_table(table, dialect=warehouse.dialect))
        .where(exp.column(column, quoted=True).is_(exp.null()).not_())
    )
    result = warehouse.query(_rendered(query, warehouse.dialect, table), limit=None)
    return pa.array([value_text(row[0]) for row in result.rows], type=pa.string()).drop_null()


def profile_columns(names: list[str], identifiers: list[str], texts: list[pa.Array]) -> list[ColumnProfile]:
    """Profile columns of text (one array per column) with the same statistics as a file's."""
    stats = [ColumnStats(name, ident) for name, ident in zip(names, identifiers, strict=True)]
    for column, values in zip(stats, texts, strict=True):
        column.add(values)
    return [column.profile() for column in stats]


def profile_rows(names: list[str], identifiers: list[str], rows: list[tuple]) -> list[ColumnProfile]:
    """Profile rows an engine returned (a table's sample) with the same statistics as a file's."""
    texts = [pa.array([value_text(row[index]) for row in rows], type=pa.string())
             for index in range(len(names))]
    return profile_columns(names, identifiers, texts)


def infer_table(
    warehouse: Warehouse, table: str, *, name: str | None = None, sample_rows: int = TABLE_SAMPLE_ROWS
) -> DatasetSchema:
    """Profile a warehouse table from a sample of its rows (row count exact; other counts from the sample)."""
    if table not in warehouse.tables():
        raise InputError(
            f"Table {table!r} does not exist in the warehouse; list the tables and pick one of them."
        )
    result = warehouse.query(_select_sample(warehouse, table, sample_rows), limit=sample_rows)
    total = warehouse.count_rows(table)
    sampled = len(result.rows) < total
    columns = profile_rows(result.columns, unique_identifiers(result.columns), result.rows)
    for profile in columns:
        profile.distinct_estimated = profile.distinct_estimated or sampled
        profile.unique = profile.unique and not sampled
    return DatasetSchema(
        name=to_identifier(name or table, fallback="dataset"),
        source=f"table:{table}",
        format="table",
        row_count=total,
        columns=columns,
        warnings=[f"Statistics come from the first {len(result.rows)} rows."] if sampled else [],
    )
