"""Chat-channel overhead benchmark: the OpenAI-compatible endpoint and the dataset upload API, each against a
baseline measured in the same run on the same server (uvicorn subprocess, embedded defaults, offline planner).

- upload: `POST /v1/datasets` of a generated CSV (multipart, staging, inference, catalog) vs the infer_schema
  tool called in-process on the same bytes. Ratio upload/direct = what the HTTP upload path adds.
- chat:   one turn through `POST /v1/chat/completions` (non-streaming, and streaming: time to first content
  chunk) vs the same turn through the Agent Protocol `POST /threads/{id}/runs/wait`. Each turn runs on a new
  thread, so history length is the same for both. Ratio openai/agent-protocol = what the OpenAI encoding and
  thread lookup add.

    .venv/bin/python bench/bench_channels.py [--mb 1 20] [--turns 20]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from etl_assistant.config import Settings
from etl_assistant.tools import ToolContext, get_tool

QUESTION = "what datasets do I have?"


def write_csv(path: Path, megabytes: float) -> None:
    regions = ("north", "south", "east", "west")
    target = int(megabytes * 1024 * 1024)
    with path.open("w") as out:
        out.write("order_id,region,customer,amount,ordered_at\n")
        i = 0
        while out.tell() < target:
            i += 1
            out.write(f"{i},{regions[i % 4]},c{i % 997},{(i * 37) % 100000 / 100:.2f},"
                      f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "ETLA_DATA_DIR": str(data_dir), "ETLA_ALLOWED_ROOTS": f'["{data_dir}"]',
           "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "uvicorn", "etl_assistant.server:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the server did not start within 120 s")


def seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternating(a: Callable[[], object], b: Callable[[], object],
                repeat: int) -> tuple[list[float], list[float]]:
    """Run a and b in turns after one warm-up each, so load from other processes hits both alike."""
    seconds(a), seconds(b)
    pairs = [(seconds(a), seconds(b)) for _ in range(repeat)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def p50(values: list[float]) -> float:
    return statistics.median(values)


def bench_upload(url: str, work: Path, data_dir: Path, sizes: list[float], repeat: int) -> None:
    settings = Settings(data_dir=data_dir / "direct", allowed_roots=[work], _env_file=None)
    infer = get_tool("infer_schema")
    print(f"\nupload: POST /v1/datasets vs infer_schema in-process (best of {repeat} alternating runs)")
    print(f"{'size':>8} {'upload s':>10} {'direct s':>10} {'ratio':>7} {'MB/s up':>8}")
    with httpx.Client(base_url=url, timeout=600) as http:
        for megabytes in sizes:
            path = work / f"orders_{megabytes:g}mb.csv"
            write_csv(path, megabytes)
            payload = path.read_bytes()

            def upload(name: str = path.name, body: bytes = payload) -> None:
                response = http.post("/v1/datasets", files={"file": (name, body, "text/csv")})
                response.raise_for_status()

            def direct(p: Path = path) -> None:
                infer.run(ToolContext(settings=settings), {"path": str(p)})

            uploads, directs = alternating(upload, direct, repeat)
            upload_s, direct_s = min(uploads), min(directs)
            print(f"{megabytes:>6g}MB {upload_s:>10.3f} {direct_s:>10.3f} {upload_s / direct_s:>6.2f}x "
                  f"{len(payload) / 1024 / 1024 / upload_s:>8.1f}")


def bench_chat(url: str, turns: int) -> None:
    message = {"role": "user", "content": QUESTION}
    with httpx.Client(base_url=url, timeout=120) as http:

        def agent_protocol() -> None:
            thread = http.post("/threads", json={}).json()["thread_id"]
            run = http.post(f"/threads/{thread}/runs/wait", json={"input": {"messages": [message]}})
            run.raise_for_status()

        def openai_whole() -> None:
            http.post("/v1/chat/completions", json={"messages": [message]}).raise_for_status()

        first_chunk: list[float] = []

        def openai_stream() -> None:
            started = time.perf_counter()
            seen = False
            body = {"messages": [message], "stream": True}
            with http.stream("POST", "/v1/chat/completions", json=body) as response:
                for line in response.iter_lines():
                    if not seen and '"content":"' in line and '"content":""' not in line:
                        first_chunk.append(time.perf_counter() - started)
                        seen = True

        base_runs, whole_runs = alternating(agent_protocol, openai_whole, turns)
        first_chunk.clear()
        base_again, streamed_runs = alternating(agent_protocol, openai_stream, turns)
        first_chunk.pop(0)  # the warm-up turn
        base, whole, streamed = p50(base_runs + base_again), p50(whole_runs), p50(streamed_runs)
    print(f"\nchat: one turn ({QUESTION!r}, offline planner), p50 of {turns} alternating turns, "
          "new thread each")
    print(f"{'path':<34} {'p50 ms':>8} {'ratio':>7}")
    print(f"{'agent protocol runs/wait (base)':<34} {base * 1000:>8.1f} {1:>6.2f}x")
    print(f"{'openai non-streaming':<34} {whole * 1000:>8.1f} {whole / base:>6.2f}x")
    print(f"{'openai streaming (whole turn)':<34} {streamed * 1000:>8.1f} {streamed / base:>6.2f}x")
    print(f"{'openai streaming (first content)':<34} {p50(first_chunk) * 1000:>8.1f} "
          f"{p50(first_chunk) / base:>6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[1.0, 20.0], help="CSV sizes to upload")
    parser.add_argument("--repeat", type=int, default=5, help="runs per upload size")
    parser.add_argument("--turns", type=int, default=20, help="chat turns per path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etla-bench-channels-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        process, url = start_server(data_dir)
        try:
            bench_upload(url, work, data_dir, args.mb, args.repeat)
            bench_chat(url, args.turns)
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
