"""Upload, then ask: a question over a file the person just gave is answered from it, loaded on the way.

The shipped app (offline planner, real tools, embedded chDB, SQLite catalog) under uvicorn on 127.0.0.1; the
file goes in through `POST /v1/datasets` and the question through the Agent Protocol, as the page sends them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from etl_assistant.tools import REGISTRY, ToolContext, get_tool
from etl_assistant.warehouse.catalog import Catalog
from tests.support.live_server import LiveServer, live_server
from tests.support.postgres import schema_url, temporary_schema

REGIONS = ("north", "south", "east", "west", "centre")
ORDERS = "order_id,region,amount,ordered_at\n" + "\n".join(
    f"{i},{REGIONS[i % 5]},{(i * 7) % 97 + 0.25:.2f},{2023 + i % 2}-{1 + i % 12:02d}-{1 + i % 27:02d}"
    for i in range(1, 201)
) + "\n"
TOOL_NAMES = [t.name for t in REGISTRY]


def top_regions(year: int, n: int) -> list[tuple[str, Decimal]]:
    """The expected answer, summed straight from the CSV text."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in ORDERS.splitlines()[1:]:
        _, region, amount, day = line.split(",")
        if day.startswith(str(year)):
            totals[region] += Decimal(amount)
    return sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:n]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    app = create_app(Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None))
    with live_server(app) as running:
        yield running


def upload(client: httpx.Client, name: str = "orders.csv", body: str = ORDERS) -> dict[str, Any]:
    response = client.post("/v1/datasets", files={"file": (name, body.encode())})
    assert response.status_code == 201, response.text
    return response.json()


def stream_turn(client: httpx.Client, thread: str, text_: str) -> list[tuple[str, Any]]:
    """One Agent Protocol run, its SSE events as (event, data)."""
    body = {"input": {"messages": [{"role": "user", "content": text_}]}, "if_not_exists": "create",
            "stream_mode": ["values", "custom"]}
    events = []
    with client.stream("POST", f"/threads/{thread}/runs/stream", json=body) as response:
        assert response.status_code == 200
        raw = "".join(response.iter_text())
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        name = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        if name and data:
            events.append((name, json.loads(data)))
    return events


def last_values(events: list[tuple[str, Any]]) -> dict[str, Any]:
    return [data for name, data in events if name == "values"][-1]


def reply(events: list[tuple[str, Any]]) -> str:
    return str(last_values(events)["messages"][-1]["content"])


def test_upload_then_ask_answers_from_the_file_loading_it_on_the_way(server: LiveServer):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        upload(client)
        events = stream_turn(client, "t-ask", "top 3 regions by revenue in 2024")
        progress = [data for name, data in events if name == "custom" and data.get("type") == "progress"]
        assert any(p["message"] == "loading orders into the warehouse first" for p in progress)
        tool = [m for m in last_values(events)["messages"] if m["type"] == "tool"][-1]
        out = json.loads(tool["content"])
        assert out["loaded"] == [{"table": "orders", "rows": 200}]
        expected = top_regions(2024, 3)
        assert [row[0] for row in out["rows"]] == [region for region, _ in expected]
        assert [Decimal(str(row[1])) for row in out["rows"]] == [total for _, total in expected]
        text_ = reply(events)
        assert "I loaded your file into the warehouse first: `orders` (200 rows)." in text_
        assert expected[0][0] in text_

        again = stream_turn(client, "t-ask", "top 3 regions by revenue in 2023")  # loaded once, not again
        out = json.loads([m for m in last_values(again)["messages"] if m["type"] == "tool"][-1]["content"])
        assert "loaded" not in out or out["loaded"] == []
        assert [row[0] for row in out["rows"]] == [region for region, _ in top_regions(2023, 3)]
        assert not any(name == "custom" and "loading" in str(data.get("message")) for name, data in again)


def test_replies_for_a_person_never_name_a_tool(server: LiveServer):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        nothing_yet = reply(stream_turn(client, "t-words", "top 3 regions by revenue in 2024"))
        unknown = reply(stream_turn(client, "t-words", "make a ClickHouse table for invoices"))
        no_dataset = reply(stream_turn(client, "t-words", "load invoices"))
    assert "There is no data to ask about yet; upload a file" in nothing_yet
    for said in (nothing_yet, unknown, no_dataset):
        assert not [name for name in TOOL_NAMES if name in said and "_" in name], said
        assert "`ask`" not in said and "could not finish" not in said


def catalog_updated_at(settings: Settings, name: str) -> str:
    engine = create_engine(settings.resolved_catalog_url)
    with engine.connect() as conn:
        query = text("SELECT updated_at FROM etla_datasets WHERE name = :n")
        stamp = conn.execute(query, {"n": name}).scalar()
    engine.dispose()
    return str(stamp)


def test_the_upload_is_inferred_once_and_again_only_when_something_changed(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None)
    ctx = ToolContext(settings=settings)
    infer = get_tool("infer_schema")
    uploads = settings.uploads_dir / "default"
    uploads.mkdir(parents=True)
    named = tmp_path / "named.csv"  # a file named by path is profiled every time it is asked for
    named.write_text(ORDERS)
    infer.run(ctx, {"path": str(named)})
    stamp = catalog_updated_at(settings, "named")
    infer.run(ctx, {"path": str(named)})
    assert catalog_updated_at(settings, "named") != stamp

    orders = uploads / "orders.csv"  # as POST /v1/datasets stores it
    orders.write_text(ORDERS)
    first = infer.run(ctx, {"path": str(orders)})
    stamp = catalog_updated_at(settings, "orders")
    assert infer.run(ctx, {"path": str(orders)}) == first  # "here it is" after the upload: not profiled again
    assert catalog_updated_at(settings, "orders") == stamp

    orders.write_text(ORDERS + "201,north,5.00,2024-02-03\n")  # the file changed: inferred again
    assert infer.run(ctx, {"path": str(orders)}).row_count == 201
    assert catalog_updated_at(settings, "orders") != stamp

    regions = tmp_path / "regions.csv"  # a dataset registered since: orders is inferred again, and relates
    regions.write_text("region,manager\n" + "\n".join(f"{r},m{i}" for i, r in enumerate(REGIONS)) + "\n")
    infer.run(ctx, {"path": str(regions)})
    again = infer.run(ctx, {"path": str(orders)})
    assert [(r.column, r.ref_dataset) for r in again.relationships] == [("region", "regions")]
    assert infer.run(ctx, {"path": str(orders), "name": "orders_copy"}).name == "orders_copy"
    assert {d.name for d in Catalog(settings.resolved_catalog_url).list_datasets("default")} == {
        "named", "orders", "orders_copy", "regions"}


def test_a_shared_warehouse_is_not_loaded_unasked(tmp_path: Path):
    """On PostgreSQL (a server others use) nothing is created by a question: one sentence says what to do."""
    from etl_assistant.errors import ToolError

    with temporary_schema("etla_ux") as schema:
        settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None,
                            warehouse_url=schema_url(schema))
        ctx = ToolContext(settings=settings)
        orders = tmp_path / "orders.csv"
        orders.write_text(ORDERS)
        get_tool("infer_schema").run(ctx, {"path": str(orders)})
        not_loaded = "orders is not in the warehouse yet; say 'load orders' to load it"
        with pytest.raises(ToolError, match=not_loaded):
            get_tool("ask").run(ctx, {"question": "top 3 regions by revenue in 2024"})
        assert ctx.warehouse.tables() == []
        get_tool("load_table").run(ctx, {"dataset": "orders"})
        out = get_tool("ask").run(ctx, {"question": "top 3 regions by revenue in 2024"})
        assert out.loaded == [] and [r[0] for r in out.rows] == [r for r, _ in top_regions(2024, 3)]
        ctx.warehouse.close()
