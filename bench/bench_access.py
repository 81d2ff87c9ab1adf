"""What the access guard costs per request: `GET /v1/datasets` (a cheap catalog read) over HTTP on loopback,
three servers of the same app measured back to back in this run, interleaved round by round so a change in
the machine's load hits all three alike:

- bare:  the app with the guard taken out of its middleware (the baseline);
- local: the guard in local mode (no key: cross-site rules, one cached "any key?" check);
- keyed: the guard with a key (cross-site rules, key lookup by hash in the SQLite catalog, rate limit count).

Prints the median and p95 latency of each and the ratios local/bare and keyed/bare.

    .venv/bin/python bench/bench_access.py [--requests 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from etl_assistant.access.guard import AccessGuard
from etl_assistant.access.keys import key_store
from etl_assistant.config import Settings
from etl_assistant.server import create_app


def without_guard(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not AccessGuard]
    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def timed(client: httpx.Client, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get("/v1/datasets")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per server per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etla-bench-access-") as tmp:
        root = Path(tmp)
        plain = Settings(data_dir=root / "plain", _env_file=None)
        keyed = Settings(data_dir=root / "keyed", rate_limit_per_minute=10**9, _env_file=None)
        key = key_store(keyed.resolved_catalog_url).create("bench", "bench")[1]
        with serving(without_guard(create_app(plain))) as bare_url, serving(create_app(plain)) as local_url, \
                serving(create_app(keyed)) as keyed_url:
            clients = {
                "bare": httpx.Client(base_url=bare_url),
                "local": httpx.Client(base_url=local_url),
                "keyed": httpx.Client(base_url=keyed_url, headers={"Authorization": f"Bearer {key}"}),
            }
            samples: dict[str, list[float]] = {name: [] for name in clients}
            for client in clients.values():
                timed(client, 20)  # warm up connections and caches
            for _ in range(args.rounds):
                for name, client in clients.items():
                    samples[name] += timed(client, args.requests)
            for client in clients.values():
                client.close()
    medians = {name: statistics.median(times) * 1000 for name, times in samples.items()}
    print(f"GET /v1/datasets, {args.rounds} x {args.requests} requests per server, one client")
    print(f"{'server':8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, times in samples.items():
        p95 = statistics.quantiles(times, n=20)[18] * 1000
        print(f"{name:8} {medians[name]:8.2f} {p95:8.2f}")
    print(f"local/bare p50: {medians['local'] / medians['bare']:.2f}x   "
          f"keyed/bare p50: {medians['keyed'] / medians['bare']:.2f}x")


if __name__ == "__main__":
    main()
