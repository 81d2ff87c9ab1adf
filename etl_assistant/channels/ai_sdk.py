"""`POST /api/chat`: the Vercel AI SDK UI message stream (v1) for `useChat` front ends.

Request: useChat's body `{id, messages: [{id, role, parts: [{type: "text", text}]}]}`. The chat id is the
thread (its history lives in the server's checkpointer), so only the last user message is new input; a
`resume` field answers a pending approval instead (announced by a `data-interrupt` part).
Response: SSE `data: {"type": ...}` parts encoded from the run's `RunEvent`s - start, text-start /
text-delta / text-end, tool-input-available, tool-output-available (or tool-output-error), data-progress,
finish, error - and a final `data: [DONE]`. Our tools run on the server: tool parts carry their input and
output for display only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.nodes import pending_calls
from etl_assistant.agent.runner import AgentService
from etl_assistant.channels.agent_protocol import agent, tenant
from etl_assistant.channels.sse import json_data, sse_response
from etl_assistant.errors import EtlError

log = logging.getLogger(__name__)

STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
DONE = "[DONE]"


class UIMessagePart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    role: Literal["system", "user", "assistant"]
    parts: list[UIMessagePart] = Field(default_factory=list)


class ChatRequest(BaseModel):
    """What useChat's default transport posts (extra fields such as `trigger` are ignored), plus an optional
    `resume` (sent with `sendMessage(..., {body: {resume}})`) answering a pending approval with the same
    decisions the Agent Protocol takes: `{"decisions": [{"type": "approve"} | {"type": "reject", ...}]}`."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)
    messages: list[UIMessage] = Field(min_length=1)
    resume: dict[str, Any] | None = None
    user: str | None = Field(default=None, max_length=256)  # who is chatting, if the app sends it in the body

    def run_arguments(self) -> dict[str, Any]:
        """`AgentService.stream` arguments: the resume command, or the last user message as new input."""
        if self.resume is not None:
            return {"command": {"resume": self.resume}}
        last = self.messages[-1]
        text = "".join(p.text or "" for p in last.parts if p.type == "text").strip()
        if last.role != "user" or not text:
            raise ValueError("the last message must be a user message with a text part")
        return {"input": {"messages": [{"role": "user", "content": text}]}}


class UIMessageStreamEncoder:
    """Turns the RunEvents of one run into UI message stream parts, opening and closing text parts."""

    def __init__(self, message_id: str | None = None,
                 resumed_calls: list[dict[str, Any]] | None = None) -> None:
        """`resumed_calls`: the tool calls an approval resumes ({id, name, args}); useChat starts a new
        assistant message for the resumed run, so their input is announced again before their output."""
        self.message_id = message_id or f"msg-{uuid.uuid4().hex}"
        self._open_text: str | None = None
        self._streamed_text: set[str] = set()
        self._finished = False
        self._resumed = {str(call["id"]): call for call in resumed_calls or []}
        self._announced: set[str] = set()  # tool calls whose tool-input-available part this stream sent

    def start(self) -> list[dict[str, Any]]:
        return [{"type": "start", "messageId": self.message_id}]

    def encode(self, event: RunEvent) -> list[dict[str, Any]]:
        data = event.data
        match event.type:
            case "metadata":
                meta = {"threadId": data.get("thread_id"), "runId": data.get("run_id")}
                return [{"type": "message-metadata", "messageMetadata": meta}]
            case "text_delta":
                return self._text(str(data.get("id") or self.message_id), str(data.get("delta") or ""))
            case "message":
                return self._whole_message(data)
            case "tool_call":
                call = self._tool_input(str(data["id"]), data["name"], data.get("args"))
                return [*self._close_text(), call]
            case "tool_result":
                call_id = str(data["id"])
                parts = [] if call_id in self._announced else [*self._close_text(), self._resumed_input(data)]
                if data.get("is_error"):
                    return [*parts, {"type": "tool-output-error", "toolCallId": call_id,
                                     "errorText": data.get("summary") or "The tool failed."}]
                return [*parts, {"type": "tool-output-available", "toolCallId": call_id,
                                 "output": data.get("output")}]
            case "progress":
                return [{"type": "data-progress", "id": f"progress-{data.get('tool')}", "data": data,
                         "transient": True}]
            case "interrupt":
                return [*self._close_text(), {"type": "data-interrupt", "id": "interrupt", "data": data}]
            case "error":
                error = {"type": "error", "errorText": data.get("message") or "The run failed."}
                return [*self._close_text(), error]
            case "end":
                return self.finish(str(data.get("status") or "success"))
        return []  # values / updates: state snapshots other channels need, nothing to render here

    def _tool_input(self, call_id: str, name: str, args: dict[str, Any] | None) -> dict[str, Any]:
        self._announced.add(call_id)
        return {"type": "tool-input-available", "toolCallId": call_id, "toolName": name, "input": args or {}}

    def _resumed_input(self, result: dict[str, Any]) -> dict[str, Any]:
        """The input part of a call this stream did not start (an approved call resumed here): the AI SDK
        accepts a tool's output only after its input, in the same assistant message."""
        call_id = str(result["id"])
        call = self._resumed.get(call_id, {})
        return self._tool_input(call_id, str(call.get("name") or result.get("name")), call.get("args"))

    def finish(self, status: str = "success") -> list[dict[str, Any]]:
        """Close any open text and finish the message, once. The run status (success, interrupted: waiting
        for approval, error) travels as message metadata: `finishReason` is unknown to AI SDK 5 clients,
        whose strict schema would reject the part."""
        if self._finished:
            return []
        self._finished = True
        return [*self._close_text(), {"type": "finish", "messageMetadata": {"status": status}}]

    def _text(self, text_id: str, delta: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        if self._open_text != text_id:
            parts += self._close_text()
            parts.append({"type": "text-start", "id": text_id})
            self._open_text = text_id
            self._streamed_text.add(text_id)
        if delta:
            parts.append({"type": "text-delta", "id": text_id, "delta": delta})
        return parts

    def _whole_message(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """A finished assistant message: close its streamed text, or send it whole if it was not streamed."""
        text_id = str(message.get("id") or f"text-{uuid.uuid4().hex}")
        if text_id in self._streamed_text:
            return self._close_text() if text_id == self._open_text else []
        text = message.get("content")
        if message.get("type") != "ai" or not isinstance(text, str) or not text:
            return []
        return [*self._text(text_id, text), *self._close_text()]

    def _close_text(self) -> list[dict[str, Any]]:
        if self._open_text is None:
            return []
        text_id, self._open_text = self._open_text, None
        return [{"type": "text-end", "id": text_id}]


async def ui_message_stream(events: AsyncIterator[RunEvent],
                            encoder: UIMessageStreamEncoder) -> AsyncIterator[dict[str, Any] | str]:
    """The parts of one run: start, the encoded events, a finish even if the run broke off, then [DONE]."""
    for part in encoder.start():
        yield part
    try:
        async for event in events:
            for part in encoder.encode(event):
                yield part
    except EtlError as exc:
        yield {"type": "error", "errorText": str(exc)}
        for part in encoder.finish("error"):
            yield part
    except Exception:
        log.exception("AI SDK chat stream failed")
        yield {"type": "error", "errorText": "The assistant failed unexpectedly; try again, or rephrase."}
        for part in encoder.finish("error"):
            yield part
    for part in encoder.finish():
        yield part
    yield DONE


def _sse(part: dict[str, Any] | str) -> ServerSentEvent:
    return ServerSentEvent(data=part if isinstance(part, str) else json_data(part))


async def waiting_calls(service: AgentService, thread_id: str) -> list[dict[str, Any]]:
    """The tool calls of the thread that wait for a result (the ones an approval resumes)."""
    snapshot = await service.graph.aget_state({"configurable": {"thread_id": thread_id}})
    messages = snapshot.values.get("messages", []) if isinstance(snapshot.values, dict) else []
    return [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in pending_calls(messages)]


router = APIRouter()


@router.post("/api/chat", response_model=None)
async def chat(request: Request) -> EventSourceResponse | JSONResponse:
    """One useChat turn on the thread named by the chat id, streamed as AI SDK UI message parts."""
    try:
        body = ChatRequest.model_validate(await request.json())
        arguments = body.run_arguments()
    except (ValueError, ValidationError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return JSONResponse(status_code=400, content={"error": {
            "message": f"The chat request is not a useChat body ({reason}); send "
                       "{id, messages: [{role: 'user', parts: [{type: 'text', text}]}]}.",
            "type": "invalid_request_error"}})
    service = agent(request)
    resumed = await waiting_calls(service, body.id) if body.resume is not None else []
    events = service.stream(body.id, tenant=tenant(request), user=body.user or None, **arguments)
    parts = ui_message_stream(events, UIMessageStreamEncoder(resumed_calls=resumed))
    return sse_response((_sse(part) async for part in parts), headers=STREAM_HEADERS)
