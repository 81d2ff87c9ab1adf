"""Turn `Tool` records into LangChain tools and run them inside the graph.

A tool runs in a worker thread (tools are synchronous and may block on an engine) with a `ToolContext`
built from the run context; its progress callback becomes LangGraph custom stream events, which the runner
turns into `progress` RunEvents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import StructuredTool
from langgraph.config import get_stream_writer
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import get_runtime
from langgraph.types import Command

from etl_assistant.agent.context import RunContext
from etl_assistant.errors import EtlError, ToolError
from etl_assistant.result_size import fit_result
from etl_assistant.tools.base import Tool, ToolContext

# artifact key marking a ToolMessage whose failure the model cannot fix (configuration, infrastructure)
FATAL = "fatal_error"
# the id of the tool call being executed, set around it by `run_tool_call` (LangChain drops injected
# arguments of tools without fields, so the id cannot reach `invoke` as an argument)
_TOOL_CALL_ID: ContextVar[str | None] = ContextVar("etla_tool_call_id", default=None)


def build_tool_context(tool_name: str, tool_call_id: str | None) -> ToolContext:
    """The ToolContext of the running graph task: settings, tenant and shared connections of the run, and
    who the call acts for (its approver, else the run's user)."""
    run = get_runtime(RunContext).context
    write = get_stream_writer()

    def progress(done: float, total: float | None, message: str) -> None:
        write({"type": "progress", "tool": tool_name, "done": done, "total": total, "message": message})

    return ToolContext(
        settings=run.settings,
        tenant=run.tenant,
        progress=progress,
        chat_model=run.llm,
        _overrides=run.resources,  # type: ignore[arg-type]  # a lazy Mapping: connections open on first use
        user=run.user_for(tool_call_id),
    )


def to_langchain_tool(tool: Tool) -> StructuredTool:
    """A LangChain tool with the record's name, docstring and input model; the artifact is the output dict."""

    async def invoke(**arguments: Any) -> tuple[str, dict[str, Any]]:
        ctx = build_tool_context(tool.name, _TOOL_CALL_ID.get())
        output = await asyncio.to_thread(tool.run, ctx, arguments)
        # What the model reads and the thread checkpoints stays within one reply's size.
        output = fit_result(output, ctx.settings.max_tool_result_kb * 1024, tool.name)
        return output.model_dump_json(exclude_none=True), output.model_dump(mode="json")

    return StructuredTool.from_function(
        coroutine=invoke,
        name=tool.name,
        description=tool.description,
        args_schema=tool.input_model,
        response_format="content_and_artifact",
    )


async def run_tool_call(
    request: ToolCallRequest, execute: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command]]
) -> ToolMessage | Command:
    """Run one call knowing its id (so the tool acts for whoever approved that call). ToolError -> an error
    result the model reads and can fix; other EtlErrors -> a fatal result the graph reports to the person.
    Anything else is a bug and fails the run (logged by the runner)."""
    token = _TOOL_CALL_ID.set(request.tool_call["id"])
    try:
        return await execute(request)
    except EtlError as exc:
        call = request.tool_call
        artifact = None if isinstance(exc, ToolError) else {FATAL: type(exc).__name__}
        return ToolMessage(
            content=str(exc), name=call["name"], tool_call_id=call["id"], status="error", artifact=artifact
        )
    finally:
        _TOOL_CALL_ID.reset(token)


def build_tool_node(tools: list[Tool]) -> ToolNode:
    return ToolNode([to_langchain_tool(t) for t in tools], awrap_tool_call=run_tool_call)


def is_fatal(message: Any) -> bool:
    return (
        isinstance(message, ToolMessage) and isinstance(message.artifact, dict) and FATAL in message.artifact
    )
