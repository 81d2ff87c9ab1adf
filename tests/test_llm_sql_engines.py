"""The LLM path and the semantic cache on SQLite and PostgreSQL (chDB: test_llm_sql.py and
test_semantic_cache.py): each engine's own error text is fed back, the dry plan works, a verified pair is
reused. The model is the local OpenAI-format fake (the one allowed mock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from etl_assistant.tools import ToolContext, get_tool
from tests.support.openai_fake import Reply, openai_fake
from tests.support.postgres import schema_url, temporary_schema
from tests.test_retrieval_fixtures import ORDERS, build_warehouse, revenue_by_region, settings_for

TABLES = ["customers", "orders", "weather"]
ENGINE_ERRORS = {"sqlite": "no such column: revenue", "postgres": 'column "revenue" does not exist'}


@pytest.fixture(scope="module")
def own_pg_schema() -> Iterator[str]:
    """A schema of our own, dropped with everything in it at the end (our table names are common ones)."""
    with temporary_schema("etla_llm") as name:
        yield name


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], name="ctx"
)
def ctx_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ToolContext]:
    root = tmp_path_factory.mktemp(f"llm_{request.param}")
    url = (
        f"sqlite:///{root / 'warehouse.db'}"
        if request.param == "sqlite"
        else schema_url(request.getfixturevalue("own_pg_schema"))
    )
    ctx = build_warehouse(root, TABLES, warehouse_url=url)
    yield ctx
    ctx.warehouse.close()


def llm(ctx: ToolContext, url: str) -> ToolContext:
    settings = settings_for(
        ctx.settings.allowed_roots[0],
        warehouse_url=ctx.settings.warehouse_url,
        model="openai",
        ETLA_LLM_BASE_URL=url,
        ETLA_LLM_API_KEY="sk-test",
        ETLA_LLM_MODEL="fake-gpt",
    )
    return ToolContext(settings=settings, _overrides={"warehouse": ctx.warehouse, "catalog": ctx.catalog})


def sql_reply(text: str) -> Reply:
    return Reply(content=f"```sql\n{text}\n```")


def test_the_engines_error_is_fed_back_and_corrected(ctx: ToolContext) -> None:
    replies = [
        sql_reply("SELECT region, SUM(revenue) AS revenue FROM orders GROUP BY region"),
        sql_reply("SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region ORDER BY region"),
    ]
    with openai_fake(replies) as fake:
        out = get_tool("ask").run(llm(ctx, fake.url), {"question": "revenue by region"})
    assert ENGINE_ERRORS[ctx.warehouse.dialect] in fake.requests[1]["messages"][-1]["content"]
    assert f"query for {ctx.warehouse.dialect}." in fake.requests[0]["messages"][0]["content"]
    assert {row[0]: row[1] for row in out.rows} == revenue_by_region()


def test_nl_to_sql_dry_plan_catches_an_unknown_column(ctx: ToolContext) -> None:
    replies = [
        sql_reply("SELECT city, AVG(temp) AS t FROM weather GROUP BY city"),
        sql_reply("SELECT city, MAX(rainfall_mm) AS most FROM weather GROUP BY city"),
    ]
    with openai_fake(replies) as fake:
        out = get_tool("nl_to_sql").run(llm(ctx, fake.url), {"question": "most rain per city"})
    assert len(fake.requests) == 2 and out.dialect == ctx.warehouse.dialect
    assert sorted(r[0] for r in get_tool("run_query").run(ctx, {"sql": out.sql}).rows) == ["Oslo", "Rome"]


def test_a_verified_pair_is_reused_by_ask(ctx: ToolContext) -> None:
    verified = (
        "SELECT c.country, SUM(o.amount) AS revenue FROM orders AS o "
        "JOIN customers AS c ON o.customer_id = c.customer_id GROUP BY c.country"
    )
    saved = get_tool("verify").run(ctx, {"question": "total revenue by customer country", "sql": verified})
    assert set(saved.tables) == {"orders", "customers"}
    out = get_tool("ask").run(ctx, {"question": "revenue per customer country"})
    assert out.parse["notes"][0].startswith("semantic cache:")
    expected: dict[str, int] = {}
    countries = {1: "Germany", 2: "Japan", 3: "Brazil", 4: "France"}
    for _, customer, _, amount, _, _ in ORDERS:
        expected[countries[customer]] = expected.get(countries[customer], 0) + amount
    assert {row[0]: row[1] for row in out.rows} == expected
