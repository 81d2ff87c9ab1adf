"""What the MCP channel costs per tool call: a direct `Tool.run` against the same call over stdio and HTTP.

Usage: .venv/bin/python bench/bench_mcp.py [calls]

Each path calls `generate_ddl` on the same registered dataset (pure CPU, no warehouse I/O), so the ratios are
the protocol's overhead: JSON-RPC framing, argument validation, the worker thread, structured output. The
baseline is measured in the same run. Every server gets its own data dir (chDB: one process per directory).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from etl_assistant.config import Settings
from etl_assistant.tools import ToolContext, get_tool

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ARGS = {"dataset": "orders", "dialect": "clickhouse"}


def write_csv(path: Path, rows: int = 2000) -> None:
    lines = ["order_id,customer,region,amount,ordered_on"]
    regions = ["north", "south", "east", "west"]
    lines += [f"{i},c{i % 97},{regions[i % 4]},{i * 1.25:.2f},2024-{1 + i % 12:02d}-01"
              for i in range(1, rows + 1)]
    path.write_text("\n".join(lines) + "\n")


def env_for(data_dir: Path, files: Path) -> dict[str, str]:
    return {**os.environ, "ETLA_DATA_DIR": str(data_dir), "ETLA_ALLOWED_ROOTS": json.dumps([str(files)]),
            "HF_HUB_OFFLINE": "1"}


def timed_direct(files: Path, data_dir: Path, calls: int) -> list[float]:
    settings = Settings(data_dir=data_dir, allowed_roots=[files])
    ctx = ToolContext(settings=settings)
    get_tool("infer_schema").run(ctx, {"path": str(files / "orders.csv")})
    tool = get_tool("generate_ddl")
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        tool.run(ToolContext(settings=settings, _overrides={"catalog": ctx.catalog}), ARGS)
        samples.append(time.perf_counter() - started)
    return samples


async def timed_client(server: StdioServerParameters | str, files: Path, calls: int) -> list[float]:
    async with Client(server, mode="legacy", read_timeout_seconds=120) as client:
        result = await client.call_tool("infer_schema", {"path": str(files / "orders.csv")})
        assert not result.is_error, result.content[0].text
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            result = await client.call_tool("generate_ddl", ARGS)
            samples.append(time.perf_counter() - started)
            assert not result.is_error, result.content[0].text
        return samples


def start_http(data_dir: Path, files: Path) -> tuple[subprocess.Popen, str]:
    data_dir.mkdir()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    proc = subprocess.Popen([str(BIN / "uvicorn"), "--factory", "etl_assistant.server:create_app", "--fd",
                             str(sock.fileno()), "--log-level", "warning"],
                            env=env_for(data_dir, files), pass_fds=[sock.fileno()], cwd=data_dir)
    sock.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/mcp"
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the HTTP server did not start within 60 s")


def report(name: str, samples: list[float], baseline: float) -> None:
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    print(f"{name:<12} median {median * 1000:8.2f} ms   p95 {p95 * 1000:8.2f} ms   x{median / baseline:7.1f}")


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = root / "files"
        files.mkdir()
        write_csv(files / "orders.csv")
        direct = timed_direct(files, root / "direct", calls)
        stdio = asyncio.run(timed_client(StdioServerParameters(
            command=str(BIN / "etl-assistant"), args=["mcp"], env=env_for(root / "stdio", files),
            cwd=str(root)), files, calls))
        proc, url = start_http(root / "http", files)
        try:
            http = asyncio.run(timed_client(url, files, calls))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    baseline = statistics.median(direct)
    print(f"generate_ddl, {calls} calls each (ratio = median / direct median)")
    report("direct", direct, baseline)
    report("mcp stdio", stdio, baseline)
    report("mcp http", http, baseline)


if __name__ == "__main__":
    main()
