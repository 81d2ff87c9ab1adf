"""The whole server as shipped: default settings (chDB, SQLite catalog and checkpoints), the offline planner,
the real tool registry, over HTTP with the langgraph-sdk client; plus /health and /metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, scripted_tools


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("server")
    rows = [
        f"{i},{('north', 'south', 'east')[i % 3]},{i * 1.5:.2f},2024-01-{1 + i % 28:02d}"
        for i in range(1, 120)
    ]
    (root / "orders.csv").write_text("order_id,region,amount,ordered_at\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[LiveServer]:
    with live_server(create_app(Settings(data_dir=data_dir, allowed_roots=[data_dir]))) as running:
        yield running


async def turn(server: LiveServer, thread_id: str, text: str) -> list:
    client = get_client(url=server.url)
    return [
        p
        async for p in client.runs.stream(
            thread_id,
            "agent",
            input={"messages": [{"role": "user", "content": text}]},
            stream_mode=["updates", "values"],
        )
    ]


def tool_calls(parts: list) -> list[str]:
    return [
        c["name"]
        for p in parts
        if p.event == "updates" and "agent" in p.data
        for m in p.data["agent"]["messages"]
        for c in m.get("tool_calls", [])
    ]


async def test_schema_question_then_ddl_request_with_the_offline_planner(server: LiveServer, data_dir: Path):
    client = get_client(url=server.url)
    thread = await client.threads.create()
    parts = await turn(server, thread["thread_id"], f"What is the schema of {data_dir / 'orders.csv'}?")
    assert tool_calls(parts) == ["infer_schema"]
    answer = parts[-2].data["messages"][-1]
    assert answer["type"] == "ai" and "order_id" in answer["content"] and "region" in answer["content"]
    parts = await turn(server, thread["thread_id"], "Make a ClickHouse table for it")
    assert tool_calls(parts) == ["generate_ddl"]
    assert "CREATE TABLE" in parts[-2].data["messages"][-1]["content"]
    assert parts[-1].event == "end" and parts[-1].data["status"] == "success"
    listed = await client.threads.search()
    assert listed[0]["metadata"]["title"].startswith("What is the schema of")


async def test_health_reports_reachable_parts_and_the_model(server: LiveServer):
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["warehouse"] == {"reachable": True} and body["catalog"] == {"reachable": True}
    assert body["threads"] == {"reachable": True}
    assert body["model"]["kind"] == "offline" and body["model"]["name"] == "etl-assistant-offline"
    assert isinstance(body["model"]["ready"], bool)  # the model loads in the background; /health answers


async def test_a_turn_waits_for_the_background_model_load_and_health_then_says_ready(server: LiveServer):
    thread = await get_client(url=server.url).threads.create()
    parts = await turn(server, thread["thread_id"], "hello")
    assert any(p.event == "values" for p in parts)
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/health")).json()["model"]["ready"] is True


async def test_metrics_count_requests_runs_and_tool_calls(server: LiveServer, data_dir: Path):
    client = get_client(url=server.url)
    thread = await client.threads.create()
    await turn(server, thread["thread_id"], "what datasets do I have?")
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)", text)
        assert match, f"{pattern} missing from /metrics"
        return float(match.group(1))

    assert value(r'etla_tool_calls_total\{status="success",tool="list_datasets"\}') >= 1
    assert value(r'etla_runs_total\{status="success"\}') >= 1
    assert value(r"etla_run_latency_seconds_count") >= 1
    assert (
        value(
            r'etla_http_requests_total\{method="POST",route="/threads/\{thread_id\}/runs/stream",'
            r'status="200"\}'
        )
        >= 1
    )
    assert 'route="/threads/' + thread["thread_id"] not in text, "routes are templates, not raw paths"


def test_health_is_degraded_with_a_sentence_when_the_warehouse_is_down(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, warehouse_url="clickhouse://default:@127.0.0.1:9/default")
    app = create_app(settings, model=ScriptedChatModel(), tools=scripted_tools(tmp_path / "a.db"))
    with live_server(app) as running:
        response = httpx.get(f"{running.url}/health", timeout=30)
    body = response.json()
    assert response.status_code == 503 and body["status"] == "degraded"
    assert body["warehouse"]["reachable"] is False and body["warehouse"]["error"]
    assert "Traceback" not in body["warehouse"]["error"]
    assert body["catalog"] == {"reachable": True}
