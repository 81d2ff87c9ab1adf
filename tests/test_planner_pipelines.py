"""The planner's pipeline intents, table-driven: a message (and the thread so far) -> the tool call it makes,
or the one question it asks; plus the replies written from the pipeline tools' outputs. No server, no tools:
the planner alone against a fixed catalog view (one PostgreSQL connection, or several)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from etl_assistant.agent.planner import TOOL_INTENTS, CatalogView, Planner
from etl_assistant.agent.planner.replies import reply_for_results
from etl_assistant.agent.planner.state import ToolStep, derive_state

TOOLS = [*TOOL_INTENTS, "apply_deploy"]
SHOP = (("shop", "postgresql"),)
ONE = CatalogView(connections=("shop",), connection_kinds=SHOP, tables=("orders",))
KINDS = (("shop", "postgresql"), ("crm", "postgresql"), ("logs", "clickhouse"))
SEVERAL = CatalogView(connections=("shop", "crm", "logs"), connection_kinds=KINDS)
WITH_PIPELINE = CatalogView(
    connections=("shop",), connection_kinds=SHOP, pipelines=("sales_sync", "orders_sync")
)


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner()


def thread_about(name: str) -> list[BaseMessage]:
    """A thread in which the pipeline `name` was just created (create_pipeline, then apply_deploy)."""
    planned = {"plan_id": "plan_1", "pipeline": {"name": name, "target_table": "sales"}, "schedule": None}
    return [
        HumanMessage("load sales from shop daily"),
        AIMessage(
            "", tool_calls=[{"id": "c1", "name": "create_pipeline", "args": {"source_table": "sales"}}]
        ),
        ToolMessage(json.dumps(planned), tool_call_id="c1"),
        AIMessage("", tool_calls=[{"id": "c2", "name": "apply_deploy", "args": {"plan_id": "plan_1"}}]),
        ToolMessage(
            json.dumps({"plan_id": "plan_1", "already_applied": False, "steps": []}), tool_call_id="c2"
        ),
        AIMessage("Created."),
    ]


CREATES = {
    "Load sales data from PostgreSQL to ClickHouse daily at 2 AM": {
        "source_connection": "shop",
        "source_table": "sales",
        "schedule": "daily at 2 AM",
    },
    "sync orders from shop every 15 minutes": {
        "source_connection": "shop",
        "source_table": "orders",
        "schedule": "every 15 minutes",
    },
    "load shop.refunds hourly, only where amount > 0": {
        "source_connection": "shop",
        "source_table": "refunds",
        "schedule": "hourly",
        "transforms": [{"kind": "filter", "expression": "amount > 0"}],
    },
    "copy the customers table from shop weekdays at 6, rename email to mail": {
        "source_connection": "shop",
        "source_table": "customers",
        "schedule": "weekdays at 6",
        "transforms": [{"kind": "rename", "column": "email", "to": "mail"}],
    },
    "load sales from postgres incrementally by updated_at": {
        "source_connection": "shop",
        "source_table": "sales",
        "mode": "incremental",
        "cursor": "updated_at",
    },
    "Load sales from postgres daily at 2 AM, cast amount to Float64": {
        "source_connection": "shop",
        "source_table": "sales",
        "schedule": "daily at 2 AM",
        "transforms": [{"kind": "cast", "column": "amount", "type": "Float64"}],
    },
    "load sales from shop daily at 2 AM Europe/Berlin": {
        "source_connection": "shop",
        "source_table": "sales",
        "schedule": "daily at 2 AM",
        "timezone": "Europe/Berlin",
    },
    "load sales from shop into revenue_raw daily": {
        "source_connection": "shop",
        "source_table": "sales",
        "target_table": "revenue_raw",
        "schedule": "daily",
    },
    # Schedule words the parser cannot read go to the tool as said: it refuses them with examples.
    "load sales from shop every blue moon": {
        "source_connection": "shop",
        "source_table": "sales",
        "schedule": "every blue moon",
    },
    "load sales from postgres every blue moon": {
        "source_connection": "shop",
        "source_table": "sales",
        "schedule": "every blue moon",
    },
    "keep the warehouse in sync with public.contacts": {
        "source_connection": "shop",
        "source_table": "public.contacts",
    },
}


@pytest.mark.parametrize(("text", "args"), CREATES.items(), ids=list(CREATES))
def test_create_is_planned_then_applied_after_approval(planner: Planner, text: str, args: dict) -> None:
    decision = planner.decide([HumanMessage(text)], ONE, TOOLS)
    assert decision.intent == "create_pipeline"
    assert [(s.tool, s.args) for s in decision.calls] == [("create_pipeline", args)]
    assert [s.tool for s in decision.plan] == ["create_pipeline", "apply_deploy"]


# Once a pipeline has created `sales` in the warehouse, "sales" is also a table the planner knows; a message
# that loads it from a connection still means a pipeline (it was a datamart design or a question before).
TARGET_EXISTS = CatalogView(connections=("shop",), connection_kinds=SHOP, tables=("sales",))


@pytest.mark.parametrize("text", ["load sales from shop every blue moon", "load sales from shop",
                                  "load sales from shop hourly"])
def test_loading_a_table_from_a_connection_is_a_pipeline_when_the_warehouse_has_one_of_that_name(
    planner: Planner, text: str
) -> None:
    decision = planner.decide([HumanMessage(text)], TARGET_EXISTS, TOOLS)
    assert decision.intent == "create_pipeline"
    assert decision.calls[0].args["source_connection"] == "shop"
    assert decision.calls[0].args["source_table"] == "sales"


QUESTIONS = {
    (ONE, "Load sales data from PostgreSQL to ClickHouse daily"): None,
    (
        SEVERAL,
        "Load sales data from PostgreSQL to ClickHouse daily",
    ): "Which connection holds sales: shop or crm?",
    (SEVERAL, "create a pipeline for payments"): "Which connection holds payments: shop, crm or logs?",
    (
        CatalogView(),
        "load sales from postgres daily at 2 AM",
    ): "Which database holds sales? Connect one first",
    (ONE, "set up a pipeline from shop daily"): "Which table should the pipeline read?",
}


@pytest.mark.parametrize(
    ("catalog", "text", "question"),
    [(c, t, q) for (c, t), q in QUESTIONS.items()],
    ids=[t for _, t in QUESTIONS],
)
def test_what_is_missing_is_one_question(
    planner: Planner, catalog: CatalogView, text: str, question: str | None
) -> None:
    decision = planner.decide([HumanMessage(text)], catalog, TOOLS)
    if question is None:
        assert decision.intent == "create_pipeline" and decision.calls
    else:
        assert decision.intent == "clarify" and decision.text.startswith(question)


def test_the_answer_to_which_connection_completes_the_request(planner: Planner) -> None:
    asked = [HumanMessage("Load sales data from PostgreSQL to ClickHouse daily at 2 AM")]
    question = planner.decide(asked, SEVERAL, TOOLS)
    answer = planner.decide([*asked, AIMessage(question.text), HumanMessage("crm")], SEVERAL, TOOLS)
    assert [(s.tool, s.args) for s in answer.calls] == [
        (
            "create_pipeline",
            {"source_connection": "crm", "source_table": "sales", "schedule": "daily at 2 AM"},
        )
    ]


def test_engine_word_picks_the_connection_of_that_engine(planner: Planner) -> None:
    decision = planner.decide([HumanMessage("load events from clickhouse daily")], SEVERAL, TOOLS)
    assert decision.calls[0].args["source_connection"] == "logs"


ACTIONS = {
    "show me the pipeline runs": ("pipeline_runs", {"name": "sales_sync"}),
    "run it now": ("run_pipeline", {"name": "sales_sync"}),
    "sync it now": ("run_pipeline", {"name": "sales_sync"}),
    "pause it": ("pause_pipeline", {"name": "sales_sync"}),
    "resume it": ("resume_pipeline", {"name": "sales_sync"}),
    "export it to Airflow": ("export_pipeline", {"name": "sales_sync"}),
    "export it to airflow in dags/": ("export_pipeline", {"name": "sales_sync", "folder": "dags/"}),
    "delete the pipeline": ("delete_pipeline", {"name": "sales_sync"}),
    "pause orders_sync": ("pause_pipeline", {"name": "orders_sync"}),  # named beats "it"
    "show my pipelines": ("pipelines", {}),
    "top 5 regions by revenue": ("ask", {"question": "top 5 regions by revenue"}),
}


@pytest.mark.parametrize(("text", "expected"), ACTIONS.items(), ids=list(ACTIONS))
def test_acting_on_the_pipeline_of_the_thread(planner: Planner, text: str, expected: tuple) -> None:
    decision = planner.decide([*thread_about("sales_sync"), HumanMessage(text)], WITH_PIPELINE, TOOLS)
    assert (decision.intent, decision.calls[0].args) == expected


def test_without_a_pipeline_in_view_the_words_mean_other_things(planner: Planner) -> None:
    """ "run it now" in a new thread of a tenant with no pipeline is not a pipeline run (nothing to run)."""
    decision = planner.decide([HumanMessage("pause it")], ONE, TOOLS)
    assert not decision.intent.endswith("_pipeline")
    named = planner.decide([HumanMessage("run the pipeline now")], CatalogView(), TOOLS)
    assert named.intent == "clarify" and named.text.startswith("There is no pipeline yet; set one up first")


def test_several_pipelines_and_none_meant_is_a_question(planner: Planner) -> None:
    decision = planner.decide([HumanMessage("pause the pipeline")], WITH_PIPELINE, TOOLS)
    assert decision.text == "Which pipeline should I pause: sales_sync or orders_sync?"


def test_the_thread_remembers_the_pipeline_until_it_is_deleted() -> None:
    messages = thread_about("sales_sync")
    assert derive_state(messages).pipeline == "sales_sync"
    messages += [
        AIMessage("", tool_calls=[{"id": "c3", "name": "delete_pipeline", "args": {"name": "sales_sync"}}]),
        ToolMessage(json.dumps({"name": "sales_sync", "deleted": True, "dropped": []}), tool_call_id="c3"),
    ]
    assert derive_state(messages).pipeline is None


PLANNED = {
    "plan_id": "plan_9",
    "pipeline": {
        "name": "sales_sync",
        "target_table": "sales",
        "mode": "incremental",
        "cursor": "updated_at",
        "primary_key": ["id"],
    },
    "source": "shop.sales",
    "mode": "incremental",
    "mode_reason": "Merges newer rows by id.",
    "schedule": "every day at 02:00 UTC",
    "next_runs": ["2026-12-05T02:00+00:00", "2026-12-06T02:00+00:00", "2026-12-07T02:00+00:00"],
    "transforms": [],
    "ddl": 'CREATE TABLE "sales" ("id" Int32) ENGINE=MergeTree ORDER BY "id";',
    "notes": ["Integers use the smallest width."],
    "target_exists": False,
    "summary": [],
}


def test_after_approval_the_reply_says_it_was_created_and_when_it_runs_next() -> None:
    steps = [
        ToolStep("c1", "create_pipeline", {}, output=PLANNED),
        ToolStep(
            "c2",
            "apply_deploy",
            {"plan_id": "plan_9"},
            output={
                "plan_id": "plan_9",
                "already_applied": False,
                "notes": [],
                "steps": [{"target": "sales_sync", "kind": "pipeline", "rows": 1200}],
            },
        ),
    ]
    text = reply_for_results(steps)
    assert text.startswith(
        "Created the pipeline **sales_sync** and ran it once: 1,200 rows in `sales`. "
        "It runs every day at 02:00 UTC; next 2026-12-05 02:00."
    )


def test_the_plan_reply_shows_mode_schedule_next_runs_and_ddl() -> None:
    text = reply_for_results([ToolStep("c1", "create_pipeline", {}, output=PLANNED)])
    assert "- Mode: **incremental** on `updated_at`, key `id`. Merges newer rows by id." in text
    assert (
        "- Schedule: **every day at 02:00 UTC**; next runs 2026-12-05 02:00, 2026-12-06 02:00, "
        "2026-12-07 02:00."
    ) in text
    assert "The target table will be created:\n\n```sql\nCREATE TABLE" in text


def test_a_failed_run_says_why() -> None:
    report = {
        "pipeline": "sales_sync",
        "run_id": 4,
        "status": "failed",
        "rows_read": 0,
        "rows_written": 0,
        "cursor_before": None,
        "cursor_after": None,
        "attempts": 3,
        "elapsed_s": 7.5,
        "error": "The connection 'shop' refused the connection; check that it is up.",
    }
    text = reply_for_results([ToolStep("c1", "run_pipeline", {"name": "sales_sync"}, output=report)])
    assert text.startswith("Run 4 of **sales_sync** failed: 0 rows read, 0 written (7.5s, 3 attempts).")
    assert text.endswith("Why it failed: The connection 'shop' refused the connection; check that it is up.")
