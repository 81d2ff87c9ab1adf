"""A warehouse namespace per tenant on real engines (chDB database, PostgreSQL schema, SQLite file): the same
table name loads independently per tenant, a tenant's introspection and guard see only its own tables, and
ETLA_TENANT keeps the warehouse exactly as configured. Once keys exist, a key holder's tenant reads files only
from its own uploads; without keys a context naming another tenant still reads the configured roots."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from etl_assistant.access.keys import key_store
from etl_assistant.agent.context import SharedResources
from etl_assistant.config import Settings
from etl_assistant.errors import EtlError
from etl_assistant.tools import get_tool
from etl_assistant.tools.base import ToolContext
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.namespaces import namespace, tenant_url
from tests.support.datasets import write_orders_csv
from tests.support.postgres import ADMIN_URL, temporary_schema

PASSWORD = "pw-never-shown-42"  # trust auth ignores it; it must still never appear in a sentence


@pytest.fixture(params=["chdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "chdb":
        yield f"chdb://{tmp_path / 'wh'}"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wh.db'}"
    else:
        with temporary_schema("etla_ns") as schema:
            yield (f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test"
                   f"?options=-csearch_path%3D{schema}")


@pytest.fixture
def tenants() -> Iterator[tuple[str, str]]:
    """Two tenant names unique to this test; their PostgreSQL schemas (if any were made) are dropped."""
    names = (f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}")
    yield names
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(namespace(name))))


def test_each_tenant_has_its_own_tables(warehouse_url: str, tenants: tuple[str, str], tmp_path: Path) -> None:
    first, second = tenants
    settings = Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", warehouse_url=warehouse_url,
                        _env_file=None)
    write_orders_csv(tmp_path / "orders.csv", 9)
    key_store(settings.resolved_catalog_url).create(first, "test")  # with keys, other tenants are confined
    resources = SharedResources(settings)
    try:
        operator = ToolContext(settings=settings, tenant=settings.tenant, _overrides=resources)
        assert get_tool("load_table").run(operator, {"path": str(tmp_path / "orders.csv")}).rows == 9
        for tenant, rows in ((first, 4), (second, 6)):
            uploads = settings.uploads_dir / tenant
            uploads.mkdir(parents=True)
            write_orders_csv(uploads / "orders.csv", rows)
            ctx = ToolContext(settings=settings, tenant=tenant, _overrides=resources)
            assert get_tool("load_table").run(ctx, {"path": str(uploads / "orders.csv")}).rows == rows
        counts = {}
        for tenant in (settings.tenant, first, second):
            ctx = ToolContext(settings=settings, tenant=tenant, _overrides=resources)
            assert ctx.warehouse.tables() == ["orders"]
            counts[tenant] = get_tool("run_query").run(ctx, {"sql": "SELECT count(*) AS n FROM orders"}).rows
        assert counts == {settings.tenant: [[9]], first: [[4]], second: [[6]]}
        assert connect(warehouse_url).count_rows("orders") == 9  # the configured namespace is the operator's
        assert connect(tenant_url(warehouse_url, first)).count_rows("orders") == 4
        ctx = ToolContext(settings=settings, tenant=first, _overrides=resources)
        with pytest.raises(EtlError) as outside:
            get_tool("infer_schema").run(ctx, {"path": str(tmp_path / "orders.csv")})
        assert "outside the allowed folders" in str(outside.value)
        with pytest.raises(EtlError) as crossing:
            get_tool("run_query").run(ctx, {"sql": f"SELECT * FROM {namespace(second)}.orders"})
        assert "known tables: orders." in str(crossing.value)
        assert PASSWORD not in str(crossing.value) + str(outside.value)
    finally:
        resources.close()


def test_without_keys_every_context_reads_the_configured_roots(tmp_path: Path) -> None:
    settings = Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None)
    write_orders_csv(tmp_path / "orders.csv", 3)
    ctx = ToolContext(settings=settings, tenant="acme", _overrides=SharedResources(settings))
    assert get_tool("infer_schema").run(ctx, {"path": str(tmp_path / "orders.csv")}).row_count == 3
    key_store(settings.resolved_catalog_url).create("globex", "test")
    confined = ToolContext(settings=settings, tenant="acme")
    with pytest.raises(EtlError, match="outside the allowed folders"):
        get_tool("infer_schema").run(confined, {"path": str(tmp_path / "orders.csv")})
    operator = ToolContext(settings=settings, tenant=settings.tenant)
    assert get_tool("infer_schema").run(operator, {"path": str(tmp_path / "orders.csv")}).row_count == 3


def test_tenant_urls_per_engine() -> None:
    assert tenant_url("chdb:///srv/wh", "acme") == "chdb:///srv/wh?database=etla_acme"
    assert tenant_url("clickhouse://u:p@ch:8123/analytics?compress=lz4", "acme") == \
        "clickhouse://u:p@ch:8123/etla_acme?compress=lz4"
    assert tenant_url("sqlite:///srv/warehouse.db", "acme") == "sqlite:///srv/warehouse.etla_acme.db"
    pg = tenant_url("postgresql://u:p@db:5432/dw?options=-csearch_path%3Dmarts%20-cstatement_timeout%3D5000",
                    "acme")
    assert "search_path%3Detla_acme" in pg and "statement_timeout" in pg and "marts" not in pg
