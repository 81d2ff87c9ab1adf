"""Run inside .venv-airflow (never imported by the suite): load DAG files with Airflow's DagBag, or run one.

`python airflow_dags.py inspect FOLDER` prints, as the last stdout line, JSON of every DAG's import errors,
tasks, schedule, timezone, catchup, max_active_runs and task retries. `python airflow_dags.py test FOLDER
DAG_ID` registers the folder's DAGs in the metadata DB (as the DAG processor would) and runs `dag.test()`
once, printing the run's and each task's state.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
from airflow.serialization.encoders import encode_timetable


def inspect(folder: str) -> dict:
    bag = DagBag(dag_folder=folder)
    dags = {}
    for dag_id, dag in bag.dags.items():
        tasks = {task.task_id: {"type": type(task).__name__, "retries": task.retries,
                                "retry_exponential_backoff": task.retry_exponential_backoff,
                                "retry_delay_s": task.retry_delay.total_seconds(),
                                "max_retry_delay_s": task.max_retry_delay.total_seconds(),
                                "bash_command": getattr(task, "bash_command", None),
                                "env": getattr(task, "env", None)} for task in dag.tasks}
        timetable = next(value for key, value in encode_timetable(dag.timetable).items() if key == "__var")
        dags[dag_id] = {"tasks": tasks, "timetable": type(dag.timetable).__name__, "schedule": dag.schedule,
                        "cron": timetable.get("expression"), "timetable_timezone": timetable.get("timezone"),
                        "timezone": str(dag.timezone), "start_date": dag.start_date.isoformat(),
                        "catchup": dag.catchup, "max_active_runs": dag.max_active_runs,
                        "is_paused_upon_creation": dag.is_paused_upon_creation, "tags": sorted(dag.tags)}
    return {"import_errors": {path: str(error) for path, error in bag.import_errors.items()}, "dags": dags}


def test(folder: str, dag_id: str) -> dict:
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=folder, bundle_path=Path(folder), bundle_name="dags-folder")
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.dags[dag_id]
    for task in dag.tasks:
        task.retries = 0  # one attempt: a failure shows now, not after the DAG's backoff
    run = dag.test()
    return {"state": str(run.state), "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = inspect(*args) if command == "inspect" else test(*args)
    print(json.dumps(result, default=str))
