"""Deploy over MCP as two calls (plan_deploy, then apply_deploy once the IDE's user approved), through the
official `mcp` client and `etl-assistant mcp` over stdio in a subprocess with its own data dir (chDB)."""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from etl_assistant.evals.sample_data import write_retail
from tests.support.deploy_env import revenue_by, source_rows

BIN = Path(sys.executable).parent


@pytest.fixture
def server(tmp_path: Path) -> tuple[StdioServerParameters, dict[str, Path]]:
    files = write_retail(tmp_path / "files", orders=2000)
    env = {
        **os.environ,
        "ETLA_DATA_DIR": str(tmp_path / "data"),
        "HF_HUB_OFFLINE": "1",
        "ETLA_ALLOWED_ROOTS": json.dumps([str(tmp_path / "files")]),
    }
    (tmp_path / "data").mkdir()
    return StdioServerParameters(
        command=str(BIN / "etl-assistant"), args=["mcp"], env=env, cwd=str(tmp_path / "data")
    ), files


async def test_plan_then_apply_as_two_mcp_calls(server) -> None:  # noqa: ANN001
    params, files = server
    async with Client(params, mode="legacy", read_timeout_seconds=120) as client:

        async def call(name: str, **args: object) -> dict:
            result = await client.call_tool(name, args)
            assert result.is_error is False, result.content[0].text
            return result.structured_content

        await call("infer_schema", path=str(files["orders"]))
        mart = (await call("design_datamart", request="daily revenue and order count per region"))["spec"][
            "name"
        ]
        plan = await call("plan_deploy", datamarts=[mart])
        assert [(s["target"], s["action"]) for s in plan["steps"]] == [("orders", "create"), (mart, "create")]
        tables = json.loads((await client.read_resource("tables://")).contents[0].text)
        assert tables["tables"] == []  # planning changed nothing; the IDE asks its user now

        applied = await call("apply_deploy", plan_id=plan["plan_id"], approved_by="dev@example.com")
        assert [s["version"] for s in applied["steps"]] == [1, 1] and not applied["already_applied"]
        again = await call("apply_deploy", plan_id=plan["plan_id"])
        assert again["already_applied"] and [s["action"] for s in again["steps"]] == [
            "unchanged",
            "unchanged",
        ]

        read = f'SELECT "region", sum("revenue"), sum("order_count") FROM "{mart}" GROUP BY 1'
        rows = (await call("run_query", sql=read))["rows"]
        got = {(region,): (Decimal(str(revenue)), count) for region, revenue, count in rows}
        assert got == revenue_by(source_rows(files["orders"]), "region")
        history = (await call("deployments", target=mart))["deployments"]
        assert [(d["version"], d["approved_by"]) for d in history] == [(1, "dev@example.com")]

        await call("infer_schema", path=str(files["customers"]))  # an IDE that does not say who approved
        plan = await call("plan_deploy", datasets=["customers"])
        assert (await call("apply_deploy", plan_id=plan["plan_id"]))["steps"][0]["version"] == 1
        history = (await call("deployments", target="customers"))["deployments"]
        assert [(d["version"], d["approved_by"]) for d in history] == [(1, "mcp-client")]

        missing = await client.call_tool("apply_deploy", {"plan_id": "plan_missing"})
        assert missing.is_error
        assert missing.content[0].text.endswith(
            "Unknown plan 'plan_missing'; make one with plan_deploy first."
        )
