"""Convert a column of source text into the Arrow type that its inferred logical type stands for."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from etl_assistant.errors import InputError
from etl_assistant.schema import temporal
from etl_assistant.schema.model import ColumnProfile
from etl_assistant.schema.types import FALSE_SPELLINGS, TRUE_SPELLINGS, integer_arrow_type

MAX_DECIMAL128_PRECISION = 38


def _integer_digits(col: ColumnProfile) -> int:
    texts = [t.lstrip("-") for t in (col.min, col.max) if t]
    return max((len(t) for t in texts), default=1)


def arrow_type(col: ColumnProfile) -> pa.DataType:
    """The Arrow type `iter_typed_batches` produces for a column."""
    details = col.details
    if col.type == "boolean":
        return pa.bool_()
    if col.type == "integer":
        bits = details.int_bits or 64
        if bits <= 64:
            return getattr(pa, f"{'int' if details.signed is not False else 'uint'}{bits}")()
        return integer_arrow_type(_integer_digits(col))
    if col.type == "float":
        return pa.float64()
    if col.type == "decimal":
        precision, scale = details.precision or MAX_DECIMAL128_PRECISION, details.scale or 0
        if precision <= MAX_DECIMAL128_PRECISION:
            return pa.decimal128(precision, scale)
        return pa.decimal256(precision, scale)
    if col.type in ("date", "datetime", "time"):
        return temporal.arrow_type(col.type, details.fraction_digits or 0, bool(details.timezone))
    return pa.string()


def _temporal(values: pa.Array, col: ColumnProfile) -> pa.Array:
    fmt = col.details.datetime_format or "%Y-%m-%d"
    parsed = temporal.parse(values, fmt, col.type)  # type: ignore[arg-type]
    parsed.valid &= pc.is_valid(values).to_numpy(zero_copy_only=False)
    return temporal.to_arrow(
        parsed,
        col.type,
        col.details.fraction_digits or 0,  # type: ignore[arg-type]
        bool(col.details.timezone),
    )


def _boolean(values: pa.Array, col: ColumnProfile) -> pa.Array:
    true_values = [v.lower() for v in col.details.true_values or []] or TRUE_SPELLINGS
    false_values = [v.lower() for v in col.details.false_values or []] or FALSE_SPELLINGS
    index = pc.index_in(pc.utf8_lower(values), value_set=pa.array(false_values + true_values))
    return pc.greater_equal(index, len(false_values))


def _first_failure(raw: pa.Array, typed: pa.Array) -> str | None:
    failed = pc.and_(pc.is_valid(raw), pc.is_null(typed))
    if not pc.any(failed).as_py():
        return None
    return str(pc.filter(raw, failed)[0].as_py())


def _first_uncastable(values: pa.Array, target: pa.DataType) -> str | None:
    """The first value a cast rejects (the error path only: one value at a time)."""
    for value in values.drop_null():
        try:
            pc.cast(pa.array([value.as_py()], pa.string()), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return str(value.as_py())
    return None


def to_arrow(raw: pa.Array, col: ColumnProfile) -> pa.Array:
    """`raw` (strings, nulls already normalised) as the column's Arrow type; a value that does not fit the
    inferred type raises InputError, since loading it would silently lose data."""
    if col.type in ("string", "uuid", "json"):
        return raw
    values = pc.utf8_trim_whitespace(raw)
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if col.type == "boolean":
        bad = _first_failure(values, typed := _boolean(values, col))
    elif col.type in ("date", "datetime", "time"):
        bad = _first_failure(values, typed := _temporal(values, col))
    else:
        try:
            typed, bad = pc.cast(values, arrow_type(col)), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = _first_uncastable(values, arrow_type(col)) or "?"
    if bad is not None:
        article = "an" if col.type[0] in "aeiou" else "a"
        raise InputError(
            f"Column {col.name!r} holds {bad!r}, which is not {article} {col.type} as inferred; the file "
            "changed since it was inferred, so inspect the file again, then load it."
        )
    return typed
