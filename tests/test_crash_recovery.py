"""kill -9 in the middle of a load, an approved deploy and a datamart build, then restart: nothing half-made;
and a client leaving an approved deploy does not stop it.

A real server (`etl-assistant serve`, the offline planner) runs in a subprocess on the local PostgreSQL as
warehouse, so this test can watch the warehouse while the server works: once the `…__staging_…` table of the
step appears the server gets SIGKILL. After a restart on the same data dir: the staging table is gone, the
target holds its old version (load) or the approved deploy was carried to its end (deploy, datamart), and the
thread is no longer busy.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.datasets import write_orders_csv
from tests.support.postgres import ADMIN_URL, schema_url, temporary_schema
from tests.support.server_process import Server

BIN = Path(sys.executable).parent
BIG_ROWS = 1_500_000  # a few seconds of COPY: time to see the staging table and kill the server
SMALL_ROWS = 50
APPROVE = {"resume": {"decisions": [{"type": "approve"}]}}


def run(server: Server, thread_id: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """One streamed run on the Agent Protocol; the (event, data) pairs until the stream ends or breaks."""
    events: list[tuple[str, Any]] = []
    try:
        with httpx.stream("POST", f"{server.url}/threads/{thread_id}/runs/stream", timeout=300,
                          json={"assistant_id": "agent", "stream_mode": ["values"], **body}) as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    events.append((event, json.loads(line[6:])))
    except (httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server was killed under the stream
    return events


def say(server: Server, thread_id: str, text: str) -> list[tuple[str, Any]]:
    events = run(server, thread_id, {"input": {"messages": [{"role": "user", "content": text}]}})
    assert events and events[-1][0] == "end", events[-3:]
    return events


def tables(schema: str) -> set[str]:
    with psycopg.connect(ADMIN_URL) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                            "UNION SELECT matviewname FROM pg_matviews WHERE schemaname = %s",
                            [schema, schema]).fetchall()
    return {r[0] for r in rows}


def count(schema: str, table: str) -> int:
    with psycopg.connect(schema_url(schema)) as conn:
        return conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(
            psycopg.sql.Identifier(table))).fetchone()[0]


def kill_when(server: Server, seen: Callable[[], bool], work: Callable[[], object]) -> None:
    """Start `work` (a run) in a thread and SIGKILL the server as soon as `seen()` holds."""
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    deadline = time.monotonic() + 120
    while not seen():
        assert worker.is_alive() or seen(), "the step ended before it could be interrupted"
        assert time.monotonic() < deadline, "the staging object never appeared"
        time.sleep(0.05)
    server.kill()
    worker.join(30)


def thread_status(server: Server, thread_id: str, wait_while: str = "busy", timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = httpx.get(f"{server.url}/threads/{thread_id}", timeout=10).json()["status"]
        if status != wait_while or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Server, str, Path]]:
    files = tmp_path / "files"
    files.mkdir()
    write_orders_csv(files / "orders.csv", BIG_ROWS)
    write_orders_csv(files / "small_orders.csv", SMALL_ROWS)
    with temporary_schema("etla_crash") as schema:
        env = {**os.environ, "ETLA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
               "ETLA_ALLOWED_ROOTS": json.dumps([str(files)]), "ETLA_WAREHOUSE_URL": schema_url(schema)}
        server = Server(env, tmp_path)
        try:
            yield server.start(), schema, files
        finally:
            server.stop()


def staging_of(schema: str, target: str) -> Callable[[], bool]:
    return lambda: any(t.startswith(f"{target}__staging_") for t in tables(schema))


def test_kill_during_an_approved_replacing_load_finishes_it_after_restart(setup: tuple[Server, str, Path]):
    server, schema, files = setup
    thread = httpx.post(f"{server.url}/threads", json={}, timeout=10).json()["thread_id"]
    say(server, thread, f"load {files / 'small_orders.csv'} as orders")
    assert count(schema, "orders") == SMALL_ROWS
    say(server, thread, f"infer {files / 'orders.csv'}")
    events = say(server, thread, f"load {files / 'orders.csv'} as orders, replace it")
    assert events[-1][1]["status"] == "interrupted"  # replacing a table waits for the person's approval
    kill_when(server, staging_of(schema, "orders"), lambda: run(server, thread, {"command": APPROVE}))
    assert staging_of(schema, "orders")()  # the kill left it behind
    assert count(schema, "orders") == SMALL_ROWS  # killed before the swap: the old version, whole

    server.start()
    assert thread_status(server, thread) == "idle"  # the approved load carried to its end in the background
    assert not staging_of(schema, "orders")()
    assert count(schema, "orders") == BIG_ROWS  # the new version, whole
    assert say(server, thread, "list the datasets")[-1][1]["status"] == "success"  # it takes new turns


def test_kill_during_an_approved_deploy_finishes_it_after_restart(setup: tuple[Server, str, Path]):
    server, schema, files = setup
    thread = httpx.post(f"{server.url}/threads", json={}, timeout=10).json()["thread_id"]
    say(server, thread, f"infer {files / 'orders.csv'}")
    events = say(server, thread, "deploy orders")
    assert events[-1][1]["status"] == "interrupted"
    kill_when(server, staging_of(schema, "orders"), lambda: run(server, thread, {"command": APPROVE}))
    assert "orders" not in tables(schema)  # killed before the swap

    server.start()
    assert thread_status(server, thread) == "idle"  # carried to its end in the background
    assert not staging_of(schema, "orders")()
    assert count(schema, "orders") == BIG_ROWS
    state = httpx.get(f"{server.url}/threads/{thread}/state", timeout=10).json()
    results = [m for m in state["values"]["messages"] if m["type"] == "tool" and m["name"] == "deploy"]
    assert results and results[-1]["status"] == "success", results[-1:]
    assert json.loads(results[-1]["content"])["result"]["steps"][0]["target"] == "orders"


def test_kill_during_a_datamart_deploy_finishes_it_after_restart(setup: tuple[Server, str, Path]):
    server, schema, files = setup
    thread = httpx.post(f"{server.url}/threads", json={}, timeout=10).json()["thread_id"]
    say(server, thread, f"load {files / 'orders.csv'}")
    events = say(server, thread, "daily total amount per paid as a datamart")
    messages = next(d for e, d in reversed(events) if e == "values")["messages"]
    designed = next(m for m in reversed(messages) if m["type"] == "tool" and m["name"] == "design_datamart")
    mart = json.loads(designed["content"])["definition"]["name"]
    events = say(server, thread, "deploy it")
    assert events[-1][1]["status"] == "interrupted"
    kill_when(server, staging_of(schema, mart), lambda: run(server, thread, {"command": APPROVE}))
    assert mart not in tables(schema)

    server.start()
    assert thread_status(server, thread) == "idle"
    assert not staging_of(schema, mart)()
    with psycopg.connect(schema_url(schema)) as conn:
        groups = conn.execute("SELECT count(*) FROM (SELECT DISTINCT ordered_on, paid FROM orders) AS g"
                              ).fetchone()[0]
    assert count(schema, mart) == groups  # one row per day and paid value: built whole


def test_client_leaving_an_approved_deploy_does_not_stop_it(setup: tuple[Server, str, Path]):
    """Not a kill: the client disconnects while the approved deploy loads; the deploy goes on and is
    recorded, and the thread takes the next turn."""
    server, schema, files = setup
    thread = httpx.post(f"{server.url}/threads", json={}, timeout=10).json()["thread_id"]
    say(server, thread, f"infer {files / 'orders.csv'}")
    assert say(server, thread, "deploy orders")[-1][1]["status"] == "interrupted"
    with httpx.stream("POST", f"{server.url}/threads/{thread}/runs/stream", timeout=60,
                      json={"assistant_id": "agent", "command": APPROVE}) as response:
        deadline = time.monotonic() + 120
        while not staging_of(schema, "orders")():
            assert time.monotonic() < deadline, "the deploy never started loading"
            time.sleep(0.05)
        response.close()  # the client goes away mid-load
    assert thread_status(server, thread) == "idle"
    assert count(schema, "orders") == BIG_ROWS and not staging_of(schema, "orders")()
    state = httpx.get(f"{server.url}/threads/{thread}/state", timeout=10).json()
    deployed = [m for m in state["values"]["messages"] if m["type"] == "tool" and m["name"] == "deploy"]
    assert deployed[-1]["status"] == "success"
    assert say(server, thread, "deployment history of orders")[-1][1]["status"] == "success"
