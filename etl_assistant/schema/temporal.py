"""Dates, datetimes and times: candidate formats and a strict, vectorised parser.

Arrow's own strptime is lenient (it turns 30.02.2024 into 1 March), so values are split by a regex built
from the strptime format and validated here: month 1..12, day within the month, 24-hour clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TemporalKind = Literal["date", "datetime", "time"]

# Date layouts in preference order: when the whole file fits several (every day <= 12), the first wins,
# so '/' reads as US month-first and '.'/'-' as day-first.
DATE_FORMATS = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
]
TIME_FORMATS = ["%H:%M:%S", "%H:%M"]
DATETIME_FORMATS = [f"{d}{sep}{t}" for d in DATE_FORMATS for sep in ("T", " ") for t in TIME_FORMATS]

_TOKEN_PATTERNS = {
    "%Y": r"(?P<Y>\d{4})",
    "%m": r"(?P<m>\d{1,2})",
    "%d": r"(?P<d>\d{1,2})",
    "%H": r"(?P<H>\d{1,2})",
    "%M": r"(?P<M>\d{2})",
    "%S": r"(?P<S>\d{2})",
}
_FRACTION = r"(?:[.,](?P<f>\d{1,9}))?"
_ZONE = r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?"
_US_PER_DAY = 86_400_000_000


def base_format(fmt: str) -> str:
    """The format without the optional fraction and zone suffixes we add ourselves."""
    return fmt.replace(".%f", "").replace("%z", "")


def full_format(fmt: str, fraction: bool, zone: bool) -> str:
    """The strptime format describing the values seen: base format + '.%f' and '%z' when present."""
    return base_format(fmt) + (".%f" if fraction else "") + ("%z" if zone else "")


def pattern_for(fmt: str, kind: TemporalKind) -> str:
    """A regex (RE2 and Python compatible) with named groups; datetimes also accept a bare date."""
    fmt = base_format(fmt)
    parts: list[str] = ["^"]
    i = 0
    time_started = False
    while i < len(fmt):
        token = fmt[i : i + 2]
        if kind == "datetime" and not time_started and (fmt[i] in " T") and fmt[i + 1 : i + 3] == "%H":
            parts.append(f"(?:[{re.escape(fmt[i])}]")
            time_started = True
            i += 1
            continue
        if token in _TOKEN_PATTERNS:
            parts.append(_TOKEN_PATTERNS[token])
            i += 2
        else:
            parts.append(re.escape(fmt[i]))
            i += 1
    if kind in ("datetime", "time"):
        parts.append(_FRACTION + _ZONE)
    if time_started:
        parts.append(")?")
    parts.append("$")
    return "".join(parts)


@dataclass
class Parsed:
    """Parsed temporal values: `values` (days, microseconds or microseconds of day) and their validity."""

    values: np.ndarray
    valid: np.ndarray  # bool per input row: parsed and in range
    fraction_digits: int
    has_zone: bool
    has_time: bool  # datetimes: some value carried a time part (not a bare date)


def _field(struct: pa.StructArray, name: str, default: str = "0") -> np.ndarray:
    """A numeric group as int64 (absent or unmatched groups read as `default`)."""
    if struct.type.get_field_index(name) < 0:
        return np.full(len(struct), int(default), dtype=np.int64)
    text = struct.field(name)
    text = pc.if_else(pc.equal(text, ""), default, text)
    return pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False)


def _text_field(struct: pa.StructArray, name: str) -> pa.Array:
    if struct.type.get_field_index(name) < 0:
        return pa.array([""] * len(struct), type=pa.string())
    return struct.field(name)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    table = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    days = table[np.clip(m, 1, 12) - 1]
    return days + ((m == 2) & leap)


def _zone_offset_us(zone: pa.Array) -> np.ndarray:
    """'+03:00' -> +3h in microseconds; '' and 'Z' -> 0."""
    text = pc.replace_substring(zone, ":", "")
    text = pc.if_else(pc.or_(pc.equal(text, ""), pc.equal(text, "Z")), "+0000", text)
    text = pc.utf8_rpad(text, 5, "0")
    sign = np.where(pc.starts_with(text, "-").to_numpy(zero_copy_only=False), -1, 1)
    hours = pc.cast(pc.utf8_slice_codeunits(text, 1, 3), pa.int64()).to_numpy(zero_copy_only=False)
    minutes = pc.cast(pc.utf8_slice_codeunits(text, 3, 5), pa.int64()).to_numpy(zero_copy_only=False)
    return sign * (hours * 3600 + minutes * 60) * 1_000_000


@dataclass
class _Fields:
    """Numeric parts of each value, before range checks."""

    matched: np.ndarray
    parts: dict[str, np.ndarray]  # Y m d H M S (absent parts are missing from the dict)
    micros: np.ndarray
    zone_us: np.ndarray
    fraction_digits: int = 0
    has_zone: bool = False
    has_time: bool = False


_FIXED_WIDTHS = {"%Y": 4, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2}


def _fixed_fields(values: pa.Array, fmt: str) -> _Fields | None:
    """Fast path for zero-padded layouts (2024-01-05 10:11:12): read the digits straight from the Arrow
    buffer with numpy. None when any value differs in length or shape: the regex path then decides."""
    if "%f" in fmt or "%z" in fmt or not len(values) or pa.types.is_large_string(values.type):
        return None
    layout: list[tuple[str, int, int]] = []  # (token or literal, start, width)
    i = position = 0
    while i < len(fmt):
        token = fmt[i : i + 2]
        width = _FIXED_WIDTHS.get(token, 0)
        if width:
            layout.append((token[1], position, width))
            i += 2
        else:
            layout.append((fmt[i], position, 1))
            i += 1
            width = 1
        position += width
    present = pc.is_valid(values).to_numpy(zero_copy_only=False)
    if not present.any():
        return None
    offsets = np.frombuffer(
        values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4
    )
    if not np.all(np.diff(offsets)[present] == position):
        return None
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    if present.all():  # values sit back to back: a zero-copy (rows x width) view
        grid = data[offsets[0] : offsets[0] + len(values) * position].reshape(len(values), position)
    else:
        starts = offsets[:-1].astype(np.int64)
        starts[~present] = starts[present][0]
        grid = data[starts[:, None] + np.arange(position)][present]
    parts: dict[str, np.ndarray] = {}
    for name, start, width in layout:
        column = grid[:, start : start + width]
        if width == 1 and name not in "YmdHMS":
            if not np.all(column[:, 0] == ord(name)):
                return None
            continue
        digits = column.astype(np.int64) - 48
        if np.any((digits < 0) | (digits > 9)):
            return None
        number = np.zeros(len(values), dtype=np.int64)
        number[present] = digits @ (10 ** np.arange(width - 1, -1, -1))
        parts[name] = number
    zeros = np.zeros(len(values), dtype=np.int64)
    return _Fields(present, parts, zeros, zeros, has_time="H" in parts)


def _regex_fields(values: pa.Array, fmt: str, kind: TemporalKind) -> _Fields:
    struct = pc.extract_regex(values, pattern_for(fmt, kind))
    matched = pc.is_valid(struct).to_numpy(zero_copy_only=False)
    names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
    struct = pc.if_else(matched, struct, pa.scalar(dict.fromkeys(names, ""), type=struct.type))
    struct = struct.combine_chunks() if isinstance(struct, pa.ChunkedArray) else struct
    defaults = {"m": "1", "d": "1"}
    parts = {name: _field(struct, name, defaults.get(name, "0")) for name in names if name in "YmdHMS"}
    fields = _Fields(
        matched, parts, np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=np.int64)
    )
    if kind == "date":
        return fields
    fraction = _text_field(struct, "f")
    digits = pc.utf8_length(fraction).to_numpy(zero_copy_only=False)
    fields.fraction_digits = int(digits[matched].max()) if matched.any() else 0
    fields.micros = pc.cast(
        pc.utf8_slice_codeunits(pc.utf8_rpad(fraction, 6, "0"), 0, 6), pa.int64()
    ).to_numpy(zero_copy_only=False)
    zone = _text_field(struct, "z")
    fields.has_zone = bool(pc.any(pc.not_equal(pc.filter(zone, pa.array(matched)), "")).as_py() or False)
    if fields.has_zone:
        fields.zone_us = _zone_offset_us(zone)
    hours = _text_field(struct, "H")
    fields.has_time = bool(pc.any(pc.not_equal(pc.filter(hours, pa.array(matched)), "")).as_py() or False)
    return fields


def parse(values: pa.Array, fmt: str, kind: TemporalKind) -> Parsed:
    """Parse strings strictly; rows that do not match or are out of range come back invalid."""
    fields = _fixed_fields(values, base_format(fmt)) if base_format(fmt) == fmt else None
    if fields is None or (kind == "datetime" and not fields.has_time):
        fields = _regex_fields(values, fmt, kind)
    parts, valid = fields.parts, fields.matched.copy()
    zeros = np.zeros(len(values), dtype=np.int64)
    result = zeros
    if "Y" in parts:
        y, m, d = parts["Y"], parts.get("m", zeros + 1), parts.get("d", zeros + 1)
        valid &= (m >= 1) & (m <= 12) & (d >= 1) & (d <= _days_in_month(y, m))
        result = _days_from_civil(y, m, d)
    if kind == "date":
        return Parsed(result, valid, 0, False, False)
    hours, minutes, seconds = (parts.get(name, zeros) for name in "HMS")
    valid &= (hours <= 23) & (minutes <= 59) & (seconds <= 59)
    clock_us = (hours * 3600 + minutes * 60 + seconds) * 1_000_000 + fields.micros
    if kind == "time":
        return Parsed(clock_us, valid, fields.fraction_digits, fields.has_zone, True)
    stamp = result * _US_PER_DAY + clock_us - fields.zone_us
    return Parsed(stamp, valid, fields.fraction_digits, fields.has_zone, fields.has_time)


def timestamp_unit(fraction_digits: int) -> Literal["s", "ms", "us"]:
    """The coarsest unit that keeps every sub-second digit seen (nanoseconds are truncated to us)."""
    if fraction_digits == 0:
        return "s"
    return "ms" if fraction_digits <= 3 else "us"


def arrow_type(kind: TemporalKind, fraction_digits: int, zone: bool) -> pa.DataType:
    """date32, time32/64 or timestamp in the coarsest unit that keeps the digits seen (UTC when zoned)."""
    unit = timestamp_unit(fraction_digits)
    if kind == "date":
        return pa.date32()
    if kind == "time":
        return pa.time32("s") if unit == "s" else pa.time64("us")
    return pa.timestamp(unit, tz="UTC" if zone else None)


def to_arrow(parsed: Parsed, kind: TemporalKind, fraction_digits: int, zone: bool) -> pa.Array:
    """Parsed values as `arrow_type(...)` with invalid rows as nulls."""
    target = arrow_type(kind, fraction_digits, zone)
    mask = ~parsed.valid
    if kind == "date":
        return pa.array(parsed.values.astype(np.int32), type=target, mask=mask)
    if target == pa.time64("us"):
        return pa.array(parsed.values, type=target, mask=mask)
    divisor = {"s": 1_000_000, "ms": 1_000, "us": 1}[timestamp_unit(fraction_digits)]
    values = parsed.values // divisor
    return pa.array(values.astype(np.int32) if kind == "time" else values, type=target, mask=mask)


def iso_text(value: int, kind: TemporalKind, fraction_digits: int, zone: bool) -> str:
    """Canonical ISO text of one parsed value (for min/max in profiles)."""
    if kind == "date":
        return str(np.datetime64(int(value), "D"))
    if kind == "time":
        text = str(np.datetime64(int(value), "us"))[11:]
    else:
        text = str(np.datetime64(int(value), "us")).replace("T", " ")
    if fraction_digits == 0:
        text = text.split(".")[0]
    else:
        head, _, frac = text.partition(".")
        text = f"{head}.{(frac or '').ljust(6, '0')[: min(fraction_digits, 6)]}"
    return text + ("Z" if zone and kind == "datetime" else "")
