"""The LangGraph Agent Protocol subset that agent-chat-ui and the official langgraph-sdk clients call.

Threads: `POST /threads`, `POST /threads/search`, `GET /threads/{id}`, `GET /threads/{id}/state`,
`POST /threads/{id}/history`; the run bodies and their SSE encoding (metadata, values, updates, messages as
`[message_chunk, metadata]`, custom, error, end; interrupts inside `values.__interrupt__`), used by the run
routes in channels/agent_runs.py. Bodies are validated here so a bad request gets one sentence, not a trace.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sse_starlette import ServerSentEvent

from etl_assistant.access.guard import request_tenant
from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.runner import AgentService
from etl_assistant.agent.threads import ThreadExists, ThreadNotFound
from etl_assistant.channels.sse import json_data, sse_json_event

router = APIRouter(tags=["agent-protocol"])
ASSISTANT_ID = "agent"
# Every mode LangGraph servers accept; values, updates, messages(-tuple) and custom produce events here,
# the others (events, tasks, checkpoints, debug) are accepted so clients that ask for them still work.
StreamMode = Literal[
    "values", "updates", "messages", "messages-tuple", "custom", "events", "tasks", "checkpoints", "debug"
]
Body = TypeVar("Body", bound=BaseModel)
Found = TypeVar("Found")


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ThreadCreate(_Request):
    thread_id: str | None = Field(default=None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadSearch(_Request):
    metadata: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at"] = "updated_at"
    sort_order: Literal["asc", "desc"] = "desc"


class HistoryRequest(_Request):
    limit: int = Field(default=10, ge=1, le=1000)
    before: dict[str, Any] | None = None


class RunCommand(_Request):
    resume: Any = None
    goto: Any = None
    update: Any = None


class RunCreate(_Request):
    assistant_id: str = ASSISTANT_ID
    input: dict[str, Any] | None = None
    command: RunCommand | None = None
    stream_mode: list[StreamMode] = Field(default_factory=lambda: ["values"])
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_not_exists: Literal["create", "reject"] = "reject"

    @field_validator("stream_mode", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def run_kwargs(self) -> dict[str, Any]:
        command = self.command.model_dump(exclude_none=True) if self.command else None
        if command is not None and self.input is None and "resume" not in command:
            raise HTTPException(422, "Only command.resume is supported; send {'command': {'resume': ...}}.")
        if self.input is None and command is None:
            raise HTTPException(422, "Send 'input' with messages, or 'command': {'resume': ...}.")
        return {
            "input": self.input,
            "command": command if self.input is None else None,
            "if_not_exists": self.if_not_exists,
            "assistant_id": self.assistant_id,
            "user": self.user_id(),
        }

    def user_id(self) -> str | None:
        """Who sends the run, as LangGraph clients say it: `config.configurable.user_id`, else
        `metadata.user_id`."""
        configurable = (self.config or {}).get("configurable")
        for source in (configurable if isinstance(configurable, dict) else {}, self.metadata or {}):
            value = source.get("user_id")
            if isinstance(value, str | int) and str(value).strip():
                return str(value).strip()
        return None


async def read_body(request: Request, model: type[Body]) -> Body:
    """Parse and validate a JSON body; errors become 422 with what is wrong and where."""
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise HTTPException(
            422,
            f"The request body is not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno}); send a JSON object.",
        ) from None
    if not isinstance(payload, dict):
        raise HTTPException(422, "The request body must be a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise HTTPException(422, f"Field {where!r} is invalid: {first['msg']}.") from None


def agent(request: Request) -> AgentService:
    return request.app.state.agent


def tenant(request: Request) -> str:
    """The caller's tenant: its API key's, or ETLA_TENANT in local single-user mode (see access.guard)."""
    return request_tenant(request)


async def or_404(lookup: Awaitable[Found]) -> Found:
    """Await a thread lookup; an unknown thread (or another tenant's) is a 404 with the sentence."""
    try:
        return await lookup
    except ThreadNotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _version() -> str:
    try:
        return version("etl-assistant")
    except PackageNotFoundError:
        return "unknown"


@router.get("/info")
async def info(request: Request) -> dict[str, Any]:
    return {
        "name": "etl-assistant",
        "version": _version(),
        "assistant_id": ASSISTANT_ID,
        "model": agent(request).model_name,
        "flags": {"assistants": False, "crons": False, "langsmith": False},
    }


@router.post("/threads")
async def create_thread(request: Request) -> dict[str, Any]:
    body = await read_body(request, ThreadCreate)
    try:
        return await agent(request).create_thread(
            tenant(request), thread_id=body.thread_id, metadata=body.metadata, if_exists=body.if_exists
        )
    except ThreadExists as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/threads/search")
async def search_threads(request: Request) -> list[dict[str, Any]]:
    body = await read_body(request, ThreadSearch)
    if body.values:
        raise HTTPException(
            422, "Searching threads by values is not supported; filter by metadata or status."
        )
    return await agent(request).search_threads(
        tenant(request),
        metadata=body.metadata,
        status=body.status,
        ids=body.ids,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
    )


@router.get("/threads/{thread_id}")
async def get_thread(thread_id: str, request: Request) -> dict[str, Any]:
    return await or_404(agent(request).get_thread(thread_id, tenant(request)))


@router.get("/threads/{thread_id}/state")
async def get_state(thread_id: str, request: Request) -> dict[str, Any]:
    return await or_404(agent(request).get_state(thread_id, tenant(request)))


@router.post("/threads/{thread_id}/history")
async def get_history(thread_id: str, request: Request) -> list[dict[str, Any]]:
    body = await read_body(request, HistoryRequest)
    return await or_404(
        agent(request).get_history(thread_id, tenant(request), limit=body.limit, before=body.before)
    )


class MessagesTupleEncoder:
    """RunEvents -> LangGraph's messages-tuple parts `[message_chunk, metadata]`.

    Streamed text goes out as AIMessageChunk deltas; a finished message is sent whole only when none of it
    was streamed (tool results, tool-call-only AI messages, failure reports), so clients never see it twice.
    """

    def __init__(self) -> None:
        self._streamed: set[str] = set()

    def encode(self, event: RunEvent) -> list[Any] | None:
        data = event.data
        if event.type == "text_delta":
            self._streamed.add(str(data.get("id")))
            chunk = {
                "type": "AIMessageChunk",
                "id": data.get("id"),
                "content": data.get("delta", ""),
                "additional_kwargs": {},
                "response_metadata": {},
                "tool_calls": [],
                "tool_call_chunks": [],
                "invalid_tool_calls": [],
                "name": None,
            }
            return [chunk, data.get("metadata", {})]
        if event.type == "message" and str(data.get("id")) not in self._streamed:
            message = {k: v for k, v in data.items() if k != "metadata"}
            return [message, data.get("metadata", {})]
        return None


class ValuesEncoder:
    """`values` data as JSON text, the same text `json_data` gives, with each message encoded once per run.

    Every step sends the whole state, so without this a thread's earlier messages (tool results carry whole
    schemas) are re-encoded at every step of every turn. A message's text is reused while its dict is equal
    to the one encoded (an edited message with the same id is encoded again)."""

    def __init__(self) -> None:
        self._messages: dict[str, tuple[dict[str, Any], str]] = {}

    def encode(self, values: dict[str, Any]) -> str:
        return "{" + ",".join(f"{json_data(key)}:{self._value(key, v)}" for key, v in values.items()) + "}"

    def _value(self, key: str, value: Any) -> str:
        if key != "messages" or not isinstance(value, list):
            return json_data(value)
        return "[" + ",".join(self._message(m) for m in value) + "]"

    def _message(self, message: Any) -> str:
        key = message.get("id") if isinstance(message, dict) else None
        if not isinstance(key, str):
            return json_data(message)
        known = self._messages.get(key)
        if known is None or known[0] != message:
            known = (message, json_data(message))
            self._messages[key] = known
        return known[1]


async def encode_run(events: AsyncIterator[RunEvent], modes: set[str]) -> AsyncIterator[ServerSentEvent]:
    """The run's RunEvents as Agent Protocol SSE events, numbered for `Last-Event-ID`."""
    messages = MessagesTupleEncoder() if modes & {"messages", "messages-tuple"} else None
    values = ValuesEncoder()
    seq = 0
    run_id = None
    async for event in events:
        out: tuple[str, str] | None = None  # (event name, data as JSON text)
        if event.type == "metadata":
            run_id = event.data.get("run_id")
            out = ("metadata", json_data(event.data))
        elif event.type == "values" and "values" in modes:
            out = ("values", values.encode(event.data))
        elif event.type == "updates" and "updates" in modes:
            out = ("updates", json_data(event.data))
        elif event.type in ("text_delta", "message") and messages is not None:
            part = messages.encode(event)
            out = ("messages", json_data(part)) if part is not None else None
        elif event.type == "progress" and "custom" in modes:
            out = ("custom", json_data({"type": "progress", **event.data}))
        elif event.type == "error":
            out = ("error", json_data(event.data))
        elif event.type == "end":
            out = ("end", json_data({"run_id": run_id, **event.data}))
        if out is not None:
            seq += 1
            yield sse_json_event(out[0], out[1], seq)
