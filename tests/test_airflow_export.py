"""The Airflow export, checked by real Airflow 3: the DAG file loads in Airflow's DagBag with no import
error, one task that runs `etl-assistant pipelines run NAME`, the pipeline's cron and timezone, catchup off,
one active run and retries with backoff; and it never carries a connection's URL or password.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from etl_assistant.config import Settings
from etl_assistant.errors import InputError, ToolError
from etl_assistant.pipelines.airflow import render_dag
from etl_assistant.pipelines.spec import PipelineSchedule, PipelineSource, PipelineSpec
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.airflow_venv import Airflow, airflow  # noqa: F401 - session fixture
from tests.support.pipeline_source import seed_sales, source_database

SECRET = "s3cret-pw-91"


def sales_spec(**changes: object) -> PipelineSpec:
    fields: dict = {"name": "sales", "source": PipelineSource(connection="shop", table="sales"),
                    "target_table": "sales", "mode": "incremental", "cursor": "updated_at",
                    "primary_key": ["id"],
                    "schedule": PipelineSchedule(cron="0 2 * * *", timezone="Europe/Berlin")}
    fields.update(changes)
    return PipelineSpec(**fields)


@pytest.fixture
def ctx(local_settings: Settings) -> ToolContext:
    local_settings.connections = {"shop": SecretStr(f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test")}
    context = ToolContext(settings=local_settings)
    store = PipelineStore(context.catalog)
    store.save(sales_spec())
    store.save(sales_spec(name="adhoc", target_table="adhoc", schedule=None, mode="full_refresh", cursor=None,
                          primary_key=[], paused=True))
    return context


def export(ctx: ToolContext, name: str, folder: Path | None = None) -> dict:
    arguments = {"name": name} if folder is None else {"name": name, "folder": str(folder)}
    return get_tool("export_pipeline").run(ctx, arguments).model_dump()


def test_export_writes_under_data_dir_airflow_and_names_no_secret(ctx: ToolContext) -> None:
    result = export(ctx, "sales")
    path = Path(result["path"])
    assert path == (ctx.settings.data_dir / "airflow" / "etla_sales.py").resolve()
    assert path.read_text(encoding="utf-8") == result["text"]
    ast.parse(result["text"])
    assert SECRET not in result["text"] and "postgresql://" not in result["text"]
    assert "the connection 'shop'" in result["text"]  # the worker resolves the connection by its name
    assert "from airflow.sdk import DAG" in result["text"]
    assert "from airflow.providers.standard.operators.bash import BashOperator" in result["text"]
    assert export(ctx, "sales")["text"] == result["text"]  # exporting again rewrites the same file


def test_another_tenant_gets_its_own_dag_and_runs_as_itself() -> None:
    text = render_dag(sales_spec(tenant='acme "eu"'))
    tree = ast.parse(text)
    assert 'dag_id="etla_acme__eu__sales"' in text
    assert 'env={"ETLA_TENANT": "acme \\"eu\\""}' in text  # the tenant as a string literal, quotes escaped
    assert any(isinstance(node, ast.With) for node in tree.body)


def test_export_refuses_a_folder_outside_the_allowed_ones(ctx: ToolContext, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside the allowed folders"):
        export(ctx, "sales", folder=Path("/etc/airflow-dags"))
    assert not Path("/etc/airflow-dags").exists()


def test_export_of_an_unknown_pipeline_names_the_known_ones(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"no pipeline named 'orders' \(pipelines: adhoc, sales\)"):
        export(ctx, "orders")


def test_airflow_loads_the_exported_dags(ctx: ToolContext, tmp_path: Path, airflow: Airflow) -> None:  # noqa: F811
    dags = tmp_path / "dags"
    export(ctx, "sales", folder=dags)
    export(ctx, "adhoc", folder=dags)
    (dags / "etla_acme.py").write_text(render_dag(sales_spec(tenant='acme "eu"')), encoding="utf-8")
    bag = airflow.run("inspect", str(dags), dags_folder=dags)
    assert bag["import_errors"] == {}
    assert sorted(bag["dags"]) == ["etla_acme__eu__sales", "etla_adhoc", "etla_sales"]
    acme = bag["dags"]["etla_acme__eu__sales"]
    assert acme["tasks"]["run_pipeline"]["env"] == {"ETLA_TENANT": 'acme "eu"'}
    assert 'acme "eu"' in acme["tags"]

    sales = bag["dags"]["etla_sales"]
    assert (sales["timetable"], sales["cron"], sales["timetable_timezone"]) == (
        "CronTriggerTimetable", "0 2 * * *", "Europe/Berlin")
    assert sales["timezone"] == "Europe/Berlin"
    assert (sales["catchup"], sales["max_active_runs"], sales["is_paused_upon_creation"]) == (False, 1, False)
    task = sales["tasks"]["run_pipeline"]
    assert list(sales["tasks"]) == ["run_pipeline"] and task["type"] == "BashOperator"
    assert task["bash_command"] == "etl-assistant pipelines run sales"
    backoff = (task["retry_exponential_backoff"], task["retry_delay_s"], task["max_retry_delay_s"])
    assert task["retries"] == 3 and backoff == (True, 300.0, 3600.0)
    assert task["env"] == {"ETLA_TENANT": "default"}

    adhoc = bag["dags"]["etla_adhoc"]
    assert adhoc["schedule"] is None and adhoc["is_paused_upon_creation"] is True  # manual and paused


def test_dag_test_runs_the_pipeline_with_its_own_code(tmp_path: Path, airflow: Airflow) -> None:  # noqa: F811
    """`dag.test()` once: the DAG's BashOperator runs `etl-assistant pipelines run`, which loads the rows
    added to the local PostgreSQL since the first run into the chDB data dir and records the run."""
    data = tmp_path / "data"
    with source_database() as source:
        seed_sales(source, 1, 50)
        settings = Settings(data_dir=data, allowed_roots=[tmp_path], connections={"shop": source},
                            _env_file=None)
        ctx = ToolContext(settings=settings)
        planned = get_tool("create_pipeline").run(ctx, {"source_connection": "shop", "source_table": "sales",
                                                        "schedule": "daily at 2 AM"})
        get_tool("apply_deploy").run(ctx, {"plan_id": planned.plan_id})  # approved: the first run, 50 rows
        seed_sales(source, 51, 80)
        exported = export(ctx, planned.pipeline.name, folder=tmp_path / "dags")
        close_sessions()  # the Airflow task's process opens the same chDB directory

        worker_env = {"ETLA_DATA_DIR": str(data), "ETLA_CONNECTIONS": json.dumps({"shop": source})}
        dags = tmp_path / "dags"
        result = airflow.run("test", str(dags), exported["dag_id"], dags_folder=dags, extra_env=worker_env,
                             timeout=600)
        assert result == {"state": "success", "tasks": {"run_pipeline": "success"}}

        after = ToolContext(settings=settings)
        runs = get_tool("pipeline_runs").run(after, {"name": planned.pipeline.name}).runs
        assert [(r.trigger, r.status) for r in runs] == [("cli", "succeeded"), ("create", "succeeded")]
        assert runs[0].rows_written >= 30 and runs[0].cursor_after > runs[1].cursor_after  # boundary re-read
        count = after.warehouse.query('SELECT count(), uniqExact(id) FROM "sales"', read_only=True).rows
        assert [tuple(row) for row in count] == [(80, 80)]
        close_sessions()
