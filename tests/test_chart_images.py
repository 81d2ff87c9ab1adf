"""Charts for text channels: an `ask` answer's chart drawn server-side (vl-convert-python) and sent inline in
the OpenAI-compatible reply, read with the official `openai` client from the shipped app (offline planner,
real tools, chDB) under uvicorn on 127.0.0.1."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from etl_assistant.channels.chart_images import chart_png
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server

MODEL = "etl-assistant"
IMAGE = re.compile(r"!\[chart: ([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")
ORDERS = "order_id,region,amount,ordered_at\n" + "\n".join(
    f"{i},{('north', 'south', 'east')[i % 3]},{i * 3.5:.2f},{2023 + i % 2}-0{1 + i % 9}-1{i % 10}"
    for i in range(1, 121)
) + "\n"


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct bytes in the image data (a blank image has very few)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        kind = data[at + 4:at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(create_app(Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                                         _env_file=None))) as running:
        response = httpx.post(f"{running.url}/v1/datasets", timeout=60,
                              files={"file": ("orders.csv", ORDERS.encode())})
        assert response.status_code == 201, response.text
        yield running


def test_a_chart_is_a_png_with_something_drawn():
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "title": "t", "mark": "bar",
            "data": {"values": [{"r": "a", "v": 3}, {"r": "b", "v": 5}]},
            "encoding": {"x": {"field": "r", "type": "nominal"}, "y": {"field": "v", "type": "quantitative"}}}
    width, height, variety = png_facts(chart_png(spec))
    assert width > 400 and height > 100 and variety > 20
    assert chart_png(spec) is chart_png(dict(spec))  # the same spec is drawn once


def test_openai_reply_shows_the_chart_inline_and_the_conversation_goes_on(server: LiveServer):
    question = "revenue per region in 2024"
    with OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=120) as client:
        first = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}])
        text = first.choices[0].message.content
        (alt, encoded), = IMAGE.findall(text)
        assert alt == question and text.index("| region | revenue |") < text.index("![chart:")
        width, height, variety = png_facts(base64.b64decode(encoded))
        assert width > 400 and height > 100 and variety > 20

        history = [{"role": "user", "content": question}, {"role": "assistant", "content": text}]
        chunks = list(client.chat.completions.create(
            model=MODEL, stream=True, messages=[*history, {"role": "user", "content": "and in 2023?"}]))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    (alt, encoded), = IMAGE.findall(streamed)
    assert alt == "and in 2023?" and "2023-01-01" in streamed
    assert png_facts(base64.b64decode(encoded))[2] > 20
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_answers_without_a_chart_carry_no_image(server: LiveServer):
    with OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=120) as client:
        reply = client.chat.completions.create(model=MODEL, messages=[
            {"role": "user", "content": "total revenue in 2024"}]).choices[0].message.content
    assert "The total amount is" in reply and "![chart" not in reply
