"""The whole journey the planner drives, every tool real, on an embedded chDB warehouse in a temp dir:
load a file, ask a question and a follow-up (the previous answer's parse is passed back), design a
datamart, deploy it, roll a table back and read its history. The loop stands in for the graph
(approval is the graph's job and is tested there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from etl_assistant.agent.models.offline import OfflinePlanner
from etl_assistant.config import Settings
from etl_assistant.tools import REGISTRY, ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.datasets import write_orders_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def settings(tmp_path: Path):
    yield Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None)
    close_sessions()


class Conversation:
    def __init__(self, settings: Settings) -> None:
        tools = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                   "parameters": t.input_model.model_json_schema()}}
                 for t in REGISTRY]
        self.model = OfflinePlanner(settings=settings).bind_tools(tools)
        # One context per conversation, like the server's shared warehouse/catalog resources.
        self.context = ToolContext(settings=settings)
        self.messages: list[BaseMessage] = []

    def say(self, text: str) -> tuple[list[dict], str]:
        """One person turn run to the final reply; returns the tool calls made and the reply."""
        self.messages.append(HumanMessage(text))
        calls: list[dict] = []
        for _ in range(4):
            reply = self.model.invoke(self.messages)
            self.messages.append(reply)
            if not reply.tool_calls:
                return calls, reply.content
            for call in reply.tool_calls:
                calls.append(call)
                output = get_tool(call["name"]).run(self.context, call["args"])
                self.messages.append(ToolMessage(output.model_dump_json(), tool_call_id=call["id"],
                                                 name=call["name"]))
        raise AssertionError("no final reply within 4 steps")

    def output(self, call: dict) -> dict:
        return next(json.loads(m.content) for m in self.messages
                    if isinstance(m, ToolMessage) and m.tool_call_id == call["id"])


def test_load_ask_follow_up_datamart_deploy(settings: Settings, tmp_path: Path):
    records = write_orders_csv(tmp_path / "orders.csv", 40)
    paid = sum(r["paid"] == "true" for r in records)
    chat = Conversation(settings)

    calls, reply = chat.say(f"load {tmp_path / 'orders.csv'}")
    assert [c["name"] for c in calls] == ["load_table"]
    assert "Loaded **40 rows** into `orders`" in reply

    calls, reply = chat.say("how many orders are paid?")
    assert [(c["name"], c["args"]) for c in calls] == [("ask", {"question": "how many orders are paid?"})]
    first = chat.output(calls[0])
    assert first["rows"] == [[paid]] and f"| {paid} |" in reply and f"```sql\n{first['sql']}\n```" in reply

    calls, reply = chat.say("and how many are not paid?")
    assert calls[0]["name"] == "ask" and calls[0]["args"]["previous"] == first["parse"]
    assert chat.output(calls[0])["rows"] == [[40 - paid]] and f"| {40 - paid} |" in reply

    calls, reply = chat.say("daily total amount per paid as a datamart")
    assert [c["name"] for c in calls] == ["design_datamart"]
    assert calls[0]["args"]["dataset"] == "orders"
    definition = chat.output(calls[0])["definition"]
    assert f"Datamart `{definition['name']}`" in reply and "```sql\nCREATE TABLE" in reply

    calls, reply = chat.say("deploy it")
    assert [(c["name"], c["args"]) for c in calls] == [("deploy", {"datamarts": [definition["name"]]})]
    steps = chat.output(calls[0])["result"]["steps"]
    assert [(s["target"], s["action"]) for s in steps] == [(definition["name"], "create")]
    assert f"| `{definition['name']}` | datamart | create |" in reply
    assert not isinstance(chat.messages[-1], ToolMessage) and isinstance(chat.messages[-1], AIMessage)

    calls, reply = chat.say("deploy orders too")
    assert [(c["name"], c["args"]) for c in calls] == [("deploy", {"datasets": ["orders"]})]
    calls, reply = chat.say("roll it back")
    assert [(c["name"], c["args"]) for c in calls] == [("rollback", {"target": "orders"})]
    rolled = chat.output(calls[0])
    assert "Rolled back `orders`" in reply and f"version {rolled['restored_version']} is live again" in reply

    calls, reply = chat.say("deployment history of orders")
    assert [(c["name"], c["args"]) for c in calls] == [("deployments", {"target": "orders"})]
    history = chat.output(calls[0])["deployments"]
    assert len(history) >= 2 and f"| {history[0]['version']} | {history[0]['action']} |" in reply
