"""Several server processes on one data dir: `etl-assistant serve --workers 2` on the embedded defaults (the
chDB of the data dir claimed by one worker and shared with the other; the catalog and conversations in SQLite
(WAL) or in PostgreSQL via ETLA_CATALOG_URL), and the thread registry refusing a second run of a thread from
another process.

The server is a real subprocess; the conversations go over loopback (Agent Protocol SSE and the
OpenAI-compatible stream) at the same time, so both workers answer.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from etl_assistant.agent.threads import ThreadBusy, ThreadStore
from etl_assistant.evals.sample_data import write_retail
from tests.support.postgres import schema_url, temporary_schema
from tests.support.server_process import Server

CONVERSATIONS = 12


@pytest.fixture(params=["sqlite", "postgres"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """Two workers with the catalog, threads and checkpoints in the data dir's SQLite, or in PostgreSQL."""
    write_retail(str(tmp_path), orders=300)
    env = {**os.environ, "ETLA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
           "ETLA_ALLOWED_ROOTS": json.dumps([str(tmp_path)])}
    with ExitStack() as stack:
        if request.param == "postgres":
            env["ETLA_CATALOG_URL"] = schema_url(stack.enter_context(temporary_schema("etla_workers")))
        server = Server(env, tmp_path, extra_args=["--workers", "2"])
        stack.callback(server.stop)
        yield server.start()


async def agent_turn(http: httpx.AsyncClient, thread: str, text: str) -> list[str]:
    body = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": text}]},
            "stream_mode": ["values"], "if_not_exists": "create"}
    events = []
    async with http.stream("POST", f"/threads/{thread}/runs/stream", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
    return events


async def openai_turn(http: httpx.AsyncClient, thread: str, text: str) -> list[str]:
    body = {"model": "etl-assistant", "stream": True, "messages": [{"role": "user", "content": text}]}
    headers = {"X-Thread-Id": thread}
    async with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as reply:
        assert reply.status_code == 200
        lines = [line async for line in reply.aiter_lines() if line.startswith("data: ")]
    return lines


async def test_two_workers_share_the_warehouse_and_answer_at_once(workers: Server, tmp_path: Path):
    async with httpx.AsyncClient(base_url=workers.url, timeout=120) as http:
        events = await agent_turn(http, "loader", f"load {tmp_path / 'orders.csv'}")
        assert events[-1] == "end" and "error" not in events

        async def conversation(index: int) -> list[str]:
            thread = f"w-{index}"
            if index % 2:
                return [(await openai_turn(http, thread, f"total amount by region ({index})"))[-1]]
            return (await agent_turn(http, thread, f"number of orders by channel ({index})"))[-1:]

        endings = await asyncio.gather(*(conversation(i) for i in range(CONVERSATIONS)))
    assert endings.count(["end"]) == CONVERSATIONS // 2
    assert endings.count(["data: [DONE]"]) == CONVERSATIONS // 2
    health = httpx.get(f"{workers.url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["warehouse"]["reachable"]
    owner = json.loads((tmp_path / "data" / "warehouse.owner.json").read_text())
    assert owner["pid"] in workers.children()  # a worker owns the engine, the other goes through it
    on_postgres = "ETLA_CATALOG_URL" in workers.env
    assert (tmp_path / "data" / "threads.db").exists() != on_postgres  # conversations where configured


async def test_a_thread_runs_in_one_process_at_a_time(tmp_path: Path):
    """Two ThreadStores on one SQLite file stand for two server processes."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}"
    first, second = ThreadStore(url), ThreadStore(url)
    await first.setup()
    try:
        await first.create("default", "shared")
        await first.begin_run("default", "shared", create=False, title="hi", metadata={})
        with pytest.raises(ThreadBusy, match="shared is already running"):
            await second.begin_run("default", "shared", create=False, title="hi", metadata={})
        await first.update("shared", status="idle")
        await second.begin_run("default", "shared", create=False, title="hi", metadata={})
        assert (await first.get("default", "shared")).status == "busy"
    finally:
        await first.aclose()
        await second.aclose()
