"""`POST /api/chat` read by the Vercel AI SDK itself: its Chat class (what useChat wraps), its
DefaultChatTransport and UI message stream parser, in Node (tests/js/use_chat.mjs), against a real uvicorn
server on 127.0.0.1.

1. The scripted test model (standing in for a remote LLM) with its real small tools: ask, approve with the
   documented `body: {resume: {decisions: [{type: 'approve'}]}}`, then the next turn.
2. The shipped app (offline planner, real tools, chDB): upload, ask, deploy, approve, the deploy's result, and
   a question after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.node import run_node
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools

APPROVE = {"resume": {"decisions": [{"type": "approve"}]}}
ORDERS = "order_id,region,amount,ordered_at\n" + "\n".join(
    f"{i},{('north', 'south', 'east', 'west')[i % 4]},{i * 1.5:.2f},2024-0{1 + i % 9}-1{i % 10}"
    for i in range(1, 121)
) + "\n"


def use_chat(server: LiveServer, *turns: dict[str, Any]) -> list[dict[str, Any]]:
    """Send the turns through the AI SDK's Chat, one after the other; each turn's status, error, messages."""
    return run_node("use_chat.mjs", server.url, json.dumps(list(turns)))["turns"]


def parts_of(turn: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [p for p in turn["messages"][-1]["parts"] if p["type"] == kind]


def text_of(turn: dict[str, Any]) -> str:
    return "".join(p["text"] for p in parts_of(turn, "text"))


def assert_ok(turn: dict[str, Any]) -> None:
    assert turn["status"] == "ready" and turn["error"] is None and turn["errors"] == [], turn


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[LiveServer]:
    app = create_app(Settings(data_dir=tmp_path), model=ScriptedChatModel(),
                     tools=scripted_tools(tmp_path / "audit.db"))
    with live_server(app) as running:
        yield running


def test_use_chat_approves_and_the_next_turn_runs(scripted: LiveServer, tmp_path: Path):
    asked, approved, after = use_chat(scripted, {"text": "record 42"}, {"text": "approve", "body": APPROVE},
                                      {"text": "echo after"})
    assert_ok(asked)
    (waiting,) = parts_of(asked, "tool-record_row")
    assert waiting["state"] == "input-available" and waiting["input"] == {"value": "42"}
    assert parts_of(asked, "data-interrupt")[0]["data"]["action_requests"][0]["name"] == "record_row"
    assert asked["messages"][-1]["metadata"]["status"] == "interrupted"

    assert_ok(approved)  # the SDK accepted the resumed run's tool output (its input came first)
    (done,) = parts_of(approved, "tool-record_row")
    assert done["toolCallId"] == waiting["toolCallId"] and done["state"] == "output-available"
    assert done["input"] == {"value": "42"} and done["output"] == {"value": "42", "rows": 1}
    assert text_of(approved) == 'Result: {"value":"42","rows":1}'
    assert audit_rows(tmp_path / "audit.db") == [("42", "default")]

    assert_ok(after)  # no "Thread ... is already running"
    assert parts_of(after, "tool-echo")[0]["output"] == {"text": "after", "length": 5}
    assert [m["role"] for m in after["messages"]] == ["user", "assistant"] * 3


def test_use_chat_upload_ask_deploy_approve_and_ask_again(tmp_path: Path):
    app = create_app(Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None))
    with live_server(app) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            uploaded = client.post("/v1/datasets", files={"file": ("orders.csv", ORDERS.encode())})
            assert uploaded.status_code == 201
        asked, deploy, approved, again = use_chat(
            server,
            {"text": "top 3 regions by revenue in 2024"},
            {"text": "deploy orders to ClickHouse"},
            {"text": "approve", "body": APPROVE},
            {"text": "total revenue in 2024"},
        )
    for turn in (asked, deploy, approved, again):
        assert_ok(turn)
    (answer,) = parts_of(asked, "tool-ask")
    assert answer["output"]["loaded"] == [{"table": "orders", "rows": 120}]
    assert len(answer["output"]["rows"]) == 3

    (planned,) = parts_of(deploy, "tool-deploy")
    assert planned["state"] == "input-available"
    assert deploy["messages"][-1]["metadata"]["status"] == "interrupted"
    (result,) = parts_of(approved, "tool-deploy")
    assert result["toolCallId"] == planned["toolCallId"] and result["state"] == "output-available"
    assert "orders" in text_of(approved)

    (total,) = parts_of(again, "tool-ask")
    assert total["output"]["rows"] == [[sum(i * 1.5 for i in range(1, 121))]]
