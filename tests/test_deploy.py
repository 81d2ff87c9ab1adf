"""deploy: plan -> apply on chDB and the local PostgreSQL (staging, count check, atomic swap, history),
idempotence, rollback, stale plans, an unreachable warehouse, locks (in-process and the local Redis) and a
process killed in the middle of a load."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from etl_assistant.config import Settings
from etl_assistant.deploy import DeployStore
from etl_assistant.deploy.locks import lock_key
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.tools.base import ToolContext
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog
from tests.support.deploy_env import (  # noqa: F401 - pytest fixture
    ENGINES,
    DeployEnv,
    close_env,
    deploy_pg_schema,
    make_env,
    revenue_by,
    source_rows,
)
from tests.support.postgres import ADMIN_URL
from tests.support.warehouses import clickhouse_fake_fixture  # noqa: F401 - pytest fixture

REDIS_URL = "redis://127.0.0.1:6379/0"
MART = "daily revenue and order count per region from orders"


@pytest.fixture(params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201 - DeployEnv generator
    made = make_env(request.param, tmp_path, request)
    yield made
    close_env(made)


def objects(env: DeployEnv) -> set[str]:
    from etl_assistant.deploy.swap import object_names

    return object_names(env.warehouse)


def mart_totals(env: DeployEnv, name: str = "daily_revenue_by_region") -> dict[tuple[str, str], tuple]:
    query = env.tool("design_datamart", request=MART).definition.read_query if name else ""
    return {
        (str(day), region): (Decimal(str(revenue)), count)
        for day, region, revenue, count in env.warehouse.query(query, read_only=False).rows
    }


def rewrite_orders(env: DeployEnv, orders: int) -> None:
    """A new export of the same file (more rows), inferred again."""
    write_retail(env.root / "files", orders=orders, seed=11)
    env.tool("infer_schema", path=str(env.files["orders"]))


@pytest.fixture(params=[*ENGINES, "clickhouse"])
def any_env(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201 - DeployEnv generator
    """Also the ClickHouse server adapter (clickhouse-connect against the chDB-backed HTTP stand-in)."""
    made = make_env(request.param, tmp_path, request)
    yield made
    close_env(made)


def test_plan_then_apply_twice_changes_nothing_the_second_time(any_env: DeployEnv) -> None:
    env = any_env
    env.tool("design_datamart", request=MART)
    plan = env.tool("plan_deploy", datamarts=["daily_revenue_by_region"])
    assert [(s.target, s.kind, s.action) for s in plan.steps] == [
        ("orders", "table", "create"),
        ("daily_revenue_by_region", "datamart", "create"),
    ]
    assert plan.steps[0].rows_to_load == 3000 and plan.steps[0].ddl.startswith('CREATE TABLE "orders"')
    assert "source of datamart daily_revenue_by_region" in plan.summary[0] and plan.changes
    if env.warehouse.dialect == "clickhouse":  # what keeps it fresh is part of the plan
        assert "(re)create daily_revenue_by_region__mv" in plan.summary[1]
    assert objects(env) == set()  # planning changed nothing

    result = env.tool("apply_deploy", plan_id=plan.plan_id, approved_by="ana")
    assert [(s.target, s.action, s.version) for s in result.steps] == [
        ("orders", "create", 1),
        ("daily_revenue_by_region", "create", 1),
    ]
    assert env.warehouse.count_rows("orders") == 3000
    assert mart_totals(env) == revenue_by(source_rows(env.files["orders"]), "order_date", "region")
    history = env.tool("deployments", target="orders").deployments
    assert [(d.version, d.action, d.row_count, d.approved_by) for d in history] == [
        (1, "create", 3000, "ana")
    ]
    assert env.ctx.catalog.get_table("default", "daily_revenue_by_region").row_count == result.steps[1].rows
    before = (objects(env), env.ctx.catalog.schema_version("default", "orders"))

    again = env.tool("apply_deploy", plan_id=plan.plan_id)
    assert again.already_applied and [s.action for s in again.steps] == ["unchanged", "unchanged"]
    same = env.tool("deploy", datamarts=["daily_revenue_by_region"], datasets=["orders"])
    assert [s.action for s in same.result.steps] == ["unchanged", "unchanged"]
    assert all("unchanged" in line for line in same.summary)
    assert (objects(env), env.ctx.catalog.schema_version("default", "orders")) == before
    assert env.warehouse.count_rows("orders") == 3000
    assert len(env.tool("deployments", target="orders").deployments) == 1


def test_replace_rebuilds_dependents_keeps_the_previous_version_and_rolls_back(env: DeployEnv) -> None:
    env.tool("design_datamart", request=MART)
    env.tool("deploy", datamarts=["daily_revenue_by_region"])
    old_totals = mart_totals(env)
    versions = (
        env.ctx.catalog.schema_version("default", "orders"),
        env.ctx.catalog.schema_version("default", "daily_revenue_by_region"),
    )

    rewrite_orders(env, 3500)
    plan = env.tool("plan_deploy", datasets=["orders"])
    assert [(s.target, s.action) for s in plan.steps] == [
        ("orders", "replace"),
        ("daily_revenue_by_region", "replace"),
    ]
    assert plan.steps[0].existing_rows == 3000 and plan.steps[0].rows_to_load == 3500
    assert "rebuilt because its source orders is replaced" in plan.summary[1]
    env.tool("apply_deploy", plan_id=plan.plan_id)
    new_totals = mart_totals(env)
    assert new_totals == revenue_by(source_rows(env.files["orders"]), "order_date", "region") != old_totals
    assert env.warehouse.count_rows("orders") == 3500
    assert env.warehouse.count_rows("orders__prev_1") == 3000
    assert {"orders__prev_1", "daily_revenue_by_region__prev_1"} <= objects(env)
    assert env.ctx.catalog.schema_version("default", "orders") > versions[0]
    assert env.ctx.catalog.schema_version("default", "daily_revenue_by_region") > versions[1]

    back = env.tool("rollback", target="daily_revenue_by_region")
    assert (back.version, back.action, back.restored_version) == (3, "rollback", 1)
    assert mart_totals(env) == old_totals
    env.tool("rollback", target="orders")
    assert env.warehouse.count_rows("orders") == 3000
    history = env.tool("deployments", target="orders").deployments
    assert [(d.version, d.action, d.row_count) for d in history] == [
        (3, "rollback", 3000),
        (2, "replace", 3500),
        (1, "create", 3000),
    ]
    env.tool("rollback", target="daily_revenue_by_region")  # a second rollback returns to where it was
    assert mart_totals(env) == new_totals
    assert not [n for n in objects(env) if "__staging_" in n]

    # the next replace keeps only the version it replaced
    rewrite_orders(env, 3200)
    notes = env.tool("deploy", datasets=["orders"]).result.notes
    assert env.warehouse.count_rows("orders") == 3200
    kept = sorted(n for n in objects(env) if n.startswith("orders__"))
    assert env.warehouse.count_rows("orders__prev_3") == 3000
    if env.warehouse.dialect == "clickhouse":
        assert kept == ["orders__prev_3"] and notes == []
    else:  # the kept datamart version still reads orders__prev_1 (views bind to tables, not names)
        assert kept == ["orders__prev_1", "orders__prev_3"]
        assert len(notes) == 1 and notes[0].startswith("Kept orders__prev_1: ")


def test_a_plan_whose_source_changed_is_refused_as_stale(env: DeployEnv) -> None:
    plan = env.tool("plan_deploy", datasets=["orders"])
    with env.files["orders"].open("a") as fh:
        fh.write("99999,1,1,2024-12-31 10:00:00,2024-12-31,completed,1,1.00,,Europe,web\n")
    with pytest.raises(ToolError, match=f"Plan {plan.plan_id} is stale: the file .*orders.csv changed"):
        env.tool("apply_deploy", plan_id=plan.plan_id)
    assert "orders" not in objects(env)
    assert DeployStore(env.ctx.catalog).get_plan("default", plan.plan_id).status == "stale"
    with pytest.raises(ToolError, match="is stale"):
        env.tool("apply_deploy", plan_id=plan.plan_id)
    with pytest.raises(ToolError, match="changed since it was inferred"):
        env.tool("plan_deploy", datasets=["orders"])


def test_unknown_names_and_plans_are_clear(env: DeployEnv) -> None:
    with pytest.raises(ToolError, match="Unknown datamart 'nope'; known datamarts: none yet"):
        env.tool("plan_deploy", datamarts=["nope"])
    with pytest.raises(ToolError, match="Unknown dataset 'nope'"):
        env.tool("plan_deploy", datasets=["nope"])
    with pytest.raises(ToolError, match="Unknown plan 'plan_x'"):
        env.tool("apply_deploy", plan_id="plan_x")
    with pytest.raises(ToolError, match="Say what to deploy"):
        env.tool("plan_deploy")
    with pytest.raises(ToolError, match="never been deployed"):
        env.tool("deployments", target="orders")
    env.tool("deploy", datasets=["orders"])
    with pytest.raises(ToolError, match="no previous version to roll back to"):
        env.tool("rollback", target="orders")


def with_warehouse(ctx: ToolContext, url: str) -> ToolContext:
    return ToolContext(
        settings=ctx.settings,
        tenant=ctx.tenant,
        _overrides={"warehouse": connect(url), "catalog": ctx.catalog},
    )


def test_deploy_refuses_sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    made = make_env("chdb", tmp_path, request, orders=100)
    made.ctx = with_warehouse(made.ctx, f"sqlite:///{tmp_path / 'w.db'}")
    try:
        with pytest.raises(ToolError, match="Deploys target ClickHouse or PostgreSQL"):
            made.tool("plan_deploy", datasets=["orders"])
    finally:
        close_env(made)


class Forwarder:
    """A TCP relay to PostgreSQL that can be cut, so the warehouse becomes really unreachable."""

    def __init__(self, port: int = 5432) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.target = port
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.server.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.mark.postgres
def test_unreachable_warehouse_is_a_clear_error_and_nothing_is_recorded(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    relay = Forwarder()
    schema = request.getfixturevalue("deploy_pg_schema")
    url = f"postgresql://postgres@127.0.0.1:{relay.port}/test?options=-csearch_path%3D{schema}"
    made = make_env("postgres", tmp_path, request, orders=200)
    made.ctx = with_warehouse(made.ctx, url)
    plan = made.tool("plan_deploy", datasets=["orders"])
    relay.cut()
    with pytest.raises(WarehouseError) as error:
        made.tool("apply_deploy", plan_id=plan.plan_id)
    message = str(error.value)
    assert message.startswith(f"Cannot reach PostgreSQL at 127.0.0.1:{relay.port}") and "\n" not in message
    assert "ETLA_WAREHOUSE_URL" in message
    store = DeployStore(made.ctx.catalog)
    assert (
        store.history("default", "orders") == []
        and store.get_plan("default", plan.plan_id).status == "planned"
    )
    assert made.ctx.catalog.get_table("default", "orders") is None
    with pytest.raises(WarehouseError, match="Cannot reach PostgreSQL"):
        made.tool("plan_deploy", datasets=["orders"])
    made.warehouse.close()


class RecordingWarehouse:
    """A real adapter whose executed statements are logged with the thread that sent them."""

    def __init__(self, inner: Any, log: list[tuple[str, str]]) -> None:
        self._inner, self._log = inner, log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def execute(self, sql: str) -> None:
        self._log.append((threading.current_thread().name, sql))
        time.sleep(0.01)  # widen the window in which an unlocked deploy would interleave
        self._inner.execute(sql)


@pytest.mark.parametrize("locks", ["in-process", "redis"])
def test_two_deploys_of_one_target_never_interleave(
    tmp_path: Path, request: pytest.FixtureRequest, locks: str
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"  # unique Redis keys
    extra = {"redis_url": REDIS_URL} if locks == "redis" else {}
    made = make_env("chdb", tmp_path, request, orders=500, tenant=tenant, **extra)
    made.tool("deploy", datasets=["orders"])
    made.tool("design_datamart", request="daily revenue per region", name="mart")
    first = made.tool("plan_deploy", datamarts=["mart"]).plan_id
    made.tool("design_datamart", request="weekly order count per channel", name="mart")
    second = made.tool("plan_deploy", datamarts=["mart"]).plan_id
    log: list[tuple[str, str]] = []
    wrapped = RecordingWarehouse(made.warehouse, log)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def apply(plan_id: str) -> None:
        ctx = ToolContext(
            settings=made.ctx.settings,
            tenant=tenant,
            _overrides={"warehouse": wrapped, "catalog": made.ctx.catalog},
        )
        barrier.wait()
        try:
            from etl_assistant.tools import get_tool

            get_tool("apply_deploy").run(ctx, {"plan_id": plan_id})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(p,), name=p) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    runs = [name for i, (name, _) in enumerate(log) if i == 0 or log[i - 1][0] != name]
    assert sorted(runs) == sorted([first, second]), f"statements interleaved: {runs}"
    history = made.tool("deployments", target="mart").deployments
    assert [d.plan_id for d in reversed(history)] == runs
    close_env(made)


def test_a_redis_lock_held_elsewhere_makes_apply_wait(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    made = make_env("chdb", tmp_path, request, orders=300, tenant=tenant, redis_url=REDIS_URL)
    plan = made.tool("plan_deploy", datasets=["orders"]).plan_id
    other = redis.Redis.from_url(REDIS_URL)
    held = other.lock(lock_key(tenant, "orders"), timeout=30)
    assert held.acquire(blocking=False)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (made.tool("apply_deploy", plan_id=plan), done.set()))
    thread.start()
    time.sleep(1.5)
    assert not done.is_set() and "orders" not in objects(made)
    held.release()
    thread.join(60)
    assert done.is_set() and made.warehouse.count_rows("orders") == 300
    assert other.exists(lock_key(tenant, "orders")) == 0  # released after the deploy
    other.close()
    close_env(made)


class FailingBackfill(RecordingWarehouse):
    """A real adapter that refuses the first datamart backfill, as an engine running out of memory would."""

    def execute(self, sql: str) -> None:
        if sql.startswith('INSERT INTO "daily_revenue_by_region__staging_') and not self._log:
            self._log.append(("failed", sql))
            raise WarehouseError("ClickHouse ran out of memory for the backfill.")
        self._inner.execute(sql)


def test_a_failed_step_leaves_earlier_ones_whole_and_the_plan_resumes(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    made = make_env("chdb", tmp_path, request, orders=500)
    made.tool("design_datamart", request=MART)
    plan = made.tool("plan_deploy", datamarts=["daily_revenue_by_region"]).plan_id
    real = made.ctx
    made.ctx = ToolContext(
        settings=real.settings,
        _overrides={"warehouse": FailingBackfill(real.warehouse, []), "catalog": real.catalog},
    )
    with pytest.raises(WarehouseError, match="out of memory"):
        made.tool("apply_deploy", plan_id=plan)
    made.ctx = real
    assert objects(made) == {"orders"} and made.warehouse.count_rows("orders") == 500  # no staging left
    assert DeployStore(made.ctx.catalog).get_plan("default", plan).status == "planned"
    resumed = made.tool("apply_deploy", plan_id=plan)
    assert [(s.target, s.action) for s in resumed.steps] == [
        ("orders", "unchanged"),
        ("daily_revenue_by_region", "create"),
    ]
    assert mart_totals(made) == revenue_by(source_rows(made.files["orders"]), "order_date", "region")
    close_env(made)


def test_unreachable_redis_is_a_clear_error(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    made = make_env("chdb", tmp_path, request, orders=100, redis_url="redis://127.0.0.1:1/0")
    plan = made.tool("plan_deploy", datasets=["orders"]).plan_id
    with pytest.raises(
        WarehouseError, match=r"^Cannot reach Redis for deploy locks .*; check ETLA_REDIS_URL\.$"
    ):
        made.tool("apply_deploy", plan_id=plan)
    assert "orders" not in objects(made)
    close_env(made)


class QueryLog:
    """A real adapter that logs the queries it answers (to see whether a deploy scanned the source)."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.queries = inner, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def query(self, sql: str, **kwargs: Any) -> Any:
        self.queries.append(sql)
        return self._inner.query(sql, **kwargs)


def apply_logged(env: DeployEnv, plan_id: str) -> list[str]:
    """Apply `plan_id` through a QueryLog; returns the counts of the `orders` source that it ran."""
    real = env.ctx
    logged = QueryLog(real.warehouse)
    env.ctx = ToolContext(
        settings=real.settings, _overrides={"warehouse": logged, "catalog": real.catalog}
    )
    try:
        env.tool("apply_deploy", plan_id=plan_id)
    finally:
        env.ctx = real
    return [q for q in logged.queries if 'COUNT(*) FROM "orders"' in q]


def test_datamart_count_check_reuses_the_verified_source_count_and_recounts_a_changed_source(
    env: DeployEnv,
) -> None:
    env.tool("deploy", datasets=["orders"])
    env.tool("design_datamart", request=MART)
    plan = env.tool("plan_deploy", datamarts=["daily_revenue_by_region"]).plan_id
    assert apply_logged(env, plan) == []  # its total equals the 3000 rows checked at load: no scan
    rows = source_rows(env.files["orders"])
    assert mart_totals(env) == revenue_by(rows, "order_date", "region")

    # 40 rows inserted straight into the source: the catalog's 3000 is stale, the source is counted again
    columns = ", ".join('"order_id" + 1000000' if c == "order_id" else f'"{c}"' for c in rows[0])
    env.warehouse.execute(f'INSERT INTO "orders" SELECT {columns} FROM "orders" WHERE "order_id" <= 40')
    env.tool("design_datamart", request="daily order count per channel", name="by_channel")
    plan = env.tool("plan_deploy", datamarts=["by_channel"]).plan_id
    assert len(apply_logged(env, plan)) == 1
    total = env.scalar('SELECT SUM("order_count") FROM "by_channel"')
    assert total == 3040 == env.warehouse.count_rows("orders")


def test_a_datamart_that_loses_source_rows_fails_its_count_check_and_leaves_nothing(
    env: DeployEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generator bug dropping rows (here: one region filtered out of the built query only) is caught."""
    from etl_assistant.datamart import Filter, build_definition
    from etl_assistant.deploy import apply

    def losing_rows(spec: Any, *args: Any) -> Any:
        lossy = spec.model_copy(update={"filters": [Filter(column="region", op="!=", value="Europe")]})
        return build_definition(lossy, *args)

    env.tool("deploy", datasets=["orders"])
    env.tool("design_datamart", request=MART)
    plan = env.tool("plan_deploy", datamarts=["daily_revenue_by_region"]).plan_id
    monkeypatch.setattr(apply, "build_definition", losing_rows)
    kept = sum(r["region"] != "Europe" for r in source_rows(env.files["orders"]))
    assert 0 < kept < 3000
    with pytest.raises(
        WarehouseError,
        match=rf"^The datamart daily_revenue_by_region accounts for {kept} rows but its source has 3000; ",
    ):
        env.tool("apply_deploy", plan_id=plan)
    assert objects(env) == {"orders"}  # no staging left behind, no datamart swapped in
    assert DeployStore(env.ctx.catalog).history("default", "daily_revenue_by_region") == []
    assert DeployStore(env.ctx.catalog).get_plan("default", plan).status == "planned"


CHILD = """
import sys
from etl_assistant.config import Settings
from etl_assistant.deploy import apply_plan
from etl_assistant.tools.base import ToolContext

def progress(done, total, message):
    print(message, flush=True)

apply_plan(ToolContext(settings=Settings(), progress=progress), sys.argv[1])
print("finished", flush=True)
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_process_killed_mid_load_leaves_the_old_version_and_the_next_apply_cleans_up(
    tmp_path: Path, request: pytest.FixtureRequest, engine: str
) -> None:
    made = make_env(engine, tmp_path, request, orders=3000)
    made.tool("deploy", datasets=["orders"])
    rewrite_orders(made, 400_000)
    plan = made.tool("plan_deploy", datasets=["orders"]).plan_id
    close_env(made)  # the child process opens the warehouse itself (chDB: one process per data directory)
    settings = made.ctx.settings
    child_env = {
        **os.environ,
        "ETLA_DATA_DIR": str(settings.data_dir),
        "ETLA_WAREHOUSE_URL": settings.warehouse_url,
        "ETLA_ALLOWED_ROOTS": f'["{tmp_path}"]',
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, plan],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env,
        cwd=Path(__file__).parents[1],
    )
    assert child.stdout is not None
    loading = 0
    for line in child.stdout:
        if line.startswith(("loading", "copying")):
            loading += 1
        if loading == (1 if engine == "chdb" else 3):  # chDB reports once, COPY per MiB
            time.sleep(0.2 if engine == "chdb" else 0)
            break
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL, "the child finished before it could be killed"

    fresh = made.ctx.__class__(
        settings=settings, tenant="default", _overrides={"catalog": Catalog(settings.resolved_catalog_url)}
    )
    made.ctx = fresh
    assert made.warehouse.count_rows("orders") == 3000  # the old version, whole
    leftovers = sorted(n for n in objects(made) if "__staging_" in n)
    assert leftovers, "the kill landed after the load: no staging object was left"
    assert [d.version for d in made.tool("deployments", target="orders").deployments] == [1]

    result = made.tool("apply_deploy", plan_id=plan)
    assert result.steps[0].cleaned == leftovers and result.steps[0].action == "replace"
    assert made.warehouse.count_rows("orders") == 400_000
    assert not [n for n in objects(made) if "__staging_" in n]
    close_env(made)


def test_postgres_admin_url_is_the_local_server() -> None:
    assert ADMIN_URL.startswith("postgresql://postgres@127.0.0.1:5432/")
    assert Settings(_env_file=None).redis_url is None  # locks are in-process unless ETLA_REDIS_URL is set
