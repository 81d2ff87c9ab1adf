"""ClickHouse reads a source file itself: `INSERT INTO t SELECT <conversions> FROM file(path, ...)`.

Delimited text is read by position as `Nullable(String)` and converted per logical type here, so nulls,
boolean spellings and date layouts follow the inferred schema rather than ClickHouse's own guesses (which
turn "007" into 7 and make everything Nullable). A file the engine cannot read as-is (other encodings,
escape characters, day-first dates, ragged rows, Excel...) returns `None` from `native_insert` and the caller
loads typed Arrow batches instead.
"""

from __future__ import annotations

from sqlglot import exp

from etl_assistant.schema.model import ColumnProfile, DatasetSchema
from etl_assistant.schema.types import FALSE_SPELLINGS, NULL_TOKENS, TRUE_SPELLINGS
from etl_assistant.warehouse.statements import quote, render, table

# Date layouts whose field order is unambiguous for parseDateTime64BestEffort (year first).
_YEAR_FIRST = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")
_VERBATIM_TYPES = ("string", "uuid", "json")
# Parseable stand-ins for null values of the types parsed here (see `_converted`).
_PLACEHOLDERS = {"boolean": "false", "date": "1970-01-01", "datetime": "1970-01-01 00:00:00"}
_TEXT_ENCODINGS = {"utf-8", "utf8", "ascii", "us-ascii", "utf-8-sig"}


def _literal_list(values: list[str]) -> exp.Tuple:
    return exp.Tuple(expressions=[exp.Literal.string(v) for v in values])


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _text_is_native(schema: DatasetSchema) -> bool:
    dialect = schema.dialect
    if dialect is None:
        return False
    return (len(dialect.delimiter) == 1 and dialect.escape is None and dialect.quote in ('"', "'", None)
            and dialect.encoding.lower() in _TEXT_ENCODINGS and dialect.line_terminator != "\r"
            and (dialect.header or not dialect.bom) and schema.ragged_rows == 0)


def _column_is_native(col: ColumnProfile) -> bool:
    if col.type in ("date", "datetime"):
        fmt = col.details.datetime_format
        return fmt is None or fmt.startswith(_YEAR_FIRST)
    return True


def _converted(col: ColumnProfile, raw: exp.Expression) -> exp.Expression:
    """The value of one text field in the column's logical type (the INSERT casts it to the table's type).

    As the inference reader does: text kept as-is, other values trimmed, null spellings compared trimmed.
    Parsers run on a placeholder where the value is null: ClickHouse evaluates a function on the values
    hidden under NULLs too, and the strict parsers (a bad date fails the load) would fail on them.
    """
    text = exp.Coalesce(this=raw, expressions=[exp.Literal.string("")])
    value: exp.Expression = text if col.type in _VERBATIM_TYPES else exp.Trim(this=text)
    if not col.nullable:
        return _parsed(col, value)
    is_null = exp.In(this=exp.Trim(this=text), expressions=[exp.Literal.string(s) for s in NULL_TOKENS])
    placeholder = _PLACEHOLDERS.get(col.type)
    if placeholder is None:
        return exp.If(this=is_null, true=exp.Null(), false=value)
    safe = exp.If(this=is_null, true=exp.Literal.string(placeholder), false=value)
    return exp.If(this=is_null, true=exp.Null(), false=_parsed(col, safe))


def _parsed(col: ColumnProfile, value: exp.Expression) -> exp.Expression:
    """Strict parsing of booleans (the schema's spellings) and year-first dates; other types pass as text."""
    if col.type == "boolean":
        trues = [v.lower() for v in col.details.true_values or []] or TRUE_SPELLINGS
        falses = [v.lower() for v in col.details.false_values or []] or FALSE_SPELLINGS
        key = exp.Lower(this=value)
        canonical = exp.Case(ifs=[
            exp.If(this=exp.In(this=key, field=_literal_list(trues)), true=exp.Literal.string("true")),
            exp.If(this=exp.In(this=key, field=_literal_list(falses)), true=exp.Literal.string("false")),
        ], default=value)
        return exp.Cast(this=canonical, to=exp.DataType.build("Bool", dialect="clickhouse"))
    if col.type == "datetime":
        return _fn("parseDateTime64BestEffort", value, exp.Literal.number(col.details.fraction_digits or 0))
    if col.type == "date":
        return _fn("toDate32", _fn("parseDateTime64BestEffort", value))
    return value


def _text_format(schema: DatasetSchema) -> tuple[str, list[exp.EQ]]:
    dialect = schema.dialect
    assert dialect is not None
    skip = dialect.skip_rows + (1 if dialect.header else 0)
    settings = {
        "format_csv_delimiter": dialect.delimiter,
        "format_csv_allow_double_quotes": int(dialect.quote == '"'),
        "format_csv_allow_single_quotes": int(dialect.quote == "'"),
        "input_format_csv_skip_first_lines": skip,
        "input_format_csv_empty_as_default": 0,
        "format_csv_null_representation": "\\N",
    }
    return "CSV", [exp.EQ(this=exp.column(k), expression=exp.Literal.string(v) if isinstance(v, str)
                          else exp.Literal.number(v)) for k, v in settings.items()]


def native_insert(table_name: str, schema: DatasetSchema, path: str | None = None) -> str | None:
    """INSERT ... SELECT FROM file() for `schema`, or None when ClickHouse cannot read the file as-is."""
    if schema.format == "parquet":
        return _insert_select(table_name, schema, path or schema.source, "Parquet", None, [
            exp.column(exp.to_identifier(col.name, quoted=True)) for col in schema.columns], [])
    if schema.format not in ("csv", "ndjson") or not all(_column_is_native(c) for c in schema.columns):
        return None
    if schema.format == "ndjson":
        names = [col.name for col in schema.columns]
        fmt, settings = "JSONEachRow", [exp.EQ(this=exp.column("input_format_skip_unknown_fields"),
                                               expression=exp.Literal.number(1))]
    elif _text_is_native(schema):
        names = [f"c{i}" for i in range(len(schema.columns))]
        fmt, settings = _text_format(schema)
    else:
        return None
    structure = ", ".join(f"{quote(name, 'clickhouse')} Nullable(String)" for name in names)
    values = [_converted(col, exp.column(exp.to_identifier(name, quoted=True)))
              for col, name in zip(schema.columns, names, strict=True)]
    return _insert_select(table_name, schema, path or schema.source, fmt, structure, values, settings)


def _insert_select(table_name: str, schema: DatasetSchema, path: str, fmt: str, structure: str | None,
                   values: list[exp.Expression], settings: list[exp.EQ]) -> str:
    args: list[exp.Expression] = [exp.Literal.string(path), exp.Literal.string(fmt)]
    if structure is not None:
        args += [exp.Literal.string(structure),
                 exp.Literal.string("gzip" if schema.compression == "gzip" else "none")]
    strict_nulls = exp.EQ(this=exp.column("insert_null_as_default"), expression=exp.Literal.number(0))
    settings = [*settings, strict_nulls]
    select = exp.select(*values).from_(exp.Table(this=_fn("file", *args)))
    select.set("settings", settings)
    columns = [exp.to_identifier(col.identifier, quoted=True) for col in schema.columns]
    insert = exp.Insert(this=exp.Schema(this=table(table_name), expressions=columns), expression=select)
    return render(insert, "clickhouse")


def typed_file_insert(table_name: str, schema: DatasetSchema, path: str, fmt: str = "Arrow") -> str:
    """INSERT from a file we wrote ourselves from typed batches (columns named by identifier)."""
    columns = [exp.column(exp.to_identifier(col.identifier, quoted=True)) for col in schema.columns]
    return _insert_select(table_name, schema, path, fmt, None, columns, [])
