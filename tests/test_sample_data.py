"""The seeded retail generator: deterministic, consistent keys, realistic quirks, every output format."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from etl_assistant.evals import sample_data
from etl_assistant.evals.sample_data import write_retail


def _csv(path: Path) -> pa.Table:
    text_columns = {"sku": pa.string(), "amount": pa.string(), "discount": pa.string(), "price": pa.string()}
    options = pcsv.ConvertOptions(column_types=text_columns, strings_can_be_null=True)
    return pcsv.read_csv(path, convert_options=options)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = write_retail(tmp_path / "a", orders=2000, seed=3)
    second = write_retail(tmp_path / "b", orders=2000, seed=3)
    third = write_retail(tmp_path / "c", orders=2000, seed=4)
    for name in ("customers", "products", "orders"):
        assert first[name].read_bytes() == second[name].read_bytes()
        assert first[name].read_bytes() != third[name].read_bytes()


def test_keys_quirks_and_spread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sample_data, "CHUNK_ROWS", 1500)  # several streamed chunks
    paths = write_retail(tmp_path, orders=4000, seed=5)
    customers, products, orders = (_csv(paths[name]) for name in ("customers", "products", "orders"))
    assert (customers.num_rows, products.num_rows, orders.num_rows) == (200, 20, 4000)
    assert orders.column("order_id").to_pylist() == list(range(1, 4001))
    assert set(orders.column("customer_id").to_pylist()) <= set(customers.column("customer_id").to_pylist())
    assert set(orders.column("product_id").to_pylist()) <= set(products.column("product_id").to_pylist())
    skus = products.column("sku")
    assert pc.all(pc.match_substring_regex(skus, r"^\d{3}-\d{3}$")).as_py()
    assert orders.column("amount").null_count == 0
    assert pc.all(pc.match_substring_regex(orders.column("amount"), r"^\d+\.\d{2}$")).as_py()
    assert 0.6 < orders.column("discount").null_count / orders.num_rows < 0.8
    assert customers.column("email").null_count > 0
    dates = orders.column("order_date").to_pylist()
    assert min(dates) >= dt.date(2023, 1, 1) and max(dates) <= dt.date(2024, 12, 31)
    assert (max(dates) - min(dates)).days > 600
    top_customer_share = pc.max(pc.value_counts(orders.column("customer_id")).field("counts")).as_py() / 4000
    assert top_customer_share > 3 / 200  # skewed: the busiest customer has over 3x a uniform share
    assert set(orders.column("status").to_pylist()) == {
        "completed",
        "shipped",
        "pending",
        "cancelled",
        "returned",
    }


def test_every_format_holds_the_same_rows(tmp_path: Path) -> None:
    csv = write_retail(tmp_path / "csv", orders=1200, seed=9)
    reference = _csv(csv["orders"])
    gz = write_retail(tmp_path / "gz", orders=1200, seed=9, fmt="csv.gz")
    assert gz["orders"].name == "orders.csv.gz"
    assert _csv(gz["orders"]).equals(reference)
    parquet = write_retail(tmp_path / "pq", orders=1200, seed=9, fmt="parquet")
    table = pq.read_table(parquet["orders"])
    assert table.num_rows == 1200 and table.schema.field("amount").type == pa.decimal128(12, 2)
    assert table.column("order_id").to_pylist() == reference.column("order_id").to_pylist()
    ndjson = write_retail(tmp_path / "nd", orders=1200, seed=9, fmt="ndjson")
    lines = ndjson["orders"].read_text().splitlines()
    assert len(lines) == 1200
    assert (
        json.loads(lines[0])["order_id"] == 1
        and json.loads(lines[0])["amount"] == reference["amount"][0].as_py()
    )
