"""The pipeline journey over MCP, in its two-call form: create_pipeline plans (nothing changes), the IDE
asks its user, apply_deploy creates the table, saves the pipeline and runs it once; deleting is held
until approve_action. Through the official
`mcp` client and `etl-assistant mcp` over stdio in a subprocess (its own data dir, chDB), with a `sales`
table in its own database on the local PostgreSQL reached through ETLA_CONNECTIONS (with a password no
result may show)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.support.pipeline_source import execute, seed_sales, source_database

BIN = Path(sys.executable).parent
PASSWORD = "pw-not-for-mcp-5518"  # the local server trusts loopback, so any password connects


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[StdioServerParameters, str]]:
    with source_database() as url:
        seed_sales(url, 1, 200)
        env = {
            **os.environ,
            "ETLA_DATA_DIR": str(tmp_path / "data"),
            "ETLA_ALLOWED_ROOTS": json.dumps([str(tmp_path)]),
            "ETLA_CONNECTIONS": json.dumps({"shop": url.replace("postgres@", f"postgres:{PASSWORD}@")}),
            "ETLA_SCHEDULER": "false",
            "HF_HUB_OFFLINE": "1",
        }
        (tmp_path / "data").mkdir()
        yield StdioServerParameters(command=str(BIN / "etl-assistant"), args=["mcp"], env=env,
                                    cwd=str(tmp_path / "data")), url


def source_totals(url: str) -> list:
    with psycopg.connect(url) as conn:
        totals = conn.execute("SELECT count(*), count(DISTINCT id), sum(amount) FROM sales").fetchone()
        count, ids, total = totals
    return [count, ids, total]


async def test_plan_then_apply_then_sync_runs_pause_export_delete(server) -> None:  # noqa: ANN001
    params, source = server
    seen: list[str] = []
    async with Client(params, mode="legacy", read_timeout_seconds=180) as client:

        async def call(tool: str, /, **args: object) -> dict:
            result = await client.call_tool(tool, args)
            seen.append(json.dumps(result.structured_content) + result.content[0].text)
            assert result.is_error is False, result.content[0].text
            return result.structured_content

        async def warehouse_totals() -> list:
            sql = "SELECT count(), uniqExact(id), sum(amount) FROM sales"
            count, ids, total = (await call("run_query", sql=sql))["rows"][0]
            return [int(count), int(ids), Decimal(str(total))]

        plan = await call("create_pipeline", source_connection="shop", source_table="sales",
                          schedule="daily at 2 AM")
        assert (plan["mode"], plan["pipeline"]["cursor"], plan["schedule"]) == (
            "incremental", "updated_at", "every day at 02:00 UTC")
        assert (await call("pipelines"))["pipelines"] == []  # planning changed nothing; the IDE asks now

        applied = await call("apply_deploy", plan_id=plan["plan_id"], approved_by="dev@example.com")
        assert [(s["kind"], s["rows"]) for s in applied["steps"]] == [("pipeline", 200)]
        assert await warehouse_totals() == source_totals(source)

        name = plan["pipeline"]["name"]
        seed_sales(source, 201, 260)
        execute(source, "UPDATE sales SET amount = amount + 500, updated_at = now() WHERE id IN (1, 77, 199)")
        ran = await call("run_pipeline", name=name)
        assert ran["status"] == "succeeded" and ran["rows_read"] >= 63
        assert await warehouse_totals() == source_totals(source)  # 260 rows, each once, new amounts included

        runs = (await call("pipeline_runs", name=name))["runs"]
        assert [(r["trigger"], r["status"]) for r in runs] == [("manual", "succeeded"),
                                                             ("create", "succeeded")]
        assert (await call("pause_pipeline", name=name))["paused"] is True
        [listed] = (await call("pipelines"))["pipelines"]
        assert (listed["name"], listed["paused"], listed["next_run"]) == (name, True, None)

        exported = await call("export_pipeline", name=name)
        assert Path(exported["path"]).is_file() and '"0 2 * * *"' in exported["text"]

        bad = await client.call_tool("create_pipeline", {"source_connection": "shop", "source_table": "sales",
                                                         "schedule": "whenever it suits"})
        assert bad.is_error and "I could not read 'whenever it suits' as a schedule" in bad.content[0].text

        held = await client.call_tool("delete_pipeline", {"name": name})  # MCP holds it for the person
        assert held.is_error and "needs the person's approval and has not run" in held.content[0].text
        assert [p["name"] for p in (await call("pipelines"))["pipelines"]] == [name]
        approval_id = re.search(r"approval_id='([^']+)'", held.content[0].text).group(1)
        approved = await call("approve_action", approval_id=approval_id, approved_by="dev@example.com")
        assert approved["action"] == "delete_pipeline" and approved["result"]["deleted"] is True
        assert (await call("pipelines"))["pipelines"] == []

    assert not [text for text in seen if PASSWORD in text]
