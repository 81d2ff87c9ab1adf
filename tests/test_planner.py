"""The offline planner as a chat model: real tool_calls, follow-ups from history, clarifying questions, and
replies written from real tool outputs (infer_schema and generate_ddl run on a small CSV). Offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from etl_assistant.agent.models.offline import OfflinePlanner
from etl_assistant.config import Settings
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools import REGISTRY, ToolContext, get_tool
from etl_assistant.warehouse.catalog import Catalog
from tests.support.datasets import orders_schema, write_orders_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def tool_dicts(names: list[str] | None = None) -> list[dict[str, Any]]:
    """The registry as OpenAI-style tool dicts, which is what bind_tools hands to the model."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.input_model.model_json_schema(),
            },
        }
        for t in REGISTRY
        if names is None or t.name in names
    ]


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Settings, Path]:
    settings = Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None)
    csv_path = tmp_path / "orders.csv"
    write_orders_csv(csv_path, 40)
    return settings, csv_path


def model_for(settings: Settings, names: list[str] | None = None):
    return OfflinePlanner(settings=settings).bind_tools(tool_dicts(names))


def run_tool(settings: Settings, call: dict[str, Any], tenant: str = "default") -> ToolMessage:
    """Run the real tool for a planner's tool call and wrap its output as the ToolNode would."""
    output = get_tool(call["name"]).run(ToolContext(settings=settings, tenant=tenant), call["args"])
    return ToolMessage(output.model_dump_json(), tool_call_id=call["id"], name=call["name"])


def only_call(message: BaseMessage) -> dict[str, Any]:
    assert isinstance(message, AIMessage) and len(message.tool_calls) == 1, message
    return message.tool_calls[0]


def turn(model, settings: Settings, history: list[BaseMessage], text: str) -> list[BaseMessage]:
    """One person turn, run to the final reply like the graph would: model -> tools -> model ..."""
    messages = [*history, HumanMessage(text)]
    for _ in range(4):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return messages
        messages += [run_tool(settings, call) for call in reply.tool_calls]
    raise AssertionError("the planner did not finish within 4 steps")


def test_a_file_path_becomes_an_infer_schema_call(workspace):
    settings, csv_path = workspace
    call = only_call(model_for(settings).invoke([HumanMessage(f"here is {csv_path}")]))
    assert call["name"] == "infer_schema"
    assert call["args"] == {"path": str(csv_path)}
    assert call["id"].startswith("call_")


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("make a clickhouse table for orders", "clickhouse"),
        ("CH ddl for orders", "clickhouse"),
        ("what would the click house table for orders look like", "clickhouse"),
        ("generate postgresql ddl for orders", "postgres"),
        ("pg table for orders please", "postgres"),
        ("postgress create table for orders", "postgres"),
        ("sqlite ddl for orders", "sqlite"),
        ("sqllite table for orders", "sqlite"),
    ],
)
def test_dialect_words_typos_and_synonyms(workspace, text, dialect):
    settings, csv_path = workspace
    Catalog(settings.resolved_catalog_url).save_dataset("default", orders_schema(csv_path))
    call = only_call(model_for(settings).invoke([HumanMessage(text)]))
    assert call["name"] == "generate_ddl"
    assert call["args"] == {"dataset": "orders", "dialect": dialect}


def test_sql_is_run_through_run_query_and_a_preview_is_built_with_sqlglot(workspace):
    settings, csv_path = workspace
    Catalog(settings.resolved_catalog_url).save_dataset("default", orders_schema(csv_path))
    model = model_for(settings)
    call = only_call(model.invoke([HumanMessage("run select count(*) from orders where paid")]))
    assert call == {**call, "name": "run_query", "args": {"sql": "select count(*) from orders where paid"}}
    preview = only_call(model.invoke([HumanMessage("show me the first 5 rows of orders")]))
    assert preview["name"] == "run_query"
    assert preview["args"] == {"sql": "SELECT * FROM orders", "limit": 5}


def test_follow_ups_resolve_from_real_tool_results(workspace):
    settings, csv_path = workspace
    model = model_for(settings)
    messages = turn(model, settings, [], f"have a look at {csv_path}")
    assert [m.name for m in messages if isinstance(m, ToolMessage)] == ["infer_schema"]

    ddl_call = only_call(model.invoke([*messages, HumanMessage("now make a clickhouse table for it")]))
    assert ddl_call["args"] == {"dataset": "orders", "dialect": "clickhouse"}
    messages = turn(model, settings, messages, "now make a clickhouse table for it")
    ddl = json.loads(messages[-2].content)
    assert ddl["dialect"] == "clickhouse" and f"```sql\n{ddl['ddl'].strip()}\n```" in messages[-1].content

    again = only_call(model.invoke([*messages, HumanMessage("now for postgres")]))
    assert again["name"] == "generate_ddl"
    assert again["args"] == {"dataset": "orders", "dialect": "postgres"}
    load = only_call(model.invoke([*messages, HumanMessage("and the same as a real table in the warehouse")]))
    assert load["name"] == "load_table" and load["args"]["dataset"] == "orders"


def test_schema_reply_is_a_markdown_table_of_the_real_columns(workspace):
    settings, csv_path = workspace
    messages = turn(model_for(settings), settings, [], f"what columns does {csv_path} have?")
    schema = DatasetSchema.model_validate_json(messages[-2].content)
    reply = messages[-1].content
    assert "| column | type | nullable | distinct | unique |" in reply
    for column in schema.columns:
        assert f"| `{column.identifier}` | {column.type} |" in reply
    assert f"{schema.row_count:,} rows" in reply


def test_ddl_for_a_file_chains_inference_then_ddl_and_replies_with_sql(workspace):
    settings, csv_path = workspace
    messages = turn(model_for(settings), settings, [], f"postgres ddl for {csv_path}")
    calls = [m.tool_calls[0] for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [c["name"] for c in calls] == ["infer_schema", "generate_ddl"]
    assert calls[1]["args"] == {"dataset": "orders", "dialect": "postgres"}
    ddl = json.loads(messages[-2].content)["ddl"]
    reply = messages[-1].content
    assert "```sql\n" in reply and ddl.strip() in reply
    assert "CREATE TABLE" in reply


def test_ambiguous_requests_get_one_question_naming_the_candidates(workspace):
    settings, csv_path = workspace
    catalog = Catalog(settings.resolved_catalog_url)
    catalog.save_dataset("default", orders_schema(csv_path))
    catalog.save_dataset("default", orders_schema(csv_path, name="refunds"))
    model = model_for(settings)
    question = model.invoke([HumanMessage("make a table")])
    assert not question.tool_calls
    assert question.content.endswith("?") and "orders" in question.content and "refunds" in question.content
    answer = only_call(model.invoke([HumanMessage("make a table"), question, HumanMessage("refunds, in pg")]))
    assert answer["name"] == "generate_ddl"
    assert answer["args"] == {"dataset": "refunds", "dialect": "postgres"}
    unclear = model.invoke([HumanMessage("qwertyuiop")])
    assert not unclear.tool_calls and unclear.content.count("?") == 1


def test_a_failed_tool_is_explained_with_what_to_do(workspace):
    settings, csv_path = workspace
    model = model_for(settings)
    missing = csv_path.parent / "nope.csv"
    call = only_call(model.invoke([HumanMessage(f"infer {missing}")]))
    error = "File nope.csv does not exist; check the path or upload it."
    reply = model.invoke(
        [
            HumanMessage(f"infer {missing}"),
            AIMessage("", tool_calls=[call]),
            ToolMessage(error, tool_call_id=call["id"], name="infer_schema", status="error"),
        ]
    )
    assert not reply.tool_calls
    # the person reads what failed in words, never the tool's name (issue 14)
    assert reply.content.startswith("I could not inspect that file: ") and error in reply.content
    assert "infer_schema" not in reply.content


def test_only_bound_tools_are_called(workspace):
    settings, csv_path = workspace
    Catalog(settings.resolved_catalog_url).save_dataset("default", orders_schema(csv_path))
    reply = model_for(settings, ["infer_schema"]).invoke([HumanMessage("make a clickhouse table for orders")])
    assert not reply.tool_calls
    # what is off and what is on, in words (issue 14: replies never name a tool)
    assert reply.content.startswith("I cannot design that table on this server")
    assert "inspect a file" in reply.content and "generate_ddl" not in reply.content


def test_catalog_is_read_for_the_run_tenant(workspace):
    settings, csv_path = workspace
    Catalog(settings.resolved_catalog_url).save_dataset("acme", orders_schema(csv_path, name="shipments"))
    model = model_for(settings)
    text = [HumanMessage("sqlite ddl for shipments")]
    acme = only_call(model.invoke(text, config={"metadata": {"tenant": "acme"}}))
    assert acme["args"] == {"dataset": "shipments", "dialect": "sqlite"}
    other = model.invoke(text, config={"metadata": {"tenant": "globex"}})
    assert not other.tool_calls and "Which dataset" in other.content


def test_streaming_sends_the_reply_token_by_token_and_tool_calls_whole(workspace):
    settings, csv_path = workspace
    model = model_for(settings)
    chunks = list(model.stream([HumanMessage("hello")]))
    assert len(chunks) > 5
    assert "".join(c.content for c in chunks) == model.invoke([HumanMessage("hello")]).content
    merged = None
    for chunk in model.stream([HumanMessage(f"here is {csv_path}")]):
        merged = chunk if merged is None else merged + chunk
    assert merged.tool_calls == [
        {**merged.tool_calls[0], "name": "infer_schema", "args": {"path": str(csv_path)}}
    ]


async def test_async_path_matches_sync(workspace):
    settings, csv_path = workspace
    model = model_for(settings)
    text = [HumanMessage(f"load {csv_path} into stg_orders")]
    sync = only_call(model.invoke(text))
    chunks = [c async for c in model.astream(text)]
    async_call = only_call(await model.ainvoke(text))
    assert sync["name"] == async_call["name"] == "load_table"
    assert sync["args"] == async_call["args"] == {"path": str(csv_path), "table": "stg_orders"}
    assert chunks[0].tool_call_chunks[0]["name"] == "load_table"


def test_a_file_named_after_an_upload_is_the_registered_source(workspace):
    settings, csv_path = workspace
    upload = settings.uploads_dir / "default" / "sales_upload.csv"
    upload.parent.mkdir(parents=True)
    write_orders_csv(upload, 5)
    Catalog(settings.resolved_catalog_url).save_dataset("default", orders_schema(upload, name="sales_upload"))
    model = model_for(settings)
    call = only_call(model.invoke([HumanMessage("here is sales_upload.csv")]))
    assert call["args"] == {"path": str(upload)}
    kept = only_call(model.invoke([HumanMessage("here is other_file.csv")]))
    assert kept["args"] == {"path": "other_file.csv"}


def test_a_known_dataset_is_inspected_from_its_source_and_a_bare_name_asks_what_to_do(workspace):
    settings, csv_path = workspace
    Catalog(settings.resolved_catalog_url).save_dataset("default", orders_schema(csv_path))
    model = model_for(settings)
    call = only_call(model.invoke([HumanMessage("describe orders")]))
    assert call["name"] == "infer_schema" and call["args"] == {"path": str(csv_path)}
    question = model.invoke([HumanMessage("orders")])
    assert not question.tool_calls
    assert question.content.startswith("What should I do with orders:") and question.content.endswith("?")


def test_help_lists_only_the_bound_tools_and_a_rejection_is_acknowledged(workspace):
    settings, csv_path = workspace
    help_reply = model_for(settings, ["infer_schema", "run_query"]).invoke([HumanMessage("what can you do?")])
    assert "inspect a file" in help_reply.content and "run SQL" in help_reply.content
    assert "load data" not in help_reply.content and "design warehouse tables" not in help_reply.content
    model = model_for(settings)
    call = only_call(model.invoke([HumanMessage(f"load {csv_path}")]))
    rejected = ToolMessage("The person rejected load_table: not today.", tool_call_id=call["id"],
                           name="load_table", status="error")
    reply = model.invoke([HumanMessage(f"load {csv_path}"), AIMessage("", tool_calls=[call]), rejected])
    assert not reply.tool_calls and "I did not load that and nothing changed" in reply.content
    assert "load_table" not in reply.content  # replies never name a tool


def test_warm_up_prepares_the_router():
    from etl_assistant.agent.planner import shared_router

    OfflinePlanner(settings=Settings(_env_file=None)).warm_up()
    assert shared_router()._matrix is not None and shared_router()._matrix.shape[1] == 384


def test_a_thread_seeded_with_text_only_resolves_it_from_the_words(workspace):
    settings, csv_path = workspace
    catalog = Catalog(settings.resolved_catalog_url)
    catalog.save_dataset("default", orders_schema(csv_path))
    catalog.save_dataset("default", orders_schema(csv_path, name="refunds"))
    history = [HumanMessage("tell me about refunds"), AIMessage("**refunds**: csv, 40 rows, 6 columns.")]
    call = only_call(model_for(settings).invoke([*history, HumanMessage("make a postgres table for it")]))
    assert call["args"] == {"dataset": "refunds", "dialect": "postgres"}


def test_two_files_are_inspected_in_parallel_and_both_reported(workspace):
    settings, csv_path = workspace
    other = csv_path.parent / "refunds.csv"
    write_orders_csv(other, 12)
    model = model_for(settings)
    first = model.invoke([HumanMessage(f"here are {csv_path} and {other}")])
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [
        ("infer_schema", {"path": str(csv_path)}), ("infer_schema", {"path": str(other)})]
    messages = turn(model, settings, [], f"here are {csv_path} and {other}")
    reply = messages[-1].content
    assert "**orders**" in reply and "**refunds**" in reply and "40 rows" in reply and "12 rows" in reply
