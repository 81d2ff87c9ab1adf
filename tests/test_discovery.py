"""Issue 11, tables that exist already: pointed at a warehouse that has tables it never loaded, `ask` sees
them (per schema, with the database's keys and FKs) and `refresh` picks up new, changed and dropped ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError
from etl_assistant.tools import get_tool
from etl_assistant.tools.base import ToolContext
from tests.support.source_db import temporary_database


def run(ctx: ToolContext, tool: str, **args):  # noqa: ANN201 - the tool's output model
    return get_tool(tool).run(ctx, args)


@pytest.fixture
def shop_url() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def pg_context(tmp_path: Path, warehouse_url: str, **settings) -> ToolContext:  # noqa: ANN003
    return ToolContext(settings=Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                                         warehouse_url=warehouse_url, _env_file=None, **settings))


@pytest.mark.postgres
def test_ask_answers_over_tables_it_never_loaded(tmp_path: Path, shop_url: str) -> None:
    ctx = pg_context(tmp_path, shop_url, discover_schemas=["*"])
    count = run(ctx, "ask", question="how many orders are there")  # the first question discovers
    assert count.rows == [[5]] and count.clarification is None
    joined = run(ctx, "ask", question="total amount by customer name")
    assert '"customers"."customer_id"' in joined.sql  # joined along the database's own foreign key
    assert sorted(joined.rows) == [["Ann", 200.5], ["Bob", 225.25], ["Cy", 42]]
    by_country = run(ctx, "ask", question="orders by country")
    assert sorted(by_country.rows, key=str) == sorted([["France", 2], ["Germany", 2], [None, 1]], key=str)
    tables = {t.table: t for t in ctx.catalog.list_tables(ctx.tenant)}
    assert set(tables) == {"customers", "orders", "big_orders", "archive.orders_2019"}  # per schema
    assert tables["orders"].ddl.startswith("CREATE TABLE orders (") and "PRIMARY KEY" in tables["orders"].ddl
    archived = run(ctx, "run_query", sql="SELECT count(*) FROM archive.orders_2019")
    assert archived.rows == [[0]]
    view = run(ctx, "run_query", sql="SELECT max(amount) FROM big_orders")
    assert view.rows == [[210]]


@pytest.mark.postgres
def test_refresh_picks_up_new_changed_and_dropped_tables(tmp_path: Path, shop_url: str) -> None:
    ctx = pg_context(tmp_path, shop_url)  # the search path: public
    first = run(ctx, "refresh")
    assert sorted(first.added) == ["big_orders", "customers", "orders"]
    assert run(ctx, "refresh").model_dump() == {"added": [], "changed": [], "removed": [], "unchanged": 3,
                                               "skipped": [], "unprofiled": [], "profiled": []}
    with psycopg.connect(shop_url, autocommit=True) as db:
        db.execute("CREATE TABLE refunds (refund_id int PRIMARY KEY, order_id bigint REFERENCES orders, "
                   "amount numeric(10, 2)); INSERT INTO refunds VALUES (1, 12, 15.25), (2, 13, 10)")
        db.execute("ALTER TABLE customers ADD COLUMN tier text DEFAULT 'basic'")
        db.execute("DROP VIEW big_orders")
    report = run(ctx, "refresh")
    assert (report.added, report.changed, report.removed, report.unchanged) == (
        ["refunds"], ["customers"], ["big_orders"], 1)
    assert run(ctx, "ask", question="how many refunds are there").rows == [[2]]
    assert ctx.catalog.get_dataset(ctx.tenant, "customers").column("tier").samples == ["basic"]
    [rel] = ctx.catalog.list_relationships(ctx.tenant, "refunds")
    assert (rel.relationship.column, rel.relationship.ref_dataset) == ("order_id", "orders")
    with pytest.raises(ToolError, match="not one you can query"):
        run(ctx, "run_query", sql="SELECT * FROM big_orders")


@pytest.mark.postgres
def test_a_catalog_in_the_same_database_stays_hidden(tmp_path: Path, shop_url: str) -> None:
    ctx = pg_context(tmp_path, shop_url, catalog_url=shop_url)
    report = run(ctx, "refresh")
    assert sorted(report.added) == ["big_orders", "customers", "orders"]
    assert not any(name.startswith("etla_") for name in report.added + report.skipped)


@pytest.mark.postgres
def test_the_schemas_to_discover_can_be_named(tmp_path: Path, shop_url: str) -> None:
    ctx = pg_context(tmp_path, shop_url, discover_schemas=["archive"])
    assert run(ctx, "refresh").added == ["archive.orders_2019"]
    assert run(ctx, "ask", question="how many orders_2019 are there").rows == [[0]]


def test_chdb_tables_made_outside_the_assistant_are_askable(tmp_path: Path, local_settings: Settings) -> None:
    ctx = ToolContext(settings=local_settings)
    ctx.warehouse.execute("CREATE TABLE trips (trip_id UInt32, city LowCardinality(String), fare Float64) "
                          "ENGINE = MergeTree ORDER BY trip_id")
    ctx.warehouse.execute("INSERT INTO trips VALUES (1, 'Oslo', 10.5), (2, 'Oslo', 4.5), (3, 'Rome', 7)")
    answer = run(ctx, "ask", question="total fare by city")
    assert sorted(answer.rows) == [["Oslo", 15.0], ["Rome", 7.0]]
    ctx.warehouse.execute("CREATE TABLE stops (stop_id UInt32, trip_id UInt32) "
                          "ENGINE = MergeTree ORDER BY stop_id")
    assert run(ctx, "refresh").added == ["stops"]


def test_a_tenants_loaded_tables_are_not_discovered_by_another(tmp_path: Path,
                                                               local_settings: Settings) -> None:
    path = tmp_path / "salaries.csv"
    path.write_text("person,salary\nann,100\nbob,200\n")
    owner = ToolContext(settings=local_settings, tenant="owner")
    run(owner, "load_table", path=str(path))  # into the owner's namespace, etla_owner
    owner.warehouse.execute("CREATE TABLE owners_calendar (day Date) ENGINE = MergeTree ORDER BY day")
    operator = ToolContext(settings=local_settings)  # the configured warehouse, outside every namespace
    operator.warehouse.execute("CREATE TABLE shared_calendar (day Date) ENGINE = MergeTree ORDER BY day")
    everywhere = local_settings.model_copy(update={"discover_schemas": ["*"]})
    other = ToolContext(settings=everywhere, tenant="other")
    assert run(other, "refresh").added == ["default.shared_calendar"]  # nothing of etla_owner's
    with pytest.raises(ToolError, match="not one you can query"):
        run(other, "run_query", sql="SELECT * FROM salaries")
    assert run(owner, "refresh").added == ["owners_calendar"]  # the owner's own load stays a load
    assert run(operator, "refresh").added == ["shared_calendar"]


def test_discovery_can_be_switched_off(tmp_path: Path, local_settings: Settings) -> None:
    ctx = ToolContext(settings=local_settings.model_copy(update={"discover_warehouse": False}))
    ctx.warehouse.execute("CREATE TABLE hidden (x UInt8) ENGINE = MergeTree ORDER BY x")
    assert run(ctx, "refresh").skipped == ["discovery is off (ETLA_DISCOVER_WAREHOUSE=false)"]
    with pytest.raises(ToolError, match="There is no data to ask about yet"):
        run(ctx, "ask", question="how many hidden are there")


def test_the_warehouse_listing_hides_another_tenants_tables(tmp_path: Path, local_settings: Settings) -> None:
    path = tmp_path / "salaries.csv"
    path.write_text("person,salary\nann,100\nbob,200\n")
    owner = ToolContext(settings=local_settings, tenant="owner")
    run(owner, "load_table", path=str(path))
    owner.warehouse.execute("CREATE TABLE owners_calendar (day Date) ENGINE = MergeTree ORDER BY day")
    ToolContext(settings=local_settings).warehouse.execute(  # the configured warehouse: nobody's
        "CREATE TABLE calendar (day Date) ENGINE = MergeTree ORDER BY day")
    other = ToolContext(settings=local_settings, tenant="other")
    assert [t.name for t in run(other, "list_tables").tables] == ["calendar"]
    assert [t.name for t in run(other, "list_tables", schema_name="etla_owner").tables] == []
    assert [t.name for t in run(owner, "list_tables").tables] == ["calendar", "owners_calendar", "salaries"]
    off = local_settings.model_copy(update={"discover_warehouse": False})
    private = ToolContext(settings=off, tenant="x")
    assert run(private, "list_tables").tables == []


@pytest.mark.postgres
def test_profiling_stops_at_the_time_budget_and_resumes_next_refresh(tmp_path: Path, shop_url: str) -> None:
    hurried = pg_context(tmp_path, shop_url, discover_budget_s=0)
    first = run(hurried, "refresh")
    assert sorted(first.added) == sorted(first.unprofiled) == ["big_orders", "customers", "orders"]
    orders = hurried.catalog.get_dataset(hurried.tenant, "orders")
    assert orders.warnings[0].startswith("Not profiled yet") and orders.primary_key == ["order_id"]
    assert run(hurried, "ask", question="how many orders are there").rows == [[5]]  # structure is enough
    assert run(hurried, "refresh").unchanged == 3  # still no budget: nothing to redo
    patient = pg_context(tmp_path, shop_url)
    second = run(patient, "refresh")
    assert (sorted(second.profiled), second.unprofiled, second.added) == (
        ["big_orders", "customers", "orders"], [], [])
    assert patient.catalog.get_dataset(patient.tenant, "orders").column("status").distinct_count == 3
