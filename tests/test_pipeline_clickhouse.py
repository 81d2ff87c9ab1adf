"""A ClickHouse server table as a pipeline source, and a ClickHouse server as the warehouse of a query source.

The server is the loopback stand-in (tests/support/clickhouse_http.py: the real clickhouse-connect client
against chDB behind ClickHouse's HTTP interface). It serves every request in its `default` database, so the
source tables live in a database of their own and are named `database.table`, as a person may name them.
Targets: the embedded chDB, the local PostgreSQL and the ClickHouse server as the warehouse.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import Warehouse, connect
from tests.support.clickhouse_http import ClickHouseHTTPFake
from tests.support.pipeline_source import execute, source_database
from tests.support.postgres import schema_url, temporary_schema
from tests.support.warehouses import clickhouse_fake_fixture  # noqa: F401 - the `clickhouse_fake` fixture

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class ClickHouseSourceDb:
    url: str  # the `ch` connection
    database: str
    server: Warehouse

    def table(self, name: str) -> str:
        return f"{self.database}.{name}"

    def execute(self, sql: str) -> None:
        self.server.execute(sql.replace("{db}", self.database))


@pytest.fixture
def ch_source(clickhouse_fake: ClickHouseHTTPFake) -> Iterator[ClickHouseSourceDb]:
    """A ClickHouse source database with 200 `sales` rows (updated_at one second apart, microseconds)."""
    database = f"etla_chsrc_{uuid.uuid4().hex[:8]}"
    server = connect(clickhouse_fake.url)
    server.execute(f"CREATE DATABASE {database}")
    # another URL than the warehouse's (which some tests put on this server): read as a separate server
    source = ClickHouseSourceDb(f"{clickhouse_fake.url}?connect_timeout=10", database, server)
    try:
        source.execute(
            "CREATE TABLE {db}.sales (id Int32, region LowCardinality(String), amount Decimal(12, 2), "
            "note Nullable(String), updated_at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY id"
        )
        seed(source, 1, 200)
        yield source
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {database}")


def seed(source: ClickHouseSourceDb, first: int, last: int) -> None:
    source.execute(
        "INSERT INTO {db}.sales SELECT number, ['north', 'south', 'east', 'west'][number % 4 + 1], "
        "number * 1.25, "
        "if(number % 5 = 0, NULL, if(number % 5 = 1, '', concat('n, \"', toString(number), '\"'))), "
        "toDateTime64('2026-01-01 00:00:00', 6, 'UTC') + toIntervalSecond(number) "
        f"+ toIntervalMicrosecond(number % 7) FROM numbers({first}, {last - first + 1})"
    )


def source_rows(source: ClickHouseSourceDb) -> list[tuple]:
    rows = source.server.query(
        f"SELECT id, region, amount, note, updated_at FROM {source.table('sales')} ORDER BY id"
    ).rows
    return [(i, r, float(a), n, t.replace(tzinfo=UTC) if t.tzinfo is None else t) for i, r, a, n, t in rows]


def target_rows(ctx: ToolContext, table: str = "sales") -> list[tuple]:
    rows = ctx.warehouse.query(
        f'SELECT id, region, amount, note, updated_at FROM "{table}" ORDER BY id', read_only=False
    ).rows
    return [
        (i, r, float(a), n, (t.replace(tzinfo=UTC) if t.tzinfo is None else t).astimezone(UTC))
        for i, r, a, n, t in rows
    ]


def mutate(source: ClickHouseSourceDb, assignment: str, where: str, table: str = "sales") -> None:
    source.execute(
        f"ALTER TABLE {{db}}.{table} UPDATE {assignment} WHERE {where} SETTINGS mutations_sync = 2"
    )


@pytest.fixture(params=["chdb", "postgres"])
def ctx(
    request: pytest.FixtureRequest, tmp_path: Path, ch_source: ClickHouseSourceDb
) -> Iterator[ToolContext]:
    """A tool context whose `ch` connection is the ClickHouse source, on a chDB or a PostgreSQL warehouse."""
    connections = {"ch": ch_source.url}
    if request.param == "chdb":
        yield ToolContext(
            settings=Settings(
                data_dir=tmp_path / "data", allowed_roots=[tmp_path], connections=connections, _env_file=None
            ),
            user="tester",
        )
        return
    with temporary_schema("etla_chsrc_wh") as schema:
        context = ToolContext(
            settings=Settings(
                data_dir=tmp_path / "data",
                allowed_roots=[tmp_path],
                connections=connections,
                warehouse_url=schema_url(schema),
                _env_file=None,
            ),
            user="tester",
        )
        yield context
        context.warehouse.close()


def tool(ctx: ToolContext, tool_name: str, /, **args: object):  # noqa: ANN201 - the tool output model
    return get_tool(tool_name).run(ctx, args)


def create(ctx: ToolContext, **request: object):  # noqa: ANN201
    planned = tool(ctx, "create_pipeline", **request)
    return planned, tool(ctx, "apply_deploy", plan_id=planned.plan_id)


def test_incremental_by_cursor_merges_changed_rows_and_moves_the_cursor(
    ctx: ToolContext, ch_source: ClickHouseSourceDb
) -> None:
    source = ch_source
    listed = tool(ctx, "list_tables", connection="ch", schema_name=source.database)
    assert [(t.schema_name, t.name) for t in listed.tables] == [(source.database, "sales")]
    planned, applied = create(
        ctx,
        source_connection="ch",
        source_table=source.table("sales"),
        mode="incremental",
        cursor="updated_at",
        primary_key=["id"],
        lag_seconds=5,
    )
    assert applied.steps[0].rows == 200
    assert target_rows(ctx) == source_rows(source)  # NULL, '' and quoted text kept; microseconds in UTC
    name = planned.pipeline.name
    first = PipelineStore(ctx.catalog).state("default", name).cursor
    assert first == START + timedelta(seconds=200, microseconds=200 % 7)
    mutate(source, "amount = amount + 1000, updated_at = now64(6)", "id <= 5")
    seed(source, 201, 203)
    report = tool(ctx, "run_pipeline", name=name)
    # 5 updated, 3 new, and the rows inside the 5 s lag window before the last cursor read again (merged)
    assert report.status == "succeeded" and report.rows_read == 5 + 3 + 6
    assert target_rows(ctx) == source_rows(source)
    assert len({r[0] for r in target_rows(ctx)}) == 203  # one row per key
    assert PipelineStore(ctx.catalog).state("default", name).cursor > first
    assert ctx.catalog.get_table("default", "sales").row_count == 203
    # nothing changed: only the 5 s lag window before the last cursor (the 5 updated rows) is read again
    again = tool(ctx, "run_pipeline", name=name)
    assert (again.rows_written, len(target_rows(ctx))) == (5, 203)


def test_a_failed_read_leaves_target_and_cursor_and_names_the_connection(
    ctx: ToolContext, ch_source: ClickHouseSourceDb
) -> None:
    source = ch_source
    planned, _ = create(
        ctx,
        source_connection="ch",
        source_table=source.table("sales"),
        mode="incremental",
        cursor="updated_at",
        primary_key=["id"],
    )
    name = planned.pipeline.name
    before = PipelineStore(ctx.catalog).state("default", name)
    source.execute("ALTER TABLE {db}.sales RENAME COLUMN region TO area")
    with pytest.raises(WarehouseError, match=r"failed after 1 attempt\(s\).*region") as caught:
        tool(ctx, "run_pipeline", name=name)
    assert "clickhouse://" not in str(caught.value)
    assert PipelineStore(ctx.catalog).state("default", name) == before
    assert len(target_rows(ctx)) == 200


def test_incremental_without_a_key_drops_the_boundary_rows(
    ctx: ToolContext, ch_source: ClickHouseSourceDb
) -> None:
    source = ch_source
    source.execute("CREATE TABLE {db}.events (id Int64, kind String) ENGINE = MergeTree ORDER BY id")
    source.execute("INSERT INTO {db}.events SELECT number, 'first' FROM numbers(1, 50)")
    planned, applied = create(
        ctx, source_connection="ch", source_table=source.table("events"), mode="incremental", cursor="id"
    )
    assert planned.pipeline.primary_key == [] and applied.steps[0].rows == 50
    source.execute("INSERT INTO {db}.events VALUES (50, 'late'), (51, 'new'), (52, 'new')")
    assert tool(ctx, "run_pipeline", name=planned.pipeline.name).rows_written == 3  # (50, 'first') dropped
    assert tool(ctx, "run_pipeline", name=planned.pipeline.name).rows_written == 0
    rows = ctx.warehouse.query('SELECT id, kind FROM "events" ORDER BY id, kind', read_only=False).rows
    assert rows == [(i, "first") for i in range(1, 51)] + [(50, "late"), (51, "new"), (52, "new")]


def test_full_refresh_runs_the_transforms_on_the_server(
    ctx: ToolContext, ch_source: ClickHouseSourceDb
) -> None:
    source = ch_source
    planned, applied = create(
        ctx,
        source_connection="ch",
        source_table=source.table("sales"),
        target_table="sales_eur",
        mode="full_refresh",
        transforms=[
            {"kind": "filter", "expression": "region <> 'north'"},
            {"kind": "rename", "column": "amount", "to": "amount_usd"},
            {"kind": "derive", "to": "amount_x2", "expression": "amount_usd * 2"},
        ],
    )
    assert applied.steps[0].rows == 150
    source.execute("INSERT INTO {db}.sales VALUES (1000, 'south', 1, NULL, now64(6))")
    assert tool(ctx, "run_pipeline", name=planned.pipeline.name).rows_written == 151
    rows = ctx.warehouse.query(
        'SELECT id, amount_usd, amount_x2 FROM "sales_eur" ORDER BY id', read_only=False
    ).rows
    expected = [(i, a) for i, r, a, _n, _t in source_rows(source) if r != "north"]
    assert [(i, float(a)) for i, a, _x in rows] == expected and all(x == a * 2 for _i, a, x in rows)


def test_upsert_by_key_replaces_rows_by_key(ctx: ToolContext, ch_source: ClickHouseSourceDb) -> None:
    source = ch_source
    source.execute(
        "CREATE TABLE {db}.prices (sku String, price Decimal(10, 2)) ENGINE = MergeTree ORDER BY sku"
    )
    source.execute("INSERT INTO {db}.prices VALUES ('a', 1), ('b', 2)")
    planned, _ = create(
        ctx, source_connection="ch", source_table=source.table("prices"), mode="upsert", primary_key=["sku"]
    )
    mutate(source, "price = 5", "sku = 'a'", table="prices")
    source.execute("INSERT INTO {db}.prices VALUES ('c', 3)")
    tool(ctx, "run_pipeline", name=planned.pipeline.name)
    rows = ctx.warehouse.query('SELECT sku, price FROM "prices" ORDER BY sku', read_only=False).rows
    assert [(s, float(p)) for s, p in rows] == [("a", 5.0), ("b", 2.0), ("c", 3.0)]


@pytest.fixture
def server_ctx(
    tmp_path: Path, clickhouse_fake: ClickHouseHTTPFake, ch_source: ClickHouseSourceDb
) -> Iterator[ToolContext]:
    """The warehouse is the ClickHouse server; `ch` is the source table's connection, `shop` PostgreSQL."""
    with source_database() as shop:
        settings = Settings(
            data_dir=tmp_path / "data",
            allowed_roots=[tmp_path],
            warehouse_url=clickhouse_fake.url,
            connections={"ch": ch_source.url, "shop": shop},
            _env_file=None,
        )
        context = ToolContext(settings=settings, user="tester")
        before = set(context.warehouse.tables())
        yield context
        for name in set(context.warehouse.tables()) - before:
            context.warehouse.drop_table(name)


def test_a_server_table_into_a_server_warehouse(
    server_ctx: ToolContext, ch_source: ClickHouseSourceDb
) -> None:
    source = ch_source
    planned, applied = create(
        server_ctx,
        source_connection="ch",
        source_table=source.table("sales"),
        target_table="chsrc_sales",
        mode="incremental",
        cursor="updated_at",
        primary_key=["id"],
    )
    assert applied.steps[0].rows == 200
    mutate(source, "region = 'moved', updated_at = now64(6)", "id = 7")
    assert tool(server_ctx, "run_pipeline", name=planned.pipeline.name).rows_written == 2  # id 7 + boundary
    assert target_rows(server_ctx, "chsrc_sales") == source_rows(source)
    leftovers = [t for t in server_ctx.warehouse.tables() if "__staging_" in t]
    assert leftovers == []  # the batch's incoming table is dropped


def test_a_read_only_query_into_a_server_warehouse(server_ctx: ToolContext) -> None:
    shop = server_ctx.settings.connections["shop"].get_secret_value()
    execute(
        shop,
        "CREATE TABLE customers (id int PRIMARY KEY, name text, vip boolean NOT NULL, "
        "note text, changed_at timestamptz NOT NULL)",
    )
    execute(
        shop,
        "INSERT INTO customers VALUES (1, 'Ann', true, NULL, '2026-03-01 10:00:00.5+00'), "
        "(2, NULL, false, '', '2026-03-01 11:00:00+00'), (3, 'Bo, \"the\" 2nd', true, 'x', "
        "'2026-03-01 12:00:00+00')",
    )
    planned, applied = create(
        server_ctx,
        source_connection="shop",
        target_table="chsrc_customers",
        source_query="SELECT id, name, vip, note, changed_at FROM customers WHERE id < 100",
        mode="incremental",
        cursor="changed_at",
        primary_key=["id"],
    )
    assert applied.steps[0].rows == 3
    execute(shop, "UPDATE customers SET vip = false, changed_at = now() WHERE id = 3")
    tool(server_ctx, "run_pipeline", name=planned.pipeline.name)
    rows = server_ctx.warehouse.query(
        'SELECT id, name, vip, note, changed_at FROM "chsrc_customers" ORDER BY id'
    ).rows
    assert [r[:4] for r in rows] == [
        (1, "Ann", True, None),
        (2, None, False, ""),
        (3, 'Bo, "the" 2nd', False, "x"),
    ]
    assert rows[0][4].replace(tzinfo=UTC) == datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)


def test_a_read_only_query_on_the_server_is_a_source(ctx: ToolContext, ch_source: ClickHouseSourceDb) -> None:
    source = ch_source
    query = (f"SELECT id, region, amount * 2 AS doubled, updated_at FROM {source.table('sales')} "
             "WHERE id > 100")
    planned, applied = create(ctx, source_connection="ch", source_query=query, target_table="big_sales",
                              mode="incremental", cursor="updated_at", primary_key=["id"])
    assert applied.steps[0].rows == 100
    mutate(source, "amount = 0, updated_at = now64(6)", "id = 150")
    assert tool(ctx, "run_pipeline", name=planned.pipeline.name).rows_written == 2  # id 150 + the boundary
    rows = ctx.warehouse.query('SELECT id, doubled FROM "big_sales" ORDER BY id', read_only=False).rows
    assert [(i, float(d)) for i, d in rows] == [(i, 0.0 if i == 150 else i * 2.5) for i in range(101, 201)]
    with pytest.raises(ToolError, match="Only read-only SELECT"):
        tool(ctx, "create_pipeline", source_connection="ch", target_table="x",
             source_query=f"DROP TABLE {source.table('sales')}")


def test_a_server_that_is_down_is_retried_then_fails_leaving_target_and_cursor(
    tmp_path: Path, ch_source: ClickHouseSourceDb
) -> None:
    from etl_assistant.pipelines.runner import run_pipeline

    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                        connections={"ch": ch_source.url}, _env_file=None)
    planned, _ = create(ToolContext(settings=settings), source_connection="ch",
                        source_table=ch_source.table("sales"), mode="incremental", cursor="updated_at",
                        primary_key=["id"])
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = f"clickhouse://default:s3cret@127.0.0.1:{port}/default"
    ctx = ToolContext(settings=Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                                        connections={"ch": down}, _env_file=None))
    before = PipelineStore(ctx.catalog).state("default", planned.pipeline.name)
    report = run_pipeline(ctx, planned.pipeline.name, retries=3, retry_base_s=0.05)
    assert report is not None and (report.status, report.attempts) == ("failed", 3)
    name = planned.pipeline.name
    assert report.error.startswith(f"Run 2 of {name} failed after 3 attempt(s): Cannot reach the source ch:")
    assert "s3cret" not in report.error
    assert PipelineStore(ctx.catalog).state("default", planned.pipeline.name) == before
    assert len(target_rows(ctx)) == 200
