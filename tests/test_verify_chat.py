"""Saving an answer from chat: "save this" (or 👍) after an `ask` answer makes the offline planner call
`verify` with that ask's question and SQL. Planner units on hand-written histories, then the whole loop
through AgentService on chDB: ask, save, ask again -> answered from the semantic cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.planner import Planner
from etl_assistant.agent.planner.replies import help_text
from etl_assistant.agent.runner import AgentService
from etl_assistant.evals.routing import EVAL_CATALOG
from etl_assistant.retrieval.pairs import has_pairs
from etl_assistant.retrieval.store import vector_store
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.test_retrieval_fixtures import build_warehouse, revenue_by_region

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SQL = "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region ORDER BY revenue DESC LIMIT 3"


def asked(question: str, sql: str | None, call_id: str, **args: object) -> list[BaseMessage]:
    """One ask turn as the graph records it: the person, the tool call, its ToolMessage, the reply."""
    output = {"question": question, "answer": "Europe leads", "sql": sql, "columns": [], "rows": [],
              "truncated": False, "chart": None, "confidence": 0.9, "parse": {"question": question},
              "clarification": None if sql else "Which measure?"}
    return [
        HumanMessage(question),
        AIMessage("", tool_calls=[{"id": call_id, "name": "ask", "args": {"question": question, **args}}]),
        ToolMessage(json.dumps(output), tool_call_id=call_id, name="ask"),
        AIMessage("Europe leads."),
    ]


def decide(history: list[BaseMessage], text: str):
    return Planner().decide([*history, HumanMessage(text)], EVAL_CATALOG)


@pytest.mark.parametrize("text", ["save this", "👍", "that's right, remember it", "good answer, keep it"])
def test_save_after_an_answer_calls_verify_with_the_last_asks_question_and_sql(text: str) -> None:
    history = [
        *asked("how many orders were cancelled", "SELECT COUNT(*) FROM orders", "c1"),
        *asked("top 3 regions by revenue", SQL, "c2", today="2024-06-01"),
    ]
    decision = decide(history, text)
    assert decision.intent == "verify"
    assert [(c.tool, c.args) for c in decision.calls] == [
        ("verify", {"question": "top 3 regions by revenue", "sql": SQL, "today": "2024-06-01"})
    ]


@pytest.mark.parametrize(
    ("history", "says"),
    [
        ([], "There is no answer to save yet"),
        (asked("top regions by the best metric", None, "c1"), "was a question back, not SQL"),
        ([*asked("top 3 regions by revenue", SQL, "c1"),
          *asked("and last year?", SQL, "c2", previous={"question": "top 3 regions by revenue"})],
         "'and last year?' only makes sense after the question before it"),
    ],
    ids=["no-answer", "clarified", "follow-up"],
)
def test_nothing_to_save_is_one_clarifying_sentence(history: list[BaseMessage], says: str) -> None:
    decision = decide(history, "save this")
    assert decision.intent == "clarify" and not decision.calls
    assert says in decision.text and decision.text.count(". ") == 0 and decision.text.endswith(".")


def test_a_failed_ask_is_not_saved_in_place_of_the_one_before() -> None:
    history = [
        *asked("top 3 regions by revenue", SQL, "c1"),
        HumanMessage("revenue per planet"),
        AIMessage("", tool_calls=[{"id": "c2", "name": "ask", "args": {"question": "revenue per planet"}}]),
        ToolMessage("Error: no column 'planet'", tool_call_id="c2", name="ask", status="error"),
    ]
    assert decide(history, "save this").intent == "clarify"


@pytest.mark.parametrize("text", ["store orders in the warehouse", "save data/orders.csv to the database"])
def test_saving_data_to_the_warehouse_is_still_loading(text: str) -> None:
    decision = decide(asked("top 3 regions by revenue", SQL, "c1"), text)
    assert decision.intent == "load_table" and decision.route.score_of("verify") < 0.5


def test_help_names_saving_only_when_verify_is_bound() -> None:
    assert "save this" in help_text(["ask", "verify"]) and "save this" not in help_text(["ask"])


# --- the whole loop through the agent -----------------------------------------------------------------


@pytest.fixture
async def loaded(tmp_path: Path):
    """The agent over a chDB warehouse holding `orders`, and the tool context that loaded it."""
    ctx = build_warehouse(tmp_path, only=["orders"])
    svc = await AgentService.create(ctx.settings)
    yield svc, ctx
    await svc.aclose()
    close_sessions()


async def say(svc: AgentService, thread: str, text: str) -> list[RunEvent]:
    return [e async for e in svc.stream(thread, input={"messages": [{"role": "user", "content": text}]})]


def of(events: list[RunEvent], kind: str) -> list[dict]:
    return [e.data for e in events if e.type == kind]


def reply(events: list[RunEvent]) -> str:
    return [m for m in of(events, "message") if m["type"] == "ai"][-1]["content"]


async def test_ask_save_then_the_same_question_comes_from_the_semantic_cache(loaded) -> None:
    service, ctx = loaded
    question = "total amount per region"
    events = await say(service, "t1", question)
    assert [c["name"] for c in of(events, "tool_call")] == ["ask"]
    first = of(events, "tool_result")[0]["output"]
    assert {r[0]: r[1] for r in first["rows"]} == revenue_by_region()
    assert not any("semantic cache" in note for note in first["parse"]["notes"])

    events = await say(service, "t1", "👍 save this")
    calls = of(events, "tool_call")
    assert [(c["name"], c["args"]) for c in calls] == [
        ("verify", {"question": question, "sql": first["sql"]})
    ]
    saved = of(events, "tool_result")[0]
    assert not saved["is_error"] and saved["output"]["tables"] == {
        "orders": ctx.catalog.schema_version("default", "orders")
    }
    assert reply(events) == (
        f"Saved: next time '{question}' reuses this SQL (while `orders` keeps its current schema)."
    )

    events = await say(service, "t2", question)  # a new thread: nothing in its history to reuse
    again = of(events, "tool_result")[0]["output"]
    assert any(note.startswith(f"semantic cache: the verified answer to {question!r}")
               for note in again["parse"]["notes"])
    assert again["sql"] == saved["output"]["sql"]
    assert reply(events).endswith("(Answered with the SQL you verified earlier.)")
    assert {r[0]: r[1] for r in again["rows"]} == revenue_by_region()


async def test_save_with_no_answer_in_the_thread_asks_back_and_stores_nothing(loaded) -> None:
    service, ctx = loaded
    events = await say(service, "t3", "save this")
    assert of(events, "tool_call") == []
    assert reply(events).startswith("There is no answer to save yet")
    assert not has_pairs(vector_store(ctx.settings), "default", ctx.warehouse.dialect)
