"""NL->SQL on the `openai` model path: retrieved context, guard, dry plan or execution, bounded retries.

The model is the local OpenAI-format fake (tests/support/openai_fake.py, the one allowed mock: a remote LLM)
behind the real ChatOpenAI client; everything else is real: chDB warehouse, SQLite catalog, embedded Chroma,
the all-MiniLM-L6-v2 encoder, the SQL guard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from etl_assistant.agent.runner import AgentService
from etl_assistant.errors import EtlError
from etl_assistant.nl2sql.llm import extract_sql
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.openai_fake import Reply, openai_fake
from tests.test_retrieval_fixtures import ORDERS, build_warehouse, revenue_by_region, settings_for

GOOD_REVENUE = (
    "```sql\nSELECT region, SUM(amount) AS revenue FROM orders GROUP BY region ORDER BY region\n```"
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    yield build_warehouse(tmp_path_factory.mktemp("llm_sql"))
    close_sessions()


def llm_ctx(base: ToolContext, url: str, **extra: object) -> ToolContext:
    """The same warehouse, catalog and vector store, with the openai model pointed at the fake."""
    root = base.settings.allowed_roots[0]
    settings = settings_for(
        root,
        model="openai",
        ETLA_LLM_BASE_URL=url,
        ETLA_LLM_API_KEY="sk-test",
        ETLA_LLM_MODEL="fake-gpt",
        **extra,
    )
    return ToolContext(settings=settings, _overrides={"warehouse": base.warehouse, "catalog": base.catalog})


def sql_reply(sql: str) -> Reply:
    return Reply(content=f"```sql\n{sql}\n```")


def system_prompt(request: dict) -> str:
    return request["messages"][0]["content"]


def shown_tables(request: dict) -> list[str]:
    return re.findall(r"^TABLE (\w+)", system_prompt(request), flags=re.MULTILINE)


def test_unknown_column_is_corrected_on_the_second_try(base: ToolContext) -> None:
    replies = [
        sql_reply("SELECT region, SUM(revenue) AS revenue FROM orders GROUP BY region"),
        Reply(GOOD_REVENUE),
    ]
    with openai_fake(replies) as fake:
        out = get_tool("ask").run(llm_ctx(base, fake.url), {"question": "revenue by region"})
    assert out.columns == ["region", "revenue"]
    assert {row[0]: row[1] for row in out.rows} == revenue_by_region()
    assert "SUM(amount)" in out.sql and out.clarification is None
    first, second = fake.requests
    correction = second["messages"][-1]
    assert correction["role"] == "user" and "That query failed" in correction["content"]
    assert "revenue" in correction["content"].split("That query failed:")[1]  # the engine's complaint
    assert (
        second["messages"][-2]["role"] == "assistant" and "SUM(revenue)" in second["messages"][-2]["content"]
    )
    assert out.parse["notes"][0].startswith("llm: 2 tries") and 0 < out.confidence < 0.8


def test_unsafe_sql_is_refused_by_the_guard_and_retried(base: ToolContext) -> None:
    rows_before = base.warehouse.count_rows("orders")
    replies = [
        sql_reply("SELECT * FROM orders; DROP TABLE orders"),
        sql_reply("DELETE FROM orders"),
        Reply(GOOD_REVENUE),
    ]
    with openai_fake(replies) as fake:
        out = get_tool("ask").run(llm_ctx(base, fake.url), {"question": "revenue by region"})
    assert {row[0]: row[1] for row in out.rows} == revenue_by_region()
    feedback = [r["messages"][-1]["content"] for r in fake.requests[1:]]
    assert "Only one statement may run at a time" in feedback[0]
    assert "data changes" in feedback[1]
    assert base.warehouse.count_rows("orders") == rows_before == len(ORDERS)


def test_three_failures_give_a_clear_answer_not_a_crash(base: ToolContext) -> None:
    replies = [
        sql_reply("SELECT nope FROM orders"),
        Reply("I think you want the revenue."),  # no SQL at all
        sql_reply("SELECT * FROM system.tables"),
        Reply(GOOD_REVENUE),  # never asked for: the loop stops at three tries
    ]
    with openai_fake(replies) as fake:
        out = get_tool("ask").run(llm_ctx(base, fake.url), {"question": "revenue by region"})
    assert len(fake.requests) == 3
    assert out.sql is None and out.rows == [] and out.answer == out.clarification
    assert out.answer.startswith("I could not write a query that runs for this after 3 tries")
    assert "System tables" in out.answer and out.answer.endswith("tables and columns to use.")


def test_the_prompt_shows_only_the_relevant_tables(base: ToolContext) -> None:
    questions = {
        "average salary per department": "employees",
        "average temperature by city": "weather",
        "which browser has the longest sessions": "web_sessions",
        "stock units per warehouse location": "inventory",
    }
    replies = [sql_reply("SELECT 1 AS one")] * len(questions)
    with openai_fake(replies) as fake:
        ctx = llm_ctx(base, fake.url, retrieval_top_k=2)
        for question in questions:
            get_tool("ask").run(ctx, {"question": question})
    for request, (question, table) in zip(fake.requests, questions.items(), strict=True):
        assert shown_tables(request) == [table], question  # the other five tables score far below
        assert request["messages"][1] == {"role": "user", "content": question}
    salary_prompt = system_prompt(fake.requests[0])
    assert "department string -- category; values: " in salary_prompt and "'Sales'" in salary_prompt
    assert "rainfall_mm" not in salary_prompt and "clickhouse" in salary_prompt
    assert "  salary integer -- measure; range: 41000 .. 52000" in salary_prompt
    weather_prompt = system_prompt(fake.requests[1])
    assert "  day date -- time; range: 2024-05-01 .. 2024-05-10" in weather_prompt


def test_joins_between_shown_tables_are_in_the_prompt_within_top_k(base: ToolContext) -> None:
    question = {"question": "order amount by customer name"}
    with openai_fake([sql_reply("SELECT 1 AS one")] * 2) as fake:
        get_tool("ask").run(llm_ctx(base, fake.url, retrieval_top_k=2), question)
        get_tool("ask").run(llm_ctx(base, fake.url, retrieval_top_k=1), question)
    two, one = fake.requests
    assert shown_tables(two) == ["orders", "customers"]
    assert "JOIN orders.customer_id = customers.customer_id" in system_prompt(two)
    assert shown_tables(one) == ["orders"] and "JOIN" not in system_prompt(one)


def test_nl_to_sql_dry_plans_without_running_and_corrects(base: ToolContext) -> None:
    replies = [
        sql_reply("SELECT city, AVG(temp) AS t FROM weather GROUP BY city"),
        sql_reply("SELECT city, AVG(temperature_c) AS t FROM weather GROUP BY city"),
    ]
    with openai_fake(replies) as fake:
        out = get_tool("nl_to_sql").run(llm_ctx(base, fake.url), {"question": "average temperature by city"})
    assert len(fake.requests) == 2 and "temp" in fake.requests[1]["messages"][-1]["content"]
    assert out.sql is not None and "AVG(temperature_c)" in out.sql and out.dialect == "clickhouse"
    rows = get_tool("run_query").run(base, {"sql": out.sql}).rows
    assert sorted(r[0] for r in rows) == ["Oslo", "Rome"]


def test_a_follow_up_names_the_previous_question(base: ToolContext) -> None:
    first_sql = "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region"
    then_sql = "SELECT region, SUM(amount) AS revenue FROM orders WHERE status = 'shipped' GROUP BY region"
    with openai_fake([sql_reply(first_sql), sql_reply(then_sql)]) as fake:
        ctx = llm_ctx(base, fake.url)
        first = get_tool("ask").run(ctx, {"question": "revenue by region"})
        then = get_tool("ask").run(ctx, {"question": "only shipped ones", "previous": first.parse})
    assert fake.requests[1]["messages"][1]["content"] == 'Follow-up to "revenue by region": only shipped ones'
    assert {r[0]: r[1] for r in then.rows} == revenue_by_region(exclude_status="cancelled")


def test_the_model_saying_the_data_is_missing_is_the_answer(base: ToolContext) -> None:
    with openai_fake([Reply("CANNOT: there is no table with employee holidays.")]) as fake:
        out = get_tool("ask").run(llm_ctx(base, fake.url), {"question": "how many holidays did staff take"})
    assert len(fake.requests) == 1 and out.sql is None
    assert out.answer == "there is no table with employee holidays."


def test_verified_pairs_become_examples_in_the_prompt(base: ToolContext) -> None:
    sql = "SELECT browser, AVG(duration_s) AS avg_duration FROM web_sessions GROUP BY browser"
    get_tool("verify").run(base, {"question": "average session length per browser", "sql": sql})
    count_sql = "SELECT browser, COUNT(*) AS sessions FROM web_sessions GROUP BY browser"
    with openai_fake([sql_reply(count_sql)]) as fake:  # a count is another question: the cache misses
        out = get_tool("ask").run(llm_ctx(base, fake.url), {"question": "how many sessions per browser"})
    prompt = system_prompt(fake.requests[0])
    assert "Q: average session length per browser\nSQL: SELECT browser, AVG(duration_s)" in prompt
    assert sorted(r[1] for r in out.rows) == [8, 8, 8]


async def test_through_the_agent_graph_the_tool_makes_its_own_sql_call(base: ToolContext) -> None:
    """The graph's model calls ask; the tool sends the NL->SQL prompt (no tools bound) to the same endpoint;
    only the final reply reaches the chat as text."""
    replies = [
        Reply(tool_calls=[("ask", {"question": "revenue by region"})]),
        Reply(GOOD_REVENUE),  # requested by the ask tool, not by the graph
        Reply(content="Here is the revenue per region."),
    ]
    with openai_fake(replies) as fake:
        service = await AgentService.create(llm_ctx(base, fake.url).settings)
        try:
            say = {"messages": [{"role": "user", "content": "revenue by region?"}]}
            events = [e async for e in service.stream("llm-sql-graph", input=say)]
        finally:
            await service.aclose()
    assert (
        "".join(e.data["delta"] for e in events if e.type == "text_delta")
        == "Here is the revenue per region."
    )
    ai_messages = [e.data["content"] for e in events if e.type == "message" and e.data["type"] == "ai"]
    assert not any("SUM(amount)" in str(content) for content in ai_messages)
    output = next(e.data["output"] for e in events if e.type == "tool_result")
    assert {row[0]: row[1] for row in output["rows"]} == revenue_by_region()
    graph_call, sql_call, reply_call = fake.requests
    assert "tools" in graph_call and "tools" not in sql_call
    assert system_prompt(sql_call).startswith("You translate a question about a data warehouse")
    assert reply_call["messages"][-1]["role"] == "tool"


def test_an_unreachable_llm_is_one_sentence(base: ToolContext) -> None:
    with openai_fake([]) as fake:
        url = fake.url
    with pytest.raises(
        EtlError, match=r"^The LLM at http://127\.0\.0\.1:\d+/v1 did not answer .*ETLA_MODEL=offline\.$"
    ):
        get_tool("ask").run(llm_ctx(base, url), {"question": "revenue by region"})


def test_the_offline_model_never_calls_an_llm(base: ToolContext) -> None:
    out = get_tool("ask").run(base, {"question": "revenue by region"})
    assert out.parse["base"] == "orders" and not any(n.startswith("llm:") for n in out.parse["notes"])


@pytest.mark.parametrize(
    ("reply", "sql"),
    [
        ("```sql\nSELECT 1\n```", "SELECT 1"),
        ("Here you go:\n```\nSELECT a FROM t\n```\nThis sums it.", "SELECT a FROM t"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"),
    ],
)
def test_sql_is_taken_from_the_reply(reply: str, sql: str) -> None:
    assert extract_sql(reply) == sql
