"""Two deployed datamarts (issue 11, cause 7) must not capture questions that name neither: "revenue by
channel" once read `revenue` off daily_revenue_by_region and `channel` off monthly_order_count_by_channel and
could not join them. Real design_datamart, plan_deploy and apply_deploy into chDB; answers checked against
SQL over orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from etl_assistant.evals.nl2sql import prepare_warehouse, results_match
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE
from etl_assistant.nl2sql.service import ask
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions

MARTS = {
    "monthly_order_count_by_channel": "monthly order count per channel from orders",
    "daily_revenue_by_region": "daily revenue per region from orders",
}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    ctx = prepare_warehouse(Path(tmp_path_factory.mktemp("two_datamarts")), orders=2000)
    for name, request in MARTS.items():
        mart = get_tool("design_datamart").run(ctx, {"request": request, "name": name})
        plan = get_tool("plan_deploy").run(ctx, {"datamarts": [mart.spec.name]})
        get_tool("apply_deploy").run(ctx, {"plan_id": plan.plan_id, "approved_by": "another chat"})
    assert set(MARTS) <= set(ctx.warehouse.tables())
    yield ctx
    close_sessions()


@pytest.mark.parametrize(
    ("question", "gold"),
    [
        ("revenue by channel", "SELECT channel, sum(amount) FROM orders GROUP BY channel"),
        ("revenue by region", "SELECT region, sum(amount) FROM orders GROUP BY region"),
        ("number of orders by region", "SELECT region, count(*) FROM orders GROUP BY region"),
        ("order count by channel", "SELECT channel, count(*) FROM orders GROUP BY channel"),
        (
            "revenue in Europe by channel",
            "SELECT channel, sum(amount) FROM orders WHERE region = 'Europe' GROUP BY 1",
        ),
    ],
)
def test_questions_naming_no_datamart_read_the_rows(ctx: ToolContext, question: str, gold: str) -> None:
    answer = ask(ctx, question, today=date(2024, 12, 20), limit=100)
    parse = answer.translation.parse
    assert parse.clarify is None and parse.confidence >= HIGH_CONFIDENCE, parse.clarify
    assert not parse.tables() & set(MARTS), answer.translation.sql
    expected = ctx.warehouse.query(gold).rows
    assert results_match(expected, [tuple(r) for r in answer.rows], False), (
        answer.translation.sql,
        answer.rows,
    )
