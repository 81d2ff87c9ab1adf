"""Every adapter on its real engine: DDL, bulk load round-trip, bounded read-only queries, introspection."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_assistant.ddl import generate_ddl
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.schema.model import ColumnProfile, DatasetSchema, Dialect
from etl_assistant.warehouse import Warehouse, connect
from etl_assistant.warehouse.chdb_engine import shared_session
from tests.support.clickhouse_http import ClickHouseHTTPFake
from tests.support.datasets import column, orders_schema, write_orders_csv
from tests.support.postgres import pg_schema  # noqa: F401 - pytest fixture
from tests.support.warehouses import (  # noqa: F401 - the `warehouse` and `clickhouse_fake` fixtures
    clickhouse_fake_fixture,
    open_warehouse,
    warehouse_fixture,
)

ROWS = 3_000
CHECKSUM = ("SELECT COUNT(*), SUM(amount), COUNT(DISTINCT order_id), COUNT(note), "
            "SUM(CASE WHEN paid THEN 1 ELSE 0 END)")


def source_checksum(path: Path, delimiter: str = ",") -> tuple:
    """The same figures computed from the file itself by DuckDB (independent of our readers)."""
    with duckdb.connect() as db:
        row = db.execute(
            f"{CHECKSUM} FROM read_csv(?, delim=?, header=true, all_varchar=false, "
            "types={'amount': 'DECIMAL(12,2)', 'note': 'VARCHAR', 'paid': 'BOOLEAN'})",
            [str(path), delimiter]).fetchone()
    return tuple(row)


def create(warehouse: Warehouse, schema: DatasetSchema, table: str) -> None:
    for statement in generate_ddl(schema, warehouse.dialect, table).statements:
        warehouse.execute(statement)


def loaded_checksum(warehouse: Warehouse, table: str) -> tuple:
    return normalized(warehouse.query(f'{CHECKSUM} FROM "{table}"').rows[0])


def normalized(row: tuple) -> tuple:
    return tuple(int(v) if i != 1 else round(float(v), 2) for i, v in enumerate(row))


def test_load_round_trip(warehouse: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_orders_csv(path, ROWS)
    schema = orders_schema(path, row_count=ROWS)
    create(warehouse, schema, "orders")
    seen: list[tuple] = []
    result = warehouse.load_file("orders", schema, progress=lambda d, t, m: seen.append((d, t, m)))
    assert result.rows == ROWS and result.table == "orders"
    assert seen and seen[-1][0] == ROWS
    assert loaded_checksum(warehouse, "orders") == normalized(source_checksum(path))
    assert warehouse.count_rows("orders") == ROWS


def test_load_semicolon_day_first_dates(warehouse: Warehouse, tmp_path: Path) -> None:
    """A layout engines cannot take as-is (day-first dates) goes through the typed Arrow batches."""
    path = tmp_path / "orders_eu.csv"
    records = write_orders_csv(path, 500, delimiter=";")
    text = path.read_text()
    for r in records:  # rewrite ISO dates as dd.mm.yyyy
        y, m, d = r["ordered_on"].split("-")
        text = text.replace(f";{r['ordered_on']};", f";{d}.{m}.{y};", 1)
    path.write_text(text)
    schema = orders_schema(path, row_count=500, delimiter=";")
    schema.column("ordered_on").details.datetime_format = "%d.%m.%Y"
    create(warehouse, schema, "orders_eu")
    result = warehouse.load_file("orders_eu", schema)
    assert result.rows == 500
    first = warehouse.query('SELECT ordered_on FROM "orders_eu" WHERE order_id = 1').rows[0][0]
    assert str(first) == "2024-02-02"
    amounts = round(sum(float(r["amount"]) for r in records), 2)
    assert loaded_checksum(warehouse, "orders_eu")[:3] == (500, amounts, 500)


def test_query_limit_and_read_only(warehouse: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_orders_csv(path, 50)
    schema = orders_schema(path, row_count=50)
    create(warehouse, schema, "orders")
    warehouse.load_file("orders", schema)
    result = warehouse.query('SELECT order_id FROM "orders" ORDER BY order_id', limit=10)
    assert result.columns == ["order_id"] and [r[0] for r in result.rows] == list(range(1, 11))
    assert result.truncated is True
    assert warehouse.query('SELECT order_id FROM "orders"', limit=50).truncated is False
    for write in ['INSERT INTO "orders" SELECT * FROM "orders"', 'DROP TABLE "orders"',
                  'CREATE TABLE "sneaky" ("a" INTEGER)']:
        with pytest.raises(ToolError):
            warehouse.query(write)
    assert warehouse.count_rows("orders") == 50
    assert "sneaky" not in warehouse.tables()
    # The same session still writes after a refused read-only query.
    warehouse.execute('DELETE FROM "orders" WHERE order_id > 40' if warehouse.dialect != "clickhouse"
                      else 'ALTER TABLE "orders" DELETE WHERE order_id > 40 SETTINGS mutations_sync = 1')
    assert warehouse.count_rows("orders") == 40


def test_query_timeout(warehouse: Warehouse) -> None:
    slow = {
        "clickhouse": "SELECT count() FROM numbers(100000000000)",
        "postgres": "SELECT pg_sleep(5)",
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    }[warehouse.dialect]
    with pytest.raises(ToolError, match="ran longer than 1s and was stopped"):
        warehouse.query(slow, timeout_s=1)


def test_introspection(warehouse: Warehouse, tmp_path: Path) -> None:
    schema = orders_schema(tmp_path / "unused.csv")
    create(warehouse, schema, "orders")
    assert "orders" in warehouse.tables() and warehouse.table_exists("orders")
    columns = warehouse.columns("orders")
    assert [c.name for c in columns] == [c.identifier for c in schema.columns]
    assert {c.name for c in columns if c.nullable} == {"note"}
    assert warehouse.count_rows("orders") == 0
    assert warehouse.columns("missing_table") == []


def test_swap_replaces_atomically(warehouse: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_orders_csv(path, 30)
    schema = orders_schema(path, row_count=30)
    create(warehouse, schema, "orders")
    create(warehouse, schema, "orders_next")
    warehouse.load_file("orders_next", schema)
    warehouse.swap_table("orders_next", "orders")
    assert warehouse.count_rows("orders") == 30
    assert "orders_next" not in warehouse.tables()
    # Swapping into a name that does not exist yet is a rename.
    create(warehouse, schema, "orders_new")
    warehouse.swap_table("orders_new", "orders_fresh")
    assert "orders_fresh" in warehouse.tables() and "orders_new" not in warehouse.tables()


def test_bad_value_fails_with_a_sentence(warehouse: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_orders_csv(path, 20)
    path.write_text(path.read_text().replace("\n7,", "\nseven,", 1))
    schema = orders_schema(path, row_count=20)
    create(warehouse, schema, "orders")
    said = r"^Column 'order_id' holds 'seven', which is not an integer as inferred; .*inspect the file again"
    with pytest.raises(ToolError, match=said) as failed:  # the same sentence on every engine
        warehouse.load_file("orders", schema)
    assert str(tmp_path) not in str(failed.value)  # never a server path
    assert warehouse.count_rows("orders") == 0  # nothing half-written


def test_unreachable_postgres() -> None:
    wh = connect("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")
    expected = r"Cannot reach PostgreSQL at 127\.0\.0\.1:1: .*ETLA_WAREHOUSE_URL"
    with pytest.raises(WarehouseError, match=expected):
        wh.tables()


def test_unreachable_clickhouse() -> None:
    wh = connect("clickhouse://default:@127.0.0.1:1/default?connect_timeout=2")
    expected = r"Cannot reach ClickHouse at 127\.0\.0\.1:1: .*ETLA_WAREHOUSE_URL"
    with pytest.raises(WarehouseError, match=expected):
        wh.tables()


def test_clickhouse_queries_carry_read_only_settings(clickhouse_fake, tmp_path: Path) -> None:  # noqa: ANN001
    """What the server receives: readonly=2, the time limit and the row cap as per-query settings."""
    wh = connect(clickhouse_fake.url)
    wh.query("SELECT number FROM numbers(10)", limit=3, timeout_s=7)
    sent = clickhouse_fake.requests[-1]
    limits = ("readonly", "max_execution_time", "max_result_rows", "result_overflow_mode")
    assert [sent[k] for k in limits] == ["2", "7", "4", "break"]
    wh.close()


def test_unusable_chdb_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    expected = r"Cannot open the chDB warehouse at .*a_file/wh: .*ETLA_WAREHOUSE_URL"
    with pytest.raises(WarehouseError, match=expected):
        connect(f"chdb://{blocker / 'wh'}").tables()


def test_unknown_scheme() -> None:
    with pytest.raises(WarehouseError, match="ETLA_WAREHOUSE_URL"):
        connect("mysql://localhost/db")


def test_ndjson_and_parquet_native_on_chdb(tmp_path: Path) -> None:
    """chDB reads NDJSON and Parquet itself; values keep their types."""
    rows = [{"id": i, "name": f"n{i}", "score": i / 4} for i in range(1, 101)]
    (tmp_path / "rows.ndjson").write_text("\n".join(json.dumps(r) for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    wh = connect(f"chdb://{tmp_path / 'chdb'}")
    for fmt, file in (("ndjson", "rows.ndjson"), ("parquet", "rows.parquet")):
        schema = DatasetSchema(name="rows", source=str(tmp_path / file), format=fmt, row_count=100,
                               columns=_profiles())
        table = f"rows_{fmt}"
        create(wh, schema, table)
        result = wh.load_file(table, schema)
        assert result.method == "chdb file()" and result.rows == 100
        assert wh.query(f'SELECT sum(id), sum(score), count(DISTINCT name) FROM "{table}"').rows[0] == (
            5050, 5050 / 4, 100)


def _profiles() -> list[ColumnProfile]:
    return [column("id", "integer", int_bits=32, signed=True), column("name", "string"),
            column("score", "float")]


@pytest.mark.parametrize("engine", ["chdb", "clickhouse"])
def test_clickhouse_datetimes_come_back_as_datetimes(engine: str, tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    """ClickHouse's Arrow output spells DateTime as uint32; results must still hold real datetimes."""
    wh = open_warehouse(engine, tmp_path, request)
    row = wh.query("SELECT toDateTime('2024-01-02 03:04:05', 'UTC') AS t, toDate('2024-01-02') AS d").rows[0]
    assert row[0].replace(tzinfo=None).isoformat() == "2024-01-02T03:04:05"
    assert row[1].isoformat() == "2024-01-02"


def test_chdb_sessions_are_shared_and_switch_safely(tmp_path: Path) -> None:
    """One directory serves concurrent blocks; another directory waits until they end, then takes over."""
    a, b = connect(f"chdb://{tmp_path / 'a'}"), connect(f"chdb://{tmp_path / 'b'}")
    a.execute('CREATE TABLE "t" ("x" UInt8) ENGINE = Memory')
    b.execute('CREATE TABLE "u" ("y" UInt8) ENGINE = Memory')
    done: dict[str, object] = {}

    def run(name: str, warehouse: Warehouse, sql: str) -> threading.Thread:
        thread = threading.Thread(target=lambda: done.setdefault(name, warehouse.query(sql).rows))
        thread.start()
        return thread

    with shared_session(str(tmp_path / "a")):
        same = run("same", a, 'SELECT count() FROM "t"')
        same.join(timeout=30)
        assert done["same"] == [(0,)]  # ran while the block held directory a
        other = run("other", b, 'SELECT count() FROM "u"')
        other.join(timeout=1)
        assert other.is_alive() and "other" not in done  # waits for directory a to be released
    other.join(timeout=30)
    assert done["other"] == [(0,)]

    errors: list[BaseException] = []

    def hammer(warehouse: Warehouse, table: str) -> None:
        try:
            for _ in range(10):
                assert warehouse.count_rows(table) == 0
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(wh, t)) for wh, t in [(a, "t"), (b, "u")] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(thread.is_alive() for thread in threads)


def test_clickhouse_server_gone_mid_session(tmp_path: Path) -> None:
    """A server that disappears after connecting is an infrastructure error, not a bad query."""
    with ClickHouseHTTPFake(str(tmp_path / "gone")) as fake:
        wh = connect(fake.url + "?connect_timeout=2&query_retries=0")
        assert wh.query("SELECT 1 AS one").rows == [(1,)]
    expected = r"Cannot reach ClickHouse at 127\.0\.0\.1:\d+: .*ETLA_WAREHOUSE_URL"
    with pytest.raises(WarehouseError, match=expected):
        wh.query("SELECT 1 AS one")
    wh.close()


def test_chdb_native_nulls_and_bad_dates(tmp_path: Path) -> None:
    """Null spellings become NULL in nullable date/boolean columns; a non-date value fails the load."""
    wh = connect(f"chdb://{tmp_path / 'chdb'}")
    path = tmp_path / "events.csv"
    path.write_text("id,day,ok\n1,2024-01-05,Yes\n2,NA,NA\n3,,no\n4,2024-02-29,\n")
    schema = DatasetSchema(name="events", source=str(path), format="csv", dialect=Dialect(), row_count=4,
                           columns=[column("id", "integer", int_bits=8, signed=False),
                                    column("day", "date", nullable=True, datetime_format="%Y-%m-%d"),
                                    column("ok", "boolean", nullable=True, true_values=["yes"],
                                           false_values=["no"])])
    create(wh, schema, "events")
    assert wh.load_file("events", schema).method == "chdb file()"
    assert wh.query('SELECT id, day, ok FROM "events" ORDER BY id').rows == [
        (1, date(2024, 1, 5), True), (2, None, None), (3, None, False), (4, date(2024, 2, 29), None)]
    path.write_text("id,day,ok\n1,2024-01-05,yes\n2,someday,no\n")
    create(wh, schema, "events_bad")
    with pytest.raises(ToolError, match="Column 'day' holds 'someday', which is not a date as inferred"):
        wh.load_file("events_bad", schema)
    assert wh.count_rows("events_bad") == 0
