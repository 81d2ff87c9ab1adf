"""Sniff how a file is written: format, text encoding, CSV dialect (delimiter, quote, escape, preamble),
header.

The dialect is the candidate that gives the most consistent field counts over the head of the file, as in
DuckDB's sniffer; the header is decided by whether the first row fits the types of the rows below it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from etl_assistant.errors import InputError
from etl_assistant.schema import types
from etl_assistant.schema.model import Dialect, SourceFormat
from etl_assistant.schema.source import SourceFile

HEAD_BYTES = 1 << 20
SNIFF_ROWS = 2000
DELIMITER_CANDIDATES = [",", ";", "\t", "|"]
QUOTE_CANDIDATES: list[str | None] = ['"', "'", None]
MAX_PREAMBLE_ROWS = 20
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CYRILLIC_RUN = re.compile(rb"[\xc0-\xff\xa8\xb8]{3,}")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_EXTENSIONS: dict[str, SourceFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".xlsx": "xlsx",
}


def _extension_format(source: SourceFile) -> SourceFormat | None:
    suffixes = [s.lower() for s in source.path.suffixes if s.lower() != ".gz"]
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def detect_format(source: SourceFile, head: bytes) -> SourceFormat:
    """Parquet and XLSX by magic bytes, JSON by its first character and lines, text otherwise."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        if _extension_format(source) == "xlsx" or b"xl/" in head[:4096]:
            return "xlsx"
        raise InputError(f"{source.path.name} is a ZIP archive; unpack it and pass the data file inside.")
    text = head.lstrip(UTF8_BOM).lstrip()
    if text[:1] == b"[":
        return "json"
    if text[:1] == b"{":
        first_line = text.split(b"\n", 1)[0]
        try:
            json.loads(first_line)
            return "ndjson"
        except ValueError:
            return "json"
    return "csv"


def _looks_binary(head: bytes) -> bool:
    if head.startswith(UTF16_BOMS):
        return False
    sample = head[:65536]
    if b"\x00" in sample:
        return True
    controls = sum(sample.count(bytes([b])) for b in range(0x20) if b not in (9, 10, 13, 12))
    return controls > 0.05 * max(len(sample), 1)


def _decodes(chunks: list[bytes], encoding: str) -> bool:
    for chunk in chunks:
        try:
            chunk.decode(encoding)
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the edge of a chunk is not an error.
            if not (encoding == "utf-8" and (exc.start >= len(chunk) - 3 or exc.end <= 3)):
                return False
    return True


def detect_encoding(source: SourceFile, chunks: list[bytes]) -> tuple[str, bool]:
    """(Python codec name, has BOM): UTF-8 when every sampled chunk decodes, else a single-byte code page."""
    head = chunks[0]
    if head.startswith(UTF8_BOM):
        return "utf-8", True
    if head.startswith(UTF16_BOMS):
        return "utf-16", True
    if _looks_binary(head):
        raise InputError(
            f"{source.path.name} looks like a binary file, not text data; pass a CSV, JSON, NDJSON, "
            "Parquet or XLSX file."
        )
    if _decodes(chunks, "utf-8"):
        return "utf-8", False
    sample = b"".join(chunks)
    high = len(_HIGH_BYTE.findall(sample))
    cyrillic = sum(len(m) for m in _CYRILLIC_RUN.findall(sample))
    if cyrillic >= 0.5 * high and _decodes(chunks, "cp1251"):
        return "cp1251", False
    if any(0x80 <= b <= 0x9F for b in sample) and _decodes(chunks, "cp1252"):
        encoding = "cp1252"
    else:
        encoding = "latin-1"
    decoded = sample.decode(encoding)
    if len(_CONTROL.findall(decoded)) > 0.01 * max(high, 1) + 0.001 * len(decoded):
        raise InputError(
            f"The text encoding of {source.path.name} cannot be recognised (it is neither UTF-8 nor "
            "a Windows/Latin code page); save the file as UTF-8 and try again."
        )
    return encoding, False


def first_non_utf8_chunk(source: SourceFile, size: int = HEAD_BYTES) -> bytes | None:
    """The first chunk of the file holding invalid UTF-8 (a full streaming scan), or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with source.open() as stream:
        while chunk := stream.read(size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return chunk
    return None


def sample_chunks(source: SourceFile) -> list[bytes]:
    """The head plus, for uncompressed files, chunks from the middle and the tail."""
    head = source.head(HEAD_BYTES)
    if source.compression or source.size_bytes <= 3 * HEAD_BYTES:
        return [head]
    return [head, *source.chunks_at([0.5, 1.0], HEAD_BYTES // 4)]


# --- CSV dialect ---------------------------------------------------------------------------------------


@dataclass
class CsvGuess:
    dialect: Dialect
    rows: list[list[str]]  # the parsed head rows after the preamble (header included)
    width: int  # the modal field count
    consistency: float  # share of rows with the modal field count
    quoted_newlines: bool


def parse_rows(
    text: str, delimiter: str, quote: str | None, escape: str | None, max_rows: int = SNIFF_ROWS
) -> list[list[str]]:
    """Non-empty rows of `text` parsed with one candidate dialect (stops quietly at a malformed row)."""
    options: dict[str, object] = {"delimiter": delimiter, "strict": False}
    if quote is None:
        options["quoting"] = csv.QUOTE_NONE
    else:
        options.update(quotechar=quote, doublequote=escape is None, escapechar=escape)
    reader = csv.reader(io.StringIO(text, newline=""), **options)  # type: ignore[call-overload]
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= max_rows:
                break
    except csv.Error:
        return rows
    return rows


def _filled(row: list[str]) -> int:
    """Fields up to the last non-empty one (a trailing delimiter adds an empty field)."""
    count = len(row)
    while count and not row[count - 1].strip():
        count -= 1
    return count


def _score(rows: list[list[str]]) -> tuple[float, int, int]:
    """(consistency, modal field count, preamble rows) for parsed rows.

    Leading rows with fewer filled fields than usual are a preamble (titles, export notes); a header that
    differs only by a trailing delimiter is not."""
    if not rows:
        return 0.0, 0, 0
    counts = [len(r) for r in rows]
    modal = Counter(counts).most_common(1)[0][0]
    filled_modal = Counter(_filled(r) for r in rows if len(r) == modal).most_common(1)[0][0]
    preamble = 0
    limit = min(MAX_PREAMBLE_ROWS, len(rows) - 1)
    while preamble < limit and counts[preamble] != modal and _filled(rows[preamble]) < filled_modal:
        preamble += 1
    body = rows[preamble:]
    consistent = sum(1 for r in body if len(r) == modal)
    if len(body[0]) != modal and _filled(body[0]) == filled_modal:
        consistent += 1  # the header row, written with or without a trailing delimiter
    return consistent / len(body), modal, preamble


def _other_delimiters(text: str) -> list[str]:
    """Single punctuation characters occurring equally often in each of the first lines."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return []
    found = []
    for char in sorted(set(lines[0])):
        if char.isalnum() or char in " \"'" or char in DELIMITER_CANDIDATES or ord(char) > 127:
            continue
        counts = {line.count(char) for line in lines[1:]}
        if len(counts) == 1 and counts.pop() == lines[0].count(char) > 0:
            found.append(char)
    return found


def sniff_csv(text: str, truncated: bool, max_rows: int = SNIFF_ROWS) -> CsvGuess:
    """Pick the delimiter/quote/escape that gives the most consistent field counts (ties: more columns)."""
    if truncated:
        text = text[: text.rfind("\n") + 1] or text
    best: (
        tuple[tuple[float, int, bool, int, int], str, str | None, str | None, list[list[str]], int] | None
    ) = None
    candidates = [*DELIMITER_CANDIDATES, *_other_delimiters(text)]
    for order, (delimiter, quote) in enumerate((d, q) for d in candidates for q in QUOTE_CANDIDATES):
        # A backslash before a quote means backslash escaping when that parse is as consistent.
        escapes: list[str | None] = ["\\", None] if quote and f"\\{quote}" in text else [None]
        for escape in escapes:
            rows = parse_rows(text, delimiter, quote, escape)
            consistency, modal, preamble = _score(rows)
            standard = delimiter in DELIMITER_CANDIDATES  # unusual delimiters only win when these fail
            key = (round(consistency, 3) if modal > 1 else 0.0, -preamble, standard, modal, -order)
            if best is None or key > best[0]:
                best = (key, delimiter, quote, escape, rows, preamble)
    assert best is not None
    (consistency, _, _, width, _), delimiter, quote, escape, rows, preamble = best
    if max_rows > SNIFF_ROWS:
        rows = parse_rows(text, delimiter, quote, escape, max_rows + preamble)
    newline = (
        "\r\n" if "\r\n" in text[:65536] else ("\r" if "\r" in text[:65536] and "\n" not in text else "\n")
    )
    body = rows[preamble:]
    quoted_newlines = any("\n" in value or "\r" in value for row in body for value in row)
    dialect = Dialect(
        delimiter=delimiter, quote=quote, escape=escape, skip_rows=preamble, line_terminator=newline
    )
    return CsvGuess(dialect, body, width, consistency, quoted_newlines)


def _column_values(rows: list[list[str]], index: int) -> pa.Array:
    values = [row[index].strip() if index < len(row) else "" for row in rows]
    return pa.array([None if v in types.NULL_TOKENS else v for v in values], type=pa.string())


def has_header(rows: list[list[str]]) -> bool:
    """True when some first-row value does not fit its column's type below, or every column is text and the
    first row looks like names (distinct, non-empty, not numbers)."""
    if len(rows) < 2:
        return bool(rows) and all(value.strip() and not value.strip()[0].isdigit() for value in rows[0])
    first, body = rows[0], rows[1:]
    all_text = True
    for index, value in enumerate(first):
        column = _column_values(body, index).drop_null()
        evidence = types.classify(column)
        if evidence.kind == "string":
            continue
        all_text = False
        if value.strip() in types.NULL_TOKENS:
            continue
        if types.check(pa.array([value.strip()]), evidence.kind, evidence.formats) is None:
            return True
    if not all_text:
        return False
    names = [value.strip() for value in first]
    return all(names) and len(set(names)) == len(names) and not any(n[0].isdigit() for n in names)
