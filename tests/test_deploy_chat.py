"""The deploy journey in one chat thread over the Agent Protocol, with the official langgraph-sdk client
against a real uvicorn server: upload -> tables -> datamart -> deploy (approval interrupt: reject, then
approve) -> a question answered by run_query from the datamart. On chDB and on the local PostgreSQL.

The chat model is the scripted test model (tests/support/scripted_model.py) taught one more command,
`call <tool> <json args>`, so the real graph, approval node, registry tools and warehouse all run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph_sdk import get_client

from etl_assistant.config import Settings
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.server import create_app
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.deploy_env import ENGINES, deploy_pg_schema, source_rows, warehouse_url  # noqa: F401
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel


class ToolCallingModel(ScriptedChatModel):
    """'call <tool> <json>' -> exactly that tool call; everything else as the scripted model does."""

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, HumanMessage) and last.text.startswith("call "):
            _, name, args = last.text.split(" ", 2)
            return AIMessage(
                content="",
                tool_calls=[{"id": f"call_{len(messages)}", "name": name, "args": json.loads(args)}],
            )
        return super()._reply(messages)


@pytest.fixture(params=ENGINES)
def chat(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, Path], str]]:
    files = write_retail(tmp_path / "files", orders=4000)
    url = warehouse_url(request.param, tmp_path, request)
    settings = Settings(
        data_dir=tmp_path / "data", allowed_roots=[tmp_path], warehouse_url=url, _env_file=None
    )
    with live_server(create_app(settings, model=ToolCallingModel())) as server:
        yield server, files, url
    if request.param == "chdb":
        close_sessions()


def call(tool: str, **args: Any) -> dict:
    return {"messages": [{"role": "user", "content": f"call {tool} {json.dumps(args)}"}]}


def tool_result(values: dict) -> dict:
    message = values["messages"][-2]
    assert message["type"] == "tool", values["messages"][-3:]
    assert message.get("status") != "error", message["content"]
    return json.loads(message["content"])


async def test_chat_designs_deploys_after_approval_and_answers_from_the_datamart(chat) -> None:  # noqa: ANN001
    server, files, url = chat
    client = get_client(url=server.url)
    thread = (await client.threads.create())["thread_id"]

    async def say(payload: dict | None = None, **kwargs: Any) -> dict:
        return await client.runs.wait(thread, "agent", input=payload, **kwargs)

    for name in ("orders", "customers"):  # "here are orders.csv and customers.csv"
        assert tool_result(await say(call("infer_schema", path=str(files[name]))))["name"] == name
    for name in ("orders", "customers"):  # "make warehouse tables for them"
        assert tool_result(await say(call("load_table", dataset=name)))["rows"] in (4000, 200)
    design = tool_result(await say(call("design_datamart", request="daily revenue per region as a datamart")))
    mart = design["spec"]["name"]
    assert mart == "daily_revenue_by_region" and design["definition"]["source_table"] == "orders"

    waiting = await say(call("deploy", datamarts=[mart]))
    request = waiting["__interrupt__"][0]["value"]
    assert request["action_requests"][0]["name"] == "deploy"
    assert request["action_requests"][0]["args"] == {"datamarts": [mart]}
    warehouse = connect(url)
    assert mart not in warehouse.tables()  # nothing happens before the person decides
    rejected = await say(command={"resume": {"decisions": [{"type": "reject", "message": "not yet"}]}})
    assert "rejected deploy: not yet" in rejected["messages"][-2]["content"]
    assert mart not in warehouse.tables() and "__interrupt__" not in rejected

    plan = tool_result(await say(call("plan_deploy", datamarts=[mart])))  # the plan is shown first
    assert plan["summary"][0].startswith(f"create datamart {mart}: aggregate orders")
    waiting = await say(call("deploy", plan_id=plan["plan_id"]))
    assert waiting["__interrupt__"][0]["value"]["action_requests"][0]["args"] == {"plan_id": plan["plan_id"]}
    approve = {"resume": {"decisions": [{"type": "approve"}]}}
    signed_in = {"configurable": {"user_id": "ana@example.com"}}  # who agent-chat-ui says is approving
    deployed = tool_result(await say(command=approve, config=signed_in))
    assert deployed["plan_id"] == plan["plan_id"]
    assert [s["action"] for s in deployed["result"]["steps"]] == ["create"]
    assert deployed["summary"][0].startswith(f"create datamart {mart}")

    question = (
        f'SELECT "region", sum("revenue") AS "revenue" FROM "{mart}" WHERE "day" >= \'2024-12-01\' '
        f'AND "day" < \'2025-01-01\' GROUP BY "region" ORDER BY "region"'
    )  # "revenue per region last month?"
    answer = tool_result(await say(call("run_query", sql=question)))
    expected: dict[str, Decimal] = {}
    for row in source_rows(files["orders"]):
        if row["order_date"].startswith("2024-12"):
            expected[row["region"]] = expected.get(row["region"], Decimal(0)) + Decimal(row["amount"])
    assert {region: Decimal(str(revenue)) for region, revenue in answer["rows"]} == expected
    history = tool_result(await say(call("deployments", target=mart)))["deployments"]
    assert [(d["version"], d["approved_by"]) for d in history] == [(1, "ana@example.com")]
    warehouse.close()
