"""Issue 14 item 8: with `etl-assistant serve` running on the embedded chDB, `etl-assistant load`, `sql` and
the stdio MCP server (official `mcp` client) in other processes on the same data dir work, through the server.

Every process is real: the server, the CLI commands and the MCP server are subprocesses on one data dir.
After the server stops (or is killed, leaving its owner file behind) the CLI opens the warehouse itself.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from etl_assistant.evals.sample_data import write_retail
from tests.support.server_process import BIN, Server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    write_retail(str(tmp_path), orders=300)
    return {**os.environ, "ETLA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
            "ETLA_ALLOWED_ROOTS": json.dumps([str(tmp_path)])}


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    running = Server(env, tmp_path).start()
    try:
        yield running
    finally:
        running.stop()


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "etl-assistant"), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def orders_by_region(tmp_path: Path) -> dict[str, int]:
    import csv

    counts: dict[str, int] = {}
    with open(tmp_path / "orders.csv", newline="") as stream:
        for row in csv.DictReader(stream):
            counts[row["region"]] = counts.get(row["region"], 0) + 1
    return counts


QUERY = "SELECT region, count() AS n FROM orders GROUP BY region ORDER BY region"


async def test_cli_and_stdio_mcp_next_to_a_running_server(server: Server, env: dict[str, str],
                                                          tmp_path: Path):
    loaded = cli(env, tmp_path, "load", str(tmp_path / "orders.csv"))
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded 300 rows into orders" in loaded.stdout and "via the running server" in loaded.stdout
    queried = cli(env, tmp_path, "sql", QUERY, "--json")
    assert queried.returncode == 0, queried.stderr
    expected = orders_by_region(tmp_path)
    assert {r[0]: r[1] for r in json.loads(queried.stdout)["rows"]} == expected

    params = StdioServerParameters(command=str(BIN / "etl-assistant"), args=["mcp"], env=env,
                                   cwd=str(tmp_path))
    async with Client(params, read_timeout_seconds=120) as client:
        result = await client.call_tool("run_query", {"sql": QUERY})
        assert not result.is_error, result.content
        assert {r[0]: r[1] for r in result.structured_content["rows"]} == expected
        customers = await client.call_tool("load_table", {"path": str(tmp_path / "customers.csv")})
        assert not customers.is_error, customers.content
        assert customers.structured_content["rows"] == 50  # write_retail's customers
        bad = await client.call_tool("run_query", {"sql": "SELECT nope FROM orders"})
        assert bad.is_error and "ClickHouse rejected the query" in bad.content[0].text

    server.stop()  # the server releases the directory and its owner file: the CLI opens chDB itself
    assert not (tmp_path / "data" / "warehouse.owner.json").exists()
    direct = cli(env, tmp_path, "sql", "SELECT count() AS n FROM customers", "--json")
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["rows"] == [[50]]


def test_a_killed_servers_owner_file_is_ignored(server: Server, env: dict[str, str], tmp_path: Path):
    assert cli(env, tmp_path, "load", str(tmp_path / "orders.csv")).returncode == 0
    server.kill()
    assert (tmp_path / "data" / "warehouse.owner.json").exists()  # SIGKILL leaves it behind
    direct = cli(env, tmp_path, "sql", "SELECT count() AS n FROM orders", "--json")
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["rows"] == [[300]]
