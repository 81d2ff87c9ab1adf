"""Pipelines end to end on real engines: a PostgreSQL source whose TimeZone is not UTC, into the embedded chDB
and into a PostgreSQL warehouse, through the tools (create_pipeline -> apply_deploy -> run_pipeline ...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools import ToolContext, get_tool
from tests.support.pipeline_source import execute, seed_sales, source_database, source_rows
from tests.support.postgres import schema_url, temporary_schema

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def source() -> Iterator[str]:
    with source_database() as url:
        seed_sales(url, 1, 300)
        yield url


@pytest.fixture(params=["chdb", "postgres"])
def ctx(request: pytest.FixtureRequest, tmp_path: Path, source: str) -> Iterator[ToolContext]:
    """A tool context whose `shop` connection is the source, on a chDB or a PostgreSQL warehouse."""
    if request.param == "chdb":
        settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                            connections={"shop": source}, _env_file=None)
        yield ToolContext(settings=settings, user="tester")
        return
    with temporary_schema("etla_pipe_wh") as schema:
        settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                            connections={"shop": source}, warehouse_url=schema_url(schema), _env_file=None)
        context = ToolContext(settings=settings, user="tester")
        yield context
        context.warehouse.close()


def tool(ctx: ToolContext, tool_name: str, /, **args: object):  # noqa: ANN201 - the tool output model
    return get_tool(tool_name).run(ctx, args)


def create(ctx: ToolContext, **request: object):  # noqa: ANN201
    """create_pipeline, then apply_deploy of its plan (what the person's approval triggers)."""
    planned = tool(ctx, "create_pipeline", **request)
    applied = tool(ctx, "apply_deploy", plan_id=planned.plan_id)
    return planned, applied


def target_rows(ctx: ToolContext, table: str = "sales") -> list[tuple]:
    rows = ctx.warehouse.query(f'SELECT id, region, amount, updated_at FROM "{table}" ORDER BY id',
                               read_only=False).rows
    return [(i, r, a, (t.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)) for i, r, a, t in rows]


def test_create_pipeline_proposes_incremental_says_the_schedule_and_loads_every_row(
        ctx: ToolContext, source: str) -> None:
    planned = tool(ctx, "create_pipeline", source_connection="shop", source_table="sales",
                   schedule="daily at 2 AM")
    assert (planned.mode, planned.pipeline.cursor, planned.pipeline.primary_key) == (
        "incremental", "updated_at", ["id"])
    assert "updated rows replace their old version" in planned.mode_reason
    assert planned.schedule == "every day at 02:00 UTC"
    assert len(planned.next_runs) == 3 and planned.next_runs[0].endswith("T02:00+00:00")
    assert "sales" not in ctx.warehouse.tables()  # planning changes nothing
    applied = tool(ctx, "apply_deploy", plan_id=planned.plan_id)
    assert applied.steps[0].kind == "pipeline" and applied.steps[0].rows == 300
    # Every instant equal to the source's in UTC, although the source's sessions are in New York time.
    assert target_rows(ctx) == source_rows(source)
    spec = PipelineStore(ctx.catalog).get("default", planned.pipeline.name)
    assert spec.approved_by == "tester" and spec.schedule.cron == "0 2 * * *"


def test_rows_changed_between_and_during_runs_arrive_once(ctx: ToolContext, source: str) -> None:
    planned, _ = create(ctx, source_connection="shop", source_table="sales")
    name = planned.pipeline.name
    execute(source, "UPDATE sales SET amount = amount + 1000, updated_at = now() WHERE id <= 5")
    seed_sales(source, 301, 303)
    report = tool(ctx, "run_pipeline", name=name)
    assert report.rows_written >= 8
    assert target_rows(ctx) == source_rows(source)

    def change_during_the_run(done: float, total: float | None, message: str) -> None:
        if message.startswith("reading"):  # the cursor window is fixed; the batch is being read now
            execute(source, "UPDATE sales SET region = 'moved', updated_at = now() WHERE id = 10")
            seed_sales(source, 304, 304)
            execute(source, "UPDATE sales SET updated_at = now() WHERE id = 304")

    ctx.progress = change_during_the_run
    tool(ctx, "run_pipeline", name=name)
    ctx.progress = lambda done, total, message: None
    tool(ctx, "run_pipeline", name=name)
    rows = target_rows(ctx)
    assert rows == source_rows(source)
    assert len({r[0] for r in rows}) == len(rows) == 304  # one row per key: none duplicated, none skipped
    assert ctx.catalog.get_table("default", "sales").row_count == 304


def test_transforms_are_shown_in_the_plan_and_applied(ctx: ToolContext, source: str) -> None:
    planned, _ = create(ctx, source_connection="shop", source_table="sales", target_table="sales_eur",
                        mode="full_refresh", transforms=[
                            {"kind": "filter", "expression": "region <> 'north'"},
                            {"kind": "rename", "column": "amount", "to": "amount_usd"},
                            {"kind": "derive", "to": "amount_x2", "expression": "amount_usd * 2"},
                            {"kind": "cast", "column": "id", "type": "bigint"}])
    assert planned.transforms == ["keep rows where region <> 'north'", "rename amount to amount_usd",
                                  "derive amount_x2 = amount_usd * 2", "cast id to bigint"]
    assert "Full refresh" in planned.mode_reason
    rows = ctx.warehouse.query('SELECT id, amount_usd, amount_x2 FROM "sales_eur" ORDER BY id',
                               read_only=False).rows
    expected = [(i, a) for i, r, a, _t in source_rows(source) if r != "north"]
    assert [(i, a) for i, a, _e in rows] == expected
    assert all(x == a * 2 for _i, a, x in rows)


def test_a_bad_transform_column_or_cursor_is_one_sentence_before_anything_exists(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"filter transform refers to column 'nosuch'.*columns: id, region"):
        tool(ctx, "create_pipeline", source_connection="shop", source_table="sales",
             transforms=[{"kind": "filter", "expression": "nosuch > 1"}])
    with pytest.raises(ToolError, match="region is string, which cannot order changes"):
        tool(ctx, "create_pipeline", source_connection="shop", source_table="sales", mode="incremental",
             cursor="region")
    assert ctx.warehouse.tables() == []


def test_a_table_without_a_usable_cursor_is_one_sentence(ctx: ToolContext, source: str) -> None:
    execute(source, "CREATE TABLE notes (body text, tag text)")
    execute(source, "INSERT INTO notes VALUES ('a', 'x'), ('b', 'y')")
    with pytest.raises(ToolError, match="notes has no usable cursor for incremental loads"):
        tool(ctx, "create_pipeline", source_connection="shop", source_table="notes", mode="incremental")
    planned = tool(ctx, "create_pipeline", source_connection="shop", source_table="notes")
    assert planned.mode == "full_refresh" and "reloads it whole" in planned.mode_reason


def test_incremental_without_a_key_appends_and_drops_the_boundary_rows(ctx: ToolContext, source: str) -> None:
    execute(source, "CREATE TABLE events (id bigint NOT NULL, kind text NOT NULL)")
    execute(source, "INSERT INTO events SELECT g, 'first' FROM generate_series(1, 50) g")
    planned, _ = create(ctx, source_connection="shop", source_table="events", mode="incremental",
                        cursor="id")
    assert planned.pipeline.primary_key == [] and "dropping the boundary rows" in planned.mode_reason
    execute(source, "INSERT INTO events VALUES (50, 'late'), (51, 'new'), (52, 'new')")
    report = tool(ctx, "run_pipeline", name=planned.pipeline.name)
    assert report.rows_written == 3  # id 50 'first' is at the boundary and already loaded
    tool(ctx, "run_pipeline", name=planned.pipeline.name)
    rows = ctx.warehouse.query('SELECT id, kind FROM "events" ORDER BY id, kind', read_only=False).rows
    assert rows == [(i, "first") for i in range(1, 51)] + [(50, "late"), (51, "new"), (52, "new")]


def test_upsert_by_key_reads_everything_and_replaces_by_key(ctx: ToolContext, source: str) -> None:
    execute(source, "CREATE TABLE prices (sku text PRIMARY KEY, price numeric(10, 2) NOT NULL)")
    execute(source, "INSERT INTO prices VALUES ('a', 1), ('b', 2)")
    planned, _ = create(ctx, source_connection="shop", source_table="prices", mode="upsert")
    assert planned.pipeline.primary_key == ["sku"]
    execute(source, "UPDATE prices SET price = 5 WHERE sku = 'a'")
    execute(source, "INSERT INTO prices VALUES ('c', 3)")
    tool(ctx, "run_pipeline", name=planned.pipeline.name)
    rows = ctx.warehouse.query('SELECT sku, price FROM "prices" ORDER BY sku', read_only=False).rows
    assert [(s, float(p)) for s, p in rows] == [("a", 5.0), ("b", 2.0), ("c", 3.0)]


def test_list_pause_resume_runs_and_delete(ctx: ToolContext) -> None:
    planned, _ = create(ctx, source_connection="shop", source_table="sales", schedule="every 15 minutes")
    name = planned.pipeline.name
    listed = tool(ctx, "pipelines").pipelines
    assert [(p.name, p.schedule, p.last_status) for p in listed] == [
        (name, "every 15 minutes (UTC)", "succeeded")]
    assert listed[0].next_run is not None and listed[0].next_run.minute % 15 == 0
    assert tool(ctx, "pause_pipeline", name=name).next_run is None
    assert tool(ctx, "resume_pipeline", name=name).next_run is not None
    runs = tool(ctx, "pipeline_runs", name=name).runs
    assert [(r.trigger, r.status, r.rows_written) for r in runs] == [("create", "succeeded", 300)]
    assert runs[0].cursor_before is None and runs[0].cursor_after.startswith("2026-01-01T00:05:00")
    delete = get_tool("delete_pipeline")
    assert delete.needs_approval and delete.destructive
    result = tool(ctx, "delete_pipeline", name=name, drop_table=True)
    assert result.deleted and "sales" in result.dropped
    assert tool(ctx, "pipelines").pipelines == [] and "sales" not in ctx.warehouse.tables()
    with pytest.raises(ToolError, match="no pipeline named"):
        tool(ctx, "run_pipeline", name=name)


def test_a_failed_run_is_one_sentence_that_names_the_connection_not_its_secret(ctx: ToolContext,
                                                                                 source: str) -> None:
    planned, _ = create(ctx, source_connection="shop", source_table="sales")
    execute(source, "ALTER TABLE sales RENAME COLUMN region TO area")
    with pytest.raises(WarehouseError, match=r"failed after 1 attempt\(s\)") as caught:
        tool(ctx, "run_pipeline", name=planned.pipeline.name)
    assert "region" in str(caught.value) and "postgresql://" not in str(caught.value)
    assert tool(ctx, "pipeline_runs", name=planned.pipeline.name).runs[0].status == "failed"


def test_files_each_new_file_is_loaded_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None)
    ctx = ToolContext(settings=settings)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("order_id,amount\n1,10.5\n2,20.0\n")
    (inbox / "b.csv").write_text("order_id,amount\n3,1.0\n")
    planned, applied = create(ctx, source_path=str(inbox / "*.csv"), target_table="orders")
    assert planned.mode == "append" and "each new file once" in planned.mode_reason
    assert applied.steps[0].rows == 3
    name = planned.pipeline.name
    assert tool(ctx, "run_pipeline", name=name).rows_written == 0
    os.utime(inbox / "a.csv")  # touched, same content: not new
    assert tool(ctx, "run_pipeline", name=name).rows_written == 0
    (inbox / "c.csv").write_text("order_id,amount\n4,4.0\n5,5.0\n")
    (inbox / "b.csv").write_text("order_id,amount\n3,1.0\n6,6.0\n")  # changed content: loaded again
    assert tool(ctx, "run_pipeline", name=name).rows_written == 4
    ids = [r[0] for r in ctx.warehouse.query('SELECT order_id FROM "orders" ORDER BY order_id').rows]
    assert ids == [1, 2, 3, 3, 4, 5, 6]
    manifest = PipelineStore(ctx.catalog).loaded_files("default", name)
    assert [Path(f.path).name for f in manifest] == ["a.csv", "b.csv", "b.csv", "c.csv"]


def test_cli_pipelines_run_works_standalone_in_a_fresh_process(tmp_path: Path, source: str) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, allowed_roots=[tmp_path], connections={"shop": source},
                        _env_file=None)
    ctx = ToolContext(settings=settings)
    planned, _ = create(ctx, source_connection="shop", source_table="sales", schedule="daily at 2 AM")
    seed_sales(source, 301, 310)
    from etl_assistant.warehouse.chdb_engine import close_sessions

    close_sessions()  # the subprocess opens the same chDB directory
    env = {**os.environ, "ETLA_DATA_DIR": str(data), "ETLA_CONNECTIONS": json.dumps({"shop": source}),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = [sys.executable, "-m", "etl_assistant.cli", "pipelines"]
    done = subprocess.run([*command, "run", planned.pipeline.name], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "succeeded" and report["rows_written"] >= 10
    listed = subprocess.run([*command, "list", "--json"], env=env, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    [summary] = json.loads(listed.stdout)["pipelines"]
    assert (summary["schedule"], summary["last_status"]) == ("every day at 02:00 UTC", "succeeded")
    failed = subprocess.run([*command, "run", "nosuch"], env=env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert failed.returncode == 2 and "no pipeline named 'nosuch'" in failed.stderr


def test_a_table_of_the_embedded_warehouse_is_a_source(tmp_path: Path) -> None:
    ctx = ToolContext(settings=Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None))
    ctx.warehouse.execute('CREATE TABLE "raw_orders" ("order_id" Int32, "status" String, "total" Float64) '
                          "ENGINE = MergeTree ORDER BY order_id")
    ctx.warehouse.execute("INSERT INTO raw_orders SELECT number, if(number % 3 = 0, 'void', 'paid'), "
                          "number * 2 FROM numbers(1000)")
    planned, applied = create(ctx, source_table="raw_orders", target_table="paid_orders", mode="full_refresh",
                              transforms=[{"kind": "filter", "expression": "status = 'paid'"}])
    assert planned.source == "warehouse table raw_orders" and applied.steps[0].rows == 666
    ctx.warehouse.execute("INSERT INTO raw_orders VALUES (5000, 'paid', 1.0)")
    assert tool(ctx, "run_pipeline", name=planned.pipeline.name).rows_written == 667
    assert ctx.warehouse.count_rows("paid_orders") == 667


def test_a_read_only_query_is_a_source(ctx: ToolContext, source: str) -> None:
    execute(source, "CREATE TABLE customers (id int PRIMARY KEY, name text, vip boolean NOT NULL, "
                    "note text, changed_at timestamptz NOT NULL)")
    execute(source, "INSERT INTO customers VALUES (1, 'Ann', true, NULL, '2026-03-01 10:00:00.5+00'), "
                    "(2, NULL, false, '', '2026-03-01 11:00:00+00'), (3, 'Bo, \"the\" 2nd', true, 'x', "
                    "'2026-03-01 12:00:00+00')")
    planned, applied = create(ctx, source_connection="shop", target_table="customers",
                              source_query="SELECT id, name, vip, note, changed_at FROM customers "
                                           "WHERE id < 100",
                              mode="incremental", cursor="changed_at", primary_key=["id"])
    assert applied.steps[0].rows == 3
    execute(source, "UPDATE customers SET vip = false, changed_at = now() WHERE id = 3")
    tool(ctx, "run_pipeline", name=planned.pipeline.name)
    rows = ctx.warehouse.query('SELECT id, name, vip, note, changed_at FROM "customers" ORDER BY id',
                               read_only=False).rows
    assert [r[:4] for r in rows] == [(1, "Ann", True, None), (2, None, False, ""),
                                     (3, 'Bo, "the" 2nd', False, "x")]
    assert rows[0][4] == datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)
    with pytest.raises(ToolError, match="Only read-only SELECT"):
        tool(ctx, "create_pipeline", source_connection="shop", source_query="DELETE FROM customers",
             target_table="x")


def test_a_long_run_streams_rows_read_and_written(ctx: ToolContext, source: str) -> None:
    planned, _ = create(ctx, source_connection="shop", source_table="sales", mode="full_refresh")
    seed_sales(source, 301, 1_500_000)
    messages: list[tuple[float, str]] = []
    ctx.progress = lambda done, total, message: messages.append((done, message))
    report = tool(ctx, "run_pipeline", name=planned.pipeline.name)
    assert report.rows_written == 1_500_000
    during = [(done, m) for done, m in messages if "rows read" in m and done < 1_500_000]
    assert during, messages  # progress while the engine was still reading and writing
    assert messages[-1] == (1_500_000, f"{planned.pipeline.name}: 1500000 rows read, 1500000 written")
