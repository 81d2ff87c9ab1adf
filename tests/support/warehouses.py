"""Real warehouse adapters for tests: chDB and SQLite in a temp dir, PostgreSQL in the session's schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_assistant.warehouse import Warehouse, connect
from tests.support.clickhouse_http import ClickHouseHTTPFake
from tests.support.postgres import schema_url

ENGINES = ["chdb", "sqlite", "clickhouse", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", name="clickhouse_fake")
def clickhouse_fake_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseHTTPFake]:
    """One ClickHouse HTTP stand-in per test session (see clickhouse_http.py), on an ephemeral port."""
    with ClickHouseHTTPFake(str(tmp_path_factory.mktemp("clickhouse-fake"))) as fake:
        yield fake


def open_warehouse(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Warehouse:
    if engine == "chdb":
        return connect(f"chdb://{tmp_path / 'chdb'}")
    if engine == "sqlite":
        return connect(f"sqlite:///{tmp_path / 'warehouse.db'}")
    if engine == "clickhouse":
        return connect(request.getfixturevalue("clickhouse_fake").url)
    return connect(schema_url(request.getfixturevalue("pg_schema")))


@pytest.fixture(params=ENGINES, name="warehouse")
def warehouse_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """Each engine in turn; tables a test made on a shared server (PostgreSQL, ClickHouse) are dropped."""
    wh = open_warehouse(request.param, tmp_path, request)
    before = set(wh.tables())
    yield wh
    for name in set(wh.tables()) - before:
        wh.drop_table(name)
    wh.close()
