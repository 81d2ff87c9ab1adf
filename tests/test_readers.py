"""iter_typed_batches: the file's rows in the inferred logical types, for every format, and through a real
loader (SQLite) from inference to rows in a table."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_assistant.config import Settings
from etl_assistant.ddl import generate_ddl
from etl_assistant.errors import InputError
from etl_assistant.schema.infer import infer_file
from etl_assistant.schema.readers import iter_typed_batches
from etl_assistant.warehouse import connect

TRICKY = (
    "id,code,price,born,seen_at,active,big,huge,note,ratio\r\n"
    "1,007,12.50,05.01.1990,2024-01-05T10:11:12.5+03:00,yes,123456789012345678901234567890,"
    '1234567890123456789012345678901234567890123,"multi\r\nline",0.125\r\n'
    "2,010,3.1,31.12.1985,2024-01-06T00:00:00Z,no,1,2,NA,1e-3\r\n"
    "3,,100,,,,,,plain,\r\n"
)


def _typed(path: Path, settings: Settings, batch_rows: int = 65536) -> pa.Table:
    schema = infer_file(path, settings)
    return pa.Table.from_batches(list(iter_typed_batches(schema, batch_rows)))


def test_tricky_csv_converts_to_the_inferred_types(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(b"\xef\xbb\xbf" + TRICKY.encode())
    table = _typed(path, local_settings)
    assert table.schema.names == [
        "id",
        "code",
        "price",
        "born",
        "seen_at",
        "active",
        "big",
        "huge",
        "note",
        "ratio",
    ]
    assert table.schema.field("id").type == pa.uint8()
    assert table.schema.field("price").type == pa.decimal128(5, 2)
    assert table.schema.field("born").type == pa.date32()
    assert table.schema.field("seen_at").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("big").type == pa.decimal128(38, 0)
    assert table.schema.field("huge").type == pa.decimal256(76, 0)
    assert table.schema.field("ratio").type == pa.float64()
    rows = table.to_pylist()
    assert rows[0]["code"] == "007" and rows[2]["code"] is None
    assert rows[0]["price"] == Decimal("12.50") and rows[1]["price"] == Decimal("3.10")
    assert rows[0]["born"] == dt.date(1990, 1, 5) and rows[1]["born"] == dt.date(1985, 12, 31)
    assert rows[0]["seen_at"] == dt.datetime(2024, 1, 5, 7, 11, 12, 500000, tzinfo=dt.UTC)
    assert [r["active"] for r in rows] == [True, False, None]
    assert rows[0]["big"] == Decimal("123456789012345678901234567890")
    assert rows[0]["huge"] == Decimal("1234567890123456789012345678901234567890123")
    assert rows[0]["note"] == "multi\r\nline" and rows[1]["note"] is None
    assert rows[1]["ratio"] == 0.001


def test_batches_are_bounded_and_complete(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "n.csv.gz"
    path.write_bytes(
        gzip.compress(("n,d\n" + "".join(f"{i},2024-01-{i % 28 + 1:02d}\n" for i in range(1000))).encode())
    )
    schema = infer_file(path, local_settings)
    sizes = [b.num_rows for b in iter_typed_batches(schema, batch_rows=300)]
    assert max(sizes) <= 300 and sum(sizes) == 1000


def test_a_changed_file_is_refused_not_silently_nulled(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "n.csv"
    path.write_text("n\n1\n2\n")
    schema = infer_file(path, local_settings)
    path.write_text("n\n1\nabc\n")
    with pytest.raises(InputError, match="'abc', which is not an integer as inferred"):
        list(iter_typed_batches(schema))
    path.unlink()
    with pytest.raises(InputError, match="is gone"):
        list(iter_typed_batches(schema))


def test_ragged_rows_are_skipped_and_cp1251_is_decoded(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "cities.csv"
    path.write_bytes("id;город\n1;Москва\n2;Тверь;лишнее\n3;Казань\n".encode("cp1251"))
    table = _typed(path, local_settings)
    assert table.to_pylist() == [{"id": 1, "gorod": "Москва"}, {"id": 3, "gorod": "Казань"}]


def test_json_ndjson_parquet_xlsx(tmp_path: Path, local_settings: Settings) -> None:
    records = [
        {"id": 1, "when": "2024-01-05", "tags": ["a"], "ok": True},
        {"id": 2, "when": "2024-02-01", "tags": None, "ok": False},
    ]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "b.ndjson").write_text("\n".join(json.dumps(r) for r in records))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "c.parquet")
    book = openpyxl.Workbook()
    book.active.append(["id", "when", "ok"])
    for record in records:
        book.active.append([record["id"], dt.datetime.fromisoformat(record["when"]), record["ok"]])
    book.save(tmp_path / "d.xlsx")
    for name in ("a.json", "b.ndjson", "c.parquet"):
        rows = _typed(tmp_path / name, local_settings).to_pylist()
        assert rows == [
            {"id": 1, "when": dt.date(2024, 1, 5), "tags": '["a"]', "ok": True},
            {"id": 2, "when": dt.date(2024, 2, 1), "tags": None, "ok": False},
        ], name
    rows = _typed(tmp_path / "d.xlsx", local_settings).to_pylist()
    assert rows == [
        {"id": 1, "when": dt.datetime(2024, 1, 5), "ok": True},
        {"id": 2, "when": dt.datetime(2024, 2, 1), "ok": False},
    ]


def test_from_inference_to_rows_in_sqlite(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(TRICKY.encode())
    schema = infer_file(path, local_settings)
    warehouse = connect(f"sqlite:///{tmp_path / 'wh.db'}")
    for statement in generate_ddl(schema, "sqlite").statements:
        warehouse.execute(statement)
    loaded = warehouse.load_file("people", schema)
    assert loaded.rows == 3 == warehouse.count_rows("people")
    result = warehouse.query("SELECT code, price, born, note FROM people ORDER BY id")
    rows = [
        (code, None if price is None else Decimal(str(price)), str(born) if born else None, note)
        for code, price, born, note in result.rows
    ]
    assert rows == [
        ("007", Decimal("12.5"), "1990-01-05", "multi\r\nline"),
        ("010", Decimal("3.1"), "1985-12-31", None),
        (None, Decimal("100"), None, "plain"),
    ]
    warehouse.close()
