"""DDL targets as small declarative classes, in the style of sqlglot's dialects.

A target says how each logical type of `schema.model` is spelled in its engine (type maps, integer widths)
and which table features it has (flags). The one builder in `ddl.builder` reads these; adding an engine means
adding a class here, not another code path.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from etl_assistant.ddl.notes import Notes
from etl_assistant.schema.model import ColumnProfile, LogicalType

# ClickHouse recommends LowCardinality(String) below about 10k distinct values.
LOW_CARDINALITY_MAX_DISTINCT = 10_000
INTEGER_WIDTHS = (8, 16, 32, 64, 128, 256)
# Keys grow with the table: an id that fits 16 bits today overflows next month, so keys get at least 32.
KEY_MIN_BITS = 32


def integer_range(col: ColumnProfile) -> tuple[int, bool]:
    """(bits, signed) of an integer column: the inferred width, else the width holding min..max."""
    low = _int_or_none(col.min)
    high = _int_or_none(col.max)
    signed = col.details.signed if col.details.signed is not None else (low is None or low < 0)
    if col.details.int_bits:  # an odd width (24) rounds up to the next one engines have
        return next((w for w in INTEGER_WIDTHS if w >= col.details.int_bits), col.details.int_bits), signed
    if low is None or high is None:
        return 64, True
    for bits in INTEGER_WIDTHS:
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        if lo <= low and high <= hi:
            return bits, signed
    return 256, signed


def is_key_like(col: ColumnProfile) -> bool:
    """An identifier column (unique, or named id / *_id): its range grows as rows arrive."""
    name = col.identifier.lower()
    return col.unique or name == "id" or name.endswith("_id")


def integer_digits(bits: int, signed: bool) -> int:
    """Decimal digits needed for the largest magnitude of a (bits, signed) integer."""
    return len(str(2 ** (bits - 1) if signed else 2**bits - 1))


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _date_or_none(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def is_low_cardinality(col: ColumnProfile, row_count: int) -> bool:
    """A repeating text column with few distinct values: worth a dictionary encoding or a sort-key slot."""
    return (col.type == "string" and not col.unique and 0 < col.distinct_count < LOW_CARDINALITY_MAX_DISTINCT
            and col.distinct_count * 2 <= row_count)


class Target:
    """Base target: subclasses fill the maps and flags; the few type rules that need data live here."""

    name: ClassVar[Literal["clickhouse", "postgres", "sqlite"]]
    label: ClassVar[str]
    # Spellings of logical types (integers and decimals are spelled from their widths below).
    TYPES: ClassVar[dict[LogicalType, str]]
    # (bits, signed) -> type; a width missing here is a "huge integer" spelled by HUGE_INTEGER.
    INTEGER_TYPES: ClassVar[dict[tuple[int, bool], str]]
    HUGE_INTEGER: ClassVar[str]  # "{digits}" is replaced
    DECIMAL: ClassVar[str] = "DECIMAL({precision}, {scale})"
    MAX_DECIMAL_PRECISION: ClassVar[int] = 1000
    MAX_FRACTION_DIGITS: ClassVar[int] = 6

    # Flags the builder reads.
    nullable_wrapper: ClassVar[bool] = False  # Nullable(T) instead of NOT NULL constraints
    has_unsigned_integers: ClassVar[bool] = False
    supports_low_cardinality: ClassVar[bool] = False
    engine: ClassVar[str | None] = None  # table ENGINE clause
    partition_style: ClassVar[Literal["expression", "range"] | None] = None
    max_partitions: ClassVar[int] = 0
    index_style: ClassVar[Literal["sort_key", "create_index"]] = "create_index"
    supports_primary_key: ClassVar[bool] = True
    max_identifier_length: ClassVar[int] = 63

    def column_type(self, col: ColumnProfile, row_count: int, notes: Notes) -> str:
        """The engine type of one column (nullability is the builder's job unless nullable_wrapper)."""
        if col.type == "integer":
            return self.integer_type(col, notes)
        if col.type == "decimal":
            return self.decimal_type(col, notes)
        if col.type in ("datetime", "time"):
            return self.temporal_type(col, notes)
        if col.type == "string":
            return self.string_type(col, row_count, notes)
        return self.date_type(col, notes) if col.type == "date" else self.TYPES[col.type]

    def integer_type(self, col: ColumnProfile, notes: Notes) -> str:
        bits, signed = integer_range(col)
        if bits < KEY_MIN_BITS and is_key_like(col):
            # Headroom, not an exact range: engines without unsigned types take the signed width.
            bits, signed = KEY_MIN_BITS, signed or not self.has_unsigned_integers
            notes.add("key_headroom", col.identifier)
        if (bits, signed) in self.INTEGER_TYPES:
            spelled = self.INTEGER_TYPES[(bits, signed)]
            if bits < 64 and len(set(self.INTEGER_TYPES.values())) > 1:
                notes.add("small_int", f"{col.identifier} {spelled}")
            return spelled
        spelled = self.HUGE_INTEGER.format(digits=integer_digits(bits, signed))
        notes.add("huge_int", f"{col.identifier} ({bits}-bit {'signed' if signed else 'unsigned'})")
        return spelled

    def decimal_type(self, col: ColumnProfile, notes: Notes) -> str:
        scale = col.details.scale or 0
        precision = max(col.details.precision or 38, scale, 1)
        if precision > self.MAX_DECIMAL_PRECISION:
            notes.add("wide_decimal", col.identifier)
            return self.TYPES["string"]
        return self.DECIMAL.format(precision=self.decimal_precision(col, precision, notes), scale=scale)

    def decimal_precision(self, col: ColumnProfile, precision: int, notes: Notes) -> int:
        """The precision to declare for `precision` observed digits: exactly those, unless storage is free."""
        return precision

    def date_type(self, col: ColumnProfile, notes: Notes) -> str:
        return self.TYPES["date"]

    def temporal_type(self, col: ColumnProfile, notes: Notes) -> str:
        return self.TYPES[col.type]

    def string_type(self, col: ColumnProfile, row_count: int, notes: Notes) -> str:
        return self.TYPES["string"]


class ClickHouseTarget(Target):
    name = "clickhouse"
    label = "ClickHouse"
    TYPES = {"boolean": "Bool", "float": "Float64", "date": "Date", "uuid": "UUID", "string": "String",
             "json": "String", "time": "String", "datetime": "DateTime"}
    INTEGER_TYPES = {(bits, signed): f"{'' if signed else 'U'}Int{bits}"
                     for bits in INTEGER_WIDTHS for signed in (True, False)}
    HUGE_INTEGER = "String"  # only beyond Int256: text keeps such values exact
    DECIMAL = "Decimal({precision}, {scale})"
    MAX_DECIMAL_PRECISION = 76
    DECIMAL_STORAGE_PRECISIONS = (9, 18, 38, 76)  # Decimal32, Decimal64, Decimal128, Decimal256
    MAX_FRACTION_DIGITS = 9
    # Date covers 1970-01-01..2149-06-06 and DateTime 1970..2106; outside that, the 32/64-bit variants.
    DATE_RANGE = (date(1970, 1, 1), date(2149, 6, 6))
    DATETIME_RANGE = (date(1970, 1, 1), date(2106, 2, 6))

    nullable_wrapper = True
    has_unsigned_integers = True
    supports_low_cardinality = True
    engine = "MergeTree"
    partition_style = "expression"
    max_partitions = 1000
    index_style = "sort_key"
    supports_primary_key = False  # the ORDER BY is the primary index
    max_identifier_length = 127

    def column_type(self, col: ColumnProfile, row_count: int, notes: Notes) -> str:
        spelled = super().column_type(col, row_count, notes)
        if col.nullable:
            spelled = f"Nullable({spelled})"
            notes.add("nullable", col.identifier)
        if is_low_cardinality(col, row_count):
            spelled = f"LowCardinality({spelled})"
            notes.add("low_cardinality", f"{col.identifier} ({col.distinct_count})")
        return spelled

    def decimal_precision(self, col: ColumnProfile, precision: int, notes: Notes) -> int:
        """Decimal(P) takes 4/8/16/32 bytes by P: the largest P of the same size is free headroom."""
        widened = next(p for p in self.DECIMAL_STORAGE_PRECISIONS if p >= precision)
        if widened != precision:
            notes.add("decimal_headroom", f"{col.identifier} {precision} -> {widened}")
        return widened

    def date_type(self, col: ColumnProfile, notes: Notes) -> str:
        if self._within(col, self.DATE_RANGE):
            return "Date"
        notes.add("wide_date", col.identifier)
        return "Date32"

    def temporal_type(self, col: ColumnProfile, notes: Notes) -> str:
        if col.type == "time":
            notes.add("time_as_text", col.identifier)
            return "String"
        digits = min(col.details.fraction_digits or 0, self.MAX_FRACTION_DIGITS)
        zone = ", 'UTC'" if col.details.timezone else ""
        if col.details.timezone:
            notes.add("utc", col.identifier)
        if digits == 0 and self._within(col, self.DATETIME_RANGE):
            notes.add("whole_seconds", col.identifier)
            return f"DateTime({zone[2:]})" if zone else "DateTime"
        notes.add("subsecond", f"{col.identifier} DateTime64({digits})")
        return f"DateTime64({digits}{zone})"

    @staticmethod
    def _within(col: ColumnProfile, bounds: tuple[date, date]) -> bool:
        low, high = _date_or_none(col.min), _date_or_none(col.max)
        return (low is None or low >= bounds[0]) and (high is None or high <= bounds[1])


class PostgresTarget(Target):
    name = "postgres"
    label = "PostgreSQL"
    TYPES = {"boolean": "BOOLEAN", "float": "DOUBLE PRECISION", "date": "DATE", "uuid": "UUID",
             "string": "TEXT", "json": "JSONB", "time": "TIME", "datetime": "TIMESTAMP"}
    INTEGER_TYPES = {(8, True): "SMALLINT", (8, False): "SMALLINT", (16, True): "SMALLINT",
                     (16, False): "INT", (32, True): "INT", (32, False): "BIGINT", (64, True): "BIGINT"}
    HUGE_INTEGER = "NUMERIC({digits}, 0)"
    DECIMAL = "NUMERIC({precision}, {scale})"
    MAX_DECIMAL_PRECISION = 1000
    MAX_FRACTION_DIGITS = 6
    # NUMERIC is stored by value, not by declared precision: headroom up to this many digits costs nothing.
    MIN_DECIMAL_PRECISION = 18

    partition_style = "range"
    max_partitions = 120

    def temporal_type(self, col: ColumnProfile, notes: Notes) -> str:
        base = "TIMESTAMPTZ" if col.type == "datetime" and col.details.timezone else self.TYPES[col.type]
        digits = col.details.fraction_digits
        if digits is None:
            return base
        if digits > self.MAX_FRACTION_DIGITS:
            notes.add("microseconds", col.identifier)
        return f"{base}({min(digits, self.MAX_FRACTION_DIGITS)})"

    def decimal_precision(self, col: ColumnProfile, precision: int, notes: Notes) -> int:
        if precision < self.MIN_DECIMAL_PRECISION:
            notes.add("numeric_headroom", f"{col.identifier} {precision} -> {self.MIN_DECIMAL_PRECISION}")
            return self.MIN_DECIMAL_PRECISION
        return precision


class SQLiteTarget(Target):
    name = "sqlite"
    label = "SQLite"
    TYPES = {"boolean": "INTEGER", "float": "REAL", "date": "TEXT", "uuid": "TEXT", "string": "TEXT",
             "json": "TEXT", "time": "TEXT", "datetime": "TEXT"}
    INTEGER_TYPES = {(bits, True): "INTEGER" for bits in (8, 16, 32, 64)} | {
        (bits, False): "INTEGER" for bits in (8, 16, 32)}
    HUGE_INTEGER = "TEXT"  # SQLite integers are 64-bit signed; text keeps bigger ones exact
    DECIMAL = "REAL"  # what NUMERIC affinity stores fractions as anyway; sqlglot renders DECIMAL so too

    def decimal_type(self, col: ColumnProfile, notes: Notes) -> str:
        notes.add("decimal_as_real", col.identifier)
        return self.DECIMAL

    def temporal_type(self, col: ColumnProfile, notes: Notes) -> str:
        notes.add("iso_text", col.identifier)
        return "TEXT"

    def date_type(self, col: ColumnProfile, notes: Notes) -> str:
        notes.add("iso_text", col.identifier)
        return "TEXT"


TARGETS: dict[str, Target] = {t.name: t for t in (ClickHouseTarget(), PostgresTarget(), SQLiteTarget())}
ALIASES = {"ch": "clickhouse", "chdb": "clickhouse", "postgresql": "postgres", "pg": "postgres",
           "sqlite3": "sqlite"}
