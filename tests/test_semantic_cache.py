"""The semantic cache through the real `ask` tool: verified pairs (verify tool) in embedded Chroma, chDB.

A hit needs a similar question AND the same literal signature, tenant and schema versions; a hit re-runs the
stored SQL. Near misses are checked to be similar enough to pass the threshold, so the miss is the
signature's (or the tenant's, or the schema version's) doing and the test could fail.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date

import pytest

from etl_assistant.cache.semantic import lookup
from etl_assistant.cache.signature import literal_signature
from etl_assistant.errors import EtlError
from etl_assistant.nl2sql.values import IndexedValue
from etl_assistant.retrieval.store import embed_texts
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.test_retrieval_fixtures import build_warehouse, revenue_by_region

VERIFIED = "total revenue by region in 2024"
VERIFIED_SQL = (
    "SELECT region, SUM(amount) AS revenue FROM orders "
    "WHERE order_date >= '2024-01-01' AND order_date < '2025-01-01' GROUP BY region"
)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    ctx = build_warehouse(tmp_path_factory.mktemp("semantic_cache"))
    get_tool("verify").run(ctx, {"question": VERIFIED, "sql": VERIFIED_SQL})
    yield ctx
    close_sessions()


def similarity(a: str, b: str) -> float:
    first, second = embed_texts([a, b])
    return float(first @ second)


def from_cache(out) -> bool:  # noqa: ANN001 - AskOutput
    return any(note.startswith("semantic cache:") for note in out.parse["notes"])


@pytest.mark.parametrize(
    "question",
    [
        "what was the revenue per region in 2024",
        "Revenue by region for 2024",
        "total revenue per region, 2024",
    ],
)
def test_a_paraphrase_hits_and_reruns_the_verified_sql(ctx: ToolContext, question: str) -> None:
    out = get_tool("ask").run(ctx, {"question": question})
    assert from_cache(out) and out.confidence == 1.0
    assert {row[0]: row[1] for row in out.rows} == revenue_by_region(2024)
    assert out.sql.startswith(
        "SELECT region, SUM(amount) AS revenue FROM orders WHERE order_date >= '2024-01-01'"
    )


def test_the_verified_question_asked_again_is_found_by_id(ctx: ToolContext) -> None:
    out = get_tool("ask").run(ctx, {"question": "  TOTAL revenue by region in 2024 "})
    assert from_cache(out) and out.parse["notes"][0].endswith("(similarity 1.000)")
    assert {row[0]: row[1] for row in out.rows} == revenue_by_region(2024)


@pytest.mark.parametrize(
    ("question", "differs_in"),
    [
        ("total revenue by region in 2023", "year"),
        ("total revenue by region since 2024", "time range"),
        ("total revenue by region in 2024 excluding Europe", "negation and value"),
        ("total revenue by region in Europe in 2024", "linked value"),
        ("total revenue by region in 2024 for cancelled orders", "linked value"),
        ("total revenue by status in 2024", "linked column"),
        ("average revenue by region in 2024", "aggregate"),
    ],
)
def test_a_near_miss_does_not_hit(ctx: ToolContext, question: str, differs_in: str) -> None:
    out = get_tool("ask").run(ctx, {"question": question})
    assert not from_cache(out), differs_in
    assert out.parse["base"] == "orders"  # the parser answered it instead


def test_near_misses_are_similar_enough_that_only_the_signature_stops_them(ctx: ToolContext) -> None:
    threshold = ctx.settings.cache_threshold
    for question in ("total revenue by region in 2023", "total revenue by region in 2024 excluding Europe"):
        assert similarity(question, VERIFIED) >= threshold
        assert lookup(ctx, question) is None


def test_number_and_direction_differences_miss(ctx: ToolContext) -> None:
    sql = "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region ORDER BY revenue DESC LIMIT 2"
    get_tool("verify").run(ctx, {"question": "top 2 regions by revenue", "sql": sql})
    assert lookup(ctx, "top two regions by revenue") is not None
    for question in (
        "top 3 regions by revenue",
        "bottom 2 regions by revenue",
        "lowest 2 regions by revenue",
    ):
        assert similarity(question, "top 2 regions by revenue") >= 0.8
        assert lookup(ctx, question) is None, question


def test_relative_time_hits_only_while_it_means_the_same_period(ctx: ToolContext) -> None:
    sql = (
        "SELECT region, SUM(amount) AS revenue FROM orders "
        "WHERE order_date >= '2024-01-01' AND order_date < '2024-02-01' GROUP BY region"
    )
    get_tool("verify").run(
        ctx, {"question": "revenue by region last month", "sql": sql, "today": date(2024, 2, 10).isoformat()}
    )
    assert lookup(ctx, "revenue per region last month", date(2024, 2, 27)) is not None
    assert lookup(ctx, "revenue per region in the previous month", date(2024, 2, 3)) is not None
    assert lookup(ctx, "revenue per region last month", date(2024, 3, 5)) is None  # now it means February


def test_another_tenant_with_the_same_table_names_misses(ctx: ToolContext) -> None:
    other = ToolContext(
        settings=ctx.settings, tenant="acme", _overrides={"warehouse": ctx.warehouse, "catalog": ctx.catalog}
    )
    record = ctx.catalog.get_table("default", "orders")
    ctx.catalog.record_table("acme", "orders", "orders", record.dialect, record.ddl, record.row_count)
    assert lookup(ctx, "what was the revenue per region in 2024") is not None
    assert lookup(other, "what was the revenue per region in 2024") is None
    out = get_tool("ask").run(other, {"question": "what was the revenue per region in 2024"})
    assert not from_cache(out)


def test_a_schema_version_bump_retires_the_entry_until_verified_again(ctx: ToolContext) -> None:
    question = "average session duration per browser"
    sql = "SELECT browser, AVG(duration_s) AS avg_duration FROM web_sessions GROUP BY browser"
    stored = get_tool("verify").run(ctx, {"question": question, "sql": sql})
    assert lookup(ctx, "mean session duration by browser") is not None
    ctx.catalog.bump_schema_version("default", "web_sessions")  # what a deploy of web_sessions does
    assert lookup(ctx, "mean session duration by browser") is None
    again = get_tool("verify").run(ctx, {"question": question, "sql": sql})
    assert (
        again.pair_id == stored.pair_id and again.tables["web_sessions"] == stored.tables["web_sessions"] + 1
    )
    assert lookup(ctx, "mean session duration by browser") is not None


def test_a_real_deploy_of_the_table_retires_the_entry(ctx: ToolContext) -> None:
    sql = "SELECT country, COUNT(*) AS customers FROM customers GROUP BY country"
    get_tool("verify").run(ctx, {"question": "number of customers per country", "sql": sql})
    assert lookup(ctx, "how many customers per country") is not None
    plan = get_tool("plan_deploy").run(ctx, {"datasets": ["customers"]})
    get_tool("apply_deploy").run(ctx, {"plan_id": plan.plan_id, "approved_by": "test"})
    assert lookup(ctx, "how many customers per country") is None
    out = get_tool("ask").run(ctx, {"question": "how many customers per country"})
    assert not from_cache(out) and sorted(out.rows) == [
        ["Brazil", 1],
        ["France", 1],
        ["Germany", 1],
        ["Japan", 1],
    ]


def test_a_hit_reruns_the_sql_on_current_data(ctx: ToolContext) -> None:
    question = "total stock units by warehouse location"
    sql = "SELECT warehouse_location, SUM(stock_units) AS units FROM inventory GROUP BY warehouse_location"
    get_tool("verify").run(ctx, {"question": question, "sql": sql})
    before = {
        r[0]: r[1]
        for r in get_tool("ask").run(ctx, {"question": "stock units in total per warehouse location"}).rows
    }
    ctx.warehouse.execute("INSERT INTO inventory VALUES ('SKU-900', 'North', 1000, 20)")
    out = get_tool("ask").run(ctx, {"question": "stock units in total per warehouse location"})
    assert from_cache(out)
    assert {r[0]: r[1] for r in out.rows} == {**before, "North": before["North"] + 1000}


def test_an_unreachable_vector_store_only_skips_the_cache(
    ctx: ToolContext, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = ctx.settings.model_copy(update={"chroma_url": dead})
    broken = ToolContext(settings=settings, _overrides={"warehouse": ctx.warehouse, "catalog": ctx.catalog})
    out = get_tool("ask").run(broken, {"question": "what was the revenue per region in 2024"})
    assert not from_cache(out) and {row[0]: row[1] for row in out.rows} == revenue_by_region(2024)
    assert "semantic cache skipped: The vector store at http://127.0.0.1:" in caplog.text
    with pytest.raises(EtlError, match="cannot be opened"):  # verify says so to the person
        get_tool("verify").run(broken, {"question": VERIFIED, "sql": VERIFIED_SQL})


def test_follow_ups_skip_the_cache(ctx: ToolContext) -> None:
    first = get_tool("ask").run(ctx, {"question": "orders per region"})
    out = get_tool("ask").run(
        ctx, {"question": "what was the revenue per region in 2024", "previous": first.parse}
    )
    assert not from_cache(out)


TODAY = date(2024, 6, 15)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("revenue last month", "revenue in the previous month"),
        ("top 5 products", "top five products"),
        ("top 5 products", "the 5 best products"),
        ("orders with status 'Open'", 'orders with status "open"'),
        ("revenue in 2024", "revenue for 2024"),
        ("orders that weren't shipped", "orders that were not shipped"),
        ("revenue per channel over the last 30 days", "revenue per channel in the last 30 days"),
    ],
)
def test_signature_is_equal_for_the_same_literals(a: str, b: str) -> None:
    assert literal_signature(a, TODAY) == literal_signature(b, TODAY)


def test_short_codes_link_only_as_written() -> None:
    codes = [
        IndexedValue("customers", "country", code, (code.lower(),), (code.lower(),)) for code in ("IN", "US")
    ]
    europe = IndexedValue("orders", "region", "Europe", ("europe",), ("europe",))
    values = [*codes, europe]

    def linked(question: str) -> list[str]:
        return json.loads(literal_signature(question, TODAY, None, values))["values"]

    assert linked("revenue in 2024 for us in europe") == ["orders.region=Europe"]
    assert linked("customers from IN and US") == ["customers.country=IN", "customers.country=US"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("revenue in 2023", "revenue in 2024"),
        ("revenue last month", "revenue this month"),
        ("revenue on 2024-03-01", "revenue on 2024-03-02"),
        ("top 5 products", "top 10 products"),
        ("highest revenue region", "lowest revenue region"),
        ("orders that were shipped", "orders that were not shipped"),
        ("orders over 100", "orders under 100"),
        ("orders with status 'Open'", "orders with status 'Closed'"),
        ("average order value", "median order value"),
        ("revenue by month", "revenue by week"),
    ],
)
def test_signature_differs_when_a_literal_differs(a: str, b: str) -> None:
    assert literal_signature(a, TODAY) != literal_signature(b, TODAY)
