"""Airflow 3 export: a DAG file whose one task runs `etl-assistant pipelines run NAME`; Airflow schedules.

The DAG carries the pipeline's name, cron, timezone and tenant, never a URL or a password: the Airflow worker
runs the same pipeline code against the same catalog, reading connections from its own `ETLA_*` environment.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from etl_assistant.errors import InputError
from etl_assistant.pipelines.schedule import describe
from etl_assistant.pipelines.spec import PipelineSpec

RETRIES = 3
RETRY_DELAY_MINUTES = 5
MAX_RETRY_DELAY_MINUTES = 60

_TEMPLATE = '''"""{title}

Exported by etl-assistant on {exported}. Airflow only schedules: the task runs the pipeline's own code
(`etl-assistant pipelines run {name}`), which reads {source}, writes {target} ({mode}) and records the run,
its rows and its cursor in the etl-assistant catalog.

The Airflow worker needs:
- `etl-assistant` on its PATH (installed in the worker's environment, or in a virtualenv on PATH);
- the same ETLA_* settings as the etl-assistant server: ETLA_CATALOG_URL (or ETLA_DATA_DIR) and
  ETLA_WAREHOUSE_URL so runs land in the same catalog and warehouse, and ETLA_CONNECTIONS naming
  {connection_hint}. Secrets stay in that environment; this file names the connection, never its URL.
"""

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    dag_id={dag_id},
    description={description},
    schedule={schedule},
    start_date=pendulum.datetime({start.year}, {start.month}, {start.day}, tz={timezone}),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation={paused},
    default_args={{
        "retries": {retries},
        "retry_delay": timedelta(minutes={retry_delay}),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes={max_retry_delay}),
    }},
    tags=["etl-assistant", {tenant}],
):
    BashOperator(
        task_id="run_pipeline",
        bash_command={command},
        env={{"ETLA_TENANT": {tenant}}},
        append_env=True,
    )
'''


def _literal(value: object) -> str:
    """A Python literal for the DAG file: strings in double quotes (JSON's escapes are Python's too)."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def dag_id(spec: PipelineSpec) -> str:
    """One DAG per pipeline and tenant: `etla_<name>`, with the tenant when it is not the default one (in the
    letters, digits and underscores Airflow allows in a dag_id)."""
    if spec.tenant == "default":
        return f"etla_{spec.name}"
    return f"etla_{re.sub(r'[^A-Za-z0-9_]', '_', spec.tenant)}_{spec.name}"


def render_dag(spec: PipelineSpec, *, exported: date | None = None) -> str:
    """The DAG file's text for one pipeline (a manual pipeline gets `schedule=None`)."""
    timezone = spec.schedule.timezone if spec.schedule else "UTC"
    today = exported or datetime.now(ZoneInfo(timezone)).date()
    when = describe(spec.schedule.cron, timezone) if spec.schedule else "run by hand (no schedule)"
    source = spec.source.describe()
    text = _TEMPLATE.format(
        title=f"etl-assistant pipeline {spec.name}: {source} -> {spec.target_table}, {when}.",
        exported=today.isoformat(),
        name=spec.name,
        source=source,
        target=spec.target_table,
        mode=spec.mode.replace("_", " "),
        connection_hint=f"the connection {spec.source.connection!r}" if spec.source.connection
        else "any connection the pipeline reads (this one reads no named connection)",
        dag_id=_literal(dag_id(spec)),
        description=_literal(f"{source} -> {spec.target_table} ({spec.mode.replace('_', ' ')}), {when}"),
        schedule=_literal(spec.schedule.cron if spec.schedule else None),
        start=today,
        timezone=_literal(timezone),
        paused=_literal(spec.paused),
        retries=RETRIES,
        retry_delay=RETRY_DELAY_MINUTES,
        max_retry_delay=MAX_RETRY_DELAY_MINUTES,
        tenant=_literal(spec.tenant),
        command=_literal(shlex.join(["etl-assistant", "pipelines", "run", spec.name])),
    )
    compile(text, f"{dag_id(spec)}.py", "exec")  # a file Airflow cannot import is our bug, not the person's
    return text


def write_dag(spec: PipelineSpec, folder: Path) -> Path:
    """Write the DAG file into `folder` (created if needed) and return its path; rewriting is idempotent."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{dag_id(spec)}.py"
        temporary = path.with_suffix(".py.tmp")
        temporary.write_text(render_dag(spec), encoding="utf-8")
        temporary.replace(path)  # Airflow's DAG processor never sees half a file
    except OSError as exc:
        raise InputError(
            f"Cannot write the DAG into {folder} ({exc.strerror}); name a folder I may write to.") from None
    return path
