"""Real Apache Airflow 3 for the export tests, in its own virtualenv (`.venv-airflow`, built once, reused).

Airflow pins its own dependency tree, so it never shares the project's venv: `scripts/airflow-venv` installs
it plainly from PyPI (no constraints file is reachable here) and CI caches the folder. Every test session gets
a fresh AIRFLOW_HOME with a migrated SQLite metadata DB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-airflow"
DAGS_SCRIPT = Path(__file__).with_name("airflow_dags.py")


@dataclass(frozen=True)
class Airflow:
    python: Path
    home: Path

    def env(self, dags_folder: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The worker's environment: Airflow's home, the DAG folder, and `etl-assistant` on PATH."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("ETLA_")}
        env.update({
            "AIRFLOW_HOME": str(self.home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # The project's console script (this interpreter's venv) runs the pipeline, this checkout's code.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
        })
        env.update(extra or {})
        return env

    def run(self, command: str, *args: str, dags_folder: Path, extra_env: dict[str, str] | None = None,
            timeout: float = 300) -> dict:
        """Run tests/support/airflow_dags.py COMMAND in the Airflow venv; its last stdout line is JSON."""
        done = subprocess.run([str(self.python), str(DAGS_SCRIPT), command, *args], capture_output=True,
                              text=True, timeout=timeout, env=self.env(dags_folder, extra_env), cwd=self.home)
        if done.returncode != 0:
            raise AssertionError(
                f"airflow_dags.py {command} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Airflow:
    """Build (or reuse) .venv-airflow and migrate a fresh metadata DB for this session."""
    subprocess.run([str(ROOT / "scripts" / "airflow-venv")], check=True, timeout=1800)
    home = tmp_path_factory.mktemp("airflow_home")
    found = Airflow(python=VENV / "bin" / "python", home=home)
    subprocess.run([str(VENV / "bin" / "airflow"), "db", "migrate"], check=True, capture_output=True,
                   timeout=600, env=found.env(home / "dags"))
    return found
