"""AgentService end to end on the real graph, the real SQLite/PostgreSQL checkpointers and real tools.

The chat model is the scripted test model (tests/support/scripted_model.py); the product's offline planner is
exercised in the server tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.runner import AgentService
from etl_assistant.config import Settings
from tests.support.postgres import pg_schema, schema_url  # noqa: F401 - pg_schema is a fixture
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools


@pytest.fixture
async def service(tmp_path: Path):
    svc = await AgentService.create(
        Settings(data_dir=tmp_path), model=ScriptedChatModel(), tools=scripted_tools(tmp_path / "audit.db")
    )
    yield svc
    await svc.aclose()


def say(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


async def collect(svc: AgentService, thread_id: str, **kwargs) -> list[RunEvent]:
    return [e async for e in svc.stream(thread_id, **kwargs)]


def of(events: list[RunEvent], kind: str) -> list[dict]:
    return [e.data for e in events if e.type == kind]


def last_ai_text(events: list[RunEvent]) -> str:
    return [m for m in of(events, "message") if m["type"] == "ai"][-1]["content"]


async def test_plain_answer_streams_text_and_ends(service: AgentService):
    events = await collect(service, "t-plain", input=say("hello there"))
    assert events[0].type == "metadata" and events[0].data["thread_id"] == "t-plain"
    assert events[-1].data == {"status": "success"}
    deltas = of(events, "text_delta")
    assert len(deltas) > 1, "the reply must arrive in pieces"
    assert "".join(d["delta"] for d in deltas) == "You said: hello there. I can echo things."
    assert last_ai_text(events) == "You said: hello there. I can echo things."
    thread = await service.get_thread("t-plain")
    assert thread["status"] == "idle"
    assert thread["metadata"]["title"] == "hello there" and thread["metadata"]["tenant"] == "default"
    assert [m["type"] for m in thread["values"]["messages"]] == ["human", "ai"]


async def test_tool_call_reports_progress_and_result(service: AgentService):
    events = await collect(service, "t-tool", input={"messages": [{"type": "human", "content": "echo hi"}]})
    kinds = [e.type for e in events]
    assert kinds.index("tool_call") < kinds.index("progress") < kinds.index("tool_result")
    assert of(events, "tool_call")[0]["name"] == "echo" and of(events, "tool_call")[0]["args"] == {
        "text": "hi"
    }
    assert of(events, "progress") == [
        {"tool": "echo", "done": 1, "total": 2, "message": "echoing"},
        {"tool": "echo", "done": 2, "total": 2, "message": "echoed"},
    ]
    result = of(events, "tool_result")[0]
    assert result["output"] == {"text": "hi", "length": 2} and result["is_error"] is False
    assert last_ai_text(events) == 'Result: {"text":"hi","length":2}'


async def test_tool_error_goes_back_to_the_model(service: AgentService):
    events = await collect(service, "t-err", input=say("fail"))
    result = of(events, "tool_result")[0]
    assert result["is_error"] is True
    assert result["summary"] == "The text must not start with '!'; remove it and call echo again."
    assert last_ai_text(events).startswith("The tool failed: The text must not start")
    assert events[-1].data == {"status": "success"} and not of(events, "error")


async def test_infrastructure_error_is_told_to_the_person_without_a_trace(service: AgentService):
    events = await collect(service, "t-down", input=say("down"))
    text = last_ai_text(events)
    assert text == (
        "I could not run warehouse_down: The warehouse at chdb:///nowhere is unreachable; "
        "start it or set ETLA_WAREHOUSE_URL."
    )
    assert "Traceback" not in str([e.data for e in events])
    # the thread stays usable: the failed call has its result, so the next turn works
    events = await collect(service, "t-down", input=say("echo again"))
    assert last_ai_text(events) == 'Result: {"text":"again","length":5}'


async def test_approval_writes_nothing_before_and_exactly_once_after(service: AgentService, tmp_path: Path):
    db = tmp_path / "audit.db"
    events = await collect(service, "t-ok", input=say("record 42"))
    assert events[-1].data == {"status": "interrupted"}
    assert audit_rows(db) == []
    payload = of(events, "interrupt")[0]
    assert payload["action_requests"][0]["name"] == "record_row"
    assert payload["action_requests"][0]["args"] == {"value": "42"}
    assert payload["action_requests"][0]["description"].startswith("Write one row to the audit table")
    assert payload["review_configs"] == [
        {"action_name": "record_row", "allowed_decisions": ["approve", "edit", "reject"]}
    ]
    values = of(events, "values")[-1]
    assert values["__interrupt__"][0]["value"]["action_requests"][0]["name"] == "record_row"
    state = await service.get_state("t-ok")
    assert state["next"] == ["review"] and state["interrupts"][0]["id"] == payload["interrupt_id"]
    assert (await service.get_thread("t-ok"))["status"] == "interrupted"
    assert audit_rows(db) == []

    events = await collect(service, "t-ok", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert events[-1].data == {"status": "success"}
    assert audit_rows(db) == [("42", "default")]
    assert of(events, "tool_result")[0]["output"] == {"value": "42", "rows": 1}

    # resuming again is refused: nothing is waiting, nothing is written twice
    events = await collect(service, "t-ok", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert of(events, "error")[0]["error"] == "InputError" and events[-1].data == {"status": "error"}
    assert audit_rows(db) == [("42", "default")]


async def test_edit_runs_the_edited_arguments(service: AgentService, tmp_path: Path):
    await collect(service, "t-edit", input=say("record 1"))
    decision = {"type": "edit", "edited_action": {"name": "record_row", "args": {"value": "edited"}}}
    events = await collect(service, "t-edit", command={"resume": {"decisions": [decision]}})
    assert audit_rows(tmp_path / "audit.db") == [("edited", "default")]
    ai_calls = [m for m in (await service.get_state("t-edit"))["values"]["messages"] if m.get("tool_calls")]
    assert ai_calls[-1]["tool_calls"][0]["args"] == {"value": "edited"}
    assert events[-1].data == {"status": "success"}


async def test_an_approved_call_runs_for_its_approver(service: AgentService, tmp_path: Path):
    """The decision's user, else the resuming run's user; the user who asked is not the one who approved."""
    db = tmp_path / "audit.db"
    resumes = [
        ({"type": "approve", "user": "U123"}, "run-user", "U123"),
        ({"type": "approve"}, "run-user", "run-user"),
        ({"type": "edit", "user": "U7", "edited_action": {"name": "record_row", "args": {"value": "v3"}}},
         None, "U7"),
        ({"type": "approve"}, None, None),
    ]
    for number, (decision, run_user, _) in enumerate(resumes, start=1):
        await collect(service, f"t-who-{number}", input=say(f"record v{number}"), user="asker")
        events = await collect(
            service, f"t-who-{number}", command={"resume": {"decisions": [decision]}}, user=run_user
        )
        assert events[-1].data == {"status": "success"}
    assert audit_rows(db, "value, user") == [(f"v{n}", who) for n, (_, _, who) in enumerate(resumes, start=1)]
    history = await service.get_history("t-who-1", limit=1)
    assert history[0]["metadata"]["user_id"] == "run-user"  # the checkpoint says who sent the turn


async def test_a_decision_user_must_be_a_name(service: AgentService, tmp_path: Path):
    await collect(service, "t-who-bad", input=say("record 1"))
    resume = {"decisions": [{"type": "approve", "user": ""}]}
    events = await collect(service, "t-who-bad", command={"resume": resume})
    assert of(events, "error")[0]["error"] == "InputError"
    assert audit_rows(tmp_path / "audit.db") == []


async def test_reject_writes_nothing_and_tells_the_model(service: AgentService, tmp_path: Path):
    await collect(service, "t-rej", input=say("record 7"))
    events = await collect(
        service, "t-rej", command={"resume": {"decisions": [{"type": "reject", "message": "not today"}]}}
    )
    assert audit_rows(tmp_path / "audit.db") == []
    assert last_ai_text(events) == "The tool failed: The person rejected record_row: not today"


async def test_bad_resume_is_explained_and_the_approval_still_waits(service: AgentService, tmp_path: Path):
    await collect(service, "t-bad", input=say("record 9"))
    events = await collect(service, "t-bad", command={"resume": {"decisions": [{"type": "maybe"}]}})
    error = of(events, "error")[0]
    assert (
        error["error"] == "InputError" and "one approve/edit/reject decision per action" in error["message"]
    )
    events = await collect(service, "t-bad", command={"resume": {"decisions": []}})
    assert "exactly 1 decision" in of(events, "error")[0]["message"]
    assert audit_rows(tmp_path / "audit.db") == []
    assert (await service.get_state("t-bad"))["next"] == ["review"]
    events = await collect(service, "t-bad", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert audit_rows(tmp_path / "audit.db") == [("9", "default")]


async def test_new_message_while_waiting_declines_the_pending_action(service: AgentService, tmp_path: Path):
    await collect(service, "t-new", input=say("record 5"))
    events = await collect(service, "t-new", input=say("echo instead"))
    assert last_ai_text(events) == 'Result: {"text":"instead","length":7}'
    assert audit_rows(tmp_path / "audit.db") == []
    messages = (await service.get_state("t-new"))["values"]["messages"]
    declined = [m for m in messages if m["type"] == "tool" and m["name"] == "record_row"]
    assert declined[0]["status"] == "error" and "did not approve" in declined[0]["content"]


async def test_unknown_thread_and_bad_input_are_errors_not_traces(service: AgentService):
    events = await collect(service, "nope", input=say("hi"), if_not_exists="reject")
    assert of(events, "error")[0]["error"] == "ThreadNotFound"
    resume = {"resume": {"decisions": [{"type": "approve"}]}}
    events = await collect(service, "nope", command=resume, if_not_exists="reject")
    assert of(events, "error")[0]["error"] == "ThreadNotFound"
    assert await service.search_threads() == [], "a refused run creates no thread"
    events = await collect(service, "t-x", input={"text": "hi"})
    assert of(events, "error")[0]["message"].startswith("Send input as {'messages'")
    assert events[-1].data == {"status": "error"}


async def test_a_busy_thread_refuses_a_second_run(service: AgentService):
    first = service.stream("t-busy", input=say("echo one"))
    assert (await anext(first)).type == "metadata"
    await anext(first)  # the run holds the thread now
    events = await collect(service, "t-busy", input=say("echo two"))
    assert of(events, "error")[0]["error"] == "ThreadBusy"
    rest = [e async for e in first]
    assert rest[-1].data == {"status": "success"}
    assert service.active_runs == {} and not service.is_busy("t-busy")
    assert service._locks == {}, "no lock is kept for finished runs"


async def test_cancelled_stream_frees_the_thread(service: AgentService):
    stream = service.stream("t-cancel", input=say("echo x"))
    await anext(stream)
    await anext(stream)
    await stream.aclose()  # what a disconnecting client does to the generator
    assert service.active_runs == {} and not service.is_busy("t-cancel")
    assert (await service.get_thread("t-cancel"))["status"] == "idle"
    events = await collect(service, "t-cancel", input=say("echo y"))
    assert events[-1].data == {"status": "success"}


async def test_threads_search_history_and_tenants(service: AgentService):
    await service.create_thread("acme", thread_id="a1", metadata={"project": "p"})
    await collect(service, "a2", input=say("echo z"), tenant="acme")
    await collect(service, "d1", input=say("hello"))
    acme = await service.search_threads("acme")
    assert {t["thread_id"] for t in acme} == {"a1", "a2"}
    assert [t["thread_id"] for t in await service.search_threads("acme", metadata={"project": "p"})] == ["a1"]
    assert [t["thread_id"] for t in await service.search_threads("default")] == ["d1"]
    with pytest.raises(Exception, match="was not found"):
        await service.get_thread("a2", tenant="default")
    history = await service.get_history("a2", tenant="acme", limit=3)
    assert len(history) == 3 and history[0]["checkpoint"]["thread_id"] == "a2"
    assert history[0]["values"]["messages"][-1]["content"] == 'Result: {"text":"z","length":1}'


async def test_wait_returns_final_values_or_the_interrupt(service: AgentService):
    values = await service.wait("t-w", input=say("echo w"))
    assert values["messages"][-1]["content"] == 'Result: {"text":"w","length":1}'
    values = await service.wait("t-w", input=say("record r"))
    assert values["__interrupt__"][0]["value"]["action_requests"][0]["args"] == {"value": "r"}


async def test_threads_survive_a_restart_on_sqlite(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    svc = await AgentService.create(
        settings, model=ScriptedChatModel(), tools=scripted_tools(tmp_path / "a.db")
    )
    await collect(svc, "keep", input=say("record 3"))
    await svc.aclose()
    assert (tmp_path / "threads.db").exists()
    svc = await AgentService.create(
        settings, model=ScriptedChatModel(), tools=scripted_tools(tmp_path / "a.db")
    )
    try:
        assert (await svc.get_thread("keep"))["status"] == "interrupted"
        events = await collect(svc, "keep", command={"resume": {"decisions": [{"type": "approve"}]}})
        assert events[-1].data == {"status": "success"} and audit_rows(tmp_path / "a.db") == [
            ("3", "default")
        ]
    finally:
        await svc.aclose()


@pytest.mark.postgres
async def test_postgres_checkpointer_and_thread_registry(tmp_path: Path, pg_schema: str):  # noqa: F811
    settings = Settings(data_dir=tmp_path, catalog_url=schema_url(pg_schema))
    svc = await AgentService.create(
        settings, model=ScriptedChatModel(), tools=scripted_tools(tmp_path / "a.db")
    )
    try:
        await collect(svc, "pg-1", input=say("record 11"))
        assert audit_rows(tmp_path / "a.db") == []
    finally:
        await svc.aclose()
    assert not (tmp_path / "threads.db").exists(), "PostgreSQL settings must not fall back to SQLite"
    svc = await AgentService.create(
        settings, model=ScriptedChatModel(), tools=scripted_tools(tmp_path / "a.db")
    )
    try:
        assert [t["thread_id"] for t in await svc.search_threads(status="interrupted")] == ["pg-1"]
        events = await collect(svc, "pg-1", command={"resume": {"decisions": [{"type": "approve"}]}})
        assert events[-1].data == {"status": "success"}
        assert audit_rows(tmp_path / "a.db") == [("11", "default")]
    finally:
        await svc.aclose()


async def test_concurrent_runs_on_different_threads(service: AgentService):
    results = await asyncio.gather(*(collect(service, f"c{i}", input=say(f"echo n{i}")) for i in range(8)))
    assert [last_ai_text(r) for r in results] == [
        f'Result: {{"text":"n{i}","length":{len(f"n{i}")}}}' for i in range(8)
    ]
