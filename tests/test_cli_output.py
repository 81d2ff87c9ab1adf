"""What the CLI prints for machines, read by machines: the `etl-assistant` command runs as a subprocess with
stdout to a pipe (not a terminal), and its SQL goes to the local PostgreSQL's `psql -f`, its CSV to Python's
csv reader, its JSON to json.loads. Real tools, chDB under a temp data dir."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlglot
from sqlglot import exp

from tests.support.postgres import ADMIN_URL, temporary_schema

REGIONS = ("north", "south", "east")
ORDERS = "order_id,region,customer_email,amount,ordered_at,note\n" + "\n".join(
    f"{i},{REGIONS[i % 3]},user{i % 40}@example.com,{i * 2.5:.2f},2024-0{1 + i % 9}-1{i % 10},"
    f"{'gift' if i % 7 == 0 else ''}"
    for i in range(1, 301)
) + "\n"


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ETLA_DATA_DIR": str(cwd / "data"),
                   "ETLA_ALLOWED_ROOTS": json.dumps([str(cwd)]), "COLUMNS": "80", **env}
    environment.pop("FORCE_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "etl_assistant.cli", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "orders.csv").write_text(ORDERS)
    return tmp_path


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql (the PostgreSQL client) is not installed")
def test_ddl_to_a_file_runs_in_psql(workdir: Path):
    script = cli(["ddl", "orders.csv", "--dialect", "postgres"], workdir).stdout
    (workdir / "schema.sql").write_text(script)
    comments = [line for line in script.splitlines() if line.startswith("--")]
    assert comments and max(len(line) for line in comments) > 80, "the reasons are long lines, kept whole"
    with temporary_schema("etla_cli") as schema:
        env = {**os.environ, "PGOPTIONS": f"-csearch_path={schema}"}
        psql = ["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(workdir / "schema.sql")]
        ran = subprocess.run(psql, env=env, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr
        with psycopg.connect(ADMIN_URL) as conn:
            columns = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = 'orders' ORDER BY ordinal_position", (schema,)).fetchall()
    assert [c[0] for c in columns] == ["order_id", "region", "customer_email", "amount", "ordered_at", "note"]


def test_recommended_ddl_is_one_script_of_statements_and_comments(workdir: Path):
    script = cli(["ddl", "orders.csv"], workdir).stdout
    first = script.splitlines()[0]
    assert first.startswith("-- Recommended: ")
    dialect = first.removeprefix("-- Recommended: ").split(".")[0]
    statements = [s for s in sqlglot.parse(script, read=dialect) if s is not None]
    assert statements and not any(isinstance(s, exp.Command) for s in statements)


def test_sql_and_ask_write_csv_and_every_command_json(workdir: Path):
    loaded = json.loads(cli(["load", "orders.csv", "--json"], workdir).stdout)
    assert loaded["table"] == "orders" and loaded["rows"] == 300

    query = "SELECT region, count(*) AS orders, sum(amount) AS revenue FROM orders GROUP BY 1 ORDER BY 1"
    rows = list(csv.reader(io.StringIO(cli(["sql", query, "--csv"], workdir).stdout)))
    expected = {r: [i for i in range(1, 301) if REGIONS[i % 3] == r] for r in sorted(REGIONS)}
    assert rows[0] == ["region", "orders", "revenue"]
    assert [(r[0], int(r[1]), float(r[2])) for r in rows[1:]] == [
        (r, len(ids), sum(i * 2.5 for i in ids)) for r, ids in expected.items()]

    asked_csv = cli(["ask", "number of orders per region", "--csv"], workdir).stdout
    answer = list(csv.reader(io.StringIO(asked_csv)))
    assert answer[0][0] == "region" and len(answer) == 4
    assert sorted((r[0], int(r[1])) for r in answer[1:]) == [(r, len(ids)) for r, ids in expected.items()]

    asked = json.loads(cli(["ask", "total amount", "--json"], workdir).stdout)
    assert asked["rows"] == [[sum(i * 2.5 for i in range(1, 301))]]
    assert json.loads(cli(["sql", "SELECT 1 AS one", "--json"], workdir).stdout)["rows"] == [[1]]
    assert json.loads(cli(["infer", "orders.csv", "--json"], workdir).stdout)["row_count"] == 300
    assert json.loads(cli(["ddl", "orders.csv", "--json"], workdir).stdout)["table"] == "orders"

    turn = json.loads(cli(["chat", "what datasets do I have?", "--json"], workdir).stdout)
    assert turn["status"] == "success" and turn["thread_id"]
    assert [t["name"] for t in turn["tools"]] == ["list_datasets"]
    assert turn["tools"][0]["output"]["datasets"][0]["name"] == "orders" and "orders" in turn["reply"]
