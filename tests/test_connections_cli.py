"""`etl-assistant connections add|list|remove` and `etl-assistant refresh` on the local PostgreSQL: the output
names connections and shows URLs without their password; errors are one sentence, never the password."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from etl_assistant.cli import app
from etl_assistant.config import get_settings
from tests.support.source_db import temporary_database

pytestmark = pytest.mark.postgres

PASSWORD = "Cli-Secret-77"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A shop database (as the warehouse too) and a data dir; yields its URL without a password."""
    with temporary_database() as url:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ETLA_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("ETLA_WAREHOUSE_URL", url)
        monkeypatch.setenv("ETLA_CONNECTIONS", json.dumps({"ops": f"postgresql://ops:{PASSWORD}@127.0.0.1/x"}))
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def test_add_list_remove(shop: str) -> None:
    runner = CliRunner()
    secret_url = shop.replace("postgres@", f"postgres:{PASSWORD}@")
    added = runner.invoke(app, ["connections", "add", "shop", secret_url])
    assert added.exit_code == 0, added.output
    assert "added shop (postgresql, postgresql://postgres:***@127.0.0.1:5432/" in added.stdout
    assert "4 tables and views in archive, public" in added.stdout
    listed = runner.invoke(app, ["connections", "list", "--json"])
    rows = {c["name"]: c for c in json.loads(listed.stdout)["connections"]}
    assert rows["ops"] == {"name": "ops", "kind": "postgresql", "url": "postgresql://ops:***@127.0.0.1/x",
                           "origin": "settings"}
    assert rows["shop"]["origin"] == "catalog"
    table = runner.invoke(app, ["connections", "list"])
    assert "shop" in table.stdout and "ops" in table.stdout
    kept = runner.invoke(app, ["connections", "remove", "shop"], input="n\n")
    assert kept.exit_code == 1 and "nothing removed" in kept.stderr
    removed = runner.invoke(app, ["connections", "remove", "shop", "--yes"])
    assert removed.exit_code == 0 and "removed shop" in removed.stdout
    refused = runner.invoke(app, ["connections", "remove", "ops", "--yes"])
    assert refused.exit_code == 2 and "comes from ETLA_CONNECTIONS" in refused.stderr
    for result in (added, listed, table, kept, removed, refused):
        assert PASSWORD not in result.output


def test_add_asks_for_the_password_off_the_command_line(shop: str) -> None:
    result = CliRunner().invoke(app, ["connections", "add", "shop", shop, "--ask-password"],
                                input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "postgresql://postgres:***@" in result.stdout and PASSWORD not in result.output


def test_an_unreachable_database_is_one_sentence(shop: str) -> None:
    result = CliRunner().invoke(app, ["connections", "add", "down", f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"])
    assert result.exit_code == 2
    assert "error: Cannot read connection 'down'" in result.stderr and "Nothing was saved" in result.stderr
    assert PASSWORD not in result.output and "Traceback" not in result.output


def test_refresh_reports_what_changed(shop: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["refresh"])
    assert first.exit_code == 0, first.output
    assert "new: customers, orders, big_orders" in first.stdout  # the search path: public
    with psycopg.connect(shop, autocommit=True) as db:
        db.execute("CREATE TABLE suppliers (supplier_id int PRIMARY KEY, name text)")
    second = runner.invoke(app, ["refresh", "--json"])
    assert json.loads(second.stdout) == {"added": ["suppliers"], "changed": [], "removed": [], "unchanged": 3,
                                         "skipped": [], "unprofiled": [], "profiled": []}
