"""Shared SSE plumbing: JSON events with ids, keep-alive pings, and a response that cancels on disconnect.

sse-starlette cancels the generator when the client goes away (CancelledError); generators must let it
propagate so the run is cancelled and its bookkeeping runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

PING_SECONDS = 15
BURST_EVENTS = 256  # events read ahead of a slow client before the run waits for it


def json_data(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def sse_event(event: str, data: Any, event_id: int | str | None = None) -> ServerSentEvent:
    return sse_json_event(event, json_data(data), event_id)


def sse_json_event(event: str, json_text: str, event_id: int | str | None = None) -> ServerSentEvent:
    """An event whose data is already JSON text (encoded by the caller, e.g. from cached parts)."""
    return ServerSentEvent(data=json_text, event=event, id=None if event_id is None else str(event_id))


class _End:
    """The source stopped: normally (error None) or with the exception to re-raise to the response."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error


async def coalesced(events: AsyncIterator[ServerSentEvent]) -> AsyncIterator[bytes]:
    """The events encoded, those that are ready together joined into one body chunk.

    A reply streamed token by token is a burst of ~100-200 events; sent one by one, each is an ASGI send
    through every middleware and a socket write (about half the server's cost of the stream). Joined, the
    bytes on the wire are the same and a burst costs one send. The source runs in its own task feeding a
    bounded queue; closing this generator (client gone) cancels that task, so the run is cancelled as before.
    """
    queue: asyncio.Queue[bytes | _End] = asyncio.Queue(BURST_EVENTS)

    async def pump() -> None:
        try:
            async for event in events:
                await queue.put(event.encode())
        except Exception as exc:
            await queue.put(_End(exc))
            return
        await queue.put(_End())

    task = asyncio.create_task(pump())
    try:
        while True:
            item = await queue.get()
            burst: list[bytes] = []
            while isinstance(item, bytes):
                burst.append(item)
                if queue.empty():
                    break
                item = queue.get_nowait()
            if burst:
                yield b"".join(burst)
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
    finally:
        task.cancel()


def sse_response(
    events: AsyncIterator[ServerSentEvent],
    headers: Mapping[str, str] | None = None,
    ping: float | None = None,
) -> EventSourceResponse:
    """A text/event-stream response with keep-alive pings (every PING_SECONDS unless given), proxy
    buffering off, and events that are ready together sent in one write."""
    return EventSourceResponse(
        coalesced(events),
        headers={"Cache-Control": "no-store", **(headers or {})},
        ping=ping or PING_SECONDS,
    )
