"""Stream a source's rows as Arrow batches: as text (for inference) or typed (for loaders).

Every format is first read as text columns named by identifiers, with the null spellings already turned
into nulls; `iter_typed_batches` then converts each column to its inferred logical type. Files are never
read whole, except a JSON array document (one value by definition).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from etl_assistant.errors import InputError
from etl_assistant.schema import convert
from etl_assistant.schema.model import DatasetSchema, Dialect, SourceFormat
from etl_assistant.schema.source import SourceFile
from etl_assistant.schema.types import NULL_TOKENS

ProgressFn = Callable[[int, int], None]  # (source bytes done, total source bytes)
CSV_BLOCK_BYTES = 4 << 20
_NULL_SET = frozenset(NULL_TOKENS)


class NotUtf8Error(InputError):
    """A file sniffed as UTF-8 holds invalid UTF-8 past the sampled parts."""


@dataclass
class Layout:
    """Everything needed to read a source's rows: the file, its format and dialect, and its columns."""

    source: SourceFile
    format: SourceFormat
    dialect: Dialect | None
    names: list[str]  # as written in the source
    identifiers: list[str]  # output column names, one per name
    ragged_rows: int = 0  # filled while reading: rows skipped because their field count was wrong
    ragged_examples: list[str] = field(default_factory=list)


def layout_of(schema: DatasetSchema) -> Layout:
    """The reading layout recorded in an inferred schema."""
    if schema.format == "table":
        raise InputError(
            f"Dataset {schema.name!r} is a warehouse table, not a file; query the table instead."
        )
    path = Path(schema.source)
    if not path.is_file():
        raise InputError(
            f"The source file {path} of dataset {schema.name!r} is gone; restore it or infer again."
        )
    source = SourceFile(path=path, size_bytes=path.stat().st_size, compression=schema.compression)
    return Layout(
        source,
        schema.format,
        schema.dialect,
        [c.name for c in schema.columns],
        [c.identifier for c in schema.columns],
    )


def iter_typed_batches(schema: DatasetSchema, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
    """The file's rows converted to the logical types of `schema.columns`, named by identifiers."""
    columns = schema.columns
    arrow_schema = pa.schema([pa.field(c.identifier, convert.arrow_type(c), nullable=True) for c in columns])
    for batch in iter_text_batches(layout_of(schema), batch_rows):
        arrays = [convert.to_arrow(batch.column(i), col) for i, col in enumerate(columns)]
        yield pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def iter_text_batches(
    layout: Layout,
    batch_rows: int = 65536,
    progress: ProgressFn | None = None,
    columns: list[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Text batches of at most `batch_rows` rows; `columns` (identifiers) limits what is read."""
    readers: dict[str, Callable[..., Iterator[pa.RecordBatch]]] = {
        "csv": _csv_batches,
        "ndjson": _ndjson_batches,
        "json": _json_array_batches,
        "parquet": _parquet_batches,
        "xlsx": _xlsx_batches,
    }
    if layout.format not in readers:
        raise InputError(
            f"Format {layout.format!r} cannot be streamed; infer the schema from a file instead."
        )
    report = progress or (lambda done, total: None)
    limits, name, rows = layout.source.limits, layout.source.path.name, 0
    try:
        for batch in readers[layout.format](layout, batch_rows, report, columns):
            rows += batch.num_rows
            limits.check_rows(name, rows)
            if layout.format in ("csv", "ndjson"):
                limits.check_lines(name, batch)
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)
    except UNREADABLE as exc:
        raise unreadable(layout.source, layout.format, exc) from None
    report(layout.source.size_bytes, layout.source.size_bytes)


# What a damaged or truncated file raises from the decompressor, the parsers or the readers.
UNREADABLE = (pa.ArrowException, OSError, EOFError, UnicodeError, zlib.error, csv.Error, zipfile.BadZipFile)


def unreadable(source: SourceFile, fmt: str, exc: BaseException) -> InputError:
    """One sentence for a file that broke while being read."""
    return InputError(
        f"{source.path.name} could not be read as {fmt} ({_first_line(exc)}); check that the file is "
        "complete and not damaged, then try again."
    )


# --- CSV -----------------------------------------------------------------------------------------------


def csv_options(
    layout: Layout,
    block_size: int = CSV_BLOCK_BYTES,
    columns: list[str] | None = None,
) -> tuple[pcsv.ReadOptions, pcsv.ParseOptions, pcsv.ConvertOptions]:
    """pyarrow CSV options that read every column as text with our null spellings."""
    dialect = layout.dialect or Dialect()

    def on_invalid_row(row: Any) -> str:
        layout.ragged_rows += 1
        if len(layout.ragged_examples) < 3:
            layout.ragged_examples.append((row.text or "")[:200])
        return "skip"

    read = pcsv.ReadOptions(
        column_names=layout.identifiers,
        skip_rows=dialect.skip_rows + (1 if dialect.header else 0),
        encoding=dialect.encoding,
        block_size=block_size,
        use_threads=True,
    )
    parse = pcsv.ParseOptions(
        delimiter=dialect.delimiter,
        quote_char=dialect.quote or False,
        double_quote=dialect.quote is not None and dialect.escape is None,
        escape_char=dialect.escape or False,
        newlines_in_values=dialect.quote is not None,
        invalid_row_handler=on_invalid_row,
    )
    convert_options = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in layout.identifiers},
        null_values=NULL_TOKENS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        include_columns=columns,
    )
    return read, parse, convert_options


def _input_stream(source: SourceFile) -> tuple[pa.NativeFile, pa.NativeFile]:
    """(stream to read, raw file whose position tells progress in source bytes)."""
    raw = pa.OSFile(str(source.path), "rb")
    if source.compression == "gzip":
        # Capped at the decompressed-size limit; pyarrow reads it per block (MiBs), so the count is free.
        stream = pa.CompressedInputStream(raw, "gzip")
        if source.limits.max_bytes is None:
            return stream, raw
        return pa.PythonFile(source.capped(stream, raw.tell), mode="r"), raw  # type: ignore[arg-type]
    return raw, raw


def _csv_batches(
    layout: Layout, batch_rows: int, progress: ProgressFn, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    stream, raw = _input_stream(layout.source)
    try:
        reader = pcsv.open_csv(stream, *csv_options(layout, columns=columns))
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            progress(raw.tell(), layout.source.size_bytes)
            yield batch
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if "invalid UTF8" in str(exc):
            raise NotUtf8Error(
                f"{layout.source.path.name} is not valid UTF-8 throughout; save it as UTF-8 and try again."
            ) from None
        raise InputError(
            f"{layout.source.path.name} cannot be parsed as delimited text ({_first_line(exc)}); "
            "check the delimiter, quoting and encoding."
        ) from None
    finally:
        stream.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


# --- Text of non-CSV values ---------------------------------------------------------------------------


def value_text(value: Any) -> str | None:
    """One JSON/XLSX/Parquet value as the text a CSV would have held (nested values as compact JSON)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return None if value.strip() in _NULL_SET else value
    if isinstance(value, float):
        return None if value != value else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def _records_to_batch(
    records: list[Any], layout: Layout, columns: list[str] | None, by_position: bool = False
) -> pa.RecordBatch:
    """Records (dicts keyed by name, or row tuples when `by_position`) as one text batch."""
    wanted = [
        (position if by_position else name, ident)
        for position, (name, ident) in enumerate(zip(layout.names, layout.identifiers, strict=True))
        if columns is None or ident in columns
    ]
    if by_position:
        arrays = [
            pa.array([value_text(r[key]) if key < len(r) else None for r in records], type=pa.string())
            for key, _ in wanted
        ]
    else:
        arrays = [pa.array([value_text(r.get(key)) for r in records], type=pa.string()) for key, _ in wanted]
    return pa.RecordBatch.from_arrays(arrays, names=[ident for _, ident in wanted])


def _ndjson_batches(
    layout: Layout, batch_rows: int, progress: ProgressFn, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    encoding = layout.dialect.encoding if layout.dialect else "utf-8-sig"
    with layout.source.open() as stream:
        records: list[dict[str, Any]] = []
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode(encoding))
            except (ValueError, UnicodeDecodeError):
                raise InputError(
                    f"Line {number} of {layout.source.path.name} is not valid JSON; fix or remove it."
                ) from None
            records.append(record if isinstance(record, dict) else {"value": record})
            if len(records) >= batch_rows:
                yield _records_to_batch(records, layout, columns)
                records = []
        if records:
            yield _records_to_batch(records, layout, columns)


def load_json_array(source: SourceFile) -> list[dict[str, Any]]:
    """A JSON document holding an array of objects (or an object wrapping one array)."""
    try:
        with source.open() as stream:
            document = json.loads(stream.read().decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{source.path.name} is not valid JSON; check the file is complete.") from None
    if isinstance(document, dict):
        arrays = [v for v in document.values() if isinstance(v, list)]
        document = arrays[0] if len(arrays) == 1 else [document]
    if not isinstance(document, list):
        raise InputError(
            f"{source.path.name} holds a single JSON value, not records; give an array of objects."
        )
    return [r if isinstance(r, dict) else {"value": r} for r in document]


def _json_array_batches(
    layout: Layout, batch_rows: int, progress: ProgressFn, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    records = load_json_array(layout.source)
    for start in range(0, len(records), batch_rows):
        yield _records_to_batch(records[start : start + batch_rows], layout, columns)


def _text_array(array: pa.Array) -> pa.Array:
    """A Parquet column as text; values that have no text cast go through Python."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.if_else(pc.is_in(array, value_set=pa.array(NULL_TOKENS)), None, array.cast(pa.string()))
    try:
        if pa.types.is_floating(array.type):
            array = pc.if_else(pc.is_nan(array), None, array)
        return pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([value_text(v) for v in array.to_pylist()], type=pa.string())


def _parquet_batches(
    layout: Layout, batch_rows: int, progress: ProgressFn, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    wanted = [
        (n, i)
        for n, i in zip(layout.names, layout.identifiers, strict=True)
        if columns is None or i in columns
    ]
    parquet = pq.ParquetFile(layout.source.path)
    done = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=[n for n, _ in wanted]):
        done += batch.num_rows
        progress(
            int(layout.source.size_bytes * done / max(parquet.metadata.num_rows, 1)), layout.source.size_bytes
        )
        yield pa.RecordBatch.from_arrays(
            [_text_array(batch.column(n)) for n, _ in wanted], names=[i for _, i in wanted]
        )


def iter_xlsx_rows(source: SourceFile) -> Iterator[tuple[Any, ...]]:
    """Rows of the first worksheet as tuples of cell values."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InputError(
            f"{source.path.name} cannot be opened as an Excel workbook ({_first_line(exc)})."
        ) from None
    try:
        yield from book.worksheets[0].iter_rows(values_only=True)
    finally:
        book.close()


def _xlsx_batches(
    layout: Layout, batch_rows: int, progress: ProgressFn, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    dialect = layout.dialect or Dialect()
    skip = dialect.skip_rows + (1 if dialect.header else 0)
    records: list[tuple[Any, ...]] = []
    for number, row in enumerate(iter_xlsx_rows(layout.source)):
        if number < skip or all(v is None for v in row):
            continue
        records.append(row)
        if len(records) >= batch_rows:
            yield _records_to_batch(records, layout, columns, by_position=True)
            records = []
    if records:
        yield _records_to_batch(records, layout, columns, by_position=True)
