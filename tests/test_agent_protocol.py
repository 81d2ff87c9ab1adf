"""The Agent Protocol channel over real HTTP: a uvicorn server on 127.0.0.1 and the official, unmodified
langgraph-sdk client (plus raw httpx for malformed requests and disconnects). Scripted test chat model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import ConflictError, NotFoundError

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools


@pytest.fixture(scope="module")
def audit_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.db"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, audit_db: Path) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    app = create_app(settings, model=ScriptedChatModel(), tools=scripted_tools(audit_db))
    with live_server(app) as running:
        yield running


def say(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


async def test_threads_create_get_search_and_404(server: LiveServer):
    client = get_client(url=server.url)
    info = await client.http.get("/info")
    assert info["name"] == "etl-assistant" and info["assistant_id"] == "agent"
    thread = await client.threads.create(metadata={"project": "sales"})
    assert thread["status"] == "idle" and thread["metadata"]["project"] == "sales"
    assert (await client.threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]
    found = await client.threads.search(metadata={"project": "sales"})
    assert [t["thread_id"] for t in found] == [thread["thread_id"]]
    with pytest.raises(ConflictError):
        await client.threads.create(thread_id=thread["thread_id"])
    same = await client.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing")
    assert same["thread_id"] == thread["thread_id"]
    with pytest.raises(NotFoundError) as missing:
        await client.threads.get("no-such-thread")
    assert "no-such-thread was not found" in missing.value.response.text
    with pytest.raises(NotFoundError):
        await client.threads.get_state("no-such-thread")


async def test_stream_all_modes_in_the_protocol_shapes(server: LiveServer):
    client = get_client(url=server.url)
    thread = await client.threads.create()
    created: list[dict] = []
    parts = [
        p
        async for p in client.runs.stream(
            thread["thread_id"],
            "agent",
            input=say("echo hi"),
            stream_mode=["values", "updates", "messages-tuple", "custom"],
            on_run_created=created.append,
        )
    ]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    run_id = parts[0].data["run_id"]
    assert parts[0].data["thread_id"] == thread["thread_id"]
    assert created == [{"run_id": run_id, "thread_id": thread["thread_id"]}]  # from Content-Location
    assert all(p.id for p in parts), "every event carries an id"
    assert len({p.id for p in parts}) == len(parts)
    customs = [p.data for p in parts if p.event == "custom"]
    assert customs[0] == {"type": "progress", "tool": "echo", "done": 1, "total": 2, "message": "echoing"}
    updates = [p.data for p in parts if p.event == "updates"]
    assert [next(iter(u)) for u in updates] == ["agent", "tools", "agent"]
    messages = [p.data for p in parts if p.event == "messages"]
    assert all(isinstance(m, list) and len(m) == 2 for m in messages)
    tool_msgs = [m for m, meta in messages if m["type"] == "tool"]
    assert tool_msgs[0]["content"] == '{"text":"hi","length":2}'
    chunks = [m for m, meta in messages if m["type"] == "AIMessageChunk"]
    assert "".join(c["content"] for c in chunks) == 'Result: {"text":"hi","length":2}'
    assert {meta["langgraph_node"] for m, meta in messages if m["type"] == "AIMessageChunk"} == {"agent"}
    final = [p.data for p in parts if p.event == "values"][-1]
    assert [m["type"] for m in final["messages"]] == ["human", "ai", "tool", "ai"]
    assert parts[-1].data == {"run_id": run_id, "status": "success"}


async def test_interrupt_and_resume_round_trip(server: LiveServer, audit_db: Path):
    client = get_client(url=server.url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    parts = [p async for p in client.runs.stream(tid, "agent", input=say("record 77"), stream_mode="values")]
    waiting = parts[-2].data  # the last values event, before `end`
    request = waiting["__interrupt__"][0]["value"]
    assert request["action_requests"][0]["name"] == "record_row"
    assert request["action_requests"][0]["args"] == {"value": "77"}
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    assert parts[-1].data["status"] == "interrupted"
    assert ("77", "default") not in audit_rows(audit_db)
    state = await client.threads.get_state(tid)
    assert state["next"] == ["review"] and state["interrupts"][0]["value"] == request
    assert (await client.threads.get(tid))["status"] == "interrupted"
    assert (await client.threads.get(tid))["interrupts"]

    parts = [
        p
        async for p in client.runs.stream(
            tid,
            "agent",
            command={"resume": {"decisions": [{"type": "approve"}]}},
            stream_mode="values",
            metadata={"user_id": "U-meta"},  # who resumes: the approved call runs for them
        )
    ]
    assert parts[-1].data["status"] == "success"
    assert audit_rows(audit_db).count(("77", "default")) == 1
    assert ("77", "U-meta") in audit_rows(audit_db, "value, user")
    assert parts[-2].data["messages"][-1]["content"].startswith('Result: {"value":"77"')
    assert "__interrupt__" not in parts[-2].data
    assert (await client.threads.get(tid))["status"] == "idle"
    history = await client.threads.get_history(tid, limit=50)
    assert history[0]["values"] == parts[-2].data and len(history) > 3


async def test_runs_wait_returns_values_and_interrupts(server: LiveServer):
    client = get_client(url=server.url)
    thread = await client.threads.create()
    values = await client.runs.wait(thread["thread_id"], "agent", input=say("echo w"))
    assert values["messages"][-1]["content"] == 'Result: {"text":"w","length":1}'
    values = await client.runs.wait(thread["thread_id"], "agent", input=say("record q"))
    assert values["__interrupt__"][0]["value"]["action_requests"][0]["args"] == {"value": "q"}


async def test_unknown_thread_and_bad_requests_are_clear(server: LiveServer):
    client = get_client(url=server.url)
    with pytest.raises(NotFoundError):
        async for _ in client.runs.stream("missing-thread", "agent", input=say("hi")):
            pass
    async with httpx.AsyncClient(base_url=server.url) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        bad_json = await http.post(
            f"/threads/{tid}/runs/stream", content=b'{"input": ', headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 422
        assert bad_json.json()["detail"].startswith("The request body is not valid JSON")
        bad_mode = await http.post(
            f"/threads/{tid}/runs/stream", json={"input": say("x"), "stream_mode": "gossip"}
        )
        assert bad_mode.status_code == 422 and "stream_mode" in bad_mode.json()["detail"]
        empty = await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "agent"})
        assert empty.status_code == 422 and "Send 'input'" in empty.json()["detail"]
        bad_input = await http.post(f"/threads/{tid}/runs/wait", json={"input": {"text": "x"}})
        assert bad_input.status_code == 200 and bad_input.json()["__error__"]["error"] == "InputError"
        created = await http.post(
            "/threads/missing-2/runs/wait", json={"input": say("echo c"), "if_not_exists": "create"}
        )
        assert created.json()["messages"][-1]["content"] == 'Result: {"text":"c","length":1}'


async def test_client_disconnect_cancels_the_run_and_leaks_no_task(server: LiveServer):
    async def server_tasks() -> list[str]:
        return sorted(repr(t.get_coro()) for t in asyncio.all_tasks())

    state = server.config.app.state
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        # one finished stream first: sse-starlette keeps one shutdown watcher task per event loop
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json={"input": say("echo warm")}) as r:
            assert "event: end" in "".join([line async for line in r.aiter_lines()])
        baseline = server.call(server_tasks())
        async with http.stream(
            "POST", f"/threads/{tid}/runs/stream", json={"input": say("slow 40"), "stream_mode": ["custom"]}
        ) as response:
            seen = 0
            async for line in response.aiter_lines():
                if line.startswith("event: custom"):
                    seen += 1
                if seen == 2:
                    break  # leave mid-run: closing the stream drops the connection
        deadline = time.monotonic() + 10
        while state.agent.active_runs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert state.agent.active_runs == {}
        thread = (await http.get(f"/threads/{tid}")).json()
        assert thread["status"] == "idle"
        # the tool's worker thread cannot be interrupted: its tasks may end a moment later, but they must end
        after = server.call(server_tasks())
        while len(after) > len(baseline) and time.monotonic() < deadline + 10:
            await asyncio.sleep(0.1)
            after = server.call(server_tasks())
        assert len(after) <= len(baseline), f"server tasks before {baseline}, after {after}"
        # the run did not finish: the slow call has no result, and the thread takes a new run right away
        messages = (await http.get(f"/threads/{tid}/state")).json()["values"]["messages"]
        assert messages[-1]["tool_calls"][0]["name"] == "sleepy"
        resp = await http.post(f"/threads/{tid}/runs/wait", json={"input": say("echo again")})
        messages = resp.json()["messages"]
        assert messages[-1]["content"] == 'Result: {"text":"again","length":5}'
        cancelled = [m for m in messages if m["type"] == "tool" and m["name"] == "sleepy"]
        assert cancelled[0]["status"] == "error" and "cancelled" in cancelled[0]["content"]


async def test_keep_alive_pings_while_a_tool_works(server: LiveServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("etl_assistant.channels.sse.PING_SECONDS", 0.1)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        async with http.stream(
            "POST", f"/threads/{tid}/runs/stream", json={"input": say("slow 12"), "stream_mode": ["values"]}
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-accel-buffering"] == "no"
            lines = [line async for line in response.aiter_lines()]
    pings = [line for line in lines if line.startswith(": ping")]
    assert len(pings) >= 3, "a 600 ms tool run with 100 ms pings sends several comments"
    assert "event: end" in lines


async def test_modes_we_do_not_produce_are_accepted_and_silent(server: LiveServer):
    client = get_client(url=server.url)
    thread = await client.threads.create()
    parts = [
        p
        async for p in client.runs.stream(
            thread["thread_id"],
            "agent",
            input=say("echo m"),
            stream_mode=["values", "events", "debug", "tasks"],
        )
    ]
    assert {p.event for p in parts} == {"metadata", "values", "end"}
    assert parts[-1].data["status"] == "success"


async def test_a_second_run_on_a_busy_thread_is_a_409(server: LiveServer):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        async with http.stream(
            "POST", f"/threads/{tid}/runs/stream", json={"input": say("slow 10"), "stream_mode": ["custom"]}
        ) as running:
            lines = running.aiter_lines()  # one iterator: leaving it early would close the stream
            while not (await anext(lines)).startswith("event: custom"):
                pass  # until the slow tool is working
            second = await http.post(f"/threads/{tid}/runs/wait", json={"input": say("echo b")})
            assert second.status_code == 409 and "already running" in second.json()["detail"], second.text
            rest = [line async for line in lines]
        assert any(line.startswith("event: end") for line in rest)
        third = await http.post(f"/threads/{tid}/runs/wait", json={"input": say("echo c")})
        assert third.status_code == 200 and third.json()["messages"][-1]["content"].endswith('"length":1}')
