"""load_table and list_datasets end to end on real engines and a real catalog (SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import Warehouse
from etl_assistant.warehouse.catalog import Catalog
from tests.support.datasets import orders_schema, write_orders_csv
from tests.support.postgres import pg_schema  # noqa: F401 - pytest fixture
from tests.support.warehouses import (  # noqa: F401 - the `warehouse` and `clickhouse_fake` fixtures
    clickhouse_fake_fixture,
    warehouse_fixture,
)


@pytest.fixture
def ctx(tmp_path: Path, warehouse: Warehouse) -> ToolContext:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    return ToolContext(settings=Settings(data_dir=tmp_path), tenant="acme",
                       _overrides={"warehouse": warehouse, "catalog": catalog})


def register_orders(ctx: ToolContext, tmp_path: Path, rows: int, name: str = "orders") -> Path:
    path = tmp_path / f"{name}_{rows}.csv"
    write_orders_csv(path, rows)
    ctx.catalog.save_dataset(ctx.tenant, orders_schema(path, name=name, row_count=rows))
    return path


def load(ctx: ToolContext, **args):  # noqa: ANN003, ANN201 - tool arguments / output model
    return get_tool("load_table").run(ctx, args)


def leftovers(warehouse: Warehouse) -> list[str]:
    return [t for t in warehouse.tables() if "__staging_" in t]


def test_load_dataset_creates_table_and_records_it(ctx: ToolContext, tmp_path: Path) -> None:
    register_orders(ctx, tmp_path, 120)
    progress: list[tuple] = []
    ctx.progress = lambda done, total, message: progress.append((done, total, message))
    out = load(ctx, dataset="orders")
    assert (out.table, out.rows, out.dialect) == ("orders", 120, ctx.warehouse.dialect)
    assert out.ddl.startswith('CREATE TABLE "orders"') and out.method and out.elapsed_s >= 0
    assert ctx.warehouse.count_rows("orders") == 120
    assert float(ctx.warehouse.query('SELECT SUM(amount) FROM "orders"').rows[0][0]) == pytest.approx(
        sum((i * 37) % 10000 / 100 for i in range(1, 121)))
    record = ctx.catalog.get_table("acme", "orders")
    assert (record.dataset, record.row_count, record.ddl, record.version) == ("orders", 120, out.ddl, 1)
    assert progress and progress[-1][0] == 120
    assert leftovers(ctx.warehouse) == []


def test_existing_table_needs_replace(ctx: ToolContext, tmp_path: Path) -> None:
    register_orders(ctx, tmp_path, 10)
    load(ctx, dataset="orders", table="orders_t")
    register_orders(ctx, tmp_path, 25)
    with pytest.raises(ToolError, match="already exists; pass replace=true"):
        load(ctx, dataset="orders", table="orders_t")
    assert ctx.warehouse.count_rows("orders_t") == 10
    out = load(ctx, dataset="orders", table="orders_t", replace=True)
    assert out.rows == 25 and ctx.warehouse.count_rows("orders_t") == 25
    assert ctx.catalog.get_table("acme", "orders_t").row_count == 25
    assert leftovers(ctx.warehouse) == []


def test_failed_replace_keeps_the_old_table(ctx: ToolContext, tmp_path: Path) -> None:
    register_orders(ctx, tmp_path, 10)
    load(ctx, dataset="orders")
    bad = register_orders(ctx, tmp_path, 30)
    bad.write_text(bad.read_text().replace("\n17,", "\nseventeen,", 1))
    with pytest.raises((ToolError, WarehouseError)):
        load(ctx, dataset="orders", replace=True)
    assert ctx.warehouse.count_rows("orders") == 10
    assert ctx.catalog.get_table("acme", "orders").row_count == 10
    assert leftovers(ctx.warehouse) == []


def test_changed_file_fails_the_count_check(ctx: ToolContext, tmp_path: Path) -> None:
    path = register_orders(ctx, tmp_path, 40)
    write_orders_csv(path, 45)  # the file grew after inference
    with pytest.raises(WarehouseError, match="Loaded 45 rows but the source has 40.*inspect it again"):
        load(ctx, dataset="orders")
    assert not ctx.warehouse.table_exists("orders")
    assert ctx.catalog.get_table("acme", "orders") is None
    assert leftovers(ctx.warehouse) == []


def test_unknown_dataset_and_bad_names(ctx: ToolContext, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="none yet: upload or inspect a file first"):
        load(ctx, dataset="nope")
    register_orders(ctx, tmp_path, 5)
    with pytest.raises(ToolError, match="known datasets: orders"):
        load(ctx, dataset="nope")
    with pytest.raises(ToolError, match="Say what to load"):
        load(ctx)


def test_list_datasets(ctx: ToolContext, tmp_path: Path) -> None:
    assert get_tool("list_datasets").run(ctx, {}).datasets == []
    path = register_orders(ctx, tmp_path, 7)
    register_orders(ctx, tmp_path, 3, name="returns")
    out = get_tool("list_datasets").run(ctx, {})
    summary = [(d.name, d.format, d.row_count) for d in out.datasets]
    assert summary == [("orders", "csv", 7), ("returns", "csv", 3)]
    assert out.datasets[0].source == str(path)
    assert out.datasets[0].columns == ["order_id", "customer_id", "amount", "ordered_on", "paid", "note"]
    other = ToolContext(settings=ctx.settings, tenant="other", _overrides=ctx._overrides)
    assert get_tool("list_datasets").run(other, {}).datasets == []


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet", "ndjson"])
def test_load_path_infers_registers_and_matches_source(ctx: ToolContext, tmp_path: Path, fmt: str) -> None:
    """The whole path: a generated retail file -> infer_schema -> DDL -> staged load -> swap -> catalog."""
    files = write_retail(tmp_path / "src", 2_000, fmt=fmt)
    out = load(ctx, path=str(files["orders"]), table="orders")
    assert out.rows == 2_000
    with duckdb.connect() as db:
        reader = "read_parquet" if fmt == "parquet" else "read_json_auto" if fmt == "ndjson" else "read_csv"
        expected = db.execute("SELECT COUNT(*), SUM(CAST(amount AS DECIMAL(18, 2))), "
                              f"COUNT(DISTINCT order_id), COUNT(discount) FROM {reader}(?)",
                              [str(files["orders"])]).fetchone()
    got = ctx.warehouse.query('SELECT COUNT(*), SUM(amount), COUNT(DISTINCT order_id), COUNT(discount) '
                              'FROM "orders"').rows[0]
    assert (int(got[0]), round(float(got[1]), 2), int(got[2]), int(got[3])) == (
        expected[0], round(float(expected[1]), 2), expected[2], expected[3])
    dataset = ctx.catalog.get_dataset("acme", "orders")
    assert dataset is not None and dataset.source == str(files["orders"].resolve())
    assert ctx.catalog.get_table("acme", "orders").dataset == "orders"


def test_load_json_array_goes_through_typed_batches(ctx: ToolContext, tmp_path: Path) -> None:
    """A JSON array no engine reads as-is: inferred, then loaded from the typed Arrow batches."""
    records = [{"id": i, "city": ["Oslo", "Lima", None][i % 3], "seen": f"2024-03-{1 + i % 28:02d}",
                "ok": i % 2 == 0, "price": f"{i * 1.25:.2f}"} for i in range(1, 301)]
    path = tmp_path / "visits.json"
    path.write_text(json.dumps(records))
    out = load(ctx, path=str(path))
    assert (out.table, out.rows) == ("visits", 300)
    got = ctx.warehouse.query('SELECT COUNT(*), COUNT(city), SUM(price), MAX(seen), '
                              'SUM(CASE WHEN ok THEN 1 ELSE 0 END) FROM "visits"').rows[0]
    assert (int(got[0]), int(got[1]), round(float(got[2]), 2), str(got[3]), int(got[4])) == (
        300, 200, round(sum(i * 1.25 for i in range(1, 301)), 2), "2024-03-28", 150)


def test_messy_csv_values_load_alike_on_every_engine(ctx: ToolContext, tmp_path: Path) -> None:
    """Spellings the inference accepts (Yes/no, padded numbers, NA/null) mean the same in every engine."""
    lines = ["id;active;qty;note"]
    for i in range(1, 201):
        active = ["Yes", "no", "YES", "No"][i % 4]
        qty = "NA" if i % 10 == 0 else f" {i} " if i % 7 == 0 else str(i)
        note = "null" if i % 5 == 0 else f"n{i}"
        lines.append(f"{i};{active};{qty};{note}")
    path = tmp_path / "messy.csv"
    path.write_text("\n".join(lines) + "\n")
    out = load(ctx, path=str(path))
    assert out.rows == 200
    got = ctx.warehouse.query('SELECT SUM(CASE WHEN active THEN 1 ELSE 0 END), COUNT(qty), SUM(qty), '
                              'COUNT(note) FROM "messy"').rows[0]
    qty_values = [i for i in range(1, 201) if i % 10]
    assert tuple(int(v) for v in got) == (100, len(qty_values), sum(qty_values), 160)
