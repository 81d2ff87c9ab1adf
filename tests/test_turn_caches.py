"""What a turn keeps between turns to cost less CPU (issue 13) still gives what reading afresh gives: the
planner's catalog view follows every commit, a message's JSON follows an edit, kept DDL is a copy, and the
offline reply streamed in pieces of a few words joins back to the whole reply. Real SQLite catalogs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage

from etl_assistant.agent.models.offline import WORDS_PER_CHUNK, _chunks
from etl_assistant.agent.planner.catalog_view import planner_view
from etl_assistant.agent.serialize import to_jsonable
from etl_assistant.config import Settings
from etl_assistant.ddl import generate_ddl
from etl_assistant.warehouse.catalog import Catalog
from tests.support.datasets import orders_schema, write_orders_csv


def test_the_planner_view_is_read_again_after_any_commit(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    catalog = Catalog(settings.resolved_catalog_url)
    planner_view(settings, "default")  # the first read creates the pipeline tables (a commit)
    first = planner_view(settings, "default")
    assert planner_view(settings, "default") is first, "nothing changed: the view is kept"
    assert first.dataset_names == []

    csv_path = tmp_path / "orders.csv"
    write_orders_csv(csv_path, 5)
    catalog.save_dataset("default", orders_schema(csv_path))
    assert planner_view(settings, "default").dataset_names == ["orders"], "an upload appears at once"
    assert planner_view(settings, "other").dataset_names == [], "per tenant"

    # a commit by another connection (another server process) is seen too
    with sqlite3.connect(tmp_path / "data" / "catalog.db") as other:
        other.execute("DELETE FROM etla_datasets")
    assert planner_view(settings, "default").dataset_names == []


def test_a_message_edited_under_the_same_id_is_serialised_again():
    message = ToolMessage(content="42 rows", tool_call_id="c1", id="m1", artifact={"rows": [[1, 2]]})
    first = to_jsonable(message)
    assert first["artifact"] == {"rows": [[1, 2]]} and first["id"] == "m1"
    first["metadata"] = {"added": "by a caller"}
    assert "metadata" not in to_jsonable(message), "callers get a copy"
    loaded_again = ToolMessage(content="42 rows", tool_call_id="c1", id="m1", artifact={"rows": [[1, 2]]})
    assert to_jsonable(loaded_again) == to_jsonable(message)
    edited = ToolMessage(content="see postgresql://me:pw@db/x", tool_call_id="c1", id="m1", artifact={})
    assert to_jsonable(edited)["content"] == "see postgresql://me:***@db/x"
    assert to_jsonable(edited)["artifact"] == {}


def test_kept_ddl_is_the_same_ddl_and_a_copy(tmp_path: Path):
    csv_path = tmp_path / "orders.csv"
    write_orders_csv(csv_path, 5)
    schema = orders_schema(csv_path)
    first = generate_ddl(schema, "postgres")
    first.statements.append("DROP TABLE orders")
    again = generate_ddl(schema, "postgres")
    assert again.statements[-1] != "DROP TABLE orders" and again.ddl == first.ddl
    assert generate_ddl(schema, "postgres", "other").table == "other"
    assert generate_ddl(schema, "clickhouse").ddl.startswith("CREATE TABLE")


def test_the_streamed_reply_is_pieces_of_a_few_words_that_join_to_the_reply():
    text = " ".join(f"word{i}" for i in range(3 * WORDS_PER_CHUNK + 2)) + "\n\n```sql\nSELECT 1;\n```"
    pieces = [c.message.content for c in _chunks(AIMessage(content=text))]
    assert "".join(pieces) == text
    words = 3 * WORDS_PER_CHUNK + 2 + 4  # the code block is 4 more words
    assert len(pieces) == -(-words // WORDS_PER_CHUNK)
    assert all(len(p.split()) <= WORDS_PER_CHUNK for p in pieces)
