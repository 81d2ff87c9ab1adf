"""The Airflow export, checked by real Airflow 3: the DAG file loads in Airflow's DagBag with no import
error, one task that runs `etl-assistant pipelines run NAME`, the pipeline's cron and timezone, catchup off,
one active run and retries with backoff; and it never carries a connection's URL or password.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import SecretStr

from etl_assistant.config import Settings
from etl_assistant.errors import InputError, ToolError
from etl_assistant.pipelines.spec import PipelineSchedule, PipelineSource, PipelineSpec
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.tools import ToolContext, get_tool
from tests.support.airflow_venv import Airflow, airflow  # noqa: F401 - session fixture

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
    bag = airflow.run("inspect", str(dags), dags_folder=dags)
    assert bag["import_errors"] == {}
    assert sorted(bag["dags"]) == ["etla_adhoc", "etla_sales"]

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
