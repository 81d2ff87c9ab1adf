"""Agent Protocol runs and assistants through the official clients: the Python `langgraph-sdk` and the JS
`@langchain/langgraph-sdk` in Node (tests/js/langgraph_runs.mjs), against a real uvicorn server on 127.0.0.1.
The chat model is the scripted test model (standing in for a remote LLM) with its real small tools."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.node import run_node
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools


@pytest.fixture
def audit_db(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def server(tmp_path: Path, audit_db: Path) -> Iterator[LiveServer]:
    app = create_app(Settings(data_dir=tmp_path / "data"), model=ScriptedChatModel(),
                     tools=scripted_tools(audit_db))
    with live_server(app) as running:
        yield running


def say(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


async def test_assistants_search_and_get(server: LiveServer):
    client = get_client(url=server.url)
    found = await client.assistants.search()
    assert [a["assistant_id"] for a in found] == ["agent"]
    assert await client.assistants.search(graph_id="other") == []
    one = await client.assistants.get("agent")
    assert one["graph_id"] == "agent" and one["name"] == "etl-assistant" and one == found[0]
    with pytest.raises(NotFoundError):
        await client.assistants.get("nope")


async def test_background_run_get_list_join(server: LiveServer):
    client = get_client(url=server.url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "agent", input=say("echo bg"))
    assert run["thread_id"] == tid and run["status"] in ("pending", "running", "success")
    joined = await client.runs.join(tid, run["run_id"])
    assert joined["messages"][-1]["content"] == 'Result: {"text":"bg","length":2}'
    got = await client.runs.get(tid, run["run_id"])
    assert got["status"] == "success" and got["run_id"] == run["run_id"]
    streamed = [p async for p in client.runs.stream(tid, "agent", input=say("echo two"))]
    listed = await client.runs.list(tid)
    assert [r["run_id"] for r in listed][1] == run["run_id"] and len(listed) == 2
    assert listed[0]["run_id"] == streamed[0].data["run_id"]
    assert [r["run_id"] for r in await client.runs.list(tid, limit=1, offset=1)] == [run["run_id"]]
    assert await client.runs.list(tid, status="error") == []
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, "no-such-run")


async def test_cancel_a_running_run(server: LiveServer):
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "agent", input=say("slow 100"))  # 5 s of tool work
    await _until(lambda: server.config.app.state.agent.active_runs)
    started = time.monotonic()
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert time.monotonic() - started < 5
    got = await client.runs.get(tid, run["run_id"])
    assert got["status"] == "interrupted" and got["cancel_reason"] == "cancelled by request"
    thread = await client.threads.get(tid)
    assert thread["status"] == "idle"
    after = await client.runs.wait(tid, "agent", input=say("echo next"))  # the thread takes the next run
    assert after["messages"][-1]["content"] == 'Result: {"text":"next","length":4}'


async def test_stream_resumes_after_last_event_id(server: LiveServer, audit_db: Path):
    """A reader leaves mid-run (on_disconnect=continue); join_stream with the last id it got gets the rest,
    each event once, and the run finished while nobody read it."""
    client = get_client(url=server.url)
    tid = (await client.threads.create())["thread_id"]
    first: list = []
    body = {"input": say("slow 20"), "stream_mode": ["values", "custom"], "on_disconnect": "continue",
            "stream_resumable": True}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response:
            assert response.headers["location"].endswith("/stream")
            run_path = response.headers["content-location"]
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("id: "):
                    first.append(int(line[4:]))
                if len(first) == 4:
                    break
    run_id = run_path.rsplit("/", 1)[1]
    rest = [p async for p in client.runs.join_stream(tid, run_id, last_event_id=str(first[-1]))]
    assert rest[0].id == str(first[-1] + 1) and rest[-1].event == "end"
    ids = [int(p.id) for p in rest if p.id]
    assert ids == list(range(first[-1] + 1, first[-1] + 1 + len(ids)))
    assert rest[-1].data["status"] == "success"
    replay = [p async for p in client.runs.join_stream(tid, run_id)]  # from the start, the run is over
    assert [int(p.id) for p in replay if p.id][: len(first)] == first
    only_values = [p async for p in client.runs.join_stream(tid, run_id, stream_mode="values")]
    assert {p.event for p in only_values} == {"metadata", "values", "end"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        bad = await http.get(f"{run_path}/stream", headers={"Last-Event-ID": "x1"})
    assert bad.status_code == 422 and "Last-Event-ID 'x1'" in bad.json()["detail"]


async def test_stateless_runs_leave_no_thread(server: LiveServer):
    client = get_client(url=server.url)
    before = await client.threads.search(limit=100)
    waited = await client.runs.wait(None, "agent", input=say("echo stateless"))
    assert waited["messages"][-1]["content"] == 'Result: {"text":"stateless","length":9}'
    parts = [p async for p in client.runs.stream(None, "agent", input=say("echo streamed"),
                                                 stream_mode="values")]
    assert parts[0].event == "metadata" and parts[-1].event == "end"
    assert parts[-2].data["messages"][-1]["content"] == 'Result: {"text":"streamed","length":8}'
    await _until_async(lambda: _threads_count(client, len(before)))
    kept = await client.runs.wait(None, "agent", input=say("echo kept"), on_completion="keep")
    assert kept["messages"][-1]["content"].startswith("Result")
    assert len(await client.threads.search(limit=100)) == len(before) + 1
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        resume = await http.post("/runs/wait", json={"command": {"resume": {"decisions": []}}})
    assert resume.status_code == 422 and "stateless run has no earlier turn" in resume.json()["detail"]


async def test_js_langgraph_sdk_runs_and_assistants(server: LiveServer, audit_db: Path):
    out = await asyncio.to_thread(run_node, "langgraph_runs.mjs", server.url)
    assert out["assistants"] == ["agent"] and out["assistant"]["graph_id"] == "agent"
    assert out["joined"] == 'Result: {"text":"js","length":2}'
    assert out["got"] == "success" and out["listed"] == 2
    assert out["resumedFirst"] == out["lastSeen"] + 1 and out["resumedLast"] == "end"
    assert out["stateless"] == 'Result: {"text":"stateless js","length":12}'
    assert out["statelessStream"][-1] == "end"
    assert out["cancelled"] == "interrupted"
    assert out["approved"] == '{"value":"7","rows":1}'
    assert audit_rows(audit_db) == [("7", "default")]


async def _threads_count(client, expected: int) -> bool:
    return len(await client.threads.search(limit=100)) == expected


async def _until(check, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def _until_async(check, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.05)
