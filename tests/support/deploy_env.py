"""A place to design and deploy datamarts in tests: seeded retail files, settings whose catalog lives in a
temp dir, and a real warehouse (chDB in a temp dir, or a PostgreSQL schema made for the test module)."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from etl_assistant.config import Settings
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.tools import get_tool
from etl_assistant.tools.base import ToolContext
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.postgres import ADMIN_URL, schema_url, temporary_schema

ENGINES = ["chdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def deploy_pg_schema() -> Iterator[str]:
    """A schema of its own for the module's deploys (materialized views and kept versions included)."""
    with temporary_schema("etla_deploy") as name:
        yield name


def drop_pg_objects(schema: str) -> None:
    """Empty the module's schema between tests (each test starts from a warehouse with nothing in it)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


@dataclass
class DeployEnv:
    ctx: ToolContext
    root: Path
    files: dict[str, Path]

    def tool(self, tool_name: str, /, **args: Any) -> Any:
        return get_tool(tool_name).run(self.ctx, args)

    @property
    def warehouse(self):  # noqa: ANN201 - the Warehouse adapter
        return self.ctx.warehouse

    def scalar(self, query: str) -> Any:
        return self.warehouse.query(query, read_only=False).rows[0][0]


def warehouse_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """chdb: a temp dir; clickhouse: the session's ClickHouse HTTP stand-in (tests/support/clickhouse_http.py,
    emptied first); postgres: the module's schema, emptied first."""
    if engine == "chdb":
        return f"chdb://{tmp_path / 'warehouse'}"
    if engine == "clickhouse":
        from etl_assistant.deploy.swap import drop_object, object_names

        url = request.getfixturevalue("clickhouse_fake").url
        server = connect(url)
        for name in sorted(object_names(server), key=lambda n: not n.endswith("__mv")):  # views first
            drop_object(server, name)
        return url
    schema = request.getfixturevalue("deploy_pg_schema")
    drop_pg_objects(schema)
    return schema_url(schema)


def make_env(
    engine: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    *,
    orders: int = 3000,
    tenant: str = "default",
    **settings: Any,
) -> DeployEnv:
    """Retail files under tmp_path/files, orders and customers inferred into the catalog."""
    files = write_retail(tmp_path / "files", orders=orders)
    config = Settings(
        data_dir=tmp_path / "data",
        allowed_roots=[tmp_path],
        tenant=tenant,
        warehouse_url=warehouse_url(engine, tmp_path, request),
        _env_file=None,
        **settings,
    )
    env = DeployEnv(ToolContext(settings=config, tenant=tenant), tmp_path, files)
    for name in ("orders", "customers"):
        env.tool("infer_schema", path=str(files[name]))
    return env


def close_env(env: DeployEnv) -> None:
    env.warehouse.close()
    if env.warehouse.dialect == "clickhouse":
        close_sessions()


def source_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def revenue_by(rows: list[dict[str, str]], *keys: str) -> dict[tuple[str, ...], tuple[Decimal, int]]:
    """sum(amount) and count per key, computed in Python from the CSV (independent of every engine)."""
    totals: dict[tuple[str, ...], list] = defaultdict(lambda: [Decimal(0), 0])
    for row in rows:
        entry = totals[tuple(row[k] for k in keys)]
        entry[0] += Decimal(row["amount"])
        entry[1] += 1
    return {k: (v[0], v[1]) for k, v in totals.items()}
