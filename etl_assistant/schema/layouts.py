"""Work out a source's reading layout (format, dialect, column names) and a spread sample of its rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import islice

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl_assistant.errors import InputError
from etl_assistant.schema import sniff, types
from etl_assistant.schema.model import Dialect
from etl_assistant.schema.naming import unique_identifiers
from etl_assistant.schema.readers import Layout, iter_xlsx_rows, load_json_array, value_text
from etl_assistant.schema.source import SourceFile

JSON_KEY_SAMPLE = 10_000  # records scanned for the union of keys
XLSX_SNIFF_ROWS = 200


@dataclass
class Sniffed:
    layout: Layout
    sample: dict[str, types.Evidence] = field(default_factory=dict)  # identifier -> type of the sample
    native_floats: frozenset[str] = frozenset()  # identifiers of binary floating-point source columns


def _layout(source: SourceFile, fmt: str, dialect: Dialect | None, names: list[str]) -> Layout:
    return Layout(source, fmt, dialect, names, unique_identifiers(names))  # type: ignore[arg-type]


def _header_names(first: list[str], width: int) -> list[str]:
    """Names from the header row (empty or missing ones become column_N)."""
    return [
        first[i].strip() if i < len(first) and first[i].strip() else f"column_{i + 1}" for i in range(width)
    ]


def _sample_types(layout: Layout, rows: list[list[str]]) -> dict[str, types.Evidence]:
    """The strictest type of each column over the sampled rows."""
    sample: dict[str, types.Evidence] = {}
    for index, identifier in enumerate(layout.identifiers):
        values = [row[index].strip() if index < len(row) else "" for row in rows]
        array = pa.array([v for v in values if v not in types.NULL_TOKENS], type=pa.string())
        if len(array):
            sample[identifier] = types.classify(pc.unique(array))
    return sample


def _spread_rows(chunks: list[bytes], guess: sniff.CsvGuess, width: int, encoding: str) -> list[list[str]]:
    """Rows parsed from the middle and tail chunks (whole lines only, with the head's field count)."""
    rows: list[list[str]] = []
    dialect = guess.dialect
    for chunk in chunks[1:]:
        start, end = chunk.find(b"\n") + 1, chunk.rfind(b"\n")
        if start <= 0 or end <= start:
            continue
        text = chunk[start:end].decode(encoding, errors="replace")
        parsed = sniff.parse_rows(text, dialect.delimiter, dialect.quote, dialect.escape)
        rows.extend(row for row in parsed if len(row) == width)
    return rows


def sniff_csv_layout(source: SourceFile, chunks: list[bytes], sample_rows: int) -> Sniffed:
    encoding, bom = sniff.detect_encoding(source, chunks)
    head = chunks[0]
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    truncated = len(head) >= sniff.HEAD_BYTES
    guess = sniff.sniff_csv(text, truncated, max_rows=sample_rows)
    if not guess.rows:
        raise InputError(f"{source.path.name} has no rows; export the data again with at least one row.")
    dialect = guess.dialect.model_copy(update={"encoding": encoding, "bom": bom})
    header = sniff.has_header(guess.rows[: sniff.SNIFF_ROWS])
    dialect.header = header
    width = guess.width  # the usual field count; a header with extra (empty) trailing names is cut to it
    layout = _layout(source, "csv", dialect, _header_names(guess.rows[0] if header else [], width))
    body = guess.rows[1:] if header else guess.rows
    if not guess.quoted_newlines:
        body = body + _spread_rows(chunks, guess, width, encoding)
    return Sniffed(layout, _sample_types(layout, body))


def _json_names(records: list[dict[str, object]]) -> list[str]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return list(names)


def sniff_ndjson_layout(source: SourceFile) -> Sniffed:
    records = []
    with source.open() as stream:
        for line in islice(stream, JSON_KEY_SAMPLE):
            if line.strip():
                try:
                    record = json.loads(line.decode("utf-8-sig"))
                except (ValueError, UnicodeDecodeError):
                    raise InputError(
                        f"{source.path.name} is not valid NDJSON (one JSON object per line)."
                    ) from None
                records.append(record if isinstance(record, dict) else {"value": record})
    if not records:
        raise InputError(f"{source.path.name} has no records; export the data again with at least one row.")
    return Sniffed(_layout(source, "ndjson", None, _json_names(records)))


def sniff_json_layout(source: SourceFile) -> Sniffed:
    records = load_json_array(source)
    if not records:
        raise InputError(
            f"{source.path.name} holds an empty array; export the data again with at least one row."
        )
    return Sniffed(_layout(source, "json", None, _json_names(records[:JSON_KEY_SAMPLE])))


def sniff_parquet_layout(source: SourceFile) -> Sniffed:
    try:
        arrow_schema = pq.ParquetFile(source.path).schema_arrow
    except (pa.ArrowInvalid, OSError):
        raise InputError(
            f"{source.path.name} is not a readable Parquet file; check it is complete."
        ) from None
    layout = _layout(source, "parquet", None, arrow_schema.names)
    floats = frozenset(
        ident
        for ident, fld in zip(layout.identifiers, arrow_schema, strict=True)
        if pa.types.is_floating(fld.type)
    )
    return Sniffed(layout, native_floats=floats)


def sniff_xlsx_layout(source: SourceFile) -> Sniffed:
    rows = [[value_text(v) or "" for v in row] for row in islice(iter_xlsx_rows(source), XLSX_SNIFF_ROWS)]
    skip = 0
    while skip < len(rows) and not any(rows[skip]):
        skip += 1
    rows = [row for row in rows[skip:] if any(row)]
    if not rows:
        raise InputError(f"The first sheet of {source.path.name} is empty; put the data on the first sheet.")
    width = max(len(row) for row in rows)
    while width > 1 and not any(len(row) >= width and row[width - 1] for row in rows):
        width -= 1
    header = sniff.has_header(rows)
    names = _header_names(rows[0] if header else [], width)
    return Sniffed(_layout(source, "xlsx", Dialect(header=header, skip_rows=skip), names))


def sniff_layout(source: SourceFile, sample_rows: int) -> Sniffed:
    """Detect the format and read enough of the file to know how to stream it."""
    chunks = sniff.sample_chunks(source)
    fmt = sniff.detect_format(source, chunks[0])
    if fmt == "csv":
        return sniff_csv_layout(source, chunks, sample_rows)
    return {
        "ndjson": sniff_ndjson_layout,
        "json": sniff_json_layout,
        "parquet": sniff_parquet_layout,
        "xlsx": sniff_xlsx_layout,
    }[fmt](source)
