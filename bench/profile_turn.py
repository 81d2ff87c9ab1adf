"""Where the CPU of an offline chat turn goes: N turns in-process through the Agent Protocol route.

    .venv/bin/python bench/profile_turn.py                   # CPU ms per turn kind, no profiler
    .venv/bin/python bench/profile_turn.py --profile         # plus a cProfile breakdown (all threads)

The app is `create_app` on the embedded defaults (chDB, SQLite, offline planner) with the retail sample
loaded, driven by httpx's ASGITransport on `POST /threads/{id}/runs/stream` (the route the web page and the
LangGraph SDK use; `--channel openai`: `/v1/chat/completions` with `stream=true` and `X-Thread-Id`), so a
turn pays for everything a channel's turn pays for except the socket. Each kind runs
on its own threads, ten turns a thread, so history grows as in a real conversation:

- `design`: "make a postgres table for orders" (the same text each time: its embedding is cached),
- `question`: a simple question whose text is new every time (counts/totals by a column, varied),
- `heavy`: a join over every order.

CPU is `time.process_time()` of the whole process (every thread: the planner's and the engine's too) per
turn, which a busy shared machine barely moves; wall time is printed beside it. With `--profile` each kind is
run again under cProfile in every thread and its exclusive time is summed by area (graph, checkpoint,
planner, embedding, ...) with the top functions; the profiler slows everything, so read the shares, not the
milliseconds. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import pstats
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from bench_concurrency import prepare  # the retail sample loaded by the CLI, as the bench does

from etl_assistant.config import Settings
from etl_assistant.server import create_app

REGIONS = ["Europe", "North America", "Asia", "Oceania", "Africa", "South America"]
MEASURES = ["total amount", "average amount", "number of orders", "total quantity", "max amount"]
GROUPS = ["region", "channel", "status"]
TURNS_PER_THREAD = 10
WAITING = {  # builtins that wait rather than work
    "<method 'poll' of 'select.epoll' objects>", "<method 'acquire' of '_thread.lock' objects>",
    "<method 'control' of 'select.kqueue' objects>", "<built-in method time.sleep>",
}
# path fragment -> area, first match wins (exclusive time of a function goes to its file's area)
AREAS = [
    ("langgraph/checkpoint", "checkpoint"), ("aiosqlite", "checkpoint"), ("sqlite3", "checkpoint"),
    ("ormsgpack", "checkpoint"), ("langgraph", "langgraph graph"), ("langchain_core", "langchain_core"),
    ("etl_assistant/agent/planner", "planner"), ("etl_assistant/nl2sql", "nl2sql"),
    ("etl_assistant/agent", "agent (runner, events)"), ("etl_assistant/channels", "channels"),
    ("etl_assistant/warehouse", "warehouse + catalog"), ("etl_assistant/tools", "tools"),
    ("etl_assistant/ddl", "tools"), ("etl_assistant", "etl_assistant other"),
    ("sentence_transformers", "embedding"), ("transformers", "embedding"), ("torch", "embedding"),
    ("tokenizers", "embedding"), ("sqlglot", "sqlglot"), ("chdb", "warehouse engine"),
    ("sqlalchemy", "sqlalchemy"), ("pydantic", "pydantic"), ("starlette", "http/asgi"),
    ("fastapi", "http/asgi"), ("sse_starlette", "http/asgi"), ("httpx", "http/asgi"), ("anyio", "http/asgi"),
    ("h11", "http/asgi"), ("json", "json"), ("orjson", "json"), ("asyncio", "asyncio"),
    ("threading", "threads"), ("concurrent", "threads"), ("uuid", "stdlib other"),
]


def area_of(filename: str) -> str:
    for fragment, area in AREAS:
        if fragment in filename:
            return area
    return "other"


class AllThreads:
    """cProfile in every thread started while it is on (the event loop's, to_thread's pool, aiosqlite's
    connection threads, the engine's), timed by each thread's own CPU clock so a thread waiting for the GIL
    is not charged; `clear()` before a measured stretch, `stats()` after it (without stopping anything)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_here(self, *_: object) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()  # replaces this hook for the thread

    def __enter__(self) -> AllThreads:
        threading.setprofile(self._start_here)
        self._start_here()
        return self

    def __exit__(self, *_: object) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        self.profiles[0].disable()  # the event loop's thread; workers stop with their threads

    def clear(self) -> None:
        with self._lock:
            for profile in self.profiles:
                profile.clear()

    def stats(self) -> pstats.Stats:
        merged: dict = {}
        with self._lock:
            for profile in self.profiles:
                cProfile.Profile.snapshot_stats(profile)  # reads without disabling (create_stats would)
                for key, (cc, nc, tt, ct, callers) in profile.stats.items():  # type: ignore[attr-defined]
                    if key in merged:
                        old = merged[key]
                        joined = dict(old[4])
                        for caller, figures in callers.items():
                            joined[caller] = tuple(a + b for a, b in zip(joined.get(caller, (0,) * 4),
                                                                         figures, strict=True))
                        merged[key] = (old[0] + cc, old[1] + nc, old[2] + tt, old[3] + ct, joined)
                    else:
                        merged[key] = (cc, nc, tt, ct, callers)
        return pstats.Stats(_Snapshot(merged))


class _Snapshot:
    """What pstats.Stats reads a profile from."""

    def __init__(self, stats: dict) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        pass


def breakdown(stats: pstats.Stats, turns: int, top: int) -> None:
    """Exclusive time by area (a builtin's time goes to the area of its costliest caller), then the top
    functions by exclusive and by inclusive time."""
    by_area: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _, name), (_, _, tottime, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename
        if filename == "~" and callers:
            caller = max(callers.items(), key=lambda item: item[1][2])[0]
            where = caller[0]
        if name in WAITING:
            continue
        by_area[area_of(where)] += tottime
        total += tottime
    print(f"  exclusive time by area ({1000 * total / turns:.1f} profiled ms/turn):")
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1]):
        print(f"    {area:<26} {100 * seconds / total:5.1f} %  {1000 * seconds / turns:7.2f} ms/turn")
    rows = stats.stats.items()  # type: ignore[attr-defined]
    print("  top functions, exclusive ms/turn:")
    for (filename, line, name), (_, calls, tottime, _, _) in sorted(rows, key=lambda r: -r[1][2])[:top]:
        print(f"    {1000 * tottime / turns:7.2f}  {calls / turns:7.1f}x {_where(filename, line, name)}")
    print("  top etl_assistant/langgraph functions, inclusive ms/turn:")
    ours = [r for r in rows if "etl_assistant" in r[0][0] or "langgraph" in r[0][0]]
    for (filename, line, name), (_, calls, _, cumtime, _) in sorted(ours, key=lambda r: -r[1][3])[:top]:
        print(f"    {1000 * cumtime / turns:7.2f}  {calls / turns:7.1f}x {_where(filename, line, name)}")


def _where(filename: str, line: int, name: str) -> str:
    for marker, keep in (("site-packages/", ""), ("etl_assistant/", "etl_assistant/"), ("lib/python", "")):
        if marker in filename:
            filename = keep + filename.split(marker, 1)[1]
            break
    return f"{filename}:{line} {name}"


class Texts:
    """The texts of each turn kind; questions never repeat (each pays for its embedding)."""

    def __init__(self) -> None:
        self.counter = itertools.count()

    def __call__(self, kind: str) -> str:
        if kind == "design":
            return "make a postgres table for orders"
        if kind == "heavy":
            return "total amount by customer segment and product category"
        n = next(self.counter)
        measure, group = MEASURES[n % len(MEASURES)], GROUPS[n // len(MEASURES) % len(GROUPS)]
        if n % 3 == 0:
            return f"{measure} in {REGIONS[n % len(REGIONS)]} for {2023 + n % 2} (q{n})"
        return f"{measure} by {group} (question {n})"


async def turn(http: httpx.AsyncClient, thread_id: str, text: str) -> tuple[int, list[str]]:
    """One Agent Protocol turn: (SSE events, the tools it called). It must end with `end`, without error."""
    body = {"assistant_id": "agent", "stream_mode": ["values", "messages-tuple"], "if_not_exists": "create",
            "input": {"messages": [{"role": "user", "content": text}]}}
    response = await http.post(f"/threads/{thread_id}/runs/stream", json=body)
    lines = response.text.splitlines()
    events = [line[7:] for line in lines if line.startswith("event: ")]
    if response.status_code != 200 or not events or events[-1] != "end" or "error" in events:
        raise SystemExit(f"turn {text!r} failed: {response.status_code} {response.text[-600:]}")
    last_values = [lines[i + 1] for i, line in enumerate(lines) if line == "event: values"][-1]
    messages = json.loads(last_values.split(": ", 1)[1])["messages"]
    asked = max(i for i, m in enumerate(messages) if m["type"] == "human")
    tools = [c["name"] for m in messages[asked:] for c in m.get("tool_calls") or []]
    return len(events), tools


async def openai_turn(http: httpx.AsyncClient, thread_id: str, text: str) -> tuple[int, list[str]]:
    """One OpenAI-compatible streamed turn on a pinned thread: (SSE chunks, the tools it called)."""
    body = {"model": "etl-assistant", "stream": True, "messages": [{"role": "user", "content": text}]}
    response = await http.post("/v1/chat/completions", json=body, headers={"X-Thread-Id": thread_id})
    lines = [line for line in response.text.splitlines() if line.startswith("data: ")]
    if response.status_code != 200 or not lines or lines[-1] != "data: [DONE]" or '"error"' in response.text:
        raise SystemExit(f"turn {text!r} failed: {response.status_code} {response.text[-600:]}")
    tools = [call["function"]["name"] for line in lines[:-1]
             for choice in json.loads(line[6:]).get("choices", [])
             for call in (choice.get("delta") or {}).get("tool_calls") or []
             if call.get("function", {}).get("name")]
    return len(lines), tools


async def run_kind(
    http: httpx.AsyncClient, kind: str, turns: int, texts: Texts
) -> tuple[float, float, int, str]:
    """(CPU s, wall s, SSE events per turn, tools called) of `turns` turns of one kind, ten to a thread."""
    cpu, wall, events = time.process_time(), time.perf_counter(), 0
    tools: Counter[str] = Counter()
    thread_id = ""
    for index in range(turns):
        if index % TURNS_PER_THREAD == 0:
            thread_id = f"profile-{kind}-{uuid.uuid4().hex[:8]}"
        count, called = await CHANNELS[CHANNEL](http, thread_id, texts(kind))
        events += count
        tools.update(called or ["(none)"])
    return (time.process_time() - cpu, time.perf_counter() - wall, events // max(1, turns),
            " ".join(f"{name}x{n}" for name, n in tools.most_common()))


CHANNELS = {"agent": turn, "openai": openai_turn}
CHANNEL = "agent"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=40, help="turns per kind")
    parser.add_argument("--kinds", nargs="+", default=["design", "question", "heavy"])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="also profile each kind (cProfile)")
    parser.add_argument("--top", type=int, default=18, help="functions listed per profile")
    parser.add_argument("--channel", choices=sorted(CHANNELS), default="agent",
                        help="Agent Protocol runs/stream, or the OpenAI-compatible stream")
    args = parser.parse_args()
    global CHANNEL
    CHANNEL = args.channel
    with tempfile.TemporaryDirectory(prefix="etla-profile-turn-") as tmp:
        work, data_dir = Path(tmp), Path(tmp) / "data"
        prepare(work, data_dir, args.orders)
        os.chdir(work)
        if args.profile:
            with AllThreads() as profiler:  # on before the app starts: every thread it starts is profiled
                await serve_turns(args, work, data_dir, profiler)
        else:
            await serve_turns(args, work, data_dir, None)


async def serve_turns(
    args: argparse.Namespace, work: Path, data_dir: Path, profiler: AllThreads | None
) -> None:
    app = create_app(Settings(data_dir=data_dir, allowed_roots=[work]))
    async with app.router.lifespan_context(app):
        await app.state.warming
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=120) as http:
            texts = Texts()
            for kind in args.kinds:  # warm every path once (first query, first parse, first embedding)
                await run_kind(http, kind, 3, texts)
            print(f"{'kind':<9} {'turns':>5} {'CPU ms/turn':>11} {'wall ms/turn':>12} {'events/turn':>11}"
                  "  tools" + ("   (under the profiler)" if profiler else ""))
            for kind in args.kinds:
                if profiler:
                    profiler.clear()
                cpu, wall, events, tools = await run_kind(http, kind, args.turns, texts)
                print(f"{kind:<9} {args.turns:>5} {1000 * cpu / args.turns:>11.1f} "
                      f"{1000 * wall / args.turns:>12.1f} {events:>11}  {tools}", flush=True)
                if profiler:
                    breakdown(profiler.stats(), args.turns, args.top)


if __name__ == "__main__":
    asyncio.run(main())
