"""Connections in chat, through the real server with the offline planner: "connect to postgresql://…" adds
one, "what tables are in <it>?" lists them, over the Agent Protocol (langgraph-sdk) and the OpenAI-compatible
API (openai client); removing one waits for approval. The password never shows: not in replies, streamed
events, thread state or history, /metrics, nor in the logs of the whole exchange (ours at DEBUG, libraries
at INFO: at DEBUG the SQLite driver prints the statements' parameters, and the stored conversation keeps the
person's message as typed)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph_sdk import get_client
from openai import OpenAI

from etl_assistant.channels.openai_compat import MODEL_ID
from etl_assistant.config import Settings
from etl_assistant.pipelines.connections import ConnectionStore
from etl_assistant.server import create_app
from etl_assistant.warehouse.catalog import Catalog
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel
from tests.support.source_db import temporary_database

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PASSWORD = "Chat-Pa55word"


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[str, str]]:
    """(URL with a password, database name); the local server trusts loopback, so the password is not
    checked, only carried."""
    with temporary_database() as url:
        yield url.replace("postgres@", f"postgres:{PASSWORD}@"), urlsplit(url).path.strip("/")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None)
    with live_server(create_app(settings)) as live:
        yield live


def _capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="etl_assistant")


def _no_password(*things: Any) -> None:
    for thing in things:
        text = thing if isinstance(thing, str) else json.dumps(thing, default=str)
        assert PASSWORD not in text


async def test_connect_and_list_tables_over_the_agent_protocol(server: LiveServer, shop: tuple[str, str],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    _capture_logs(caplog)
    url, database = shop
    client = get_client(url=server.url)
    thread = (await client.threads.create())["thread_id"]
    chunks = [chunk async for chunk in client.runs.stream(
        thread, "agent", input={"messages": [{"role": "user", "content": f"connect to {url}"}]},
        stream_mode=["values", "updates", "messages", "custom"])]
    state = await client.threads.get_state(thread)
    messages = state["values"]["messages"]
    call = messages[1]["tool_calls"][0]
    assert call["name"] == "add_connection" and call["args"]["url"].startswith("postgresql://postgres:***@")
    reply = messages[-1]["content"]
    shown = f"postgresql://postgres:***@127.0.0.1:5432/{database}"
    assert f"Connected **{database}** (postgresql, `{shown}`)" in reply
    assert "4 tables and views in archive, public" in reply
    assert messages[0]["content"] == f"connect to {shown}"  # even the person's own words

    listed = await client.runs.wait(thread, "agent", input={
        "messages": [{"role": "user", "content": f"what tables are in {database}?"}]})
    tool_call = listed["messages"][-3]["tool_calls"][0]
    assert (tool_call["name"], tool_call["args"]) == ("list_tables", {"connection": database})
    answer = listed["messages"][-1]["content"]
    assert "- archive: `orders_2019`" in answer
    assert "- public: `customers`, `orders`, `big_orders` (view)" in answer

    history = await client.threads.get_history(thread)
    async with httpx.AsyncClient(base_url=server.url) as http:
        metrics = (await http.get("/metrics")).text
    assert re.search(r'etla_tool_calls_total\{status="success",tool="add_connection"\} 1\.0', metrics)
    _no_password([c.data for c in chunks], state, history, listed, metrics, caplog.text)


def test_connect_over_the_openai_api_shows_no_password(server: LiveServer, shop: tuple[str, str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    _capture_logs(caplog)
    url, database = shop
    with OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0, timeout=60) as client:
        chunks = list(client.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": f"please connect to {url} as shopdb"}],
            stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "> running add_connection (postgresql://postgres:***@127.0.0.1:5432/" in text
        assert "Connected **shopdb**" in text
        history = [{"role": "user", "content": f"please connect to {url} as shopdb"},
                   {"role": "assistant", "content": text},
                   {"role": "user", "content": "list the tables in shopdb"}]
        listed = client.chat.completions.create(model=MODEL_ID, messages=history).choices[0].message.content
    assert "**shopdb** has 4 tables and views" in listed
    _no_password(text, listed, caplog.text)


class ToolCallingModel(ScriptedChatModel):
    """'call <tool> <json>' -> exactly that tool call (the offline planner has no removal turn)."""

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, HumanMessage) and last.text.startswith("call "):
            _, name, args = last.text.split(" ", 2)
            return AIMessage(content="", tool_calls=[{"id": f"call_{len(messages)}", "name": name,
                                                      "args": json.loads(args)}])
        return super()._reply(messages)


async def test_removing_a_connection_waits_for_approval(tmp_path: Path, shop: tuple[str, str]) -> None:
    url, _ = shop
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None)
    with live_server(create_app(settings, model=ToolCallingModel())) as server:
        client = get_client(url=server.url)
        thread = (await client.threads.create())["thread_id"]

        def call(tool: str, **args: Any) -> dict:
            return {"messages": [{"role": "user", "content": f"call {tool} {json.dumps(args)}"}]}

        added = await client.runs.wait(thread, "agent", input=call("add_connection", url=url, name="shop"))
        assert json.loads(added["messages"][-2]["content"])["connection"]["name"] == "shop"
        waiting = await client.runs.wait(thread, "agent", input=call("remove_connection", name="shop"))
        request = waiting["__interrupt__"][0]["value"]
        assert request["action_requests"][0]["name"] == "remove_connection"
        assert request["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
        store = ConnectionStore(Catalog(settings.resolved_catalog_url))
        assert [name for name, _ in store.list("default")] == ["shop"]  # nothing happens before the decision
        approve = {"resume": {"decisions": [{"type": "approve"}]}}
        approved = await client.runs.wait(thread, "agent", command=approve)
        assert json.loads(approved["messages"][-2]["content"])["removed"]["name"] == "shop"
        assert store.list("default") == []
