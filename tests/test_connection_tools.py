"""The connection tools through the registry, on a real PostgreSQL database made by plain SQL: connections,
add_connection, remove_connection (approval), list_tables, and infer_schema on a connection's table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError
from etl_assistant.tools import get_tool
from etl_assistant.tools.base import ToolContext
from tests.support.source_db import temporary_database

pytestmark = pytest.mark.postgres

PASSWORD = "Tool-Secret-42"


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    """The shop database's URL with a password in it (the local server trusts loopback, so it is not
    checked there; what matters is that it never shows)."""
    with temporary_database() as url:
        yield url.replace("postgres@", f"postgres:{PASSWORD}@")


@pytest.fixture
def ctx(local_settings: Settings) -> ToolContext:
    return ToolContext(settings=local_settings)


def run(ctx: ToolContext, tool: str, **args):  # noqa: ANN201 - the tool's output model
    return get_tool(tool).run(ctx, args)


def test_add_connection_names_it_after_the_database_and_hides_the_password(ctx: ToolContext,
                                                                           shop_url: str) -> None:
    added = run(ctx, "add_connection", url=shop_url)
    database = urlsplit(shop_url).path.strip("/")
    assert added.connection.name == database and added.created
    assert added.tables == 4 and added.schemas == ["archive", "public"]
    assert "***" in added.connection.url and PASSWORD not in added.model_dump_json()
    listed = run(ctx, "connections")
    assert [(c.name, c.origin) for c in listed.connections] == [(database, "catalog")]
    assert PASSWORD not in listed.model_dump_json()


def test_an_unreachable_database_is_not_saved(ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as raised:
        run(ctx, "add_connection", url=f"postgresql://etl:{PASSWORD}@127.0.0.1:1/shop", name="shop")
    assert "Cannot read connection 'shop'" in str(raised.value) and "Nothing was saved" in str(raised.value)
    assert PASSWORD not in str(raised.value)
    assert run(ctx, "connections").connections == []


def test_list_tables_of_a_connection_and_of_the_warehouse(local_settings: Settings, shop_url: str,
                                                          tmp_path: Path) -> None:
    settings = local_settings.model_copy(update={"connections": {"shop": SecretStr(shop_url)}})
    ctx = ToolContext(settings=settings)
    listed = run(ctx, "list_tables", connection="shop")
    assert listed.connection == "shop" and listed.kind == "postgresql"
    assert [(t.schema_name, t.name, t.kind) for t in listed.tables] == [
        ("archive", "orders_2019", "table"), ("public", "customers", "table"), ("public", "orders", "table"),
        ("public", "big_orders", "view")]
    assert [t.name for t in run(ctx, "list_tables", connection="shop", schema_name="archive").tables] == [
        "orders_2019"]
    ctx.warehouse.execute("CREATE TABLE loaded (id Int32) ENGINE = MergeTree ORDER BY id")
    warehouse = run(ctx, "list_tables")
    assert warehouse.connection == "warehouse" and warehouse.kind == "chdb"
    assert [t.name for t in warehouse.tables] == ["loaded"]
    with pytest.raises(ToolError, match=r"no connection named 'crm' \(known: shop\)"):
        run(ctx, "list_tables", connection="crm")


def test_infer_schema_learns_a_connection_table_with_its_keys(local_settings: Settings,
                                                              shop_url: str) -> None:
    settings = local_settings.model_copy(update={"connections": {"shop": SecretStr(shop_url)}})
    ctx = ToolContext(settings=settings)
    orders = run(ctx, "infer_schema", connection="shop", table="orders")  # before its dimension
    customers = run(ctx, "infer_schema", connection="shop", table="public.customers")
    assert orders.source == "connection:shop/public.orders" and orders.primary_key == ["order_id"]
    assert customers.column("email").unique
    stored = ctx.catalog.get_dataset(ctx.tenant, "orders")
    assert stored == orders
    assert stored.relationships[0].declared  # the database's own foreign key, not a guess
    [record] = ctx.catalog.list_relationships(ctx.tenant, "orders")  # what joins read
    rel = record.relationship
    assert (record.dataset, rel.column, rel.ref_dataset, rel.confidence) == (
        "orders", "customer_id", "customers", 1.0)
    named = run(ctx, "infer_schema", connection="shop", table="archive.orders_2019", name="old_orders")
    assert named.name == "old_orders" and named.source == "connection:shop/archive.orders_2019"
    with pytest.raises(ToolError, match="give the `table`"):
        run(ctx, "infer_schema", connection="shop", path="x.csv")


def test_a_file_finds_its_foreign_key_in_a_connection_table(local_settings: Settings, shop_url: str,
                                                            tmp_path: Path) -> None:
    settings = local_settings.model_copy(update={"connections": {"shop": SecretStr(shop_url)}})
    ctx = ToolContext(settings=settings)
    run(ctx, "infer_schema", connection="shop", table="customers")
    path = tmp_path / "tickets.csv"
    path.write_text("ticket_id,customer_id,topic\n1,1,billing\n2,2,login\n3,1,billing\n4,3,other\n")
    tickets = run(ctx, "infer_schema", path=str(path))
    assert [(r.column, r.ref_dataset, r.ref_column, r.containment) for r in tickets.relationships] == [
        ("customer_id", "customers", "customer_id", 1.0)]


def test_remove_connection_waits_for_approval(ctx: ToolContext, shop_url: str) -> None:
    tool = get_tool("remove_connection")
    assert tool.needs_approval and tool.destructive and not tool.read_only
    run(ctx, "add_connection", url=shop_url, name="shop")
    removed = run(ctx, "remove_connection", name="shop")
    assert removed.removed.name == "shop" and PASSWORD not in json.dumps(removed.model_dump())
    assert run(ctx, "connections").connections == []
