"""Server overhead benchmark: Agent Protocol over HTTP on loopback with the offline planner, against two
baselines measured in the same run at the same concurrency:

- direct: the same tool with the same arguments, called in-process (N threads for N clients);
- agent:  the same turn through AgentService.stream in-process (same planner, graph and checkpoints, no HTTP).

For a schema question (infer_schema) and a DDL request (generate_ddl) at 1, 10 and 50 concurrent clients it
prints time to the first SSE event and full-turn latency (p50/p95) and the ratios http/agent (what the server
adds: HTTP, SSE, JSON) and http/direct (what the whole assistant adds: planner, graph, checkpoints, HTTP).
The three are measured back to back per level (the server idles while the in-process ones run), so a change in
the machine's load from other processes hits all three alike. CPU seconds per turn (server process, the
in-process agent, and the benchmark's own HTTP client) show the cost independently of that load.
Aims: first event p50 < 50 ms at 10 clients; server overhead < 1.5x.

    .venv/bin/python bench/bench_server.py [--rows 2000] [--requests 20] [--clients 1 10 50]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from etl_assistant.agent.runner import AgentService
from etl_assistant.config import Settings
from etl_assistant.tools import ToolContext, get_tool

LEVELS = (1, 10, 50)


@dataclass
class Sample:
    first_event_s: float
    turn_s: float


@dataclass
class Scenario:
    name: str
    message: str
    tool: str
    tool_args: dict
    samples: dict[int, list[Sample]] = field(default_factory=dict)  # over HTTP
    agent_s: dict[int, list[float]] = field(default_factory=dict)  # AgentService in-process
    direct_s: dict[int, list[float]] = field(default_factory=dict)  # the tool alone
    cpu_ms: dict[int, tuple[float, ...]] = field(default_factory=dict)  # per turn: server, client, agent


def write_csv(path: Path, rows: int) -> None:
    regions = ("north", "south", "east", "west")
    lines = ["order_id,region,customer,amount,ordered_at"]
    lines += [
        f"{i},{regions[i % 4]},c{i % 97},{i * 1.25:.2f},2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        for i in range(1, rows + 1)
    ]
    path.write_text("\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_turn(http: httpx.AsyncClient, thread_id: str, message: str) -> Sample:
    body = {
        "assistant_id": "agent",
        "input": {"messages": [{"role": "user", "content": message}]},
        "stream_mode": ["values", "messages-tuple"],
    }
    started = time.perf_counter()
    first = None
    status = None
    async with http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                first = first or time.perf_counter()
            elif line.startswith("data:") and event == "end":
                status = line
    done = time.perf_counter()
    if status is None or '"success"' not in status:
        raise RuntimeError(f"turn did not succeed: {status}")
    return Sample(first_event_s=(first or done) - started, turn_s=done - started)


async def run_level(
    url: str, message: str, clients: int, per_client: int, server_pid: int | None = None
) -> tuple[list[Sample], float, float]:
    """Turns over HTTP, each on a new thread (created before timing starts); returns the samples and the CPU
    seconds the server (when `server_pid` is given) and this client spent on them."""
    limits = httpx.Limits(max_connections=clients + 5)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        threads = [
            [(await http.post("/threads", json={})).json()["thread_id"] for _ in range(per_client)]
            for _ in range(clients)
        ]

        async def client(thread_ids: list[str]) -> list[Sample]:
            return [await one_turn(http, t, message) for t in thread_ids]

        server_cpu = process_cpu_s(server_pid) if server_pid else 0.0
        client_cpu = time.process_time()
        results = await asyncio.gather(*(client(t) for t in threads))
        client_cpu = time.process_time() - client_cpu
        server_cpu = (process_cpu_s(server_pid) - server_cpu) if server_pid else 0.0
    return [s for r in results for s in r], server_cpu, client_cpu


def direct_calls(scenario: Scenario, settings: Settings, clients: int, per_client: int) -> list[float]:
    """Baseline: the tool itself with the planner's arguments, `clients` threads at once."""
    tool = get_tool(scenario.tool)
    ctx = ToolContext(settings=settings, tenant=settings.tenant)

    def client() -> list[float]:
        timings = []
        for _ in range(per_client):
            started = time.perf_counter()
            tool.run(ctx, scenario.tool_args)
            timings.append(time.perf_counter() - started)
        return timings

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [t for f in [pool.submit(client) for _ in range(clients)] for t in f.result()]


async def agent_turns(service: AgentService, message: str, clients: int, per_client: int) -> list[float]:
    """Baseline: the same turn through the run stream in-process, no HTTP."""

    async def client() -> list[float]:
        timings = []
        for _ in range(per_client):
            started = time.perf_counter()
            events = [
                e
                async for e in service.stream(
                    str(uuid.uuid4()), input={"messages": [{"role": "user", "content": message}]}
                )
            ]
            if events[-1].data["status"] != "success":
                raise RuntimeError(f"in-process turn failed: {events[-2].data}")
            timings.append(time.perf_counter() - started)
        return timings

    return [t for r in await asyncio.gather(*(client() for _ in range(clients))) for t in r]


def start_server(data_dir: Path, workdir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "ETLA_DATA_DIR": str(data_dir),
        "ETLA_ALLOWED_ROOTS": f'["{workdir}"]',
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cli = Path(sys.executable).with_name("etl-assistant")
    return subprocess.Popen(
        [str(cli), "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server exited")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not become healthy")


def report(scenarios: list[Scenario]) -> None:
    ms = "ms"
    print(
        f"\n{'scenario':<8} {'clients':>7} {'n':>4} | {'first p50':>9} {'first p95':>9} | {'http p50':>8} "
        f"{'http p95':>8} | {'agent p50':>9} {'direct p50':>10} | {'http/agent':>10} {'http/direct':>11} | "
        f"{'cpu/turn: server':>16} {'client':>6} {'agent':>6}"
    )
    for sc in scenarios:
        for clients, samples in sc.samples.items():
            firsts = [s.first_event_s * 1000 for s in samples]
            turns = [s.turn_s * 1000 for s in samples]
            agent = statistics.median(sc.agent_s[clients]) * 1000
            direct = statistics.median(sc.direct_s[clients]) * 1000
            http = pct(turns, 0.5)
            server_cpu, client_cpu, agent_cpu = sc.cpu_ms[clients]
            print(
                f"{sc.name:<8} {clients:>7} {len(samples):>4} | {pct(firsts, 0.5):>7.1f}{ms} "
                f"{pct(firsts, 0.95):>7.1f}{ms} | {http:>6.0f}{ms} {pct(turns, 0.95):>6.0f}{ms} | "
                f"{agent:>7.0f}{ms} {direct:>8.1f}{ms} | {http / agent:>9.2f}x {http / direct:>10.1f}x | "
                f"{server_cpu:>14.0f}{ms} {client_cpu:>4.0f}{ms} {agent_cpu:>4.0f}{ms}"
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=20, help="turns per level (at least one per client)")
    parser.add_argument("--clients", type=int, nargs="+", default=list(LEVELS), help="concurrency levels")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="etla-bench-"))
    csv = workdir / "orders.csv"
    write_csv(csv, args.rows)
    scenarios = [
        Scenario("schema", f"What is the schema of {csv}?", "infer_schema", {"path": str(csv)}),
        Scenario(
            "ddl",
            "Make a ClickHouse table for the orders dataset",
            "generate_ddl",
            {"dataset": "orders", "dialect": "clickhouse"},
        ),
    ]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(workdir / "server-data", workdir, port)
    local = Settings(data_dir=workdir / "local-data", allowed_roots=[workdir])
    service = await AgentService.create(local)
    try:
        wait_healthy(url, proc)
        for sc in scenarios:  # warm-up: loads the planner's embedding model, registers the dataset
            await run_level(url, sc.message, 1, 1)
            await agent_turns(service, sc.message, 1, 1)
        for sc in scenarios:
            for clients in args.clients:
                per_client = max(1, args.requests // clients)
                turns = clients * per_client
                sc.samples[clients], server_cpu, client_cpu = await run_level(
                    url, sc.message, clients, per_client, proc.pid
                )
                agent_cpu = time.process_time()
                sc.agent_s[clients] = await agent_turns(service, sc.message, clients, per_client)
                agent_cpu = time.process_time() - agent_cpu
                sc.direct_s[clients] = direct_calls(sc, local, clients, per_client)
                sc.cpu_ms[clients] = tuple(1000 * c / turns for c in (server_cpu, client_cpu, agent_cpu))
    finally:
        await service.aclose()
        proc.terminate()
        proc.wait(30)
    print(
        f"rows={args.rows}, server: 1 uvicorn process, offline planner, chDB + SQLite defaults; "
        f"machine: {os.cpu_count()} cores"
    )
    report(scenarios)


if __name__ == "__main__":
    asyncio.run(main())
