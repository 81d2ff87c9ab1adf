"""Generalisation: an HR schema (employees + departments) the parser has never seen, written here,
inferred and loaded through the real tools into SQLite; expected answers from DuckDB over the same CSVs."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta

import duckdb
import pytest

from etl_assistant.config import Settings
from etl_assistant.evals.nl2sql import results_match
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE
from etl_assistant.nl2sql.service import ask
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog

TODAY = date(2024, 12, 20)
DEPARTMENTS = [
    (1, "Engineering", "Berlin"),
    (2, "Sales", "London"),
    (3, "Marketing", "Paris"),
    (4, "Support", "Lisbon"),
    (5, "Finance", "London"),
]


@pytest.fixture(scope="module")
def hr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ToolContext, duckdb.DuckDBPyConnection]]:
    root = tmp_path_factory.mktemp("hr")
    rng = random.Random(5)
    with (root / "departments.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("department_id", "department_name", "city"), *DEPARTMENTS])
    with (root / "employees.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "employee_id",
                "full_name",
                "department_id",
                "job_title",
                "annual_salary",
                "hire_date",
                "is_remote",
                "gender",
                "performance_score",
            ]
        )
        for i in range(1, 801):
            hired = date(2015, 1, 1) + timedelta(days=rng.randint(0, 3600))
            writer.writerow(
                [
                    i,
                    f"Person {i}",
                    rng.choice(DEPARTMENTS)[0],
                    rng.choice(["Engineer", "Manager", "Analyst", "Rep", "Director"]),
                    rng.randint(30000, 180000),
                    hired.isoformat(),
                    "yes" if rng.random() < 0.3 else "no",
                    rng.choice(["F", "M", "X"]),
                    round(rng.uniform(1, 5), 1),
                ]
            )
    ctx = ToolContext(
        settings=Settings(allowed_roots=[root], data_dir=root / "data", _env_file=None),
        _overrides={
            "warehouse": connect(f"sqlite:///{root / 'hr.db'}"),
            "catalog": Catalog(f"sqlite:///{root / 'catalog.db'}"),
        },
    )
    for name in ("departments", "employees"):
        get_tool("infer_schema").run(ctx, {"path": str(root / f"{name}.csv")})
        get_tool("load_table").run(ctx, {"dataset": name})
    oracle = duckdb.connect()
    for name in ("departments", "employees"):
        oracle.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv_auto('{root / name}.csv')")
    yield ctx, oracle
    oracle.close()


@pytest.mark.parametrize(
    ("question", "oracle", "ordered"),
    [
        ("how many employees", "SELECT count(*) FROM employees", False),
        (
            "average salary per department name",
            "SELECT d.department_name, avg(e.annual_salary) FROM employees e "
            "JOIN departments d USING (department_id) "
            "GROUP BY 1",
            False,
        ),
        ("how many employees work remotely", "SELECT count(*) FROM employees WHERE is_remote", False),
        ("how many engineers", "SELECT count(*) FROM employees WHERE job_title = 'Engineer'", False),
        ("employees hired in 2020", "SELECT count(*) FROM employees WHERE year(hire_date) = 2020", False),
        (
            "number of hires per year",
            "SELECT date_trunc('year', hire_date), count(*) FROM employees GROUP BY 1",
            False,
        ),
        (
            "average performance score by job title",
            "SELECT job_title, avg(performance_score) FROM employees GROUP BY 1",
            False,
        ),
        (
            "employees in london with salary above 150000",
            "SELECT count(*) FROM employees e JOIN departments d USING (department_id) "
            "WHERE d.city = 'London' AND e.annual_salary > 150000",
            False,
        ),
        (
            "which department has the most employees",
            "SELECT department_id, count(*) n FROM employees GROUP BY 1 ORDER BY n DESC LIMIT 1",
            True,
        ),
        (
            "share of remote employees",
            "SELECT 100.0 * count(*) FILTER (WHERE is_remote) / count(*) FROM employees",
            False,
        ),
    ],
)
def test_unseen_hr_schema(hr, question: str, oracle: str, ordered: bool) -> None:  # noqa: ANN001
    ctx, duck = hr
    answer = ask(ctx, question, today=TODAY)
    parse = answer.translation.parse
    assert parse.clarify is None, parse.clarify
    assert parse.confidence >= HIGH_CONFIDENCE
    expected = duck.execute(oracle).fetchall()
    assert results_match(expected, [tuple(r) for r in answer.rows], ordered), (
        answer.translation.sql,
        answer.rows[:4],
        expected[:4],
    )


def test_unseen_hr_names_what_it_lacks(hr) -> None:  # noqa: ANN001
    parse = ask(hr[0], "total payroll by city", today=TODAY).translation.parse
    assert parse.clarify.startswith("I don't have 'payroll'") and "annual_salary" in parse.clarify
