"""AgentService: the run stream every channel encodes, plus threads, state and history.

Built once per app (`await AgentService.create(settings)`, `await service.aclose()`). A run streams
RunEvents: metadata first, then values/updates/text_delta/message/tool_call/tool_result/progress/interrupt,
an error event if it failed, and always a final `end` {"status": "success" | "interrupted" | "error"}.
A client that stops iterating cancels the run; the thread's status is still recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, aclosing
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage, convert_to_messages
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot

from etl_assistant.agent.approval import parse_decisions
from etl_assistant.agent.checkpoint import open_checkpointer, threads_db_url
from etl_assistant.agent.context import RunContext, SharedResources
from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.graph import build_graph
from etl_assistant.agent.metrics import RunMetrics
from etl_assistant.agent.nodes import pending_calls
from etl_assistant.agent.serialize import to_jsonable
from etl_assistant.agent.stream_events import STREAM_MODES, translate
from etl_assistant.agent.threads import ThreadBusy, ThreadRecord, ThreadStatus, ThreadStore
from etl_assistant.config import Settings
from etl_assistant.errors import EtlError, InputError
from etl_assistant.redact import redact_text
from etl_assistant.tools.base import Tool

log = logging.getLogger(__name__)
RunStatus = Literal["success", "interrupted", "error", "cancelled"]  # "cancelled": the consumer left
_THREAD_STATUS: dict[RunStatus, ThreadStatus] = {
    "success": "idle",
    "interrupted": "interrupted",
    "error": "error",
    "cancelled": "idle",
}
RECURSION_LIMIT = 50
TITLE_CHARS = 80
NOT_APPROVED = "The person did not approve this and sent a new message instead."
CANCELLED = "This call was cancelled before it finished (the client went away)."


class RunOutcome:
    """What a run ended with, gathered from its events: the last values, interrupts, the error."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.interrupts: list[dict[str, Any]] = []
        self.error: dict[str, Any] | None = None

    def add(self, event: RunEvent) -> None:
        if event.type == "values":
            self.values = event.data
        elif event.type == "interrupt":
            payload = dict(event.data)
            self.interrupts.append({"value": payload, "id": payload.pop("interrupt_id", None)})
        elif event.type == "error":
            self.error = event.data

    def result(self) -> dict[str, Any]:
        """The final values; `__interrupt__` / `__error__` say why the run stopped."""
        result = {k: v for k, v in self.values.items() if k != "__interrupt__"}
        if self.interrupts:
            result["__interrupt__"] = self.interrupts
        if self.error:
            result["__error__"] = self.error
        return result


class AgentService:
    def __init__(
        self,
        settings: Settings,
        graph: CompiledStateGraph,
        threads: ThreadStore,
        resources: SharedResources,
        stack: AsyncExitStack,
        model_name: str,
        tool_names: list[str],
        metrics: RunMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.tool_names = tool_names
        self.graph = graph
        self.threads = threads
        self.resources = resources
        self.metrics = metrics or RunMetrics()
        self.chat_model: BaseChatModel | None = None
        self.llm: BaseChatModel | None = None
        self.model_name = model_name
        self._stack = stack
        self._locks: dict[str, asyncio.Lock] = {}
        self.active_runs: dict[str, str] = {}  # run_id -> thread_id, for health and leak checks
        # tools whose calls wait for a person's approval: always, or for some arguments (a replacing load)
        self.approval_tools: dict[str, Tool] = {}
        self.detached_runs: set[asyncio.Task[None]] = set()  # approved runs going on without their client

    @classmethod
    async def create(
        cls,
        settings: Settings,
        *,
        model: BaseChatModel | None = None,
        tools: Sequence[Tool] | None = None,
        metrics: RunMetrics | None = None,
    ) -> AgentService:
        """Open the checkpointer and thread registry and compile the graph. `model`/`tools` override the
        configured chat model and `tools.REGISTRY` (tests); `metrics` lets the app share its registry."""
        from etl_assistant.agent.models import get_chat_model
        from etl_assistant.tools import REGISTRY

        stack = AsyncExitStack()
        try:
            checkpointer = await stack.enter_async_context(open_checkpointer(settings))
            threads = ThreadStore(threads_db_url(settings))
            stack.push_async_callback(threads.aclose)
            await threads.setup()
            resources = SharedResources(settings)
            stack.callback(resources.close)
            chat_model = model or get_chat_model(settings)
            tool_list = list(REGISTRY if tools is None else tools)
            graph = build_graph(chat_model, tool_list, checkpointer)
            model_name = str(getattr(chat_model, "model_name", None) or chat_model._llm_type)
            service = cls(
                settings, graph, threads, resources, stack, model_name, [t.name for t in tool_list], metrics
            )
            service.chat_model = chat_model
            service.approval_tools = {t.name: t for t in tool_list if t.needs_approval or t.approval_if}
            # tools get the chat model only when it is a real LLM; the offline planner is not one
            service.llm = chat_model if settings.model == "openai" else None
            return service
        except BaseException:
            await stack.aclose()
            raise

    async def warm_up(self) -> None:
        """Load what the chat model loads lazily (the planner's embedding model), so no turn waits for it."""
        hook = getattr(self.chat_model, "warm_up", None)
        if callable(hook):
            await asyncio.to_thread(hook)

    async def aclose(self) -> None:
        await asyncio.gather(*self.detached_runs, return_exceptions=True)  # approved work finishes first
        await self._stack.aclose()

    # threads ------------------------------------------------------------------------------------------------

    async def create_thread(
        self,
        tenant: str = "default",
        *,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> dict[str, Any]:
        record = await self.threads.create(tenant, thread_id, metadata, if_exists)
        return await self._thread_dict(record)

    async def get_thread(self, thread_id: str, tenant: str = "default") -> dict[str, Any]:
        return await self._thread_dict(await self.threads.get(tenant, thread_id))

    async def require_thread(self, thread_id: str, tenant: str = "default") -> None:
        """Raise ThreadNotFound unless the tenant has this thread (registry only: cheap)."""
        await self.threads.get(tenant, thread_id)

    async def delete_thread(self, thread_id: str, tenant: str = "default") -> None:
        """Delete a thread: its checkpoints and its record (a stateless run's thread, once it is over)."""
        await self.threads.get(tenant, thread_id)
        checkpointer = self.graph.checkpointer
        if checkpointer is not None and not isinstance(checkpointer, bool):
            await checkpointer.adelete_thread(thread_id)
        await self.threads.delete(thread_id)

    async def search_threads(self, tenant: str = "default", **filters: Any) -> list[dict[str, Any]]:
        """Filters as ThreadStore.search: metadata, status, ids, limit, offset, sort_by, sort_order."""
        return [await self._thread_dict(r) for r in await self.threads.search(tenant, **filters)]

    async def get_state(self, thread_id: str, tenant: str = "default") -> dict[str, Any]:
        await self.threads.get(tenant, thread_id)
        return _state_dict(await self.graph.aget_state(_thread_config(thread_id)))

    async def get_history(
        self,
        thread_id: str,
        tenant: str = "default",
        *,
        limit: int = 10,
        before: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        await self.threads.get(tenant, thread_id)
        before_config = {"configurable": before} if before else None
        return [
            _state_dict(s)
            async for s in self.graph.aget_state_history(
                _thread_config(thread_id), limit=limit, before=before_config
            )
        ]

    def is_busy(self, thread_id: str) -> bool:
        lock = self._locks.get(thread_id)
        return lock is not None and lock.locked()

    async def _thread_dict(self, record: ThreadRecord) -> dict[str, Any]:
        snapshot = await self.graph.aget_state(_thread_config(record.thread_id))
        return {
            "thread_id": record.thread_id,
            "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat(),
            "metadata": record.metadata,
            "status": record.status,
            "values": to_jsonable(snapshot.values),
            "interrupts": {
                t.id: [to_jsonable(i) for i in t.interrupts] for t in snapshot.tasks if t.interrupts
            },
        }

    # runs ---------------------------------------------------------------------------------------------------

    async def stream(
        self,
        thread_id: str,
        *,
        input: dict[str, Any] | None = None,
        command: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[RunEvent]:
        """Run one turn (new input, or `command={"resume": ...}` after an interrupt) and stream its events.
        `kwargs` as `_run`: tenant, run_id, if_not_exists, assistant_id, user.

        A new message's run ends with its consumer (a client that disconnects cancels what it was reading).
        A run that carries out a person's decision (a resume, or carrying on a run stopped half-way) is
        detached from its consumer: when the client goes away the approved work goes on to its end and is
        recorded in the thread, and the service waits for it at shutdown."""
        events = self._run(thread_id, input=input, command=command, **kwargs)
        if input is not None:
            async with aclosing(events):
                async for event in events:
                    yield event
            return
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in events:
                    queue.put_nowait(event)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(pump())
        self.detached_runs.add(task)
        task.add_done_callback(self.detached_runs.discard)
        while (event := await queue.get()) is not None:
            yield event

    async def _run(
        self,
        thread_id: str,
        *,
        input: dict[str, Any] | None = None,
        command: dict[str, Any] | None = None,
        tenant: str = "default",
        run_id: str | None = None,
        if_not_exists: Literal["create", "reject"] = "create",
        assistant_id: str = "agent",
        user: str | None = None,
    ) -> AsyncIterator[RunEvent]:
        """The run itself. `user` is who sent it, when the channel knows: tools act for them (a resume's
        approver)."""
        run_id = run_id or str(uuid.uuid4())
        yield RunEvent(type="metadata", data={"run_id": run_id, "thread_id": thread_id})
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        if lock.locked():
            yield _error(ThreadBusy(f"Thread {thread_id} is already running; wait for its run to end."))
            yield RunEvent(type="end", data={"status": "error"})
            return
        async with lock:
            self.active_runs[run_id] = thread_id
            status: RunStatus = "error"
            started = time.perf_counter()
            try:
                config = _run_config(thread_id, run_id, tenant, user)
                graph_input = await self._prepare(
                    thread_id, tenant, input, command, if_not_exists, assistant_id
                )
                context = RunContext(self.settings, tenant, self.resources, llm=self.llm, user=user)
                interrupted = False
                # A run carrying out a decision writes each step's checkpoint before the next step starts, so
                # the approval is on disk before the approved call runs (the journal start-up recovery
                # finishes it from); other runs let checkpoints be written while the next step runs.
                durability = "async" if isinstance(graph_input, dict) else "sync"
                async for mode, chunk in self.graph.astream(
                    graph_input, config, context=context, stream_mode=STREAM_MODES, durability=durability
                ):
                    interrupted = interrupted or (mode == "updates" and "__interrupt__" in chunk)
                    for event in translate(mode, chunk):
                        self._count(event)
                        yield event
                status = "interrupted" if interrupted else "success"
            except (asyncio.CancelledError, GeneratorExit):
                status = "cancelled"
                raise
            except EtlError as exc:
                yield _error(exc)
            except Exception:
                log.exception("run %s on thread %s failed", run_id, thread_id)
                yield RunEvent(
                    type="error",
                    data={
                        "error": "InternalError",
                        "message": (
                            "The assistant failed unexpectedly; the server log has the details, try again."
                        ),
                    },
                )
            finally:
                # Runs also on cancellation (client gone): record the outcome without being cancelled again.
                self.metrics.runs.labels(status).inc()
                self.metrics.run_latency.observe(time.perf_counter() - started)
                await _shielded(self._finish_run(run_id, thread_id, status))
        yield RunEvent(type="end", data={"status": status})

    async def wait(self, thread_id: str, **kwargs: Any) -> dict[str, Any]:
        """Run to the end and return the final values; `__interrupt__` / `__error__` say why it stopped."""
        outcome = RunOutcome()
        async for event in self.stream(thread_id, **kwargs):
            outcome.add(event)
        return outcome.result()

    async def _finish_run(self, run_id: str, thread_id: str, status: RunStatus) -> None:
        """The thread's status first, then the run leaves `active_runs`: no one sees a stale "busy". The
        thread's lock is dropped too (the run's work is done), so locks do not pile up per thread ever run."""
        try:
            await self.threads.update(thread_id, status=_THREAD_STATUS[status])
        finally:
            self.active_runs.pop(run_id, None)
            self._locks.pop(thread_id, None)

    def _count(self, event: RunEvent) -> None:
        if event.type == "tool_result":
            status = "error" if event.data.get("is_error") else "success"
            self.metrics.tool_calls.labels(event.data.get("name") or "unknown", status).inc()

    async def _prepare(
        self,
        thread_id: str,
        tenant: str,
        input: dict[str, Any] | None,
        command: dict[str, Any] | None,
        if_not_exists: Literal["create", "reject"],
        assistant_id: str,
    ) -> dict[str, Any] | Command | None:
        """Check the request against the thread's state, mark the thread busy, and return the graph input
        (None: no input and no command carry on a run that stopped half-way, from its last checkpoint)."""
        if if_not_exists == "reject" and input is None:
            # an unknown thread is the first thing to report; for new input begin_run's own read reports it
            await self.threads.get(tenant, thread_id)
        snapshot = await self.graph.aget_state(_thread_config(thread_id))
        graph_input: dict[str, Any] | Command | None
        if input is None and command is None and snapshot.next and not snapshot.interrupts:
            graph_input = None
        elif command is not None and input is None:
            if "resume" not in command:
                raise InputError("Send command as {'resume': ...}; goto and update are not supported here.")
            if not snapshot.interrupts:
                raise InputError(
                    f"Thread {thread_id} is not waiting for approval; send input messages instead."
                )
            waiting = snapshot.interrupts[0].value
            parse_decisions(command["resume"], len(waiting.get("action_requests", [])), self.tool_names)
            graph_input = Command(resume=command["resume"])
        else:
            messages = _input_messages(input)
            # Calls left without a result (approval pending, or the last run was cancelled) get one, so the
            # conversation stays valid for models that require a result for every call.
            reason = NOT_APPROVED if snapshot.interrupts else CANCELLED
            dropped = [
                ToolMessage(content=reason, name=c["name"], tool_call_id=c["id"], status="error")
                for c in pending_calls(snapshot.values.get("messages", []))
            ]
            graph_input = {"messages": [*dropped, *messages]}
        await self.threads.begin_run(
            tenant,
            thread_id,
            create=if_not_exists == "create",
            title=_title(graph_input),
            metadata={"assistant_id": assistant_id, "graph_id": assistant_id},
        )
        return graph_input


def _input_messages(input: dict[str, Any] | None) -> list[BaseMessage]:
    messages = (input or {}).get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError(
            "Send input as {'messages': [{'role': 'user', 'content': '...'}]} or a command {'resume': ...}."
        )
    try:
        return convert_to_messages(messages)
    except (ValueError, NotImplementedError, TypeError) as exc:
        raise InputError(
            f"A message could not be read ({exc}); use {{'role': 'user', 'content': '...'}}."
        ) from None


def _title(graph_input: dict[str, Any] | Command | None) -> str | None:
    if not isinstance(graph_input, dict):
        return None
    human = next((m for m in graph_input["messages"] if isinstance(m, HumanMessage)), None)
    if human is None:
        return None
    return " ".join(redact_text(human.text).split())[:TITLE_CHARS] or None  # a title is shown: no passwords


def _thread_config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def _run_config(thread_id: str, run_id: str, tenant: str, user: str | None) -> RunnableConfig:
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id, "tenant": tenant},
        "recursion_limit": RECURSION_LIMIT,
        "metadata": {"tenant": tenant, "run_id": run_id},
    }
    if user:  # recorded with the run's checkpoints, so the thread's history says who sent each turn
        config["metadata"]["user_id"] = user
    try:
        config["run_id"] = uuid.UUID(run_id)  # LangChain callbacks take only UUID run ids
    except ValueError:
        pass
    return config


def _error(exc: EtlError) -> RunEvent:
    return RunEvent(type="error", data={"error": type(exc).__name__, "message": str(exc)})


_BOOKKEEPING: set[asyncio.Future[Any]] = set()


async def _shielded(awaitable: Any) -> None:
    """Finish bookkeeping even when the run's task is being cancelled: the shielded task completes on its own
    (held here until done, so it is never garbage-collected half-way)."""
    task = asyncio.ensure_future(awaitable)
    _BOOKKEEPING.add(task)
    task.add_done_callback(_BOOKKEEPING.discard)
    await asyncio.shield(task)


def _checkpoint(config: RunnableConfig | None) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    return {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map"),
    }


def _state_dict(snapshot: StateSnapshot) -> dict[str, Any]:
    """A StateSnapshot in the ThreadState shape of the Agent Protocol."""
    return {
        "values": to_jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": [
            {
                "id": t.id,
                "name": t.name,
                "error": str(t.error) if t.error else None,
                "interrupts": [to_jsonable(i) for i in t.interrupts],
                "checkpoint": None,
                "state": None,
                "result": to_jsonable(t.result),
            }
            for t in snapshot.tasks
        ],
        "checkpoint": _checkpoint(snapshot.config),
        "metadata": to_jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": _checkpoint(snapshot.parent_config),
        "interrupts": [to_jsonable(i) for i in snapshot.interrupts],
    }
