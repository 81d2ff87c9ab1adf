"""Shared SSE plumbing: JSON events with ids, keep-alive pings, and a response that cancels on disconnect.

sse-starlette cancels the generator when the client goes away (CancelledError); generators must let it
propagate so the run is cancelled and its bookkeeping runs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

PING_SECONDS = 15


def json_data(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def sse_event(event: str, data: Any, event_id: int | str | None = None) -> ServerSentEvent:
    return ServerSentEvent(data=json_data(data), event=event, id=None if event_id is None else str(event_id))


def sse_response(
    events: AsyncIterator[ServerSentEvent],
    headers: Mapping[str, str] | None = None,
    ping: float | None = None,
) -> EventSourceResponse:
    """A text/event-stream response with keep-alive pings (every PING_SECONDS unless given) and proxy
    buffering off."""
    return EventSourceResponse(
        events, headers={"Cache-Control": "no-store", **(headers or {})}, ping=ping or PING_SECONDS
    )
