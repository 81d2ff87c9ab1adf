"""infer_schema on warehouse tables, on every engine: a file loaded with our DDL is profiled back from the
table with the same logical types, exact row count and keys."""

from __future__ import annotations

import uuid
from pathlib import Path

from etl_assistant.config import Settings
from etl_assistant.ddl import generate_ddl
from etl_assistant.schema.infer import infer_file, infer_table, table_values
from etl_assistant.warehouse import Warehouse
from tests.support.postgres import pg_schema  # noqa: F401 - pytest fixture
from tests.support.warehouses import clickhouse_fake_fixture, warehouse_fixture  # noqa: F401 - fixtures

CSV = "order_id,code,amount,placed_on,active\n" + "".join(
    f"{i},{i % 7:03d},{i * 1.25:.2f},2024-01-{i % 28 + 1:02d},{'yes' if i % 2 else 'no'}\n"
    for i in range(1, 41)
)


def test_table_round_trip(warehouse: Warehouse, tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    source = infer_file(path, local_settings)
    table = f"infer_{uuid.uuid4().hex[:8]}"
    for statement in generate_ddl(source, warehouse.dialect, table).statements:
        warehouse.execute(statement)
    warehouse.load_file(table, source)
    schema = infer_table(warehouse, table, name="orders_table")
    assert (schema.name, schema.format, schema.source, schema.row_count) == (
        "orders_table",
        "table",
        f"table:{table}",
        40,
    )
    types = {c.identifier: c.type for c in schema.columns}
    assert types["order_id"] == "integer" and types["code"] == "string" and types["placed_on"] == "date"
    assert types["amount"] == "decimal"
    assert types["active"] in ("boolean", "integer")  # SQLite has no boolean: it stores 0/1
    assert schema.column("order_id").unique and schema.column("code").distinct_count == 7
    assert schema.column("code").min == "000" and schema.column("placed_on").max == "2024-01-28"
    codes = table_values(warehouse, table, "code")
    assert sorted(codes.to_pylist()) == [f"{i:03d}" for i in range(7)]
