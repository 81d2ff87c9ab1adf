"""Replies people read: step lines without JSON arguments, numbers formatted, failures said in words."""

from __future__ import annotations

import pytest

from etl_assistant.agent.planner.replies import ACTIONS, reply_for_results
from etl_assistant.agent.planner.state import ToolStep
from etl_assistant.channels.reply_text import describe_call
from etl_assistant.tools import REGISTRY


def test_a_follow_up_step_line_shows_the_question_not_the_previous_parse():
    previous = {"question": "top 3 regions by revenue in 2024", "base": "orders", "measure": {"agg": "sum"}}
    assert describe_call("ask", {"question": "and in 2023?", "previous": previous}) == "ask (and in 2023?)"
    assert describe_call("infer_schema", {"path": "/srv/data/uploads/default/orders.csv"}) == \
        "infer_schema (orders.csv)"


def test_numbers_in_answers_are_formatted_and_ids_and_years_are_not():
    out = {"question": "revenue per region", "answer": "2 region group(s).", "sql": "SELECT 1",
           "columns": ["region", "year", "customer_id", "orders", "revenue"],
           "rows": [["north", 2024, 10017, 12345, 51014.8], ["south", 2023, 10018, 7, 2665.0]],
           "truncated": False, "chart": None, "parse": {}}
    text = reply_for_results([ToolStep(id="c1", name="ask", args={}, output=out, error=None)])
    assert "| north | 2024 | 10017 | 12,345 | 51,014.80 |" in text
    assert "| south | 2023 | 10018 | 7 | 2,665 |" in text


def test_a_failure_is_said_in_words():
    failed = ToolStep(id="c1", name="load_table", args={}, output=None,
                      error="File nope.csv does not exist; check the path or upload it.")
    text = reply_for_results([failed])
    assert text.startswith("I could not load that: File nope.csv does not exist") and "load_table" not in text


@pytest.mark.parametrize("tool", [tool.name for tool in REGISTRY])
def test_every_tool_has_a_failure_said_in_words(tool: str) -> None:
    """A new tool needs its "I could not ..." words, or its failures read "I could not do that"."""
    failed = ToolStep(id="c1", name=tool, args={}, output=None, error="Something is off; fix it.")
    text = reply_for_results([failed])
    assert tool in ACTIONS, f"ACTIONS in agent/planner/replies.py has no words for {tool}"
    assert text.startswith(f"I could not {ACTIONS[tool]}: Something is off") and f"`{tool}`" not in text
    assert "do that" not in ACTIONS[tool]
