"""OpenAI-compatible chat: `GET /v1/models`, `POST /v1/chat/completions` (streaming and not).

For Open WebUI, LibreChat and any OpenAI SDK. Such clients resend the whole conversation on every request;
the assistant keeps its own thread, so each request is mapped to a thread and only the new user message goes
into it:
- an `X-Thread-Id` header names the thread (created on first use);
- otherwise the thread is the one whose stored conversation key (a hash of tenant + the user/assistant turns
  so far, kept in the thread's metadata) matches the history sent before the new message;
- a conversation the server does not know (first message, or the client edited an earlier turn) starts a new
  thread, seeded with the earlier turns so nothing said is lost.
System messages are not forwarded: the assistant has its own instructions.

Tools run on the server, so tool steps are written into the reply as text (`> running infer_schema
(orders.csv)…`), never as `tool_calls`, which would ask the client to run them. An approval request is text
too; the person answers "approve" or "reject" (anything else is a new message and leaves it unapproved).
Errors use the OpenAI shape `{"error": {"message", "type"}}`; mid-stream as a `data: {"error": ...}` chunk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sse_starlette import EventSourceResponse

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.runner import AgentService
from etl_assistant.agent.threads import ThreadExists
from etl_assistant.channels.agent_protocol import agent, tenant
from etl_assistant.channels.chart_images import ChartCollector
from etl_assistant.channels.reply_text import ReplyTextEncoder
from etl_assistant.channels.sse import PING_SECONDS, json_data

router = APIRouter(prefix="/v1", tags=["openai"])

MODEL_ID = "etl-assistant"
MODEL_CREATED = 1_767_225_600  # 2026-01-01: a fixed "created" for the one model we serve
CONVERSATION_KEY = "openai_conversation"
THREAD_HEADER = "X-Thread-Id"
APPROVE_WORDS = {"approve", "approved", "yes", "y", "ok", "okay", "go", "go ahead", "do it", "confirm",
                 "confirmed", "proceed", "yes please", "approve it", "lgtm"}
REJECT_WORDS = {"reject", "rejected", "no", "n", "cancel", "stop", "abort", "don't", "dont", "reject it"}
_THREAD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CANDIDATES = 5  # threads with the same conversation key considered before starting a new one
_ERROR_STATUS = {"InputError": 400, "ToolError": 400, "ThreadBusy": 409, "ThreadExists": 409,
                 "ThreadNotFound": 404, "WarehouseError": 503}


def api_error(status: int, message: str, error_type: str = "invalid_request_error") -> JSONResponse:
    """The OpenAI error shape, used by every `/v1` endpoint."""
    return JSONResponse({"error": {"message": message, "type": error_type}}, status_code=status)


# ---- request ---------------------------------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        """The text of the message; non-text parts (images, audio) are not something we can use."""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content or [] if p.get("type") == "text")


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # temperature, tools, ... do not apply to the assistant

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    n: int = 1
    user: str | None = Field(default=None, max_length=256)  # the end user; recorded as who approved a deploy

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported")
        return value

    def turns(self) -> list[ChatMessage]:
        """User and assistant messages: the conversation the assistant's thread holds."""
        return [m for m in self.messages if m.role in ("user", "assistant")]


async def _read_request(request: Request) -> ChatCompletionRequest | JSONResponse:
    try:
        payload = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return api_error(400, f"The request body is not valid JSON ({exc}); send a chat completion request.")
    if not isinstance(payload, dict):
        return api_error(400, "The request body must be a JSON object with 'messages'.")
    try:
        body = ChatCompletionRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return api_error(400, f"Field {where!r} is invalid: {first['msg']}.")
    turns = body.turns()
    if not turns or turns[-1].role != "user" or not turns[-1].text.strip():
        return api_error(400, "The last message must be a user message with text; add the question there.")
    return body


# ---- which thread ----------------------------------------------------------------------------------------


def conversation_key(tenant_id: str, turns: list[tuple[str, str]]) -> str:
    """A stable hash of who said what so far (whitespace-insensitive), scoped to the tenant."""
    canonical = [[role, " ".join(text.split())] for role, text in turns]
    digest = hashlib.sha256(json.dumps([tenant_id, canonical], ensure_ascii=False).encode())
    return digest.hexdigest()


class ThreadChoice(BaseModel):
    thread_id: str
    messages: list[dict[str, str]]  # what to send into the thread
    history: list[tuple[str, str]]  # the turns before the new message (for the next key)
    approval_pending: int = 0  # actions waiting for a decision in this thread


def _as_input(role: str, text: str) -> dict[str, str]:
    return {"role": role, "content": text}


async def choose_thread(service: AgentService, tenant_id: str, body: ChatCompletionRequest,
                        thread_header: str | None) -> ThreadChoice:
    turns = [(m.role, m.text) for m in body.turns()]
    history, (_, question) = turns[:-1], turns[-1]
    new_message = [_as_input("user", question)]
    if thread_header:
        thread = await service.create_thread(tenant_id, thread_id=thread_header, if_exists="do_nothing",
                                             metadata={"channel": "openai"})
        return ThreadChoice(thread_id=thread_header, messages=new_message, history=history,
                            approval_pending=_pending_actions(thread))
    if any(role == "user" for role, _ in history):
        # Any idle thread holding exactly this conversation continues it (two chats that began with the same
        # words may share a key; while one of them is answering, the other gets a thread of its own).
        key = conversation_key(tenant_id, history)
        found = await service.search_threads(tenant_id, metadata={CONVERSATION_KEY: key}, limit=_CANDIDATES)
        idle = [t for t in found if not service.is_busy(t["thread_id"])]
        if idle:
            return ThreadChoice(thread_id=idle[0]["thread_id"], messages=new_message, history=history,
                                approval_pending=_pending_actions(idle[0]))
    thread = await service.create_thread(tenant_id, metadata={"channel": "openai"})
    seed = [_as_input(role, text) for role, text in history if text.strip()]
    return ThreadChoice(thread_id=thread["thread_id"], messages=[*seed, *new_message], history=history)


def _pending_actions(thread: dict[str, Any]) -> int:
    if thread.get("status") != "interrupted":
        return 0
    return sum(len(i.get("value", {}).get("action_requests", []))
               for interrupts in thread.get("interrupts", {}).values() for i in interrupts)


def _normalized_answer(text: str) -> str:
    return " ".join(text.lower().strip(" .!").split())


def run_arguments(choice: ThreadChoice) -> dict[str, Any]:
    """New input, or a resume when the thread waits for approval and the person answered approve/reject."""
    question = choice.messages[-1]["content"]
    answer = _normalized_answer(question)
    if choice.approval_pending and answer in APPROVE_WORDS:
        return {"command": {"resume": {"decisions": [{"type": "approve"}] * choice.approval_pending}}}
    if choice.approval_pending and answer in REJECT_WORDS:
        decision = {"type": "reject", "message": "Rejected in the chat."}
        return {"command": {"resume": {"decisions": [decision] * choice.approval_pending}}}
    return {"input": {"messages": choice.messages}}


# ---- wire format -----------------------------------------------------------------------------------------


class Completion:
    """Ids and envelopes of one chat completion."""

    def __init__(self) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return json_data({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                          "model": MODEL_ID, "choices": [{"index": 0, "delta": delta,
                                                          "finish_reason": finish_reason}]})

    def whole(self, text: str) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": MODEL_ID,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}]}


def error_body(error: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status = _ERROR_STATUS.get(str(error.get("error")), 500)
    kind = "invalid_request_error" if status < 500 else "server_error"
    message = error.get("message") or "The assistant failed; try again."
    return status, {"error": {"message": message, "type": kind, "code": error.get("error")}}


async def _first_content_event(events: AsyncIterator[RunEvent]) -> tuple[list[RunEvent], bool]:
    """Read up to the first event that is not metadata: a run refused at once (busy thread, bad resume)
    can still get a proper HTTP error status instead of a 200 stream."""
    seen: list[RunEvent] = []
    async for event in events:
        seen.append(event)
        if event.type != "metadata":
            return seen, True
    return seen, False


async def charts_text(encoder: ReplyTextEncoder, charts: ChartCollector) -> str:
    """The run's charts as inline PNG images after the reply (rendered off the event loop); added to the
    reply's text, which the client sends back as history."""
    if encoder.error or not charts.specs:
        return ""
    images = (await asyncio.to_thread(charts.markdown)).strip() + "\n"
    encoder.text = encoder.text.rstrip() + "\n\n" + images
    return "\n\n" + images


async def _remember(service: AgentService, tenant_id: str, choice: ThreadChoice, reply: str) -> None:
    """Store the conversation key the client's next request will carry (history + question + reply)."""
    key = conversation_key(tenant_id, [*choice.history, ("user", choice.messages[-1]["content"]),
                                       ("assistant", reply)])
    await service.threads.update(choice.thread_id, metadata={CONVERSATION_KEY: key})


async def stream_body(service: AgentService, tenant_id: str, choice: ThreadChoice, head: list[RunEvent],
                       events: AsyncIterator[RunEvent], completion: Completion,
                       ) -> AsyncIterator[dict[str, str]]:
    encoder = ReplyTextEncoder()
    yield {"data": completion.chunk({"role": "assistant", "content": ""})}

    async def all_events() -> AsyncIterator[RunEvent]:
        for event in head:
            yield event
        async for event in events:
            yield event

    charts = ChartCollector()
    async for event in all_events():
        charts.add(event)
        piece = encoder.encode(event)
        if piece:
            yield {"data": completion.chunk({"content": piece})}
    images = await charts_text(encoder, charts)
    if images:
        yield {"data": completion.chunk({"content": images})}
    if encoder.error:
        yield {"data": json_data(error_body(encoder.error)[1])}
    else:
        await _remember(service, tenant_id, choice, encoder.text)
        yield {"data": completion.chunk({}, finish_reason="stop")}
    yield {"data": "[DONE]"}


# ---- endpoints -------------------------------------------------------------------------------------------


@router.get("/models")
async def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [_model_card()]}


@router.get("/models/{model_id}")
async def get_model(model_id: str) -> Any:
    if model_id != MODEL_ID:
        return api_error(404, f"There is no model {model_id!r}; this server serves {MODEL_ID!r}.",
                         "not_found_error")
    return _model_card()


def _model_card() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": MODEL_CREATED, "owned_by": "etl-assistant"}


@router.post("/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Any:
    """One user turn of a conversation; the reply streams as chat.completion.chunk events when stream=true."""
    body = await _read_request(request)
    if isinstance(body, JSONResponse):
        return body
    thread_header = request.headers.get(THREAD_HEADER)
    if thread_header is not None and not _THREAD_ID.fullmatch(thread_header):
        return api_error(400, f"{THREAD_HEADER} must be 1-64 letters, digits, '.', '_', ':' or '-'.")
    service, tenant_id = agent(request), tenant(request)
    try:
        choice = await choose_thread(service, tenant_id, body, thread_header)
    except ThreadExists as exc:
        return api_error(409, str(exc))
    headers = {THREAD_HEADER: choice.thread_id}
    if service.is_busy(choice.thread_id):
        return api_error(409, f"Thread {choice.thread_id} is still answering an earlier message; wait for it "
                              "to finish.")
    events = service.stream(choice.thread_id, tenant=tenant_id, user=body.user or None,
                            **run_arguments(choice))
    head, started = await _first_content_event(events)
    if started and head[-1].type == "error":
        status, error = error_body(head[-1].data)
        await events.aclose()
        return JSONResponse(error, status_code=status, headers=headers)
    completion = Completion()
    if body.stream:
        return EventSourceResponse(stream_body(service, tenant_id, choice, head, events, completion),
                                   headers={"Cache-Control": "no-store", **headers}, ping=PING_SECONDS)
    encoder = ReplyTextEncoder()
    charts = ChartCollector()
    for event in head:
        charts.add(event)
        encoder.encode(event)
    async for event in events:
        charts.add(event)
        encoder.encode(event)
    await charts_text(encoder, charts)
    if encoder.error:
        status, error = error_body(encoder.error)
        return JSONResponse(error, status_code=status, headers=headers)
    await _remember(service, tenant_id, choice, encoder.text)
    return JSONResponse(completion.whole(encoder.text.strip()), headers=headers)
