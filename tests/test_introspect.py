"""A connection's tables and one table described, on real engines: PostgreSQL (a database made by plain SQL,
with schemas, a view and declared keys), SQLite, chDB and a ClickHouse server through clickhouse-connect."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.connections import Connection
from etl_assistant.pipelines.introspect import (
    TableRef,
    default_schema,
    describe_table,
    find_table,
    list_tables,
    logical_type,
    sample_texts,
    table_shape,
)
from etl_assistant.warehouse import connect
from tests.support.source_db import temporary_database
from tests.support.warehouses import clickhouse_fake_fixture  # noqa: F401 - pytest fixture

PASSWORD = "n0t-In-Errors"


@pytest.fixture(scope="module")
def shop() -> Iterator[Connection]:
    with temporary_database() as url:
        yield Connection("shop", "postgresql", SecretStr(url))


@pytest.mark.postgres
def test_postgres_tables_and_views_per_schema(shop: Connection) -> None:
    assert list_tables(shop) == [
        TableRef("archive", "orders_2019", "table"),
        TableRef("public", "customers", "table"),
        TableRef("public", "orders", "table"),
        TableRef("public", "big_orders", "view"),
    ]
    assert [t.name for t in list_tables(shop, "archive")] == ["orders_2019"]
    assert default_schema(shop) == "public"


@pytest.mark.postgres
def test_postgres_keys_come_from_the_constraints(shop: Connection) -> None:
    customers = table_shape(shop, find_table(shop, "customers"))
    assert customers.primary_key == ("customer_id",)
    assert customers.unique == [("email",)]
    orders = table_shape(shop, find_table(shop, "public.orders"))
    assert [(fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns) for fk in orders.foreign_keys] == [
        (("customer_id",), "public", "customers", ("customer_id",))]
    assert [(c.name, c.type, c.nullable) for c in orders.columns] == [
        ("order_id", "BIGINT", False), ("customer_id", "INTEGER", False), ("status", "TEXT", False),
        ("amount", "NUMERIC(10, 2)", False), ("ordered_at", "TIMESTAMP WITH TIME ZONE", False)]


@pytest.mark.postgres
def test_postgres_table_as_a_dataset(shop: Connection) -> None:
    orders = describe_table(shop, find_table(shop, "orders"))
    assert (orders.name, orders.source, orders.format, orders.row_count) == (
        "orders", "connection:shop/public.orders", "table", 5)
    assert orders.primary_key == ["order_id"]
    by_name = {c.name: c for c in orders.columns}
    assert by_name["order_id"].type == "integer" and by_name["order_id"].details.int_bits == 64
    assert by_name["order_id"].unique and not by_name["order_id"].nullable
    assert (by_name["amount"].type, by_name["amount"].details.precision, by_name["amount"].details.scale) == (
        "decimal", 10, 2)
    assert by_name["ordered_at"].type == "datetime" and by_name["ordered_at"].details.timezone
    status = by_name["status"]
    assert (status.distinct_count, status.min, status.max) == (3, "cancelled", "shipped")
    [fk] = orders.relationships
    assert (fk.column, fk.ref_dataset, fk.ref_column, fk.declared, fk.confidence) == (
        "customer_id", "customers", "customer_id", True, 1.0)
    customers = describe_table(shop, find_table(shop, "customers"))
    country = customers.column("country")
    assert country.nullable and country.null_fraction == pytest.approx(1 / 3, abs=1e-4)
    assert customers.column("email").unique


@pytest.mark.postgres
def test_the_sample_is_bounded(shop: Connection) -> None:
    orders = describe_table(shop, find_table(shop, "orders"), sample_limit=2)
    assert orders.row_count_estimated and orders.column("status").distinct_estimated
    assert "first 2 rows" in orders.warnings[0]
    assert not orders.column("amount").unique  # two sampled rows prove nothing about the rest
    assert orders.column("order_id").unique  # the primary key does


@pytest.mark.postgres
def test_views_describe_without_keys(shop: Connection) -> None:
    view = describe_table(shop, find_table(shop, "big_orders"))
    assert view.row_count == 2 and view.primary_key == [] and view.relationships == []


@pytest.mark.postgres
def test_unknown_and_ambiguous_tables_are_one_sentence(tmp_path: Path) -> None:
    twice = "CREATE SCHEMA a; CREATE SCHEMA b; CREATE TABLE a.t (x int); CREATE TABLE b.t (x int);"
    with temporary_database(twice) as url:
        conn = Connection("two", "postgresql", SecretStr(url))
        with pytest.raises(ToolError, match=r"several schemas of two \(a.t, b.t\)"):
            find_table(conn, "t")
        assert find_table(conn, "b.t") == TableRef("b", "t", "table")
        with pytest.raises(ToolError, match="has no table 'nope'; its tables: a.t, b.t"):
            find_table(conn, "nope")


@pytest.mark.postgres
def test_an_unreachable_database_names_the_connection_not_the_url() -> None:
    down = Connection("down", "postgresql", SecretStr(f"postgresql://etl:{PASSWORD}@127.0.0.1:1/db"))
    with pytest.raises(WarehouseError, match="Cannot read connection 'down'") as raised:
        list_tables(down)
    assert PASSWORD not in str(raised.value)


def test_sqlite_tables_keys_and_loose_types(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
            CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
                                 customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
                                 amount REAL, note);
            CREATE VIEW paid AS SELECT * FROM orders WHERE amount > 0;
            INSERT INTO customers VALUES (1, 'a@example.com'), (2, 'b@example.com');
            INSERT INTO orders VALUES (1, 1, 2.5, 'x'), (2, 2, 0, 7);
        """)
    conn = Connection("local", "sqlite", SecretStr(f"sqlite:///{path}"))
    assert list_tables(conn) == [TableRef(None, "customers"), TableRef(None, "orders"),
                                 TableRef(None, "paid", "view")]
    orders = describe_table(conn, find_table(conn, "orders"))
    assert orders.source == "connection:local/orders" and orders.primary_key == ["order_id"]
    assert [(c.name, c.type, c.nullable) for c in orders.columns] == [
        ("order_id", "integer", False), ("customer_id", "integer", False), ("amount", "float", True),
        ("note", "string", True)]  # an untyped column takes the sample's type
    assert [(r.column, r.ref_dataset) for r in orders.relationships] == [("customer_id", "customers")]


def _clickhouse_events(url: str) -> Connection:
    warehouse = connect(url)
    warehouse.execute("CREATE TABLE IF NOT EXISTS events (id UInt32, kind LowCardinality(String), "
                      "at DateTime64(3, 'UTC'), value Nullable(Decimal(12, 3))) "
                      "ENGINE = MergeTree ORDER BY id")
    warehouse.execute("TRUNCATE TABLE events")
    warehouse.execute("INSERT INTO events VALUES (1, 'click', '2024-01-01 00:00:00.125', 1.5), "
                      "(2, 'view', '2024-01-02 00:00:00', NULL), (3, 'click', '2024-01-03 00:00:00', 2)")
    warehouse.execute("CREATE VIEW IF NOT EXISTS clicks AS SELECT id FROM events WHERE kind = 'click'")
    return Connection("events", "chdb" if url.startswith("chdb") else "clickhouse", SecretStr(url))


def _check_clickhouse(conn: Connection) -> None:
    assert {(t.name, t.kind) for t in list_tables(conn)} >= {("events", "table"), ("clicks", "view")}
    events = describe_table(conn, find_table(conn, "events"))
    assert events.row_count == 3 and events.primary_key == []  # ClickHouse declares no unique keys
    assert [(c.name, c.type, c.nullable) for c in events.columns] == [
        ("id", "integer", False), ("kind", "string", False), ("at", "datetime", False),
        ("value", "decimal", True)]
    assert events.column("id").details.int_bits == 32 and events.column("id").details.signed is False
    assert events.column("at").details.fraction_digits == 3 and events.column("at").details.timezone
    assert events.column("kind").distinct_count == 2


def test_chdb_tables_and_description(tmp_path: Path) -> None:
    _check_clickhouse(_clickhouse_events(f"chdb://{tmp_path / 'chdb'}"))


def test_clickhouse_server_through_clickhouse_connect(clickhouse_fake) -> None:
    conn = _clickhouse_events(clickhouse_fake.url)
    try:
        _check_clickhouse(conn)
    finally:
        connect(conn.url).execute("DROP VIEW IF EXISTS clicks")
        connect(conn.url).execute("DROP TABLE IF EXISTS events")


@pytest.mark.parametrize(("text", "kind", "logical", "details"), [
    ("SMALLINT", "postgresql", "integer", {"int_bits": 16, "signed": True}),
    ("UInt64", "clickhouse", "integer", {"int_bits": 64, "signed": False}),
    ("Nullable(Int8)", "clickhouse", "integer", {"int_bits": 8, "signed": True}),
    ("NUMERIC(18, 4)", "postgresql", "decimal", {"precision": 18, "scale": 4}),
    ("NUMERIC", "postgresql", "decimal", {}),
    ("Decimal64(3)", "clickhouse", "decimal", {"precision": 18, "scale": 3}),
    ("DOUBLE PRECISION", "postgresql", "float", {}),
    ("TIMESTAMP WITHOUT TIME ZONE", "postgresql", "datetime", {"fraction_digits": 6, "timezone": False}),
    ("DateTime('Europe/Berlin')", "clickhouse", "datetime", {"fraction_digits": 0, "timezone": True}),
    ("DateTime64(6)", "clickhouse", "datetime", {"fraction_digits": 6, "timezone": False}),
    ("Date32", "clickhouse", "date", {}),
    ("JSONB", "postgresql", "json", {}),
    ("INTEGER[]", "postgresql", "json", {}),
    ("UUID", "postgresql", "uuid", {}),
    ("LowCardinality(String)", "clickhouse", "string", {}),
    ("BIGINT UNSIGNED", "sqlite", "integer", {"int_bits": 64, "signed": True}),
])
def test_logical_types_of_declared_types(text: str, kind: str, logical: str, details: dict) -> None:
    found = logical_type(text, kind)
    assert found is not None
    assert (found[0], found[1].model_dump(exclude_none=True)) == (logical, details)


def test_sample_values_keep_their_database_spelling() -> None:
    assert sample_texts(["NA", None, "null", ""]).to_pylist() == ["NA", None, "null", ""]  # not file nulls
    assert sample_texts([dt.datetime(2024, 1, 2, 3, 4, 5), None]).to_pylist() == ["2024-01-02 03:04:05", None]
    assert sample_texts([True, False]).to_pylist() == ["true", "false"]
    assert sample_texts([Decimal("1.50"), 2.25]).to_pylist() == ["1.50", "2.25"]  # mixed: one by one
