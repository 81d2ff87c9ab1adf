"""The offline planner inside the real agent: AgentService + LangGraph graph + the real tool registry.

A four-turn conversation about one CSV, with a SQLite warehouse in the test's temp dir: inspect, design,
load, then a follow-up question that becomes a query. Asserts on the events every channel encodes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.models.offline import OfflinePlanner
from etl_assistant.agent.runner import AgentService
from etl_assistant.config import Settings
from tests.support.datasets import write_orders_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def service(tmp_path: Path):
    settings = Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data",
                        warehouse_url=f"sqlite:///{tmp_path / 'warehouse.db'}", _env_file=None)
    svc = await AgentService.create(settings)
    yield svc
    await svc.aclose()


async def say(svc: AgentService, thread: str, text: str) -> list[RunEvent]:
    return [e async for e in svc.stream(thread, input={"messages": [{"role": "user", "content": text}]})]


def of(events: list[RunEvent], kind: str) -> list[dict]:
    return [e.data for e in events if e.type == kind]


def reply(events: list[RunEvent]) -> str:
    return [m for m in of(events, "message") if m["type"] == "ai"][-1]["content"]


async def test_a_conversation_about_one_file(service: AgentService, tmp_path: Path):
    assert service.model_name == OfflinePlanner(settings=service.settings)._llm_type
    csv_path = tmp_path / "orders.csv"
    write_orders_csv(csv_path, 30)

    events = await say(service, "t1", f"here is {csv_path}")
    assert [c["name"] for c in of(events, "tool_call")] == ["infer_schema"]
    assert of(events, "end")[-1]["status"] == "success"
    assert len(of(events, "text_delta")) > 10, "the reply streams token by token"
    assert "| `order_id` | integer |" in reply(events) and "30 rows" in reply(events)

    events = await say(service, "t1", "now make a clickhouse table for it")
    calls = of(events, "tool_call")
    assert [(c["name"], c["args"]) for c in calls] == [("generate_ddl", {"dataset": "orders",
                                                                          "dialect": "clickhouse"})]
    assert "```sql\nCREATE TABLE" in reply(events)

    events = await say(service, "t1", "ok load it")
    assert [c["name"] for c in of(events, "tool_call")] == ["load_table"]
    result = of(events, "tool_result")[0]
    assert not result["is_error"] and result["output"]["rows"] == 30
    assert "Loaded **30 rows** into `orders`" in reply(events)

    events = await say(service, "t1", "how many rows are in it now?")
    assert [c["args"]["sql"] for c in of(events, "tool_call")] == ["SELECT COUNT(*) FROM orders"]
    assert "| 30 |" in reply(events)
