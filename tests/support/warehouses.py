"""Real warehouse adapters for tests: chDB and SQLite in a temp dir, PostgreSQL in the session's schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_assistant.warehouse import Warehouse, connect
from tests.support.postgres import schema_url

ENGINES = ["chdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def open_warehouse(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Warehouse:
    if engine == "chdb":
        return connect(f"chdb://{tmp_path / 'chdb'}")
    if engine == "sqlite":
        return connect(f"sqlite:///{tmp_path / 'warehouse.db'}")
    return connect(schema_url(request.getfixturevalue("pg_schema")))


@pytest.fixture(params=ENGINES, name="warehouse")
def warehouse_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """Each engine in turn; PostgreSQL tables are dropped after the test (the schema is shared)."""
    wh = open_warehouse(request.param, tmp_path, request)
    before = set(wh.tables())
    yield wh
    for name in set(wh.tables()) - before:
        wh.drop_table(name)
    wh.close()
