"""The MCP channel through the official `mcp` client over both real transports.

- stdio: `.venv/bin/etl-assistant mcp` spawned as a subprocess with its own data dir.
- Streamable HTTP: the real app (`etl_assistant.server:create_app`) under uvicorn on an ephemeral 127.0.0.1
  port, also in a subprocess (chDB allows one embedded server per process, so each transport gets its own).
Nothing is mocked: tools run on chDB and the SQLite catalog of each server's data dir.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from etl_assistant.tools import REGISTRY
from tests.support.datasets import write_orders_csv

BIN = Path(sys.executable).parent
ORDERS_ROWS = 40
BIG_ROWS = 120_000  # large enough for infer_schema to report progress more than once


def _server_env(data_dir: Path, files: Path) -> dict[str, str]:
    return {**os.environ, "ETLA_DATA_DIR": str(data_dir), "ETLA_ALLOWED_ROOTS": json.dumps([str(files)]),
            "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mcp_files")
    write_orders_csv(root / "orders.csv", ORDERS_ROWS)
    write_orders_csv(root / "big_orders.csv", BIG_ROWS)
    return root


@pytest.fixture(scope="module")
def http_url(tmp_path_factory: pytest.TempPathFactory, files: Path) -> Iterator[str]:
    """The whole app under uvicorn in a subprocess, serving on a socket we bound (no port race)."""
    data_dir = tmp_path_factory.mktemp("mcp_http_data")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [str(BIN / "uvicorn"), "--factory", "etl_assistant.server:create_app", "--fd", str(sock.fileno()),
         "--log-level", "warning"],
        env=_server_env(data_dir, files), pass_fds=[sock.fileno()], cwd=data_dir,
    )
    sock.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the server process exited during start-up"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /health within 60 s"
            time.sleep(0.2)
        yield f"{base}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def stdio_params(tmp_path_factory: pytest.TempPathFactory, files: Path) -> StdioServerParameters:
    data_dir = tmp_path_factory.mktemp("mcp_stdio_data")
    return StdioServerParameters(command=str(BIN / "etl-assistant"), args=["mcp"],
                                 env=_server_env(data_dir, files), cwd=str(data_dir))


@pytest.fixture(params=["stdio", "http", "http-modern"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@asynccontextmanager
async def connect(request: pytest.FixtureRequest, transport: str) -> AsyncIterator[Client]:
    """A connected client: the initialize handshake (what today's hosts speak), or for "http-modern" the
    2026-07-28 protocol the SDK negotiates by discovery (no handshake, per-request state)."""
    server = request.getfixturevalue("stdio_params" if transport == "stdio" else "http_url")
    mode = "auto" if transport == "http-modern" else "legacy"
    async with Client(server, mode=mode, read_timeout_seconds=120) as client:
        if transport != "http-modern":
            assert client.protocol_version == "2025-11-25"
        yield client


def error_text(result) -> str:  # noqa: ANN001 - CallToolResult
    assert result.is_error is True, f"expected an isError result, got {result.structured_content}"
    return result.content[0].text


def expected_revenue(files: Path) -> dict[str, Decimal]:
    """Sum of amount per paid flag, straight from the CSV: what run_query must answer."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with (files / "orders.csv").open() as fh:
        for row in csv.DictReader(fh):
            totals[row["paid"]] += Decimal(row["amount"])
    return dict(totals)


async def test_initialize_lists_registry_tools_resources_and_prompts(request, transport):
    async with connect(request, transport) as client:
        assert client.server_info.name == "etl-assistant"
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(listed) == {tool.name for tool in REGISTRY}
        for tool in REGISTRY:
            mcp_tool = listed[tool.name]
            assert mcp_tool.input_schema == tool.input_model.model_json_schema()
            assert mcp_tool.output_schema == tool.output_model.model_json_schema()
            assert mcp_tool.description == tool.description
            assert mcp_tool.annotations.read_only_hint is tool.read_only
            if not tool.read_only:
                assert mcp_tool.annotations.destructive_hint is tool.destructive

        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"datasets://", "tables://"} <= resources
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert templates == {"datasets://{name}/schema", "tables://{name}/ddl"}

        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"explore_file", "build_datamart"}
        rendered = await client.get_prompt("explore_file", {"path": "/data/sales.csv"})
        assert "infer_schema" in rendered.messages[0].content.text
        assert "'/data/sales.csv'" in rendered.messages[0].content.text


async def test_infer_ddl_load_and_query(request, transport, files: Path):
    async with connect(request, transport) as client:
        inferred = await client.call_tool("infer_schema", {"path": str(files / "orders.csv")})
        assert inferred.is_error is False
        schema = inferred.structured_content
        assert schema["name"] == "orders" and schema["format"] == "csv"
        assert schema["row_count"] == ORDERS_ROWS
        assert [c["identifier"] for c in schema["columns"]] == [
            "order_id", "customer_id", "amount", "ordered_on", "paid", "note"]
        types = {c["identifier"]: c["type"] for c in schema["columns"]}
        assert types["order_id"] == "integer" and types["ordered_on"] == "date"
        assert json.loads(inferred.content[0].text) == schema  # the text block mirrors the structured output

        listing = json.loads((await client.read_resource("datasets://")).contents[0].text)
        assert [d["name"] for d in listing["datasets"]] == ["orders"]
        detail = json.loads((await client.read_resource("datasets://orders/schema")).contents[0].text)
        assert detail["schema"]["row_count"] == ORDERS_ROWS
        assert [row["order_id"] for row in detail["sample"]["rows"]] == [1, 2, 3, 4, 5]

        ddl = await client.call_tool("generate_ddl", {"dataset": "orders", "dialect": "clickhouse"})
        assert ddl.is_error is False
        assert ddl.structured_content["dialect"] == "clickhouse"
        assert ddl.structured_content["statements"][0].startswith("CREATE TABLE")
        assert "MergeTree" in ddl.structured_content["ddl"]

        table = f"orders_{transport.replace('-', '_')}"  # the HTTP variants share one server
        loaded = await client.call_tool("load_table", {"dataset": "orders", "table": table})
        assert loaded.is_error is False, loaded.content[0].text
        assert loaded.structured_content["rows"] == ORDERS_ROWS
        assert loaded.structured_content["table"] == table

        answer = await client.call_tool("run_query", {
            "sql": f"SELECT paid, sum(amount) AS revenue FROM {table} GROUP BY paid ORDER BY paid"})
        assert answer.is_error is False, answer.content[0].text
        assert answer.structured_content["columns"] == ["paid", "revenue"]
        rows = answer.structured_content["rows"]
        got = {str(paid).lower(): Decimal(str(revenue)) for paid, revenue in rows}
        assert got == expected_revenue(files)

        table_ddl = (await client.read_resource(f"tables://{table}/ddl")).contents[0]
        assert table_ddl.text == loaded.structured_content["ddl"]


async def test_model_fixable_errors_come_back_as_is_error_sentences(request, transport):
    async with connect(request, transport) as client:
        unknown = error_text(await client.call_tool("generate_ddl", {"dataset": "no_such_dataset"}))
        assert "Unknown dataset 'no_such_dataset'" in unknown

        unsafe = error_text(await client.call_tool("run_query", {"sql": "DROP TABLE orders"}))
        assert "SELECT" in unsafe and "Traceback" not in unsafe

        missing = error_text(await client.call_tool("run_query", {}))
        assert "`sql` is required" in missing and "run_query({sql" in missing

        wrong_type = error_text(await client.call_tool("generate_ddl", {"dataset": ["a", "list"]}))
        assert "`dataset`" in wrong_type and "valid string" in wrong_type

        with pytest.raises(Exception, match="No dataset named 'ghost'"):
            await client.read_resource("datasets://ghost/schema")


def test_stdio_stdout_carries_only_json_rpc(tmp_path: Path, files: Path):
    """Raw wire check: whatever the engines print, every stdout line is one JSON-RPC message."""
    proc = subprocess.Popen([str(BIN / "etl-assistant"), "mcp"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=_server_env(tmp_path, files), cwd=tmp_path)
    lines: list[str] = []

    def send(message: dict) -> dict | None:
        """Write one message; for a request, read lines until its reply (all lines are kept)."""
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        while "id" in message:
            lines.append(proc.stdout.readline())
            reply = json.loads(lines[-1])  # fails on any stray line
            if reply.get("id") == message["id"]:
                return reply
        return None

    try:
        hello = send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}})
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        inferred = send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "infer_schema", "arguments": {"path": str(files / "orders.csv")}}})
        loaded = send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "load_table", "arguments": {"dataset": "orders"}}})
    finally:
        proc.stdin.close()
        lines += proc.stdout.readlines()
        proc.wait(timeout=30)
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
    assert hello["result"]["serverInfo"]["name"] == "etl-assistant"
    assert inferred["result"]["isError"] is False
    assert loaded["result"]["structuredContent"]["rows"] == ORDERS_ROWS


async def test_unreachable_warehouse_is_a_clear_server_side_error(tmp_path: Path, files: Path):
    """A real refused connection (nothing listens on port 1): the sentence names the cause and the setting."""
    env = _server_env(tmp_path, files) | {"ETLA_WAREHOUSE_URL": "postgresql://postgres@127.0.0.1:1/test"}
    params = StdioServerParameters(command=str(BIN / "etl-assistant"), args=["mcp"], env=env,
                                   cwd=str(tmp_path))
    async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
        text = error_text(await client.call_tool("run_query", {"sql": "SELECT 1"}))
    assert "Cannot reach PostgreSQL at 127.0.0.1:1" in text and "ETLA_WAREHOUSE_URL" in text
    assert "a server-side problem" in text and "Traceback" not in text


async def test_infer_schema_reports_progress(request, transport, files: Path):
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with connect(request, transport) as client:
        result = await client.call_tool("infer_schema", {"path": str(files / "big_orders.csv")},
                                        progress_callback=on_progress)
        assert result.is_error is False, result.content[0].text
        assert result.structured_content["row_count"] == BIG_ROWS
    assert len(updates) >= 2, f"expected several progress notifications, got {updates}"
    done = [u[0] for u in updates]
    assert done == sorted(done), "progress must not go backwards"
    assert all(total is None or progress <= total for progress, total, _ in updates)
