"""The offline NL->SQL parser on the seeded retail sample in a real chDB warehouse, tests per category.

Expected answers come from DuckDB reading the same generated CSV files (an independent engine and hand-written
SQL), so a parser mistake cannot hide behind our own SQL builder.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from etl_assistant.evals.nl2sql import prepare_warehouse, results_match
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE
from etl_assistant.nl2sql.service import Answer, ask, translate
from etl_assistant.tools import ToolContext
from etl_assistant.warehouse.chdb_engine import close_sessions

Retail = tuple[ToolContext, duckdb.DuckDBPyConnection]
TODAY = date(2024, 12, 20)  # a Friday; the sample spans 2023-01-01 .. 2024-12-31


@pytest.fixture(scope="module")
def retail(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ToolContext, duckdb.DuckDBPyConnection]]:
    root = tmp_path_factory.mktemp("nl2sql_retail")
    ctx = prepare_warehouse(root, orders=4000)
    oracle = duckdb.connect()
    for name in ("customers", "products", "orders"):
        path = root / "source" / f"{name}.csv"
        oracle.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv_auto('{path}')")
    yield ctx, oracle
    oracle.close()
    close_sessions()


def answer(retail, question: str, previous=None) -> Answer:  # noqa: ANN001 - fixture tuple
    ctx, _ = retail
    return ask(ctx, question, previous=previous, today=TODAY, limit=1000)


def check(retail, question: str, oracle_sql: str, *, ordered: bool = False, previous=None) -> Answer:  # noqa: ANN001
    result = answer(retail, question, previous)
    assert result.translation.parse.clarify is None, result.translation.parse.clarify
    expected = retail[1].execute(oracle_sql).fetchall()
    assert expected, f"oracle returned nothing for {oracle_sql}"
    assert results_match(expected, [tuple(r) for r in result.rows], ordered), (
        question,
        result.translation.sql,
        result.rows[:5],
        expected[:5],
    )
    parsed = sqlglot.parse_one(result.translation.sql, read="clickhouse")
    assert not parsed.find(exp.Command)
    return result


@pytest.mark.parametrize(
    ("question", "oracle"),
    [
        ("how many orders do we have", "SELECT count(*) FROM orders"),
        ("total revenue", "SELECT sum(amount) FROM orders"),
        ("Average quantity", "SELECT avg(quantity) FROM orders"),
        ("highest discount", "SELECT max(discount) FROM orders"),
        ("median amount", "SELECT quantile_cont(amount, 0.5) FROM orders"),
        ("how many distinct customers ordered", "SELECT count(DISTINCT customer_id) FROM orders"),
        (
            "percent of orders that were returned",
            "SELECT 100.0 * count(*) FILTER (WHERE status = 'returned') / count(*) FROM orders",
        ),
    ],
)
def test_aggregates(retail, question: str, oracle: str) -> None:  # noqa: ANN001
    result = check(retail, question, oracle)
    assert result.translation.parse.confidence >= HIGH_CONFIDENCE
    assert result.chart is None  # a single number is not charted


@pytest.mark.parametrize(
    ("question", "oracle"),
    [
        ("revenue per channel", "SELECT channel, sum(amount) FROM orders GROUP BY channel"),
        ("orders by status and region", "SELECT status, region, count(*) FROM orders GROUP BY ALL"),
        ("how many customers in each segment", "SELECT segment, count(*) FROM customers GROUP BY segment"),
        ("quarterly revenue", "SELECT date_trunc('quarter', order_date), sum(amount) FROM orders GROUP BY 1"),
        (
            "regions with more than 500 orders",
            "SELECT region, count(*) FROM orders GROUP BY region HAVING count(*) > 500",
        ),
    ],
)
def test_group_by(retail, question: str, oracle: str) -> None:  # noqa: ANN001
    result = check(retail, question, oracle)
    assert result.chart is not None and result.chart["$schema"].endswith("vega-lite/v5.json")
    assert result.chart["data"]["values"] and result.chart["encoding"]["y"]["field"] == result.columns[-1]


def test_time_bucket_is_a_line_chart_and_category_a_bar(retail) -> None:  # noqa: ANN001
    monthly = answer(retail, "monthly revenue in 2024")
    assert monthly.chart["mark"]["type"] == "line" and monthly.chart["encoding"]["x"]["type"] == "temporal"
    by_channel = answer(retail, "revenue by channel")
    assert (
        by_channel.chart["mark"]["type"] == "bar" and by_channel.chart["encoding"]["x"]["field"] == "channel"
    )


@pytest.mark.parametrize(
    ("question", "oracle"),
    [
        ("revenue from EU", "SELECT sum(amount) FROM orders WHERE region = 'Europe'"),
        ("cancelled orders count", "SELECT count(*) FROM orders WHERE status = 'cancelled'"),
        ("Revenue from the web chanel", "SELECT sum(amount) FROM orders WHERE channel = 'web'"),  # typo
        ("orders not in europe", "SELECT count(*) FROM orders WHERE region <> 'Europe'"),
        (
            "how many orders except store and partner",
            "SELECT count(*) FROM orders WHERE channel NOT IN ('store', 'partner')",
        ),
        ("orders over 300", "SELECT count(*) FROM orders WHERE amount > 300"),
        ("orders with at least 4 items", "SELECT count(*) FROM orders WHERE quantity >= 4"),
        (
            "revenue from orders between 50 and 80",
            "SELECT sum(amount) FROM orders WHERE amount BETWEEN 50 AND 80",
        ),
        ("customers in france or spain", "SELECT count(*) FROM customers WHERE country IN ('FR', 'ES')"),
        ("how many inactive customers", "SELECT count(*) FROM customers WHERE NOT is_active"),
    ],
)
def test_filters(retail, question: str, oracle: str) -> None:  # noqa: ANN001
    check(retail, question, oracle)


@pytest.mark.parametrize(
    ("question", "oracle"),
    [
        ("revenue in 2023", "SELECT sum(amount) FROM orders WHERE year(order_date) = 2023"),
        (
            "orders in march 2024",
            "SELECT count(*) FROM orders WHERE order_date BETWEEN '2024-03-01' AND '2024-03-31'",
        ),
        (
            "orders last month",
            "SELECT count(*) FROM orders WHERE order_date BETWEEN '2024-11-01' AND '2024-11-30'",
        ),
        ("revenue this quarter", "SELECT sum(amount) FROM orders WHERE order_date >= '2024-10-01'"),
        (
            "orders in the last 10 days",
            "SELECT count(*) FROM orders WHERE order_date BETWEEN '2024-12-10' AND '2024-12-19'",
        ),
        ("revenue yesterday", "SELECT sum(amount) FROM orders WHERE order_date = '2024-12-19'"),
        ("orders since november 2024", "SELECT count(*) FROM orders WHERE order_date >= '2024-11-01'"),
        ("orders in the latest month", "SELECT count(*) FROM orders WHERE order_date >= '2024-12-01'"),
        (
            "revenue between 2024-02-01 and 2024-02-10",
            "SELECT sum(amount) FROM orders WHERE order_date BETWEEN '2024-02-01' AND '2024-02-10'",
        ),
    ],
)
def test_time_ranges(retail, question: str, oracle: str) -> None:  # noqa: ANN001
    result = check(retail, question, oracle)
    assert result.translation.parse.time is not None


def test_today_is_injectable(retail) -> None:  # noqa: ANN001
    ctx, _ = retail
    march = translate(ctx, "orders last month", today=date(2024, 4, 15)).parse.time
    assert (march.start, march.end) == (date(2024, 3, 1), date(2024, 4, 1))
    real = translate(ctx, "orders last month").parse.time
    assert real.end == date.today().replace(day=1)


@pytest.mark.parametrize(
    ("question", "oracle"),
    [
        (
            "top 3 regions by revenue",
            "SELECT region, sum(amount) s FROM orders GROUP BY 1 ORDER BY s DESC LIMIT 3",
        ),
        (
            "bottom 2 channels by orders",
            "SELECT channel, count(*) c FROM orders GROUP BY 1 ORDER BY c LIMIT 2",
        ),
        (
            "which status has the most orders",
            "SELECT status, count(*) c FROM orders GROUP BY 1 ORDER BY c DESC LIMIT 1",
        ),
        ("3 most expensive products", "SELECT name, price FROM products ORDER BY price DESC LIMIT 3"),
    ],
)
def test_top_n(retail, question: str, oracle: str) -> None:  # noqa: ANN001
    check(retail, question, oracle, ordered=True)


@pytest.mark.parametrize(
    ("question", "oracle"),
    [
        (
            "revenue by customer segment",
            "SELECT c.segment, sum(o.amount) FROM orders o JOIN customers c USING (customer_id) GROUP BY 1",
        ),
        (
            "orders for garden products",
            "SELECT count(*) FROM orders o JOIN products p USING (product_id) WHERE p.category = 'Garden'",
        ),
        (
            "top 2 categories by quantity",
            "SELECT p.category, sum(o.quantity) s FROM orders o JOIN products p USING (product_id) "
            "GROUP BY 1 ORDER BY s DESC LIMIT 2",
        ),
    ],
)
def test_joins_follow_relationships(retail, question: str, oracle: str) -> None:  # noqa: ANN001
    result = check(retail, question, oracle, ordered="top" in question)
    assert " JOIN " in result.translation.sql.upper()


def test_follow_ups_build_on_the_previous_parse(retail) -> None:  # noqa: ANN001
    first = answer(retail, "revenue by region")
    second = check(
        retail,
        "and last year?",
        "SELECT region, sum(amount) FROM orders WHERE year(order_date) = 2023 GROUP BY 1",
        previous=first.translation.parse,
    )
    third = check(
        retail,
        "only for mobile",
        "SELECT region, sum(amount) FROM orders WHERE year(order_date) = 2023 "
        "AND channel = 'mobile' GROUP BY 1",
        previous=second.translation.parse,
    )
    check(
        retail,
        "now by month",
        "SELECT date_trunc('month', order_date), sum(amount) FROM orders "
        "WHERE year(order_date) = 2023 AND channel = 'mobile' GROUP BY 1",
        previous=third.translation.parse,
    )


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("profit by region", "I don't have 'profit'"),
        ("revenue by store manager", "I don't have"),
        ("average by channel", "amount"),
        ("list the names", "customers.name or products.name"),
        ("what is the weather in paris", "I don't have"),
    ],
)
def test_asks_back_instead_of_guessing(retail, question: str, says: str) -> None:  # noqa: ANN001
    result = answer(retail, question)
    parse = result.translation.parse
    assert parse.clarify is not None and says in parse.clarify
    assert result.translation.sql is None and result.rows == [] and parse.confidence < HIGH_CONFIDENCE
    assert "orders (" in parse.clarify or "or" in parse.clarify  # names what there is, or the candidates


def test_unknown_column_is_named(retail) -> None:  # noqa: ANN001
    parse = answer(retail, "average shipping_fee by region").translation.parse
    assert parse.clarify and "shipping_fee" in parse.clarify and "amount" in parse.clarify


def test_meaning_only_link_is_low_confidence(retail) -> None:  # noqa: ANN001
    result = check(
        retail, "average pricing by category", "SELECT category, avg(price) FROM products GROUP BY 1"
    )
    assert result.translation.parse.confidence < HIGH_CONFIDENCE
    assert any("by meaning" in note for note in result.translation.parse.notes)


def test_value_index_is_cached_per_schema_version(retail) -> None:  # noqa: ANN001
    from etl_assistant.nl2sql import values
    from etl_assistant.nl2sql.schema_graph import load_graph
    from etl_assistant.tools.run_query import allowed_tables

    ctx, _ = retail
    graph = load_graph(ctx, allowed_tables(ctx))
    first = values.value_index(graph, ctx.warehouse)
    assert {"Europe", "cancelled", "web", "Garden"} <= {v.value for v in first}
    assert not any(v.column in ("order_id", "amount", "order_date") for v in first)
    assert values.value_index(graph, ctx.warehouse) == first
    keys = [k for k in values._cache.keys() if k[0] == ctx.warehouse.url and k[1] == "orders"]
    assert keys and all(k[2] == graph.tables["orders"].version for k in keys)


@pytest.mark.parametrize(
    ("question", "oracle"),
    [
        ("how many orders had no discount", "SELECT count(*) FROM orders WHERE discount IS NULL"),
        (
            "total revenue for Q3",
            "SELECT sum(amount) FROM orders WHERE order_date BETWEEN '2024-07-01' AND '2024-09-30'",
        ),
        ("what is the largest order ever", "SELECT max(amount) FROM orders"),
        (
            "revenue of electronics vs books",
            "SELECT p.category, sum(o.amount) FROM orders o JOIN products p USING (product_id) "
            "WHERE p.category IN ('Electronics', 'Books') GROUP BY 1",
        ),
    ],
)
def test_missing_values_bare_quarters_extremes_and_comparisons(retail, question: str, oracle: str) -> None:  # noqa: ANN001
    check(retail, question, oracle)


@pytest.mark.parametrize("question", ["customers who never ordered", "the cheapest product in each category"])
def test_partly_understood_questions_are_not_confident(retail, question: str) -> None:  # noqa: ANN001
    parse = answer(retail, question).translation.parse
    assert parse.clarify is not None or parse.confidence < HIGH_CONFIDENCE
    assert parse.clarify is not None or any("not used" in note for note in parse.notes)
