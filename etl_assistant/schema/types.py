"""Value classification: a strict-first type lattice tested on whole Arrow arrays at once.

A column starts at the strictest type its sample accepts. Every later batch is checked against that type;
when a batch does not fit, the column moves up its chain of supersets (integer -> decimal -> string,
date -> datetime -> string, ...), so values verified earlier stay valid and the final type accepts every
value in the file. Text that merely looks numeric with leading zeros ("007") or a plus sign (phone numbers)
stays a string.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_assistant.schema import temporal

# The lattice's working kinds; "decimal" covers fractional numbers until the end of the pass decides
# between an exact decimal and a float (see `numeric_kind`).
Kind = Literal["boolean", "integer", "decimal", "date", "datetime", "time", "uuid", "json", "string"]

NULL_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "Null", "None", "none", "nil", "#N/A"]
TRUE_SPELLINGS = ["true", "t", "yes", "y"]
FALSE_SPELLINGS = ["false", "f", "no", "n"]

INTEGER_RE = r"^-?(0|[1-9][0-9]*)$"
DECIMAL_RE = r"^-?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"
UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
JSON_SHAPE_RE = r"(?s)^(\{.*\}|\[.*\])$"
MAX_INTEGER_DIGITS = 76  # Int256 / decimal256(76, 0); longer digit runs are strings
JSON_VALIDATE_LIMIT = 1000  # values json.loads-checked when a sample is classified

# Superset chains: a kind may only widen to a kind that accepts everything it accepted.
WIDER: dict[Kind, list[Kind]] = {
    "boolean": ["string"],
    "integer": ["decimal", "string"],
    "decimal": ["string"],
    "date": ["datetime", "string"],
    "datetime": ["string"],
    "time": ["string"],
    "uuid": ["string"],
    "json": ["string"],
    "string": [],
}
STRICT_ORDER: list[Kind] = [
    "boolean",
    "integer",
    "decimal",
    "date",
    "datetime",
    "time",
    "uuid",
    "json",
    "string",
]


@dataclass
class Evidence:
    """What one batch of non-null values showed about its type; merged into the column's running stats."""

    kind: Kind
    formats: tuple[str, ...] = ()  # temporal: the strptime layouts that accept every value so far
    keys: np.ndarray | None = None  # comparable value per checked value (numbers, days, microseconds)
    true_values: set[str] = field(default_factory=set)
    false_values: set[str] = field(default_factory=set)
    scales: Counter[int] = field(default_factory=Counter)  # decimal: fraction digits -> count
    int_digits: int = 0
    exponent: bool = False
    fraction_digits: int = 0
    has_zone: bool = False
    has_time: bool = False
    max_length: int = 0


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py() is not False)


def _numpy(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)


def _max_length(values: pa.Array) -> int:
    return int(pc.max(pc.utf8_length(values)).as_py() or 0) if len(values) else 0


def _check_boolean(values: pa.Array) -> Evidence | None:
    lowered = pc.utf8_lower(values)
    if not _all(pc.is_in(lowered, value_set=pa.array(TRUE_SPELLINGS + FALSE_SPELLINGS))):
        return None
    is_true = pc.is_in(lowered, value_set=pa.array(TRUE_SPELLINGS))
    uniques = pc.unique(values)
    unique_true = pc.is_in(pc.utf8_lower(uniques), value_set=pa.array(TRUE_SPELLINGS)).to_pylist()
    seen = list(zip(uniques.to_pylist(), unique_true, strict=True))
    return Evidence(
        "boolean",
        keys=_numpy(pc.cast(is_true, pa.int8())),
        true_values={v for v, t in seen if t},
        false_values={v for v, t in seen if not t},
    )


def integer_arrow_type(digits: int) -> pa.DataType:
    """int64 while every value fits, else the narrowest exact decimal with scale 0."""
    if digits <= 18:
        return pa.int64()
    return pa.decimal128(38, 0) if digits <= 38 else pa.decimal256(MAX_INTEGER_DIGITS, 0)


def _check_integer(values: pa.Array) -> Evidence | None:
    if not _all(pc.match_substring_regex(values, INTEGER_RE)):
        return None
    digits = int(pc.max(pc.utf8_length(pc.replace_substring(values, "-", ""))).as_py() or 0)
    if digits > MAX_INTEGER_DIGITS:
        return None
    wide = integer_arrow_type(digits)
    if pa.types.is_integer(wide):
        keys = _numpy(pc.cast(values, wide))
    else:
        keys = np.array([int(v) for v in pc.cast(values, wide).to_pylist()], dtype=object)
    return Evidence("integer", keys=keys, int_digits=digits)


def _check_decimal(values: pa.Array) -> Evidence | None:
    if not _all(pc.match_substring_regex(values, DECIMAL_RE)):
        return None
    exponent = bool(pc.any(pc.match_substring(values, "e", ignore_case=True)).as_py())
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
    dots = pc.find_substring(values, ".").to_numpy(zero_copy_only=False)
    signs = pc.starts_with(values, "-").to_numpy(zero_copy_only=False)
    fraction = np.where(dots >= 0, lengths - dots - 1, 0)
    whole = np.where(dots >= 0, dots, lengths) - signs
    scale_values, scale_counts = np.unique(fraction, return_counts=True)
    return Evidence(
        "decimal",
        keys=_numpy(pc.cast(values, pa.float64())),
        scales=Counter({int(k): int(v) for k, v in zip(scale_values, scale_counts, strict=True)}),
        int_digits=int(whole.max()),
        exponent=exponent,
    )


@lru_cache(maxsize=256)
def _python_pattern(fmt: str, kind: str) -> re.Pattern[str]:
    return re.compile(temporal.pattern_for(fmt, kind))  # type: ignore[arg-type]


def _check_temporal(
    values: pa.Array, kind: Literal["date", "datetime", "time"], formats: tuple[str, ...]
) -> Evidence | None:
    alive: list[str] = []
    first: temporal.Parsed | None = None
    head = values.slice(0, 16).to_pylist()
    for fmt in formats:
        pattern = _python_pattern(fmt, kind)
        if not all(pattern.match(value) for value in head):
            continue  # cheap rejection before the vectorised parse
        parsed = temporal.parse(values, fmt, kind)
        if parsed.valid.all():
            alive.append(fmt)
            first = first or parsed
    if first is None:
        return None
    return Evidence(
        kind,
        formats=tuple(alive),
        keys=first.values,
        fraction_digits=first.fraction_digits,
        has_zone=first.has_zone,
        has_time=first.has_time,
    )


def _check_pattern(values: pa.Array, kind: Kind, pattern: str) -> Evidence | None:
    if not _all(pc.match_substring_regex(values, pattern)):
        return None
    return Evidence(kind, max_length=_max_length(values))


def _json_parses(values: pa.Array) -> bool:
    try:
        for text in values.slice(0, JSON_VALIDATE_LIMIT).to_pylist():
            json.loads(text)
    except ValueError:
        return False
    return True


def string_evidence(values: pa.Array) -> Evidence:
    return Evidence("string", max_length=_max_length(values))


def check(values: pa.Array, kind: Kind, formats: tuple[str, ...] = ()) -> Evidence | None:
    """Evidence that every (non-null, trimmed) value fits `kind`, or None."""
    if kind == "boolean":
        return _check_boolean(values)
    if kind == "integer":
        return _check_integer(values)
    if kind == "decimal":
        return _check_decimal(values)
    if kind in ("date", "datetime", "time"):
        return _check_temporal(values, kind, formats or default_formats(kind))
    if kind == "uuid":
        return _check_pattern(values, "uuid", UUID_RE)
    if kind == "json":
        return _check_pattern(values, "json", JSON_SHAPE_RE)
    return string_evidence(values)


def default_formats(kind: Kind) -> tuple[str, ...]:
    if kind == "date":
        return tuple(temporal.DATE_FORMATS)
    if kind == "datetime":
        return tuple(temporal.DATETIME_FORMATS)
    if kind == "time":
        return tuple(temporal.TIME_FORMATS)
    return ()


def widened_formats(kind: Kind, target: Kind, formats: tuple[str, ...]) -> tuple[str, ...]:
    """Date layouts still alive carry over to datetimes that start with the same date layout."""
    if kind == "date" and target == "datetime":
        return tuple(
            f
            for f in temporal.DATETIME_FORMATS
            if temporal.base_format(f).split(" ")[0].split("T")[0] in formats
        )
    return formats


def classify(values: pa.Array) -> Evidence:
    """The strictest kind that accepts every value of a sample (values already trimmed, no nulls)."""
    if len(values) == 0:
        return string_evidence(values)
    for kind in STRICT_ORDER:
        evidence = check(values, kind)
        if evidence is None:
            continue
        if kind == "json" and not _json_parses(values):
            continue
        if kind == "datetime" and not evidence.has_time:
            continue  # bare dates are classified as dates
        return evidence
    return string_evidence(values)


def widen(values: pa.Array, kind: Kind, formats: tuple[str, ...]) -> Evidence:
    """The first superset of `kind` accepting this batch (string always does)."""
    for target in WIDER[kind]:
        evidence = check(values, target, widened_formats(kind, target, formats))
        if evidence is not None:
            return evidence
    return string_evidence(values)


def numeric_kind(scales: Counter[int], int_digits: int, exponent: bool) -> Literal["decimal", "float"]:
    """Exact decimal for fixed-point text (money like 12.50): no exponent, few or consistent fraction
    digits, and a precision an engine's Decimal holds; float otherwise."""
    if exponent or not scales:
        return "float"
    scale = max(scales)
    if int_digits + scale > 38:
        return "float"
    consistent = scales[scale] >= 0.9 * sum(scales.values())
    return "decimal" if scale <= 4 or consistent else "float"
