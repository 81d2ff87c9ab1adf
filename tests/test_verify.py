"""The verify tool: confirmed question->SQL pairs are checked (guard, engine plan) and stored per tenant with
schema versions; refused SQL stores nothing. End to end over MCP stdio with the official client: a verified
pair answers a paraphrase through `ask` from the cache."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from etl_assistant.errors import ToolError
from etl_assistant.retrieval.pairs import has_pairs, similar_pairs
from etl_assistant.retrieval.store import embed_texts, vector_store
from etl_assistant.tools import REGISTRY, ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.test_retrieval_fixtures import build_warehouse, revenue_by_region, write_tables

SQL = "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region -- all time"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    yield build_warehouse(tmp_path_factory.mktemp("verify"))
    close_sessions()


def tenant_ctx(ctx: ToolContext, tenant: str) -> ToolContext:
    return ToolContext(
        settings=ctx.settings, tenant=tenant, _overrides={"warehouse": ctx.warehouse, "catalog": ctx.catalog}
    )


def test_registered_as_a_writing_tool_without_approval() -> None:
    tool = {t.name: t for t in REGISTRY}["verify"]
    assert not tool.read_only and not tool.needs_approval and not tool.destructive
    assert "save this" in tool.description


def test_stores_the_guarded_sql_with_schema_versions(ctx: ToolContext) -> None:
    out = get_tool("verify").run(ctx, {"question": "  Revenue   by region overall ", "sql": SQL})
    assert out.question == "Revenue by region overall"
    assert out.sql == "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region LIMIT 1000"
    assert (
        out.tables == {"orders": ctx.catalog.schema_version("default", "orders")}
        and out.tables["orders"] >= 1
    )
    found = similar_pairs(
        vector_store(ctx.settings), "default", "clickhouse", embed_texts(["revenue per region"])[0], 5
    )
    pair = next(p for p in found if p.id == out.pair_id)
    assert (pair.question, pair.sql, pair.versions) == (out.question, out.sql, out.tables)
    assert pair.is_current(ctx.catalog) and pair.similarity > 0.8
    rows = get_tool("run_query").run(ctx, {"sql": pair.sql}).rows
    assert {r[0]: r[1] for r in rows} == revenue_by_region()


def test_joins_record_every_table_read(ctx: ToolContext) -> None:
    sql = (
        "WITH c AS (SELECT customer_id, country FROM customers) "
        "SELECT c.country, SUM(o.amount) AS revenue FROM orders AS o JOIN c ON o.customer_id = c.customer_id "
        "GROUP BY c.country"
    )
    out = get_tool("verify").run(ctx, {"question": "revenue by customer country", "sql": sql})
    assert set(out.tables) == {"orders", "customers"}


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("DROP TABLE orders", "Only read-only SELECT"),
        ("SELECT 1; DELETE FROM orders", "Only one statement"),
        ("SELECT * FROM system.tables", "System tables"),
        ("SELECT * FROM salaries", "is not one you can query"),
        ("SELECT no_such_column FROM orders", "rejected the query"),
    ],
)
def test_refused_sql_stores_nothing(ctx: ToolContext, sql: str, says: str) -> None:
    fresh = tenant_ctx(ctx, "refusals")
    record = ctx.catalog.get_table("default", "orders")
    ctx.catalog.record_table("refusals", "orders", "orders", record.dialect, record.ddl, record.row_count)
    with pytest.raises(ToolError, match=says):
        get_tool("verify").run(fresh, {"question": "anything", "sql": sql})
    assert not has_pairs(vector_store(ctx.settings), "refusals", "clickhouse")


def test_an_empty_question_is_one_sentence(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="^The question is empty; pass the question the SQL answers.$"):
        get_tool("verify").run(ctx, {"question": "   ", "sql": SQL})


def test_pairs_belong_to_their_tenant(ctx: ToolContext) -> None:
    get_tool("verify").run(
        ctx,
        {
            "question": "number of customers per country",
            "sql": "SELECT country, COUNT(*) AS n FROM customers GROUP BY country",
        },
    )
    store = vector_store(ctx.settings)
    vector = embed_texts(["number of customers per country"])[0]
    assert any(
        p.question == "number of customers per country"
        for p in similar_pairs(store, "default", "clickhouse", vector, 5)
    )
    assert similar_pairs(store, "someone_else", "clickhouse", vector, 5) == []


async def test_verify_over_mcp_then_ask_hits_the_cache(tmp_path: Path) -> None:
    files = tmp_path / "files"
    paths = write_tables(files)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {
        **os.environ,
        "ETLA_DATA_DIR": str(data_dir),
        "ETLA_ALLOWED_ROOTS": json.dumps([str(files)]),
        "HF_HUB_OFFLINE": "1",
    }
    params = StdioServerParameters(
        command=str(Path(sys.executable).parent / "etl-assistant"), args=["mcp"], env=env, cwd=str(data_dir)
    )
    async with Client(params, read_timeout_seconds=180) as client:
        for name in ("customers", "orders"):
            assert not (
                await client.call_tool("infer_schema", {"path": str(paths[name]), "name": name})
            ).is_error
            assert not (await client.call_tool("load_table", {"dataset": name})).is_error
        refused = await client.call_tool("verify", {"question": "x", "sql": "DELETE FROM orders"})
        assert refused.is_error is True and "SELECT" in refused.content[0].text
        saved = await client.call_tool("verify", {"question": "total revenue for each region", "sql": SQL})
        assert saved.is_error is False and list(saved.structured_content["tables"]) == ["orders"]
        answer = await client.call_tool("ask", {"question": "revenue per region"})
    result = answer.structured_content
    assert result["parse"]["notes"][0].startswith("semantic cache: the verified answer to 'total revenue for")
    assert {row[0]: row[1] for row in result["rows"]} == revenue_by_region()
