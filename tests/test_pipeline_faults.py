"""Pipeline faults on real engines: the source going down mid-run, a permanent error, kill -9 of a running
`etl-assistant pipelines run`, scheduler restarts and catch-up, and one run per slot across processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from etl_assistant.config import Settings
from etl_assistant.pipelines.locks import PipelineBusy, _advisory, _redis, advisory_key
from etl_assistant.pipelines.runner import run_pipeline
from etl_assistant.pipelines.scheduler import Scheduler, due_slot
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.catalog import Catalog
from tests.support.pipeline_source import execute, seed_sales, source_database, source_rows
from tests.support.postgres import ADMIN_URL, schema_url, temporary_schema
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def source() -> Iterator[str]:
    with source_database("etla_pipe_fault") as url:
        seed_sales(url, 1, 200)
        yield url


def _create(ctx: ToolContext, **request: object) -> str:
    planned = get_tool("create_pipeline").run(ctx, request)
    get_tool("apply_deploy").run(ctx, {"plan_id": planned.plan_id})
    return planned.pipeline.name


def _count(ctx: ToolContext, table: str) -> int:
    return ctx.warehouse.count_rows(table)


@pytest.mark.parametrize("mode", ["full_refresh", "incremental"])
def test_source_down_during_a_run_is_retried_then_fails_with_the_reason_target_unchanged(
        tmp_path: Path, source: str, mode: str) -> None:
    proxy = TcpProxy()
    # trust authentication ignores the password; it is here to prove no error shows it
    through_proxy = source.replace("postgres@127.0.0.1:5432", f"postgres:s3cret@127.0.0.1:{proxy.port}")
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                        connections={"shop": through_proxy}, _env_file=None)
    ctx = ToolContext(settings=settings)
    name = _create(ctx, source_connection="shop", source_table="sales", mode=mode)
    before = ctx.warehouse.query('SELECT * FROM "sales" ORDER BY id', read_only=False).rows
    store = PipelineStore(ctx.catalog)
    cursor_before = store.state("default", name)
    seed_sales(source, 201, 250)
    messages: list[str] = []

    def source_goes_down(done: float, total: float | None, message: str) -> None:
        messages.append(message)
        if message.startswith("reading"):  # the window is read; the batch itself is being read now
            proxy.stop()

    ctx.progress = source_goes_down
    report = run_pipeline(ctx, name, retries=3, retry_base_s=0.05)
    assert report is not None and report.status == "failed" and report.attempts == 3
    assert "source shop" in report.error and "refused" in report.error.lower()
    assert "s3cret" not in report.error and "postgresql://" not in report.error
    assert sum("retrying" in m for m in messages) == 2
    assert ctx.warehouse.query('SELECT * FROM "sales" ORDER BY id', read_only=False).rows == before
    assert store.state("default", name) == cursor_before
    assert [r.status for r in store.runs("default", name)] == ["failed", "succeeded"]
    assert not [t for t in ctx.warehouse.tables() if "__staging_" in t]


def test_a_permanent_error_is_not_retried(tmp_path: Path, source: str) -> None:
    role = f"etla_pipe_noread_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                            connections={"shop": source}, _env_file=None)
        name = _create(ToolContext(settings=settings), source_connection="shop", source_table="sales")
        denied = source.replace("postgres@", f"{role}@")
        ctx = ToolContext(settings=Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                                            connections={"shop": denied}, _env_file=None))
        started = time.perf_counter()
        report = run_pipeline(ctx, name, retries=3, retry_base_s=5)
        assert report is not None and report.status == "failed" and report.attempts == 1
        assert "permission denied" in report.error and time.perf_counter() - started < 5
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_kill_9_mid_run_then_the_next_run_redoes_the_batch_nothing_doubled(tmp_path: Path,
                                                                             source: str) -> None:
    execute(source, "CREATE TABLE events (id bigint NOT NULL, payload text NOT NULL)")
    data = tmp_path / "data"
    settings = Settings(data_dir=data, allowed_roots=[tmp_path], connections={"shop": source}, _env_file=None)
    ctx = ToolContext(settings=settings)
    name = _create(ctx, source_connection="shop", source_table="events", mode="incremental", cursor="id")
    execute(source, "INSERT INTO events SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 1500000) g")
    from etl_assistant.warehouse.chdb_engine import close_sessions

    close_sessions()  # the child process opens the same chDB directory
    env = {**os.environ, "ETLA_DATA_DIR": str(data), "ETLA_CONNECTIONS": json.dumps({"shop": source}),
           "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "etl_assistant.cli", "pipelines", "run", name], env=env,
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = PipelineStore(ctx.catalog)
    deadline = time.monotonic() + 60
    while not any(r.status == "running" for r in store.runs("default", name)) and time.monotonic() < deadline:
        assert child.poll() is None, "the run finished before it could be killed"
        time.sleep(0.02)
    time.sleep(0.5)  # the batch is being written into the warehouse
    assert child.poll() is None, "the run finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert store.state("default", name).batch == 0  # the killed batch never committed

    report = run_pipeline(ctx, name)
    assert report is not None and report.status == "succeeded"
    rows = ctx.warehouse.query('SELECT count(*), uniqExact(id), min(id), max(id) FROM "events"',
                               read_only=False).rows
    assert rows == [(1500000, 1500000, 1, 1500000)]
    assert [r.status for r in store.runs("default", name)][:2] == ["succeeded", "interrupted"]


def _scheduled(tmp_path: Path, source: str, **extra: object) -> tuple[ToolContext, str]:
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], connections={"shop": source},
                        _env_file=None, **extra)
    ctx = ToolContext(settings=settings)
    return ctx, _create(ctx, source_connection="shop", source_table="sales", schedule="every 15 minutes")


def _tick(scheduler: Scheduler, now: datetime) -> list[object]:
    async def go() -> list[object]:
        return list(await asyncio.gather(*await scheduler.tick(now)))

    return asyncio.run(go())


def test_after_downtime_one_catch_up_run_never_a_burst_never_a_double(tmp_path: Path, source: str) -> None:
    ctx, name = _scheduled(tmp_path, source)
    store = PipelineStore(ctx.catalog)
    spec = store.get("default", name)
    now = datetime.now(UTC)
    slot = due_slot(spec, now)
    three_days_ago = slot - timedelta(days=3)
    assert store.claim_slot("default", name, three_days_ago, store.last_slot("default", name))
    seed_sales(source, 201, 210)
    scheduler = Scheduler(settings=ctx.settings)
    reports = _tick(scheduler, now)
    assert len(reports) == 1 and reports[0].status == "succeeded"  # 288 missed slots, one run
    assert _tick(scheduler, now) == []  # the slot is done
    assert _tick(Scheduler(settings=ctx.settings), now + timedelta(seconds=20)) == []  # restart: no double
    assert [r.trigger for r in store.runs("default", name)] == ["catch-up", "create"]
    assert store.last_slot("default", name) == slot
    assert _count(ctx, "sales") == 210
    next_slot = slot + timedelta(minutes=15)
    reports = _tick(Scheduler(settings=ctx.settings), next_slot + timedelta(seconds=5))
    assert [r.status for r in reports] == ["succeeded"]
    assert store.runs("default", name)[0].trigger == "schedule"


def test_a_restart_after_a_dead_run_resumes_the_schedule_and_redoes_the_slot_once(tmp_path: Path,
                                                                                   source: str) -> None:
    ctx, name = _scheduled(tmp_path, source)
    store = PipelineStore(ctx.catalog)
    now = datetime.now(UTC)
    slot = due_slot(store.get("default", name), now)
    store.claim_slot("default", name, slot - timedelta(minutes=15), store.last_slot("default", name))
    store.start_run("default", name, "schedule", None)  # what a server killed mid-run leaves behind
    seed_sales(source, 201, 220)
    assert [r.status for r in _tick(Scheduler(settings=ctx.settings), now)] == ["succeeded"]
    assert _tick(Scheduler(settings=ctx.settings), now) == []
    assert [r.status for r in store.runs("default", name)] == ["succeeded", "interrupted", "succeeded"]
    assert target_equals_source(ctx, source)


def target_equals_source(ctx: ToolContext, source: str) -> bool:
    ids = [r[0] for r in ctx.warehouse.query('SELECT id FROM "sales" ORDER BY id', read_only=False).rows]
    return ids == [r[0] for r in source_rows(source)]


def test_paused_pipelines_are_not_started(tmp_path: Path, source: str) -> None:
    ctx, name = _scheduled(tmp_path, source)
    store = PipelineStore(ctx.catalog)
    store.claim_slot("default", name, datetime(2020, 1, 1, tzinfo=UTC), store.last_slot("default", name))
    get_tool("pause_pipeline").run(ctx, {"name": name})
    assert _tick(Scheduler(settings=ctx.settings), datetime.now(UTC)) == []
    get_tool("resume_pipeline").run(ctx, {"name": name})  # missed slots are skipped, not caught up
    assert _tick(Scheduler(settings=ctx.settings), datetime.now(UTC)) == []
    assert len(store.runs("default", name)) == 1


_TICK_SCRIPT = """
import asyncio, json, sys
from datetime import datetime
from etl_assistant.config import Settings
from etl_assistant.pipelines.scheduler import Scheduler
settings = Settings(_env_file=None)
async def main():
    tasks = await Scheduler(settings).tick(datetime.fromisoformat(sys.argv[1]))
    print(json.dumps([r.run_id for r in await asyncio.gather(*tasks) if r is not None]))
asyncio.run(main())
"""


def test_two_processes_on_a_postgresql_catalog_run_a_slot_once(tmp_path: Path, source: str) -> None:
    with temporary_schema("etla_pipe_cat") as catalog_schema, temporary_schema("etla_pipe_wh") as wh_schema:
        catalog_url, warehouse_url = schema_url(catalog_schema), schema_url(wh_schema)
        ctx, name = _scheduled(tmp_path, source, catalog_url=catalog_url, warehouse_url=warehouse_url)
        store = PipelineStore(ctx.catalog)
        now = datetime.now(UTC)
        slot = due_slot(store.get("default", name), now)
        store.claim_slot("default", name, slot - timedelta(hours=1), store.last_slot("default", name))
        env = {**os.environ, "ETLA_DATA_DIR": str(tmp_path / "data"), "ETLA_CATALOG_URL": catalog_url,
               "ETLA_WAREHOUSE_URL": warehouse_url, "ETLA_CONNECTIONS": json.dumps({"shop": source}),
               "PYTHONPATH": str(ROOT)}
        children = [subprocess.Popen([sys.executable, "-c", _TICK_SCRIPT, now.isoformat()], env=env,
                                     cwd=tmp_path, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        ran = [json.loads(child.communicate(timeout=120)[0]) for child in children]
        assert sorted(len(r) for r in ran) == [0, 1]
        assert [r.trigger for r in store.runs("default", name)] == ["catch-up", "create"]
        ctx.warehouse.close()
        ctx.catalog.engine.dispose()
        Catalog(catalog_url).engine.dispose()


def test_advisory_and_redis_locks_refuse_a_second_holder(tmp_path: Path) -> None:
    with temporary_schema("etla_pipe_lock") as schema:
        catalog = Catalog(schema_url(schema))
        key = advisory_key("t", f"p_{uuid.uuid4().hex[:6]}")
        with _advisory(catalog, key, "p"):
            with pytest.raises(PipelineBusy, match="already running"):
                with _advisory(catalog, key, "p"):
                    pass
        with _advisory(catalog, key, "p"):  # released with the first holder
            pass
        catalog.engine.dispose()
    redis_key = f"etla-test:pipeline-lock:{uuid.uuid4().hex}"
    with _redis("redis://127.0.0.1:6379/0", redis_key, "p"):
        with pytest.raises(PipelineBusy):
            with _redis("redis://127.0.0.1:6379/0", redis_key, "p"):
                pass
    with _redis("redis://127.0.0.1:6379/0", redis_key, "p"):
        pass


def test_a_run_after_a_failed_one_removes_what_the_failed_one_left(tmp_path: Path, source: str) -> None:
    """Runs after a success skip the clean-up (nothing can be left); after a failure it runs first."""
    execute(source, "CREATE TABLE events (id bigint NOT NULL, kind text NOT NULL)")
    execute(source, "INSERT INTO events SELECT g, 'first' FROM generate_series(1, 50) g")
    ctx = ToolContext(settings=Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                                        connections={"shop": source}, _env_file=None))
    name = _create(ctx, source_connection="shop", source_table="events", mode="incremental", cursor="id")
    execute(source, "ALTER TABLE events RENAME COLUMN kind TO sort")
    assert run_pipeline(ctx, name).status == "failed"
    # what a half-written INSERT of the next batch leaves: rows under a batch number never committed
    committed = PipelineStore(ctx.catalog).state("default", name).batch
    ctx.warehouse.execute(f"INSERT INTO events (id, kind, _etla_batch) VALUES (51, 'half', {committed + 1})")
    ctx.warehouse.execute("CREATE TABLE events__staging_dead (id Int64) ENGINE = Memory")
    execute(source, "ALTER TABLE events RENAME COLUMN sort TO kind")
    execute(source, "INSERT INTO events VALUES (51, 'new')")
    assert run_pipeline(ctx, name).status == "succeeded"
    rows = ctx.warehouse.query('SELECT id, kind FROM "events" WHERE id > 49 ORDER BY id',
                               read_only=False).rows
    assert rows == [(50, "first"), (51, "new")]
    assert not [t for t in ctx.warehouse.tables() if "__staging_" in t]
