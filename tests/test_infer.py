"""Type, dialect and format detection: one table of tricky files run through `infer_file`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_assistant.config import Settings
from etl_assistant.schema.infer import infer_file
from etl_assistant.schema.model import DatasetSchema


def _rows(header: str, values: list[str]) -> bytes:
    return (header + "\n" + "\n".join(values) + "\n").encode()


def _many(header: str, make: Callable[[int], str], count: int, late: dict[int, str] | None = None) -> bytes:
    """`count` rows from make(i); rows in `late` (1-based) replaced: late outliers past any head sample."""
    lines = [(late or {}).get(i, make(i)) for i in range(1, count + 1)]
    return _rows(header, lines)


@dataclass
class Case:
    id: str
    content: bytes | Callable[[Path], None]
    columns: dict[str, dict[str, Any]]  # identifier -> expected fields ("type", detail names, "nullable"...)
    file_name: str = "data.csv"
    dialect: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)  # expected top-level fields (row_count, format...)


def _parquet(path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int32()),
            "code": ["007", "010", None],
            "ts": pa.array([0, 1_000_000, 2_000_000], pa.timestamp("us")),
            "price": pa.array([1.5, 2.25, None]),
        }
    )
    pq.write_table(table, path)


def _xlsx(path: Path) -> None:
    import datetime as dt

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Order ID", "Placed", "Total", "Code"])
    sheet.append([1, dt.datetime(2024, 1, 5, 10, 30), 12.5, "007"])
    sheet.append([2, dt.datetime(2024, 2, 6, 11, 0), 3.25, "011"])
    book.save(path)


CASES = [
    Case(
        "bom_crlf",
        b"\xef\xbb\xbfid,name\r\n1,a\r\n2,b\r\n",
        {"id": {"type": "integer", "name": "id"}, "name": {"type": "string"}},
        dialect={"bom": True, "line_terminator": "\r\n", "encoding": "utf-8", "header": True},
        schema={"row_count": 2},
    ),
    Case(
        "quoted_newlines",
        b'id,comment\n1,"hello\nworld"\n2,"x, y"\n3,plain\n',
        {"comment": {"type": "string", "max": "x, y"}},
        schema={"row_count": 3},
    ),
    Case(
        "semicolon",
        _rows("a;b;c", ["1;x;2024-01-05", "2;y;2024-01-06"]),
        {"a": {"type": "integer"}, "c": {"type": "date"}},
        dialect={"delimiter": ";"},
    ),
    Case("tab", _rows("a\tb", ["1\tx y", "2\tz"]), {"b": {"type": "string"}}, dialect={"delimiter": "\t"}),
    Case("pipe", _rows("a|b", ["1|x,y", "2|z,w"]), {"b": {"type": "string"}}, dialect={"delimiter": "|"}),
    Case("caret", _rows("a^b", ["1^2", "3^4"]), {"b": {"type": "integer"}}, dialect={"delimiter": "^"}),
    Case(
        "cp1251",
        "id,город\n1,Москва\n2,Санкт-Петербург\n".encode("cp1251"),
        {"gorod": {"type": "string", "name": "город", "min": "Москва"}},
        dialect={"encoding": "cp1251"},
    ),
    Case(
        "latin1",
        "id,café\n1,naïve\n2,über\n".encode("latin-1"),
        {"cafe": {"type": "string", "name": "café", "min": "naïve"}},
        dialect={"encoding": "latin-1"},
    ),
    Case(
        "utf16_bom",
        "id,name\n1,Zoë\n2,Łódź\n".encode("utf-16"),
        {"id": {"type": "integer"}, "name": {"type": "string", "max": "Łódź"}},
        dialect={"encoding": "utf-16", "bom": True},
    ),
    Case(
        "leading_zeros_stay_text",
        _rows("code,n", ["007,7", "010,10", "123,123"]),
        {"code": {"type": "string", "min": "007"}, "n": {"type": "integer", "int_bits": 8, "signed": False}},
    ),
    Case(
        "phone_numbers_stay_text",
        _rows("phone", ["+79161234567", "+14155550100"]),
        {"phone": {"type": "string"}},
    ),
    Case(
        "integers_beyond_int64",
        _rows(
            "big,u64,neg",
            ["123456789012345678901234567890,18446744073709551615,-9223372036854775809", "1,0,5"],
        ),
        {
            "big": {
                "type": "integer",
                "int_bits": 128,
                "signed": False,
                "max": "123456789012345678901234567890",
            },
            "u64": {"type": "integer", "int_bits": 64, "signed": False},
            "neg": {"type": "integer", "int_bits": 128, "signed": True},
        },
    ),
    Case(
        "small_signed_int",
        _rows("t", ["-5", "100"]),
        {"t": {"type": "integer", "int_bits": 8, "signed": True}},
    ),
    Case(
        "iso_date",
        _rows("d", ["2024-01-05", "2023-12-31"]),
        {"d": {"type": "date", "datetime_format": "%Y-%m-%d", "min": "2023-12-31", "max": "2024-01-05"}},
    ),
    Case(
        "dotted_date",
        _rows("d", ["05.01.2024", "31.12.2023"]),
        {"d": {"type": "date", "datetime_format": "%d.%m.%Y", "min": "2023-12-31"}},
    ),
    Case(
        "us_date",
        _rows("d", ["01/02/2024", "03/04/2024", "12/25/2024"]),
        {"d": {"type": "date", "datetime_format": "%m/%d/%Y", "max": "2024-12-25"}},
    ),
    Case(
        "day_first_decided_by_last_row",
        _many("d", lambda i: f"0{i % 9 + 1}/0{i % 9 + 1}/2024", 6000, {6000: "25/12/2024"}),
        {"d": {"type": "date", "datetime_format": "%d/%m/%Y", "max": "2024-12-25"}},
    ),
    Case(
        "month_first_decided_by_last_row",
        _many("d", lambda i: f"0{i % 9 + 1}/0{i % 9 + 1}/2024", 6000, {6000: "12/25/2024"}),
        {"d": {"type": "date", "datetime_format": "%m/%d/%Y", "max": "2024-12-25"}},
    ),
    Case("invalid_day_is_not_a_date", _rows("d", ["2024-02-28", "2024-02-30"]), {"d": {"type": "string"}}),
    Case(
        "datetime_seconds",
        _rows("ts", ["2024-01-05 10:11:12", "2024-01-06 00:00:00"]),
        {
            "ts": {
                "type": "datetime",
                "datetime_format": "%Y-%m-%d %H:%M:%S",
                "fraction_digits": 0,
                "timezone": False,
                "max": "2024-01-06 00:00:00",
            }
        },
    ),
    Case(
        "datetime_fraction_zone",
        _rows("ts", ["2024-01-05T10:11:12.123Z", "2024-01-05T13:11:12.5+03:00"]),
        {
            "ts": {
                "type": "datetime",
                "datetime_format": "%Y-%m-%dT%H:%M:%S.%f%z",
                "fraction_digits": 3,
                "timezone": True,
                "min": "2024-01-05 10:11:12.123Z",
            }
        },
    ),
    Case(
        "dates_then_datetimes",
        _rows("ts", ["2024-01-05", "2024-01-06 10:00:00"]),
        {"ts": {"type": "datetime", "min": "2024-01-05 00:00:00"}},
    ),
    Case(
        "time", _rows("t", ["10:11:12", "23:59:59"]), {"t": {"type": "time", "datetime_format": "%H:%M:%S"}}
    ),
    Case(
        "booleans",
        _rows("a,b,c,d", ["true,yes,t,1", "false,no,f,0", "TRUE,Yes,T,1"]),
        {
            "a": {"type": "boolean", "true_values": ["TRUE", "true"], "false_values": ["false"]},
            "b": {"type": "boolean"},
            "c": {"type": "boolean"},
            "d": {"type": "integer", "int_bits": 8},
        },
    ),
    Case(
        "null_spellings",
        _rows("x,y", ["1,a", "NA,b", ",null", "4,N/A"]),
        {
            "x": {"type": "integer", "nullable": True, "null_fraction": 0.5, "distinct_count": 2},
            "y": {"type": "string", "nullable": True, "null_fraction": 0.5},
        },
    ),
    Case(
        "money_is_decimal",
        _rows("amount", ["12.50", "3.10", "100.00", "7"]),
        {"amount": {"type": "decimal", "precision": 5, "scale": 2, "max": "100.00"}},
    ),
    Case(
        "measurements_are_float",
        _rows("v", ["3.14159", "2.5", "1.333333", "10.0001"]),
        {"v": {"type": "float"}},
    ),
    Case("exponent_is_float", _rows("v", ["1e5", "2.5E-3"]), {"v": {"type": "float"}}),
    Case(
        "uuid_and_json",
        _rows(
            "u\tj",
            [
                '550e8400-e29b-41d4-a716-446655440000\t{"a": [1, 2]}',
                'c56a4180-65aa-42ec-a945-5fd21dec0538\t[1, {"b": null}]',
            ],
        ),
        {"u": {"type": "uuid"}, "j": {"type": "json"}},
        dialect={"delimiter": "\t"},
    ),
    Case(
        "late_decimal_outlier",
        _many("n", str, 6000, {5000: "12.5"}),
        {"n": {"type": "decimal", "scale": 1, "max": "6000"}},
    ),
    Case(
        "late_text_outlier",
        _many("n,d", lambda i: f"{i},2024-01-{i % 28 + 1:02d}", 6000, {5000: "oops,never"}),
        {"n": {"type": "string", "min": "1", "max": "oops"}, "d": {"type": "string", "max": "never"}},
    ),
    Case(
        "late_null_keeps_type",
        _many("n", str, 6000, {5000: "NA"}),
        {"n": {"type": "integer", "nullable": True, "unique": False, "distinct_count": 5999}},
    ),
    Case(
        "preamble_rows",
        b"Sales report\nExported 2024-01-01 by admin\nid,name\n1,a\n2,b\n",
        {"id": {"type": "integer"}, "name": {"type": "string"}},
        dialect={"skip_rows": 2},
        schema={"row_count": 2},
    ),
    Case(
        "no_header",
        _rows("1,2024-01-05", ["2,2024-01-06"]),
        {"column_1": {"type": "integer"}, "column_2": {"type": "date"}},
        dialect={"header": False},
        schema={"row_count": 2},
    ),
    Case(
        "backslash_escape",
        b'id,text\n1,"say \\"hi\\""\n2,"x"\n',
        {"text": {"type": "string", "min": 'say "hi"'}},
        dialect={"escape": "\\"},
    ),
    Case(
        "ragged_rows",
        _rows("a,b", ["1,2", "3,4,5", "6,7"]),
        {"a": {"type": "integer", "max": "6"}},
        schema={"row_count": 2, "ragged_rows": 1},
    ),
    Case(
        "messy_headers",
        _rows("Order Date,Order Date,customerID,", ["2024-01-05,2024-01-06,7,"]),
        {
            "order_date": {"name": "Order Date"},
            "order_date_2": {"type": "date"},
            "customer_id": {"type": "integer"},
            "column_4": {"nullable": True},
        },
    ),
    Case(
        "header_with_trailing_delimiter",
        _rows("a,b,", ["1,x", "2,y"]),
        {"a": {"type": "integer"}, "b": {"type": "string"}},
        schema={"row_count": 2, "ragged_rows": 0},
    ),
    Case(
        "rows_with_trailing_delimiter",
        _rows("a,b", ["1,x,", "2,y,"]),
        {"a": {"type": "integer"}, "column_3": {"type": "string", "nullable": True}},
        schema={"row_count": 2, "ragged_rows": 0},
    ),
    Case(
        "surrounding_spaces_and_blanks",
        _rows("n,s", [" 1,a", "2 , a", "   ,b"]),
        {
            "n": {"type": "integer", "null_fraction": round(1 / 3, 6), "distinct_count": 2, "min": "1"},
            "s": {"type": "string", "distinct_count": 2, "min": "a", "unique": False},
        },
    ),
    Case(
        "unique_key",
        _many("id,grp", lambda i: f"{i},{i % 3}", 300),
        {"id": {"unique": True, "distinct_count": 300}, "grp": {"unique": False, "distinct_count": 3}},
    ),
    Case(
        "gzip",
        gzip.compress(_rows("id,v", ["1,2.50", "2,3.75"])),
        {"v": {"type": "decimal", "scale": 2}},
        file_name="data.csv.gz",
        schema={"compression": "gzip"},
    ),
    Case(
        "ndjson",
        b'{"id": 1, "code": "007", "tags": {"a": 1}}\n{"id": 2, "code": "010", "ok": true}\n',
        {
            "id": {"type": "integer"},
            "code": {"type": "string"},
            "tags": {"type": "json", "nullable": True},
            "ok": {"type": "boolean"},
        },
        file_name="data.ndjson",
        schema={"format": "ndjson", "row_count": 2},
    ),
    Case(
        "json_array",
        json.dumps([{"id": 1, "when": "2024-01-05"}, {"id": 2, "when": "2024-01-07"}]).encode(),
        {"id": {"type": "integer"}, "when": {"type": "date"}},
        file_name="data.json",
        schema={"format": "json"},
    ),
    Case(
        "parquet",
        _parquet,
        {
            "id": {"type": "integer"},
            "code": {"type": "string", "nullable": True},
            "ts": {"type": "datetime"},
            "price": {"type": "float"},
        },
        file_name="data.parquet",
        schema={"format": "parquet", "row_count": 3},
    ),
    Case(
        "xlsx",
        _xlsx,
        {
            "order_id": {"type": "integer"},
            "placed": {"type": "datetime"},
            "total": {"type": "decimal"},
            "code": {"type": "string"},
        },
        file_name="data.xlsx",
        schema={"format": "xlsx", "row_count": 2},
    ),
]


def _field(schema: DatasetSchema, identifier: str, key: str) -> Any:
    col = next((c for c in schema.columns if c.identifier == identifier), None)
    assert col is not None, f"no column {identifier!r} in {[c.identifier for c in schema.columns]}"
    if key in type(col.details).model_fields:
        return getattr(col.details, key)
    return getattr(col, key)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_detection(case: Case, tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / case.file_name
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)
    schema = infer_file(path, local_settings)
    for identifier, expected in case.columns.items():
        actual = {key: _field(schema, identifier, key) for key in expected}
        assert actual == expected, f"column {identifier}"
    assert schema.dialect is not None or not case.dialect
    for key, value in case.dialect.items():
        assert getattr(schema.dialect, key) == value, f"dialect.{key}"
    for key, value in case.schema.items():
        assert getattr(schema, key) == value, key
    assert schema.row_count_estimated is False


def test_non_utf8_past_the_sampled_head_is_re_read(tmp_path: Path, local_settings: Settings) -> None:
    rows = [f"{i},Paris" for i in range(170_000)]
    rows[130_000] = "130000,Москва"  # ~1.5 MB in: past the 1 MB head; no middle chunk this small
    path = tmp_path / "cities.csv"
    path.write_bytes(("id,city\n" + "\n".join(rows) + "\n").encode("cp1251"))
    schema = infer_file(path, local_settings)
    assert schema.dialect is not None and schema.dialect.encoding == "cp1251"
    assert schema.row_count == 170_000 and schema.ragged_rows == 0
    assert schema.column("city").distinct_count == 2 and schema.column("city").max == "Москва"
    assert schema.warnings == ["The file is not UTF-8 throughout; it was read as cp1251."]


def test_progress_reports_bytes_of_the_file(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(_many("id,v", lambda i: f"{i},{i * 2}", 50_000))
    calls: list[tuple[float, float | None, str]] = []
    infer_file(
        path, local_settings, progress=lambda done, total, message: calls.append((done, total, message))
    )
    assert calls, "no progress reported"
    assert calls[-1][0] == calls[-1][1] == path.stat().st_size
    assert all(message == "profiling orders.csv" for _, _, message in calls)
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)


def test_ragged_rows_are_reported_with_an_example(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "ragged.csv"
    path.write_bytes(_rows("a,b", ["1,2", "3,4,5", "6", "7,8"]))
    schema = infer_file(path, local_settings)
    assert schema.ragged_rows == 2
    assert schema.row_count == 2
    assert len(schema.warnings) == 1 and "2 rows" in schema.warnings[0] and "'3,4,5'" in schema.warnings[0]


def test_name_and_fingerprint(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "Sales Export 2024.csv"
    path.write_bytes(_rows("a", ["1"]))
    schema = infer_file(path, local_settings)
    assert schema.name == "sales_export_2024"
    assert infer_file(path, local_settings, name="Weekly Sales").name == "weekly_sales"
    before = schema.fingerprint
    path.write_bytes(_rows("a", ["1", "2"]))
    assert infer_file(path, local_settings).fingerprint != before
