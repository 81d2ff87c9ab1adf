"""`POST /api/chat` speaks the Vercel AI SDK UI message stream v1, checked part by part over a real server.

The app is the real one (graph, checkpointer, thread registry) under uvicorn on 127.0.0.1; the chat model is
the scripted test model standing in for a remote LLM, with its small real tools (tests/support).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    app = create_app(Settings(data_dir=tmp_path), model=ScriptedChatModel(),
                     tools=scripted_tools(tmp_path / "audit.db"))
    with live_server(app) as running:
        yield running


def use_chat_body(chat_id: str, text: str) -> dict[str, Any]:
    """What useChat's default transport posts for one new user message."""
    return {"id": chat_id, "trigger": "submit-message", "messageId": None, "messages": [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}]}


def chat(server: LiveServer, chat_id: str, text: str,
         **extra: Any) -> tuple[httpx.Response, list[dict[str, Any] | str]]:
    """POST one turn and return the response and its parts in order ("[DONE]" stays a string)."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post("/api/chat", json=use_chat_body(chat_id, text) | extra)
    parts: list[dict[str, Any] | str] = []
    for event in response.text.replace("\r\n", "\n").split("\n\n"):
        data = [line[len("data: "):] for line in event.split("\n") if line.startswith("data: ")]
        if data:
            payload = "\n".join(data)
            parts.append(payload if payload == "[DONE]" else json.loads(payload))
    return response, parts


def of(parts: list[dict[str, Any] | str], kind: str) -> list[dict[str, Any]]:
    return [p for p in parts if isinstance(p, dict) and p["type"] == kind]


def assert_well_formed(parts: list[dict[str, Any] | str], status: str) -> None:
    """start first, finish then [DONE] last, and every text part opened, filled and closed under one id."""
    assert parts[0]["type"] == "start" and parts[0]["messageId"]
    assert parts[-2] == {"type": "finish", "messageMetadata": {"status": status}}
    assert parts[-1] == "[DONE]"
    open_id = None
    for part in parts[1:-1]:
        kind = part["type"]
        if kind == "text-start":
            assert open_id is None, "a text part started before the previous one ended"
            open_id = part["id"]
        elif kind == "text-delta":
            assert part["id"] == open_id
        elif kind == "text-end":
            assert part["id"] == open_id
            open_id = None
    assert open_id is None, "a text part was never closed"


def test_plain_answer_streams_text_deltas(server: LiveServer):
    response, parts = chat(server, "chat-plain", "hello there")
    assert response.status_code == 200
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert_well_formed(parts, "success")
    assert of(parts, "message-metadata")[0]["messageMetadata"]["threadId"] == "chat-plain"
    deltas = of(parts, "text-delta")
    assert len(deltas) > 1, "the reply must arrive in pieces"
    assert "".join(d["delta"] for d in deltas) == "You said: hello there. I can echo things."
    assert len(of(parts, "text-start")) == 1 and len(of(parts, "text-end")) == 1


def test_tool_call_progress_and_output_parts(server: LiveServer):
    _, parts = chat(server, "chat-tool", "echo hi")
    assert_well_formed(parts, "success")
    kinds = [p["type"] for p in parts if isinstance(p, dict)]
    assert kinds.index("tool-input-available") < kinds.index("data-progress") < kinds.index(
        "tool-output-available") < kinds.index("text-start")
    call = of(parts, "tool-input-available")[0]
    assert call["toolName"] == "echo" and call["input"] == {"text": "hi"}
    output = of(parts, "tool-output-available")[0]
    assert output == {"type": "tool-output-available", "toolCallId": call["toolCallId"],
                      "output": {"text": "hi", "length": 2}}
    progress = of(parts, "data-progress")
    assert [p["data"]["done"] for p in progress] == [1, 2] and all(p["transient"] for p in progress)
    text = "".join(d["delta"] for d in of(parts, "text-delta"))
    assert text == 'Result: {"text":"hi","length":2}'


def test_model_fixable_tool_error_is_a_tool_output_error(server: LiveServer):
    _, parts = chat(server, "chat-fail", "fail")
    assert_well_formed(parts, "success")
    failed = of(parts, "tool-output-error")[0]
    assert failed["toolCallId"] == of(parts, "tool-input-available")[0]["toolCallId"]
    assert failed["errorText"] == "The text must not start with '!'; remove it and call echo again."
    assert not of(parts, "error")


def test_infrastructure_failure_is_told_in_words(server: LiveServer):
    _, parts = chat(server, "chat-down", "down")
    assert_well_formed(parts, "success")
    failed = of(parts, "tool-output-error")[0]
    assert "unreachable" in failed["errorText"] and "Traceback" not in json.dumps(parts)
    text = "".join(d["delta"] for d in of(parts, "text-delta"))
    assert text.startswith("I could not run warehouse_down: The warehouse at chdb:///nowhere is unreachable")


def test_a_busy_thread_ends_with_an_error_part(server: LiveServer):
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(chat, server, "chat-busy", "slow 40")
        deadline = time.monotonic() + 10
        while not server.call(_thread_running(server, "chat-busy")):
            assert time.monotonic() < deadline, "the slow run never started"
            time.sleep(0.02)
        _, parts = chat(server, "chat-busy", "echo meanwhile")
        assert_well_formed(parts, "error")
        assert of(parts, "error") == [{"type": "error", "errorText":
                                       "Thread chat-busy is already running; wait for its run to end."}]
        assert_well_formed(slow.result(timeout=30)[1], "success")


async def _thread_running(server: LiveServer, thread_id: str) -> bool:
    return thread_id in server.config.app.state.agent.active_runs.values()


def test_the_chat_id_is_the_thread(server: LiveServer):
    chat(server, "chat-thread", "echo one")
    _, parts = chat(server, "chat-thread", "hello again")
    assert_well_formed(parts, "success")
    thread = server.call(server.config.app.state.agent.get_thread("chat-thread"))
    assert [m["type"] for m in thread["values"]["messages"]] == ["human", "ai", "tool", "ai", "human", "ai"]


def test_approval_waits_then_resume_runs_the_tool_once(server: LiveServer, tmp_path: Path):
    _, parts = chat(server, "chat-approve", "record 42")
    assert_well_formed(parts, "interrupted")
    interrupt = of(parts, "data-interrupt")[0]["data"]
    assert interrupt["action_requests"][0]["name"] == "record_row"
    assert interrupt["action_requests"][0]["args"] == {"value": "42"}
    assert audit_rows(tmp_path / "audit.db") == []

    approve = {"decisions": [{"type": "approve"}]}
    _, parts = chat(server, "chat-approve", "record 42", resume=approve, user="sam")  # the app's `user`
    assert_well_formed(parts, "success")
    assert of(parts, "tool-output-available")[0]["output"] == {"value": "42", "rows": 1}
    # useChat opens a new assistant message for the resumed run: the call's input comes again, first
    kinds = [(p["type"], p.get("toolCallId")) for p in parts if isinstance(p, dict) and "toolCallId" in p]
    call_id = interrupt_call_id(server, "chat-approve")
    assert kinds == [("tool-input-available", call_id), ("tool-output-available", call_id)]
    assert of(parts, "tool-input-available")[0] == {"type": "tool-input-available", "toolCallId": call_id,
                                                    "toolName": "record_row", "input": {"value": "42"}}
    assert audit_rows(tmp_path / "audit.db") == [("42", "default")]
    assert audit_rows(tmp_path / "audit.db", "value, user") == [("42", "sam")]

    _, parts = chat(server, "chat-approve", "record 42", resume=approve)  # nothing is waiting any more
    assert_well_formed(parts, "error")
    assert "not waiting for approval" in of(parts, "error")[0]["errorText"]
    assert audit_rows(tmp_path / "audit.db") == [("42", "default")]


def interrupt_call_id(server: LiveServer, thread_id: str) -> str:
    """The id of the tool call the thread's first AI message made (the one that waited for approval)."""
    thread = server.call(server.config.app.state.agent.get_thread(thread_id))
    return next(m for m in thread["values"]["messages"] if m["type"] == "ai")["tool_calls"][0]["id"]


def test_bad_body_is_a_400_sentence(server: LiveServer):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        no_messages = client.post("/api/chat", json={"id": "x", "messages": []})
        not_user = client.post("/api/chat", json={"id": "x", "messages": [
            {"id": "a", "role": "assistant", "parts": [{"type": "text", "text": "hi"}]}]})
        not_json = client.post("/api/chat", content=b"{", headers={"content-type": "application/json"})
    for response in (no_messages, not_user, not_json):
        assert response.status_code == 400
        message = response.json()["error"]["message"]
        assert message.startswith("The chat request is not a useChat body")
        assert "send {id, messages" in message
    assert "last message must be a user message" in not_user.json()["error"]["message"]
