"""The vector store: our own MiniLM embeddings only, tenant filters, schema documents kept in step with the
catalog; embedded (PersistentClient) and a real Chroma server (`chroma run` from the chromadb package)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import httpx
import pytest
from chromadb.config import Settings as ChromaSettings

from etl_assistant.cache.semantic import lookup
from etl_assistant.errors import EtlError
from etl_assistant.nl2sql.schema_graph import load_graph
from etl_assistant.nl2sql.values import value_index
from etl_assistant.retrieval.schema_index import COLLECTION, relevant_tables, sync_schema
from etl_assistant.retrieval.store import vector_store
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.tools.run_query import allowed_tables
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.test_retrieval_fixtures import build_warehouse, settings_for


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    yield build_warehouse(tmp_path_factory.mktemp("retrieval"))
    close_sessions()


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Chroma's own server on an ephemeral 127.0.0.1 port, with its data in a temp dir."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "chroma"),
            "run",
            "--path",
            str(tmp_path_factory.mktemp("chroma")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "chroma server did not start"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def synced(ctx: ToolContext) -> None:
    graph = load_graph(ctx, allowed_tables(ctx))
    sync_schema(vector_store(ctx.settings), ctx.tenant, graph, value_index(graph, ctx.warehouse))


def test_collections_never_embed_on_their_own(ctx: ToolContext) -> None:
    synced(ctx)
    collection = vector_store(ctx.settings).collection(COLLECTION)
    assert collection.configuration["embedding_function"] is None
    assert collection.configuration["hnsw"]["space"] == "cosine"
    with pytest.raises(ValueError, match="embedding function"):
        collection.query(query_texts=["revenue"], n_results=1)


def test_one_document_per_table_and_column_with_sample_values(ctx: ToolContext) -> None:
    synced(ctx)
    found = (
        vector_store(ctx.settings)
        .collection(COLLECTION)
        .get(
            where={"$and": [{"tenant": "default"}, {"table": "employees"}]},
            include=["documents", "metadatas"],
        )
    )
    documents = dict(zip((m["column"] for m in found["metadatas"]), found["documents"], strict=True))
    assert set(documents) == {"", "employee_id", "full_name", "department", "salary"}
    assert documents[""] == "table employees with columns employee id, full name, department, salary"
    assert documents["department"].startswith("employees department: string category, values ")
    assert {"Sales", "Engineering", "Finance"} <= set(documents["department"].split("values ")[1].split(", "))


def test_a_changed_table_is_rewritten_and_a_dropped_one_forgotten(ctx: ToolContext) -> None:
    synced(ctx)
    store = vector_store(ctx.settings)
    collection = store.collection(COLLECTION)
    graph = load_graph(ctx, allowed_tables(ctx))
    values = value_index(graph, ctx.warehouse)
    smaller = type(graph)(
        tables={n: t for n, t in graph.tables.items() if n != "inventory"}, edges=graph.edges
    )
    sync_schema(store, "default", smaller, values)
    assert collection.get(where={"$and": [{"tenant": "default"}, {"table": "inventory"}]})["ids"] == []
    sync_schema(store, "default", graph, values)
    assert len(collection.get(where={"$and": [{"tenant": "default"}, {"table": "inventory"}]})["ids"]) == 5


def test_tenants_only_see_their_own_documents(ctx: ToolContext) -> None:
    synced(ctx)
    graph = load_graph(ctx, allowed_tables(ctx))
    store = vector_store(ctx.settings)
    assert relevant_tables(store, "default", "average salary per department", graph, 2) == ["employees"]
    assert relevant_tables(store, "nobody", "average salary per department", graph, 2) == []


def test_a_bad_chroma_url_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(EtlError, match="is not a Chroma server address; use http://host:port"):
        vector_store(settings_for(tmp_path, chroma_url="chroma.example:8000"))


def test_a_chroma_server_holds_pairs_and_schema_documents(ctx: ToolContext, chroma_url: str) -> None:
    served = ToolContext(
        settings=settings_for(ctx.settings.allowed_roots[0], chroma_url=chroma_url),
        _overrides={"warehouse": ctx.warehouse, "catalog": ctx.catalog},
    )
    store = vector_store(served.settings)
    assert store.location == chroma_url and store is not vector_store(ctx.settings)
    sql = "SELECT city, AVG(temperature_c) AS avg_temp FROM weather GROUP BY city"
    get_tool("verify").run(served, {"question": "average temperature in each city", "sql": sql})
    hit = lookup(served, "mean temperature per city")
    assert hit is not None and hit.pair.sql.startswith("SELECT city, AVG(temperature_c)")
    assert lookup(ctx, "mean temperature per city") is None  # the embedded store never saw the pair
    synced(served)
    graph = load_graph(served, allowed_tables(served))
    assert relevant_tables(store, "default", "which browser has the longest sessions", graph, 3) == [
        "web_sessions"
    ]
    raw = chromadb.HttpClient(
        host="127.0.0.1",
        port=int(chroma_url.rsplit(":", 1)[1]),
        settings=ChromaSettings(anonymized_telemetry=False),
    )  # a second client: the entries live on the server
    assert raw.get_collection("etla-verified-pairs").count() == 1
    assert raw.get_collection(COLLECTION).count() == 6 + sum(len(t.columns) for t in graph.tables.values())
