"""Typed Arrow columns as the plain values an engine without Arrow support binds (SQLite)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl_assistant.schema.model import ColumnProfile


def _temporal_text(column: pa.ChunkedArray | pa.Array, profile: ColumnProfile) -> pa.Array:
    """ISO text: dates 'YYYY-MM-DD', timestamps 'YYYY-MM-DD HH:MM:SS[.ffffff][+zz:zz]', times 'HH:MM:SS'."""
    if pa.types.is_timestamp(column.type):
        if not profile.details.fraction_digits:
            column = pc.cast(column, pa.timestamp("s", column.type.tz))
        return pc.strftime(column, format="%Y-%m-%d %H:%M:%S" + ("%z" if column.type.tz else ""))
    return pc.cast(column, pa.string())


def python_columns(batch: pa.RecordBatch, profiles: list[ColumnProfile]) -> list[list[Any]]:
    """Python values per column: decimals as float (huge integers as text), temporals as ISO text."""
    columns: list[list[Any]] = []
    for column, profile in zip(batch.columns, profiles, strict=True):
        kind = column.type
        if pa.types.is_decimal(kind):
            target = pa.string() if profile.type == "integer" else pa.float64()
            columns.append(pc.cast(column, target).to_pylist())
        elif pa.types.is_temporal(kind):
            columns.append(_temporal_text(column, profile).to_pylist())
        else:
            columns.append(column.to_pylist())
    return columns
