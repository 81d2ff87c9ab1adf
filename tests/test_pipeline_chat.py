""""Load sales data from PostgreSQL to ClickHouse daily at 2 AM" in one conversation, through the Agent
Protocol: the official langgraph-sdk client against a real uvicorn server running the offline planner, the
real tools, a `sales` table in its own database on the local PostgreSQL (TimeZone not UTC, reached through
ETLA_CONNECTIONS with a password the server must never show) and the embedded chDB warehouse.

plan (mode, cursor, schedule said back, next runs, DDL) -> approval -> the first run loads every row -> rows
inserted and updated in PostgreSQL arrive with the next run, none doubled, none skipped -> runs, pause,
resume, export to Airflow, delete (approval). Bad requests are one sentence and deploy nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from etl_assistant.config import Settings
from etl_assistant.pipelines.store import PipelineStore
from etl_assistant.server import create_app
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.live_server import LiveServer, live_server
from tests.support.pipeline_source import execute, seed_sales, source_database, source_rows

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PASSWORD = "pw-not-for-chat-7731"  # the local server trusts loopback, so any password connects
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[tuple[LiveServer, Settings, str]]:
    with source_database() as url:
        secret_url = url.replace("postgres@", f"postgres:{PASSWORD}@")
        execute(url, "CREATE TABLE notes (body text NOT NULL, author text NOT NULL)")  # no usable cursor
        execute(url, "INSERT INTO notes VALUES ('hello', 'ann'), ('again', 'bob')")
        seed_sales(url, 1, 200)
        settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                            connections={"shop": secret_url}, scheduler=False, _env_file=None)
        with live_server(create_app(settings)) as server:
            yield server, settings, url
        close_sessions()


class Conversation:
    def __init__(self, server: LiveServer) -> None:
        self.client = get_client(url=server.url)
        self.thread = ""
        self.seen: list[str] = []  # every message text and tool result, to prove the password never shows

    async def start(self) -> Conversation:
        self.thread = (await self.client.threads.create())["thread_id"]
        return self

    async def say(self, text: str | None = None, *, approve: bool = False) -> dict:
        if approve:
            values = await self.client.runs.wait(self.thread, "agent",
                                                 command={"resume": {"decisions": [{"type": "approve"}]}})
        else:
            values = await self.client.runs.wait(
                self.thread, "agent", input={"messages": [{"role": "user", "content": text}]})
        self.seen += [json.dumps(m.get("content")) + json.dumps(m.get("tool_calls") or [])
                      for m in values["messages"]]
        return values


def reply(values: dict) -> str:
    return values["messages"][-1]["content"]


def turn_tools(values: dict, since: int) -> list[tuple[str, dict]]:
    """(name, args) of the tool calls after message `since`."""
    return [(c["name"], c["args"]) for m in values["messages"][since:] for c in m.get("tool_calls") or []]


def tool_output(values: dict, name: str) -> dict:
    calls = {c["id"]: c["name"] for m in values["messages"] for c in m.get("tool_calls") or []}
    found = [m for m in values["messages"] if m["type"] == "tool" and calls.get(m["tool_call_id"]) == name]
    assert found and found[-1].get("status") != "error", found[-1:] or values["messages"][-3:]
    return json.loads(found[-1]["content"])


def warehouse_rows(settings: Settings, table: str) -> list[tuple]:
    warehouse = connect(settings.resolved_warehouse_url)
    rows = warehouse.query(f'SELECT id, region, amount, updated_at FROM "{table}" ORDER BY id',
                           read_only=True).rows
    return [(i, r, a, (t.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)) for i, r, a, t in rows]


def pipelines(settings: Settings) -> list[str]:
    return [spec.name for spec in PipelineStore(Catalog(settings.resolved_catalog_url)).list(settings.tenant)]


async def test_the_sentence_the_product_is_built_for(chat: tuple[LiveServer, Settings, str]) -> None:
    server, settings, source = chat
    talk = await Conversation(server).start()

    planned = await talk.say("Load sales data from PostgreSQL to ClickHouse daily at 2 AM")
    asked_for = {"source_connection": "shop", "source_table": "sales", "schedule": "daily at 2 AM"}
    assert turn_tools(planned, 0)[0] == ("create_pipeline", asked_for)
    plan = tool_output(planned, "create_pipeline")
    assert (plan["mode"], plan["pipeline"]["cursor"], plan["pipeline"]["primary_key"]) == (
        "incremental", "updated_at", ["id"])
    assert plan["schedule"] == "every day at 02:00 UTC" and len(plan["next_runs"]) == 3
    request = planned["__interrupt__"][0]["value"]["action_requests"][0]
    assert request["name"] == "apply_deploy" and request["args"]["plan_id"] == plan["plan_id"]
    shown = planned["messages"][-1]["content"]  # the plan, said before the approval it asks for
    assert "**incremental** on `updated_at`" in shown and "every day at 02:00 UTC" in shown
    assert "CREATE TABLE" in shown and "Approve to create the table" in shown
    assert pipelines(settings) == []  # planned only: nothing exists before the approval

    created = await talk.say(approve=True)
    name = plan["pipeline"]["name"]
    assert f"Created the pipeline **{name}** and ran it once: 200 rows" in reply(created)
    assert "every day at 02:00 UTC" in reply(created)
    assert warehouse_rows(settings, "sales") == source_rows(source)

    seed_sales(source, 201, 240)  # new rows, and changed ones with a later updated_at
    execute(source, "UPDATE sales SET amount = amount + 1000, updated_at = now() WHERE id IN (3, 150, 200)")
    ran = await talk.say("run it now")
    assert turn_tools(ran, len(created["messages"])) == [("run_pipeline", {"name": name})]
    assert f"of **{name}** succeeded" in reply(ran)
    assert warehouse_rows(settings, "sales") == source_rows(source)  # 240 rows, each once, the new amounts

    runs = await talk.say("show me the pipeline runs")
    history = tool_output(runs, "pipeline_runs")["runs"]
    assert [(r["trigger"], r["status"]) for r in history] == [("manual", "succeeded"),
                                                                ("create", "succeeded")]
    assert f"Runs of **{name}**" in reply(runs) and reply(runs).count("| succeeded |") == 2

    paused = await talk.say("pause it")
    assert tool_output(paused, "pause_pipeline")["paused"] is True and "Paused" in reply(paused)
    resumed = await talk.say("resume it")
    assert tool_output(resumed, "resume_pipeline")["paused"] is False and "Resumed" in reply(resumed)

    exported = await talk.say("export it to Airflow")
    dag = tool_output(exported, "export_pipeline")
    assert Path(dag["path"]).is_file() and "etl-assistant pipelines run" in dag["text"]
    assert f"Wrote the Airflow DAG `{dag['dag_id']}`" in reply(exported)

    asked = await talk.say("delete the pipeline")
    request = asked["__interrupt__"][0]["value"]["action_requests"][0]
    assert (request["name"], request["args"]) == ("delete_pipeline", {"name": name})
    assert pipelines(settings) == [name]  # not before the approval
    deleted = await talk.say(approve=True)
    assert f"Deleted the pipeline **{name}**" in reply(deleted) and pipelines(settings) == []

    assert not [text for text in talk.seen if PASSWORD in text]


@pytest.mark.parametrize(("sentence", "says"), [
    ("load sales from postgres every blue moon",
     "I could not read 'every blue moon' as a schedule; say it like \"daily at 2 AM\""),
    ("Load sales data from PostgreSQL to ClickHouse daily at 2 AM, rename nosuch to gone", "nosuch"),
    ("sync the notes table from shop incrementally every hour", "cursor"),
])
async def test_a_bad_request_is_one_sentence_and_deploys_nothing(
    chat: tuple[LiveServer, Settings, str], sentence: str, says: str
) -> None:
    server, settings, _ = chat
    talk = await Conversation(server).start()
    values = await talk.say(sentence)
    assert "__interrupt__" not in values  # nothing to approve
    text = reply(values)
    assert text.startswith("I could not set up that pipeline: ") and says in text
    assert "create_pipeline" not in text  # replies never name a tool
    assert pipelines(settings) == []
    assert not [text for text in talk.seen if PASSWORD in text]
