"""Many conversations at once against one real server on loopback, for a bounded time, stopping by itself.

    .venv/bin/python bench/bench_concurrency.py --seconds 10          # while developing
    .venv/bin/python bench/bench_concurrency.py                       # 60 s per level (the full run)
    .venv/bin/python bench/bench_concurrency.py --workers 2           # two server processes

`etl-assistant serve` runs in a subprocess on the embedded defaults (chDB, SQLite, offline planner) with the
retail sample loaded. At each level (1, 10 and 100 clients) every client keeps one conversation going until
the level's time is up: half speak the Agent Protocol (SSE `runs/stream`), half the OpenAI-compatible API
(`stream=true`, the thread pinned by `X-Thread-Id`). The mix per conversation: simple questions (counts,
totals by a column, varied so no two texts repeat), a DDL request, a heavy question (a join over every
order); one client in ten also uploads a CSV and asks for its table; one in twenty plans a deploy, approves
it and waits for it. Every turn's latency and outcome is recorded; a stream that does not end with its final
event (`end` / `[DONE]`) counts as not ended.

Printed per level: turns/s, p50/p95/p99 (all turns, and simple questions alone), 5xx and other errors,
streams not ended, and the server's CPU ms per turn; then descriptor, RSS and asyncio-task deltas of the
server from before the first level to 5 s after the last (leaks). The single-turn figure is the 1-client
level of the same run. Aims (issue 13): 100-client turns/s >= 1.8x the 1-client figure, simple p95 <= 1.5 s
at 100 clients, 0 5xx, every stream ended. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
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

from etl_assistant.evals.sample_data import write_retail

BIN = Path(sys.executable).parent
REGIONS = ["Europe", "North America", "Asia", "Oceania", "Africa", "South America"]
MEASURES = ["total amount", "average amount", "number of orders", "total quantity", "max amount"]
GROUPS = ["region", "channel", "status"]


@dataclass
class Turn:
    kind: str  # simple, ddl, heavy, upload, deploy
    seconds: float
    status: int  # HTTP status (0: the connection failed)
    ended: bool  # the stream carried its final event
    error: str | None = None


@dataclass
class Level:
    clients: int
    seconds: float
    turns: list[Turn] = field(default_factory=list)
    cpu_s: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, open descriptors) of a process and its children (`--workers`), from /proc."""
    cpu, rss, fds = 0.0, 0, 0
    for each in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            fds += len(os.listdir(f"/proc/{each}/fd"))
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss, fds


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Conversation:
    """One client's conversation on one channel; `turn()` sends the next message of its script."""

    def __init__(self, http: httpx.AsyncClient, index: int, work: Path) -> None:
        self.http, self.index, self.work = http, index, work
        self.channel = "agent" if index % 2 == 0 else "openai"
        self.thread_id = f"bench-{uuid.uuid4().hex[:12]}"
        self.rng = random.Random(index)
        self.counter = itertools.count()
        script = ["simple", "simple", "ddl", "simple", "heavy", "simple"]
        if index % 10 == 9:
            script.insert(1, "upload")
        if index % 20 == 19 and self.channel == "agent":
            script.append("deploy")
        self.script = itertools.cycle(script)

    def _simple(self) -> str:
        n = next(self.counter)
        measure, group = self.rng.choice(MEASURES), self.rng.choice(GROUPS)
        if n % 3 == 0:
            return f"{measure} in {self.rng.choice(REGIONS)} for {2023 + n % 2}"
        return f"{measure} by {group} (question {self.index}.{n})"

    async def turn(self) -> list[Turn]:
        kind = next(self.script)
        if kind == "upload":
            uploaded = await self._upload()
            return [uploaded, await self._say("ddl", f"make a clickhouse table for {self._upload_name}")]
        if kind == "deploy":
            return await self._deploy()
        text = {"simple": self._simple, "ddl": lambda: "make a postgres table for orders",
                "heavy": lambda: "total amount by customer segment and product category"}[kind]()
        return [await self._say(kind, text)]

    @property
    def _upload_name(self) -> str:
        return f"extra_{self.index}"

    async def _upload(self) -> Turn:
        path = self.work / f"{self._upload_name}.csv"
        if not path.exists():
            rows = "".join(f"{i},{self.rng.choice(REGIONS)},{i * 1.5:.2f}\n" for i in range(2000))
            path.write_text("id,region,amount\n" + rows)
        started = time.perf_counter()
        try:
            response = await self.http.post("/v1/datasets", files={"file": (path.name, path.read_bytes())})
            status = response.status_code
        except httpx.HTTPError as exc:
            return Turn("upload", time.perf_counter() - started, 0, False, type(exc).__name__)
        return Turn("upload", time.perf_counter() - started, status, status == 201,
                    None if status == 201 else response.text[:200])

    async def _say(self, kind: str, text: str, command: dict | None = None) -> Turn:
        started = time.perf_counter()
        try:
            if self.channel == "agent":
                status, ended, error = await self._agent_protocol(text, command)
            else:
                status, ended, error = await self._openai(text)
        except httpx.HTTPError as exc:
            return Turn(kind, time.perf_counter() - started, 0, False, type(exc).__name__)
        return Turn(kind, time.perf_counter() - started, status, ended, error)

    async def _agent_protocol(self, text: str, command: dict | None) -> tuple[int, bool, str | None]:
        body: dict = {"assistant_id": "agent", "stream_mode": ["values"], "if_not_exists": "create"}
        body.update({"command": command} if command else
                    {"input": {"messages": [{"role": "user", "content": text}]}})
        ended, error, event = False, None, ""
        async with self.http.stream("POST", f"/threads/{self.thread_id}/runs/stream", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "end":
                    ended = True
                    self.last_status = json.loads(line[6:]).get("status")
                elif line.startswith("data: ") and event == "error":
                    error = line[6:200]
            return response.status_code, ended, error

    async def _openai(self, text: str) -> tuple[int, bool, str | None]:
        body = {"model": "etl-assistant", "stream": True, "messages": [{"role": "user", "content": text}]}
        ended, error = False, None
        async with self.http.stream("POST", "/v1/chat/completions", json=body,
                                    headers={"X-Thread-Id": self.thread_id}) as response:
            async for line in response.aiter_lines():
                if line == "data: [DONE]":
                    ended = True
                elif line.startswith('data: {"error"'):
                    error = line[6:200]
            if response.status_code != 200:
                error = (await response.aread()).decode()[:200] if not error else error
            return response.status_code, ended, error

    async def _deploy(self) -> list[Turn]:
        plan = await self._say("deploy", "deploy orders")
        if getattr(self, "last_status", None) != "interrupted":
            return [plan]
        approved = await self._say("deploy", "", command={"resume": {"decisions": [{"type": "approve"}]}})
        return [plan, approved]


async def run_level(url: str, clients: int, seconds: float, work: Path, pid: int) -> Level:
    level = Level(clients, seconds)
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120, connect=30), limits=limits) as http:
        conversations = [Conversation(http, i, work) for i in range(clients)]
        deadline = time.monotonic() + seconds
        cpu_before = proc_stats(pid)[0]

        async def client(conversation: Conversation) -> None:
            await asyncio.sleep(conversation.index * min(1.0, seconds / 20) / max(1, clients))  # ramp up
            while time.monotonic() < deadline:
                level.turns.extend(await conversation.turn())

        await asyncio.gather(*(client(c) for c in conversations))
        level.cpu_s = proc_stats(pid)[0] - cpu_before
    return level


def report(levels: list[Level]) -> None:
    print(f"\n{'clients':>7} {'turns':>6} {'turns/s':>8} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} "
          f"{'simple p50':>10} {'simple p95':>10} {'5xx':>4} {'errors':>6} {'not ended':>9} "
          f"{'CPU ms/turn':>11}")
    for level in levels:
        turns = level.turns
        seconds = [t.seconds for t in turns]
        simple = [t.seconds for t in turns if t.kind == "simple"]
        five = sum(1 for t in turns if t.status >= 500 or t.status == 0)
        errors = sum(1 for t in turns if t.error is not None)
        not_ended = sum(1 for t in turns if not t.ended)
        print(f"{level.clients:>7} {len(turns):>6} {len(turns) / level.seconds:>8.2f} "
              f"{pct(seconds, .5):>7.3f} {pct(seconds, .95):>7.3f} {pct(seconds, .99):>7.3f} "
              f"{pct(simple, .5):>10.3f} "
              f"{pct(simple, .95):>10.3f} {five:>4} {errors:>6} {not_ended:>9} "
              f"{1000 * level.cpu_s / max(1, len(turns)):>11.1f}")
    by_clients = {level.clients: level for level in levels}
    if 1 in by_clients and len(levels) > 1:
        base = len(by_clients[1].turns) / by_clients[1].seconds
        single = [t.seconds for t in by_clients[1].turns if t.kind == "simple"]
        print(f"\nsingle turn (1 client, simple question): p50 {pct(single, .5):.3f} s, "
              f"p95 {pct(single, .95):.3f} s")
        for level in levels[1:]:
            print(f"throughput at {level.clients} clients: {len(level.turns) / level.seconds / base:.2f}x "
                  "the 1-client figure")
    kinds = sorted({t.kind for level in levels for t in level.turns})
    print("by kind (all levels), p50 s: " + ", ".join(
        f"{k} {statistics.median([t.seconds for lv in levels for t in lv.turns if t.kind == k]):.3f}"
        for k in kinds))
    samples = [t.error for level in levels for t in level.turns if t.error][:5]
    for sample in samples:
        print(f"  error sample: {sample}")


def prepare(work: Path, data_dir: Path, orders: int) -> None:
    """The retail sample, loaded by the CLI before the server starts (the warehouse is then the server's)."""
    write_retail(str(work), orders=orders)
    env = {**os.environ, "ETLA_DATA_DIR": str(data_dir), "ETLA_ALLOWED_ROOTS": json.dumps([str(work)]),
           "HF_HUB_OFFLINE": "1"}
    for name in ("customers", "products", "orders"):
        subprocess.run([str(BIN / "etl-assistant"), "load", str(work / f"{name}.csv")], env=env, cwd=work,
                       check=True, capture_output=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etla-bench-concurrency-") as tmp:
        work, data_dir = Path(tmp), Path(tmp) / "data"
        prepare(work, data_dir, args.orders)
        port = free_port()
        env = {**os.environ, "ETLA_DATA_DIR": str(data_dir), "ETLA_ALLOWED_ROOTS": json.dumps([str(work)]),
               "HF_HUB_OFFLINE": "1"}
        command = [str(BIN / "etl-assistant"), "serve", "--port", str(port), "--workers", str(args.workers)]
        server = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL,
                                  stderr=open(work / "server.log", "w"))  # noqa: SIM115
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    health = httpx.get(f"{url}/health", timeout=2).json()
                    if health["model"]["ready"]:
                        break
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start: " + (work / "server.log").read_text()[-2000:])
                await asyncio.sleep(0.3)
            _, rss_before, fds_before = proc_stats(server.pid)
            tasks_before = health.get("tasks")  # older servers do not count their tasks
            levels = []
            for clients in args.clients:
                level = await run_level(url, clients, args.seconds, work, server.pid)
                levels.append(level)
                print(f"{clients} clients: {len(level.turns)} turns in {args.seconds:g} s", flush=True)
            await asyncio.sleep(5)
            health = httpx.get(f"{url}/health", timeout=10).json()
            _, rss_after, fds_after = proc_stats(server.pid)
            report(levels)
            print(f"server after the run (5 s idle): descriptors {fds_before} -> {fds_after}, "
                  f"RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB, asyncio tasks "
                  f"{tasks_before} -> {health.get('tasks')}, active runs {health['active_runs']}")
            if any(t.error for level in levels for t in level.turns):
                failures = [line for line in (work / "server.log").read_text().splitlines()
                            if "Error" in line or "error" in line]
                print("server log, error lines:", *failures[-12:], sep="\n  ")
        finally:
            server.terminate()
            server.wait(60)


if __name__ == "__main__":
    asyncio.run(main())
