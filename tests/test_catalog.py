"""Catalog on SQLite (file in a temp dir) and on the local PostgreSQL (a schema per test session)."""

from __future__ import annotations

import threading

import pytest

from etl_assistant.errors import WarehouseError
from etl_assistant.warehouse.catalog import Catalog
from tests.support.datasets import column, orders_schema
from tests.support.postgres import pg_schema, schema_url  # noqa: F401 - pytest fixture

_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog(request, tmp_path) -> Catalog:
    if request.param == "sqlite":
        return Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    return Catalog(schema_url(request.getfixturevalue("pg_schema")))


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test, so tests sharing the session's PostgreSQL schema never see each other."""
    return f"t{next(_counter)}"


def test_save_and_get_round_trip(catalog: Catalog, tenant: str) -> None:
    schema = orders_schema(row_count=10)
    assert catalog.save_dataset(tenant, schema) == 1
    assert catalog.get_dataset(tenant, "orders") == schema
    assert catalog.get_dataset(tenant, "missing") is None
    assert [d.name for d in catalog.list_datasets(tenant)] == ["orders"]


def test_version_bumps_only_on_shape_change(catalog: Catalog, tenant: str) -> None:
    schema = orders_schema(row_count=10)
    assert catalog.save_dataset(tenant, schema) == 1
    assert catalog.schema_version(tenant, "orders") == 1
    # More rows, same columns: same version.
    assert catalog.save_dataset(tenant, schema.model_copy(update={"row_count": 99})) == 1
    assert catalog.get_dataset(tenant, "orders").row_count == 99
    assert catalog.schema_version(tenant, "orders") == 1
    # A new column: new version, and the generic schema version moves too.
    wider = schema.model_copy(update={"columns": [*schema.columns, column("region", "string")]})
    assert catalog.save_dataset(tenant, wider) == 2
    assert catalog.dataset_version(tenant, "orders") == 2
    assert catalog.schema_version(tenant, "orders") == 2


def test_tenants_are_isolated(catalog: Catalog, tenant: str) -> None:
    other = tenant + "_other"
    catalog.save_dataset(tenant, orders_schema())
    assert catalog.get_dataset(other, "orders") is None
    assert catalog.list_datasets(other) == []
    catalog.record_table(tenant, "orders", "orders", "clickhouse", "CREATE TABLE orders (a Int32)", 5)
    assert catalog.get_table(other, "orders") is None
    assert catalog.list_tables(other) == []
    assert catalog.schema_version(other, "orders") == 0


def test_relationships_stored_and_replaced(catalog: Catalog, tenant: str) -> None:
    schema = orders_schema()
    catalog.save_dataset(tenant, schema)
    rels = catalog.list_relationships(tenant)
    assert [(r.dataset, r.relationship) for r in rels] == [("orders", schema.relationships[0])]
    assert len(catalog.list_relationships(tenant, dataset="customers")) == 1
    assert catalog.list_relationships(tenant, dataset="products") == []
    catalog.save_dataset(tenant, schema.model_copy(update={"relationships": []}))
    assert catalog.list_relationships(tenant) == []


def test_delete_dataset(catalog: Catalog, tenant: str) -> None:
    catalog.save_dataset(tenant, orders_schema())
    assert catalog.delete_dataset(tenant, "orders") is True
    assert catalog.get_dataset(tenant, "orders") is None
    assert catalog.list_relationships(tenant) == []
    assert catalog.schema_version(tenant, "orders") == 2
    assert catalog.delete_dataset(tenant, "orders") is False


def test_record_table_versions(catalog: Catalog, tenant: str) -> None:
    ddl = "CREATE TABLE orders (order_id UInt32) ENGINE = MergeTree ORDER BY order_id"
    assert catalog.record_table(tenant, "orders", "orders", "clickhouse", ddl, 10) == 1
    # A reload with the same DDL keeps the version and updates the row count.
    assert catalog.record_table(tenant, "orders", "orders", "clickhouse", ddl, 12) == 1
    record = catalog.get_table(tenant, "orders")
    assert (record.table, record.dataset, record.dialect, record.ddl, record.row_count, record.version) == (
        "orders", "orders", "clickhouse", ddl, 12, 1)
    assert catalog.record_table(tenant, "orders", "orders", "clickhouse", ddl + ", amount", 12) == 2
    catalog.record_table(tenant, "big", None, "clickhouse", ddl, 5_000_000_000)
    assert [(t.table, t.row_count) for t in catalog.list_tables(tenant)] == [("big", 5_000_000_000),
                                                                            ("orders", 12)]
    assert catalog.delete_table(tenant, "big") is True
    assert catalog.get_table(tenant, "big") is None


def test_bump_schema_version(catalog: Catalog, tenant: str) -> None:
    assert catalog.schema_version(tenant, "daily_revenue") == 0
    assert catalog.bump_schema_version(tenant, "daily_revenue") == 1
    assert catalog.bump_schema_version(tenant, "daily_revenue") == 2
    assert catalog.schema_version(tenant, "daily_revenue") == 2


def test_save_is_atomic(catalog: Catalog, tenant: str) -> None:
    """A failure half-way (a relationship row that violates NOT NULL) leaves the previous state intact."""
    schema = orders_schema(row_count=1)
    catalog.save_dataset(tenant, schema)
    broken = schema.model_copy(update={"row_count": 2, "columns": schema.columns[:2]})
    broken.relationships[0].__dict__["ref_column"] = None  # bypass validation: the insert must fail
    with pytest.raises(WarehouseError, match="catalog"):
        catalog.save_dataset(tenant, broken)
    stored = catalog.get_dataset(tenant, "orders")
    assert stored.row_count == 1 and len(stored.columns) == 6
    assert catalog.schema_version(tenant, "orders") == 1


def test_unreachable_postgres_is_a_clear_error() -> None:
    expected = r"Cannot open the catalog at .*127\.0\.0\.1:1.*ETLA_CATALOG_URL"
    with pytest.raises(WarehouseError, match=expected):
        Catalog("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(WarehouseError, match="ETLA_CATALOG_URL"):
        Catalog("not a url")


def test_concurrent_first_saves_agree(catalog: Catalog, tenant: str) -> None:
    """Writers racing to create the same dataset/table/version all succeed and leave one consistent row."""
    schema = orders_schema(row_count=3)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            catalog.save_dataset(tenant, schema.model_copy(update={"row_count": i}))
            catalog.record_table(tenant, "orders", "orders", "postgres", "CREATE TABLE orders (a INT)", i)
            catalog.bump_schema_version(tenant, "daily")
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert catalog.dataset_version(tenant, "orders") == 1 and catalog.get_table(tenant, "orders").version == 1
    assert catalog.schema_version(tenant, "orders") == 2  # one name: the dataset appeared, then the table
    assert catalog.schema_version(tenant, "daily") == 8
    assert len(catalog.list_relationships(tenant)) == 1
