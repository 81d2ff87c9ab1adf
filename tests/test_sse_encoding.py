"""SSE encoding shortcuts keep the wire identical: bursts of ready events go out as one chunk, and `values`
text built from per-message parts equals plain JSON encoding. No mocks: real generators and event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sse_starlette import ServerSentEvent

from etl_assistant.channels.agent_protocol import ValuesEncoder
from etl_assistant.channels.sse import coalesced, json_data, sse_event


def _event(n: int) -> ServerSentEvent:
    return sse_event("messages", [{"content": f"tok{n} ✓", "id": "m1"}, {"langgraph_step": n}], n)


async def test_ready_events_go_out_as_one_chunk_with_the_same_bytes():
    resume = asyncio.Event()

    async def source() -> AsyncIterator[ServerSentEvent]:
        for n in (1, 2, 3):  # a burst: nothing in between gives the loop a turn
            yield _event(n)
        await resume.wait()
        for n in (4, 5):
            yield _event(n)

    chunks = []
    async for chunk in coalesced(source()):
        chunks.append(chunk)
        resume.set()
    assert chunks == [
        b"".join(_event(n).encode() for n in (1, 2, 3)),
        b"".join(_event(n).encode() for n in (4, 5)),
    ]


async def test_an_event_waiting_alone_is_sent_at_once():
    later = asyncio.Event()

    async def source() -> AsyncIterator[ServerSentEvent]:
        yield _event(1)
        await later.wait()
        yield _event(2)

    stream = coalesced(source())
    assert await asyncio.wait_for(anext(stream), 5) == _event(1).encode()
    later.set()
    assert [c async for c in stream] == [_event(2).encode()]


async def test_a_failing_source_sends_what_it_made_then_raises_its_error():
    async def source() -> AsyncIterator[ServerSentEvent]:
        yield _event(1)
        raise ValueError("source broke")

    stream = coalesced(source())
    assert await anext(stream) == _event(1).encode()
    with pytest.raises(ValueError, match="source broke"):
        await anext(stream)


async def test_closing_the_stream_cancels_the_source():
    """A client that goes away closes the response's generator; the run behind it must be cancelled."""
    outcome: list[str] = []
    never = asyncio.Event()

    async def source() -> AsyncIterator[ServerSentEvent]:
        try:
            yield _event(1)
            await never.wait()
            yield _event(2)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    stream = coalesced(source())
    assert await anext(stream) == _event(1).encode()
    await stream.aclose()
    for _ in range(10):
        await asyncio.sleep(0)
    assert outcome == ["cancelled"]


def _message(id_: str, content: str) -> dict:
    return {"content": content, "type": "ai", "id": id_, "additional_kwargs": {}, "tool_calls": []}


def test_values_text_equals_plain_json_as_the_state_grows_and_changes():
    encoder = ValuesEncoder()
    first = _message("a", 'schema: ünïcode "quoted"\nline')
    steps = [
        {"messages": [first], "last_dataset": "orders"},
        {"messages": [first, _message("b", "")], "last_dataset": "orders", "__interrupt__": [{"id": "i"}]},
        # a message replaced under the same id (an edited call) must not reuse the old text
        {"messages": [_message("a", "edited"), _message("b", ""), {"content": "no id"}], "n": 1.5},
        {"messages": "not a list", "other": None},
        {},
    ]
    for values in steps:
        assert encoder.encode(values) == json_data(values)
