"""The planner's two connection turns, by rule before intent routing: a database URL -> add_connection (named
by "as X" when given), "what tables are in <connection>?" -> list_tables; messages without either are routed
as before."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from etl_assistant.agent.planner import CatalogView, Planner

URL = "postgresql://etl:pw-123@db.example.com:5432/shop"


def decide(text: str, connections: tuple[str, ...] = ("shop", "crm-eu")):  # noqa: ANN201 - a Decision
    return Planner().decide([HumanMessage(text)], CatalogView(connections=connections))


@pytest.mark.parametrize(("text", "args"), [
    (f"connect to {URL}", {"url": URL}),
    (f"Connect to {URL}.", {"url": URL}),
    (f"please add the database {URL} as sales", {"url": URL, "name": "sales"}),
    (f"connect to `{URL}` and call it warehouse2", {"url": URL, "name": "warehouse2"}),
    ("connect to clickhouse://default@127.0.0.1:8123/analytics", {
        "url": "clickhouse://default@127.0.0.1:8123/analytics"}),
    ("use sqlite:////srv/data/app.db", {"url": "sqlite:////srv/data/app.db"}),
    (f"{URL} please", {"url": URL}),
    (f"connect to {URL} as shop", {"url": URL, "name": "shop"}),
])
def test_a_database_url_adds_a_connection(text: str, args: dict) -> None:
    decision = decide(text)
    assert [(step.tool, step.args) for step in decision.calls] == [("add_connection", args)]


@pytest.mark.parametrize(("text", "name"), [
    ("what tables are in shop?", "shop"),
    ("list the tables in shop", "shop"),
    ("which tables does Shop have", "shop"),
    ("show me the views of crm-eu", "crm-eu"),
])
def test_tables_of_a_known_connection_are_listed(text: str, name: str) -> None:
    decision = decide(text)
    assert [(step.tool, step.args) for step in decision.calls] == [("list_tables", {"connection": name})]


def test_a_url_inside_another_request_is_not_a_new_connection() -> None:
    decision = decide(f"load the sales table from {URL} into clickhouse daily at 2 am")
    assert not any(s.tool == "add_connection" for s in decision.calls)


def test_without_a_known_connection_the_router_decides() -> None:
    assert [s.tool for s in decide("what tables are in shop?", connections=()).calls] != ["list_tables"]
    asked = decide("how many orders in shop?")
    assert not any(s.tool in ("add_connection", "list_tables") for s in asked.calls)


def test_help_offers_the_connection_turns() -> None:
    text = decide("help").text
    assert "connect a database" in text and "what tables are in shop?" in text
