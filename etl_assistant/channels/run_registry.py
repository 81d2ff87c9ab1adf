"""Agent Protocol runs as objects: each run is a task with a record and its numbered SSE events.

A run started through the Agent Protocol runs in its own task; its events are encoded once, numbered and kept,
so any number of readers can follow it: the request that started it, `GET .../runs/{id}/stream` (resuming
after `Last-Event-ID`), `.../join` (waits for the final values), and `.../cancel`. A reader that leaves
cancels the run only when the run was started with `on_disconnect: "cancel"` (the stream default, as in
LangGraph); a deploy started with `"continue"` finishes. Records and events live in this process (the
embedded default): the last RUNS_KEPT finished runs keep their events, and each thread its last
RUNS_PER_THREAD records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI
from sse_starlette import ServerSentEvent

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.runner import RunOutcome

log = logging.getLogger(__name__)
RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
_FINAL_STATUS: dict[str, RunStatus] = {
    "success": "success", "interrupted": "interrupted", "error": "error", "cancelled": "interrupted",
}
RUNS_KEPT = 32
RUNS_PER_THREAD = 100


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class RunRecord:
    """One run: what the protocol's Run object shows, plus its events and outcome for readers."""

    run_id: str
    thread_id: str
    assistant_id: str
    tenant: str
    metadata: dict[str, Any]
    on_disconnect: Literal["cancel", "continue"]
    status: RunStatus = "pending"
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    cancel_reason: str | None = None
    events: list[ServerSentEvent] = field(default_factory=list)
    outcome: RunOutcome = field(default_factory=RunOutcome)
    task: asyncio.Task[None] | None = None
    done: bool = False  # set (then readers woken) once the run's last event is kept
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def as_run(self) -> dict[str, Any]:
        """The Agent Protocol `Run` object."""
        return {
            "run_id": self.run_id, "thread_id": self.thread_id, "assistant_id": self.assistant_id,
            "created_at": self.created_at, "updated_at": self.updated_at, "status": self.status,
            "metadata": self.metadata, "multitask_strategy": "reject", "kwargs": {},
            "cancel_reason": self.cancel_reason,
        }

    def _append(self, event: ServerSentEvent) -> None:
        self.events.append(event)
        self._signal()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, after: int = 0, names: set[str] | None = None) -> AsyncIterator[ServerSentEvent]:
        """The run's events numbered above `after` (a Last-Event-ID), as they come, until the run ends.
        `names`: only these SSE event names (a reader's stream modes), plus metadata, error and end."""
        sent = after
        while True:
            changed = self._changed
            while sent < len(self.events):
                event = self.events[sent]
                sent += 1
                if names is None or event.event in names:
                    yield event
            if self.done:
                return
            await changed.wait()


class RunRegistry:
    """The process's Agent Protocol runs, by id and by thread."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._by_thread: dict[str, deque[str]] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()

    def start(self, record: RunRecord, events: Callable[[RunRecord], AsyncIterator[RunEvent]],
              encode: Callable[[AsyncIterator[RunEvent]], AsyncIterator[ServerSentEvent]]) -> RunRecord:
        """Start the run in its own task: RunEvents are tapped for the outcome, encoded and kept."""
        self._runs[record.run_id] = record
        thread_runs = self._by_thread.setdefault(record.thread_id, deque())
        thread_runs.appendleft(record.run_id)
        while len(thread_runs) > RUNS_PER_THREAD:
            self._runs.pop(thread_runs.pop(), None)
        record.task = asyncio.create_task(self._drive(record, events, encode))
        return record

    async def _drive(self, record: RunRecord, events: Callable[[RunRecord], AsyncIterator[RunEvent]],
                     encode: Callable[[AsyncIterator[RunEvent]], AsyncIterator[ServerSentEvent]]) -> None:
        async def tapped() -> AsyncIterator[RunEvent]:
            async for event in events(record):
                record.outcome.add(event)
                if event.type == "metadata":
                    self._set_status(record, "running")
                elif event.type == "end":
                    self._set_status(record, _FINAL_STATUS.get(str(event.data.get("status")), "error"))
                yield event

        try:
            async for sse in encode(tapped()):
                record._append(sse)
        except asyncio.CancelledError:
            self._set_status(record, "interrupted")
            record.cancel_reason = record.cancel_reason or "cancelled"
        except Exception:
            log.exception("run %s failed", record.run_id)
            self._set_status(record, "error")
        finally:
            if record.status in ("pending", "running"):
                self._set_status(record, "interrupted")
            self._retire(record)
            record.done = True
            record._signal()

    def _set_status(self, record: RunRecord, status: RunStatus) -> None:
        record.status = status
        record.updated_at = _now()

    def _retire(self, record: RunRecord) -> None:
        """Finished runs keep their events while they are among the last RUNS_KEPT to finish."""
        self._finished[record.run_id] = None
        while len(self._finished) > RUNS_KEPT:
            old, _ = self._finished.popitem(last=False)
            if old in self._runs:
                self._runs[old].events = []

    def get(self, thread_id: str, run_id: str) -> RunRecord | None:
        record = self._runs.get(run_id)
        return record if record is not None and record.thread_id == thread_id else None

    def list(self, thread_id: str, *, status: str | None = None, limit: int = 10,
             offset: int = 0) -> list[RunRecord]:
        records = [self._runs[r] for r in self._by_thread.get(thread_id, ()) if r in self._runs]
        if status:
            records = [r for r in records if r.status == status]
        return records[offset: offset + limit]

    async def cancel(self, record: RunRecord, *, wait: bool, reason: str = "cancelled by request") -> None:
        if record.task is None or record.done:
            return
        record.cancel_reason = reason
        record.task.cancel()
        if wait:
            with contextlib.suppress(asyncio.CancelledError):
                await record.task

    async def aclose(self) -> None:
        """Cancel what still runs at shutdown and wait for its bookkeeping."""
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def run_registry(app: FastAPI) -> AsyncIterator[RunRegistry]:
    """Lifespan hook: `app.state.runs` while the app serves."""
    app.state.runs = registry = RunRegistry()
    try:
        yield registry
    finally:
        await registry.aclose()
