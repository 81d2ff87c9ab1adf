"""Agent Protocol runs and assistants: the routes LangGraph's SDKs and tools call beyond threads.

Runs on a thread: `POST /threads/{id}/runs/stream`, `.../runs/wait`, `POST /threads/{id}/runs` (in the
background), `GET /threads/{id}/runs` (list), `GET .../runs/{run_id}`, `POST .../cancel`, `GET .../join`
(the final values) and `GET .../stream` (follow the run; `Last-Event-ID` resumes after that event).
Stateless runs: `POST /runs/stream`, `POST /runs/wait` (a thread for the one run, deleted afterwards unless
`on_completion: "keep"`). Assistants: `POST /assistants/search`, `GET /assistants/{id}` (the one graph).
Every run goes through the RunRegistry (channels/run_registry.py), so each can be listed, joined, resumed
and cancelled whichever route started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field
from sse_starlette import ServerSentEvent

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.runner import AgentService
from etl_assistant.channels.agent_protocol import (
    ASSISTANT_ID,
    RunCreate,
    _Request,
    _version,
    agent,
    encode_run,
    or_404,
    read_body,
    tenant,
)
from etl_assistant.channels.run_registry import RunRecord, RunRegistry
from etl_assistant.channels.sse import sse_response

router = APIRouter(tags=["agent-protocol"])
BACKGROUND_MODES = {"values", "updates", "messages-tuple", "custom"}  # what a run without a reader keeps
# stream mode -> the SSE event it produces; metadata, error and end go to every reader
_MODE_EVENTS = {"values": "values", "updates": "updates", "messages": "messages",
                "messages-tuple": "messages", "custom": "custom"}
_ALWAYS = {"metadata", "error", "end"}
_STARTED = datetime.now(UTC).isoformat()


class RunStart(RunCreate):
    on_disconnect: Literal["cancel", "continue"] | None = None
    stream_resumable: bool = False
    on_completion: Literal["delete", "keep"] = "delete"  # stateless runs only


class AssistantSearch(_Request):
    graph_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


def registry(request: Request) -> RunRegistry:
    return request.app.state.runs


def assistant(request: Request) -> dict[str, Any]:
    """The one assistant this server has: its graph is the chat agent with the tool registry."""
    return {
        "assistant_id": ASSISTANT_ID, "graph_id": ASSISTANT_ID, "name": "etl-assistant",
        "description": "Data-engineering assistant: schemas, DDL, loads, datamarts, questions, deploys.",
        "config": {}, "context": {}, "metadata": {"model": agent(request).model_name},
        "version": 1, "created_at": _STARTED, "updated_at": _STARTED,
    }


def _event_names(modes: list[str] | None) -> set[str] | None:
    """The SSE event names a reader asked for; none named (the Python SDK sends `stream_mode=` empty): all."""
    named = [m for m in modes or [] if m]
    return None if not named else {_MODE_EVENTS[m] for m in named if m in _MODE_EVENTS} | _ALWAYS


async def start_run(request: Request, thread_id: str, body: RunStart, *, modes: set[str],
                    on_disconnect: Literal["cancel", "continue"]) -> RunRecord:
    """Check the request like any run, then start it in the registry; its events are encoded for `modes`."""
    service, who = agent(request), tenant(request)
    kwargs = body.run_kwargs()  # refuse an empty or unsupported request before anything starts
    if body.if_not_exists == "reject":
        await or_404(service.require_thread(thread_id, who))
    if service.is_busy(thread_id):
        raise HTTPException(409, f"Thread {thread_id} is already running; wait for its run to end.")
    record = RunRecord(run_id=str(uuid.uuid4()), thread_id=thread_id, assistant_id=body.assistant_id,
                       tenant=who, metadata=body.metadata or {}, on_disconnect=on_disconnect)

    def events(run: RunRecord) -> AsyncIterator[RunEvent]:
        return service.stream(thread_id, tenant=who, run_id=run.run_id, **kwargs)

    return registry(request).start(record, events, lambda stream: encode_run(stream, modes))


def _headers(record: RunRecord, resumable: bool) -> dict[str, str]:
    base = f"/threads/{record.thread_id}/runs/{record.run_id}"
    return {"Content-Location": base} | ({"Location": f"{base}/stream"} if resumable else {})


def follow_response(request: Request, record: RunRecord, *, after: int = 0, names: set[str] | None = None,
                    cancel_on_disconnect: bool, headers: dict[str, str]) -> Response:
    """The run's events as SSE from event `after` on; a reader leaving cancels the run only if asked."""
    runs = registry(request)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in record.follow(after, names):
                yield event
        finally:
            if cancel_on_disconnect and not record.done:
                await runs.cancel(record, wait=False, reason="the client disconnected")

    return sse_response(events(), headers=headers)


_CLEANUPS: set[asyncio.Task[None]] = set()


def delete_when_done(service: AgentService, record: RunRecord, on_completion: str) -> None:
    """A stateless run's thread is deleted once the run is over (unless `on_completion: "keep"`)."""
    if on_completion != "delete" or record.task is None:
        return

    async def delete() -> None:
        with contextlib.suppress(Exception):  # a refused run never created its thread
            await service.delete_thread(record.thread_id, record.tenant)

    def schedule(_: object) -> None:
        task = asyncio.ensure_future(delete())
        _CLEANUPS.add(task)
        task.add_done_callback(_CLEANUPS.discard)

    record.task.add_done_callback(schedule)


def _found(request: Request, thread_id: str, run_id: str) -> RunRecord:
    record = registry(request).get(thread_id, run_id)
    if record is None or record.tenant != tenant(request):
        raise HTTPException(404, f"Run {run_id} was not found on thread {thread_id}; list the thread's runs "
                                 f"with GET /threads/{thread_id}/runs.")
    return record


async def _outcome(record: RunRecord) -> dict[str, Any]:
    """Wait for the run to end (shielded: a caller that leaves does not cancel it) and give its values."""
    if record.task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(record.task)
    return record.outcome.result()


# runs on a thread -------------------------------------------------------------------------------------------

@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(thread_id: str, request: Request) -> Response:
    body = await read_body(request, RunStart)
    record = await start_run(request, thread_id, body, modes=set(body.stream_mode),
                             on_disconnect=body.on_disconnect or "cancel")
    return follow_response(request, record, cancel_on_disconnect=record.on_disconnect == "cancel",
                           headers=_headers(record, body.stream_resumable))


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(thread_id: str, request: Request) -> JSONResponse:
    body = await read_body(request, RunStart)
    record = await start_run(request, thread_id, body, modes=set(body.stream_mode), on_disconnect="continue")
    return JSONResponse(await _outcome(record), headers=_headers(record, False))


@router.post("/threads/{thread_id}/runs")
async def create_run(thread_id: str, request: Request) -> JSONResponse:
    """A background run: answered at once with the Run; follow it with join, stream or get."""
    body = await read_body(request, RunStart)
    record = await start_run(request, thread_id, body, modes=BACKGROUND_MODES, on_disconnect="continue")
    return JSONResponse(record.as_run(), headers=_headers(record, False))


@router.get("/threads/{thread_id}/runs")
async def list_runs(thread_id: str, request: Request, limit: int = Query(10, ge=1, le=1000),
                    offset: int = Query(0, ge=0), status: str | None = None) -> list[dict[str, Any]]:
    await or_404(agent(request).require_thread(thread_id, tenant(request)))
    runs = registry(request).list(thread_id, status=status, limit=limit, offset=offset)
    return [r.as_run() for r in runs if r.tenant == tenant(request)]


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(thread_id: str, run_id: str, request: Request) -> dict[str, Any]:
    return _found(request, thread_id, run_id).as_run()


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, request: Request, wait: bool = False,
                     action: str = "interrupt") -> Response:
    record = _found(request, thread_id, run_id)
    if action != "interrupt":
        raise HTTPException(422, "Only action=interrupt is supported: the run stops where it is and its "
                                 "thread keeps what was saved so far.")
    await registry(request).cancel(record, wait=wait)
    return JSONResponse(record.as_run()) if wait else Response(status_code=202)


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(thread_id: str, run_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await _outcome(_found(request, thread_id, run_id)))


@router.get("/threads/{thread_id}/runs/{run_id}/stream")
async def join_stream(thread_id: str, run_id: str, request: Request, cancel_on_disconnect: bool = False,
                      stream_mode: Annotated[list[str] | None, Query()] = None) -> Response:
    """Follow a run: from its first kept event, or after the `Last-Event-ID` a reconnecting client sends."""
    record = _found(request, thread_id, run_id)
    last = request.headers.get("last-event-id", "").strip()
    if last == "-1":  # the JS SDK's "replay the whole run"
        last = ""
    if last and not last.isdigit():
        raise HTTPException(422, f"Last-Event-ID {last!r} is not an event id of this run; send the `id:` of "
                                 "the last event received.")
    return follow_response(request, record, after=int(last or 0), names=_event_names(stream_mode),
                           cancel_on_disconnect=cancel_on_disconnect, headers=_headers(record, False))


# stateless runs ---------------------------------------------------------------------------------------------

def _stateless(body: RunStart) -> RunStart:
    if body.command is not None and body.input is None:
        raise HTTPException(422, "A stateless run has no earlier turn to resume; send 'input' with messages, "
                                 "or resume on the thread with POST /threads/{thread_id}/runs/stream.")
    return body.model_copy(update={"if_not_exists": "create"})


@router.post("/runs/stream")
async def stateless_stream(request: Request) -> Response:
    body = _stateless(await read_body(request, RunStart))
    record = await start_run(request, str(uuid.uuid4()), body, modes=set(body.stream_mode),
                             on_disconnect=body.on_disconnect or "cancel")
    delete_when_done(agent(request), record, body.on_completion)
    return follow_response(request, record, cancel_on_disconnect=record.on_disconnect == "cancel",
                           headers=_headers(record, False))


@router.post("/runs/wait")
async def stateless_wait(request: Request) -> JSONResponse:
    body = _stateless(await read_body(request, RunStart))
    record = await start_run(request, str(uuid.uuid4()), body, modes=set(body.stream_mode),
                             on_disconnect="continue")
    result = await _outcome(record)
    if body.on_completion == "delete":
        with contextlib.suppress(Exception):
            await agent(request).delete_thread(record.thread_id, record.tenant)
    return JSONResponse(result, headers=_headers(record, False))


# assistants -------------------------------------------------------------------------------------------------

@router.post("/assistants/search")
async def search_assistants(request: Request) -> list[dict[str, Any]]:
    body = await read_body(request, AssistantSearch)
    one = assistant(request)
    matches = (body.graph_id in (None, one["graph_id"])
               and all(one["metadata"].get(k) == v for k, v in body.metadata.items()))
    return [one][body.offset: body.offset + body.limit] if matches else []


@router.get("/assistants/{assistant_id}")
async def get_assistant(assistant_id: str, request: Request) -> dict[str, Any]:
    if assistant_id != ASSISTANT_ID:
        raise HTTPException(404, f"Assistant {assistant_id!r} was not found; this server has one assistant, "
                                 f"{ASSISTANT_ID!r} (etl-assistant {_version()}).")
    return assistant(request)
