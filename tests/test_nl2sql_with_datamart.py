"""A deployed datamart must not capture questions it cannot answer: its `revenue` column sits beside
orders.amount, but only orders joins products, so "revenue by product category" still reads orders."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from etl_assistant.evals.nl2sql import prepare_warehouse
from etl_assistant.nl2sql.service import ask
from etl_assistant.tools import get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions


@pytest.fixture(scope="module")
def ctx_with_datamart(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    ctx = prepare_warehouse(Path(tmp_path_factory.mktemp("nl2sql_datamart")), orders=3000)
    mart = get_tool("design_datamart").run(
        ctx, {"request": "daily revenue and order count per region from orders", "name": "daily_revenue"}
    )
    plan = get_tool("plan_deploy").run(ctx, {"datamarts": [mart.spec.name]})
    get_tool("apply_deploy").run(ctx, {"plan_id": plan.plan_id, "approved_by": "test"})
    assert "daily_revenue" in ctx.warehouse.tables()
    yield ctx
    close_sessions()


def test_revenue_by_product_category_still_joins_orders_to_products(ctx_with_datamart) -> None:  # noqa: ANN001
    answer = ask(ctx_with_datamart, "revenue by product category", today=date(2024, 12, 20), limit=100)
    assert answer.translation.sql is not None, answer.summary
    assert "products" in answer.translation.sql and "daily_revenue" not in answer.translation.sql
    expected = ctx_with_datamart.warehouse.query(
        "SELECT p.category, sum(o.amount) FROM orders AS o JOIN products AS p ON o.product_id = p.product_id "
        "GROUP BY p.category"
    ).rows
    got = {row[0]: float(row[1]) for row in answer.rows}
    assert got == pytest.approx({row[0]: float(row[1]) for row in expected})
