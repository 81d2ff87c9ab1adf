"""`/v1/models` and `/v1/chat/completions` driven by the official `openai` client against a real uvicorn
server on 127.0.0.1.

The app is the real one (graph, SQLite checkpointer, thread registry). The chat model is the scripted test
model standing in for a remote LLM, with its small real tools (tests/support/scripted_model.py), so tool
steps, failures and approvals are deterministic; one test runs the shipped offline planner and real tools.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from etl_assistant.agent.events import RunEvent
from etl_assistant.channels.openai_compat import (
    MODEL_ID,
    Completion,
    ThreadChoice,
    conversation_key,
    stream_body,
)
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openai_compat")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[LiveServer]:
    app = create_app(Settings(data_dir=data_dir, _env_file=None), model=ScriptedChatModel(),
                     tools=scripted_tools(data_dir / "audit.db"))
    with live_server(app) as running:
        yield running


@pytest.fixture
def client(server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0, timeout=60) as c:
        yield c


def stream_reply(client: OpenAI, messages: list[dict[str, str]], **kwargs: object) -> tuple[str, list]:
    chunks = list(client.chat.completions.create(model=MODEL_ID, messages=messages, stream=True, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def thread_count(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "threads.db") as conn:
        return conn.execute("SELECT count(*) FROM etla_threads").fetchone()[0]


def test_models_lists_the_assistant(client: OpenAI):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL_ID]
    assert client.models.retrieve(MODEL_ID).id == MODEL_ID
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-4o")
    assert "etl-assistant" in err.value.message


def test_non_streaming_reply(client: OpenAI):
    completion = client.chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": "hello there"}])
    assert completion.object == "chat.completion"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "You said: hello there. I can echo things."
    assert completion.choices[0].message.tool_calls is None


def test_streaming_reply_arrives_in_chunks_then_stop_then_done(server: LiveServer, client: OpenAI):
    text, chunks = stream_reply(client, [{"role": "user", "content": "hello streaming world"}])
    assert text == "You said: hello streaming world. I can echo things."
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 3, "the reply streams word by word, not in one piece"
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL_ID for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    request = {"model": MODEL_ID, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    raw = httpx.post(f"{server.url}/v1/chat/completions", json=request, timeout=60)
    data_lines = [line for line in raw.text.splitlines() if line.startswith("data:")]
    assert data_lines[-1] == "data: [DONE]"
    assert raw.headers["content-type"].startswith("text/event-stream")


def test_tool_steps_are_text_never_tool_calls(client: OpenAI):
    text, chunks = stream_reply(client, [{"role": "user", "content": "echo tables please"}])
    assert "> running echo (tables please)…" in text
    assert "> echo: done" in text
    assert text.rstrip().endswith("Result: " + '{"text":"tables please","length":13}')
    assert all(c.choices[0].delta.tool_calls is None for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_conversation_continues_in_one_thread_across_requests(server: LiveServer, data_dir: Path,
                                                              client: OpenAI):
    before = thread_count(data_dir)
    history = [{"role": "system", "content": "You are helpful."},
               {"role": "user", "content": "echo first turn"}]
    first, _ = stream_reply(client, history)
    history.append({"role": "assistant", "content": first})
    history.append({"role": "user", "content": "echo second turn"})
    response = client.chat.completions.with_raw_response.create(model=MODEL_ID, messages=history)
    second = response.parse().choices[0].message.content
    thread_id = response.headers["x-thread-id"]
    assert "> running echo (second turn)…" in second
    assert thread_count(data_dir) == before + 1, "the second request continued the first thread"

    assert humans_in(server, thread_id) == ["echo first turn", "echo second turn"], \
        "only the new user message is sent each time"

    # A client that edits an earlier turn gets a fresh thread seeded with the history it sent.
    edited = [{"role": "user", "content": "echo first turn"},
              {"role": "assistant", "content": "something else"},
              {"role": "user", "content": "hello again"}]
    response = client.chat.completions.with_raw_response.create(model=MODEL_ID, messages=edited)
    assert response.headers["x-thread-id"] != thread_id
    assert thread_count(data_dir) == before + 2


def humans_in(server: LiveServer, thread_id: str) -> list[str]:
    state = httpx.get(f"{server.url}/threads/{thread_id}/state", timeout=30).json()
    return [m["content"] for m in state["values"]["messages"] if m["type"] == "human"]


def test_two_chats_that_open_alike_keep_their_own_context(server: LiveServer, client: OpenAI):
    opening = [{"role": "user", "content": "echo same opening"}]
    reply_a = client.chat.completions.create(model=MODEL_ID, messages=opening).choices[0].message.content
    reply_b = client.chat.completions.create(model=MODEL_ID, messages=opening).choices[0].message.content
    assert reply_a == reply_b
    threads = []
    for follow_up in ("echo path a", "echo path b"):
        history = [*opening, {"role": "assistant", "content": reply_a},
                   {"role": "user", "content": follow_up}]
        response = client.chat.completions.with_raw_response.create(model=MODEL_ID, messages=history)
        threads.append(response.headers["x-thread-id"])
    assert threads[0] != threads[1]
    assert humans_in(server, threads[0]) == ["echo same opening", "echo path a"]
    assert humans_in(server, threads[1]) == ["echo same opening", "echo path b"]


def test_thread_id_header_names_the_thread(server: LiveServer, client: OpenAI):
    headers = {"X-Thread-Id": "openai-header-thread"}
    client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "echo one"}],
                                   extra_headers=headers)
    client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "echo two"}],
                                   extra_headers=headers)
    assert humans_in(server, "openai-header-thread") == ["echo one", "echo two"]


def test_conversation_key_ignores_whitespace_and_separates_tenants():
    turns = [("user", "show  orders"), ("assistant", "ok\n\nhere")]
    assert conversation_key("default", turns) == conversation_key("default", [("user", "show orders"),
                                                                              ("assistant", "ok here")])
    assert conversation_key("default", turns) != conversation_key("acme", turns)


def test_approval_is_asked_in_text_and_answered_with_approve(data_dir: Path, client: OpenAI):
    history = [{"role": "user", "content": "record apples"}]
    asked, _ = stream_reply(client, history)
    assert "**Approval needed.**" in asked and "`record_row`" in asked and '"value": "apples"' in asked
    assert "Reply **approve**" in asked
    assert ("apples", "default") not in audit_rows(data_dir / "audit.db")
    history += [{"role": "assistant", "content": asked}, {"role": "user", "content": "Approve."}]
    done, _ = stream_reply(client, history, user="lee@example.com")  # OpenAI's end-user field
    assert "> running record_row (apples)…" not in asked
    assert "> record_row: " in done and "Result:" in done
    assert audit_rows(data_dir / "audit.db").count(("apples", "default")) == 1
    assert ("apples", "lee@example.com") in audit_rows(data_dir / "audit.db", "value, user")


def test_approval_can_be_rejected(data_dir: Path, client: OpenAI):
    history = [{"role": "user", "content": "record pears"}]
    asked = client.chat.completions.create(model=MODEL_ID, messages=history).choices[0].message.content
    history += [{"role": "assistant", "content": asked}, {"role": "user", "content": "reject"}]
    reply = client.chat.completions.create(model=MODEL_ID, messages=history).choices[0].message.content
    assert "The tool failed: The person rejected record_row" in reply
    assert ("pears", "default") not in audit_rows(data_dir / "audit.db")


def test_tool_failures_are_reported_as_text(client: OpenAI):
    text, _ = stream_reply(client, [{"role": "user", "content": "fail"}])
    assert "> echo failed: The text must not start with '!'" in text


def test_bad_requests_get_openai_errors(server: LiveServer, client: OpenAI):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL_ID, messages=[])
    assert "messages" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "assistant", "content": "hi"}])
    assert "last message must be a user message" in err.value.message
    raw = httpx.post(f"{server.url}/v1/chat/completions", content=b"{not json", timeout=30,
                     headers={"Content-Type": "application/json"})
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "hi"}],
                                       extra_headers={"X-Thread-Id": "x" * 65})
    assert "X-Thread-Id" in err.value.message


def test_approve_with_nothing_pending_is_an_ordinary_message(client: OpenAI):
    headers = {"X-Thread-Id": "openai-idle-thread"}
    client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "hi"}],
                                   extra_headers=headers)
    reply = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "approve"}],
                                           extra_headers=headers)
    assert reply.choices[0].message.content == "You said: approve. I can echo things."


def test_infrastructure_failures_reach_the_person_as_a_sentence(client: OpenAI):
    text, _ = stream_reply(client, [{"role": "user", "content": "down"}])
    assert "chdb:///nowhere is unreachable" in text and "ETLA_WAREHOUSE_URL" in text
    assert "Traceback" not in text


def test_a_busy_thread_is_a_409_while_the_first_reply_streams(client: OpenAI):
    headers = {"X-Thread-Id": "openai-busy-thread"}
    slow = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "slow 40"}],
                                          stream=True, extra_headers=headers)
    first = next(iter(slow))
    assert first.choices[0].delta.role == "assistant"
    with pytest.raises(openai.ConflictError) as err:
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "hi"}],
                                       extra_headers=headers)
    assert "openai-busy-thread" in err.value.message
    rest = "".join(c.choices[0].delta.content or "" for c in slow if c.choices)
    assert "> running sleepy (40)…" not in rest or "Result:" in rest
    assert "Result:" in rest


def test_shipped_assistant_answers_about_an_uploaded_file(tmp_path: Path):
    """The default app (offline planner, real tools, chDB, SQLite): upload through /v1/datasets, then ask."""
    rows = "\n".join(f"{i},{('north', 'south')[i % 2]},{i * 1.5:.2f}" for i in range(1, 31))
    settings = Settings(data_dir=tmp_path, allowed_roots=[tmp_path], _env_file=None)
    with live_server(create_app(settings)) as srv:
        uploaded = httpx.post(f"{srv.url}/v1/datasets", timeout=60,
                              files={"file": ("orders.csv", f"order_id,region,amount\n{rows}\n")})
        assert uploaded.status_code == 201, uploaded.text
        with OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0, timeout=120) as client:
            text, _ = stream_reply(client, [{"role": "user", "content": "Show me the schema of orders"}])
    assert text.startswith("> running infer_schema (orders.csv)…\n\n"
                           "> infer_schema: name=orders, row_count=30")
    assert "| column | type | nullable | distinct | unique |" in text
    assert "| `order_id` | integer | no | 30 | yes |" in text and "| `region` | string | no | 2 |" in text


async def test_a_run_that_fails_mid_stream_ends_with_an_openai_error_chunk():
    """The stream body for RunEvents (our internal contract) of a run that breaks after some text."""
    events = [RunEvent(type="metadata", data={"run_id": "r", "thread_id": "t"}),
              RunEvent(type="text_delta", data={"id": "m1", "delta": "Partial "}),
              RunEvent(type="error", data={"error": "InternalError", "message": "The assistant failed."}),
              RunEvent(type="end", data={"status": "error"})]

    async def rest() -> AsyncIterator[RunEvent]:
        for event in events[1:]:
            yield event

    choice = ThreadChoice(thread_id="t", messages=[{"role": "user", "content": "hi"}], history=[])
    no_service: Any = None  # the error path never stores a conversation key
    body = [part["data"] async for part in stream_body(no_service, "default", choice, events[:1], rest(),
                                                       Completion())]
    assert body[-1] == "[DONE]"
    assert json.loads(body[-2]) == {"error": {"message": "The assistant failed.", "type": "server_error",
                                              "code": "InternalError"}}
    assert json.loads(body[1])["choices"][0]["delta"] == {"content": "Partial "}
    assert not any('"finish_reason":"stop"' in part for part in body), "a failed run does not claim success"


async def test_a_client_that_leaves_mid_stream_cancels_the_run_and_leaks_nothing(server: LiveServer):
    async def server_tasks() -> list[str]:
        return sorted(repr(t.get_coro()) for t in asyncio.all_tasks())

    agent = server.config.app.state.agent
    headers = {"X-Thread-Id": "openai-leaving-client"}

    def request(text: str) -> dict[str, Any]:
        return {"model": MODEL_ID, "stream": True, "messages": [{"role": "user", "content": text}]}

    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=headers) as http:
        warm = await http.post("/v1/chat/completions", json=request("echo warm"))
        assert warm.text.rstrip().endswith("data: [DONE]")
        baseline = server.call(server_tasks())
        async with http.stream("POST", "/v1/chat/completions", json=request("slow 60")) as response:
            async for line in response.aiter_lines():
                if "sleepy: sleeping 25%" in line:
                    break  # leave mid-run: closing the stream drops the connection
        deadline = time.monotonic() + 10
        while agent.active_runs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert agent.active_runs == {}
        after = server.call(server_tasks())
        while len(after) > len(baseline) and time.monotonic() < deadline + 10:
            await asyncio.sleep(0.1)
            after = server.call(server_tasks())
        assert len(after) <= len(baseline), f"server tasks before {baseline}, after {after}"
        again = await http.post("/v1/chat/completions", json=request("echo again") | {"stream": False})
    assert again.status_code == 200
    assert again.json()["choices"][0]["message"]["content"].endswith('Result: {"text":"again","length":5}')
